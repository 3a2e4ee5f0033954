"""Close the loop: what scope attributes to the attacker becomes containment in the same incident.

``loop.contain_leftovers`` reads the scope report's ``persistence`` items (``responder.scope.attribution``)
and answers with the steps that undo each: evidence first (the principal as it is now), then the
containment — a key the attacker created deactivated, a user or role it created quarantined, a login
profile removed, a trail it stopped logging again, event selectors restored, a share with an outside
account withdrawn, a bucket policy grant denied, a trust policy it changed locked behind a person's
approval. The engine appends those steps to the run (``expands``): each is an ordinary recorded,
idempotent, releasable step under the run's posture (``approval`` asks once per item, with its plan).

The items come from log records an attacker can shape. They become step *arguments* as data — the
engine never renders expanded steps as templates — and each action validates them like any input.
What the attacker did to responder's own principal is refused by the actions' self-guards, as always.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field

from .base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext

_SAFE = re.compile(r"[^a-z0-9_-]+")
_ACCOUNT = re.compile(r"^\d{12}$")
MAX_ITEMS = 50
#: grants to outside accounts, each withdrawn by the action that owns the resource: kind → (action, argument, what)
SHARES = {
    "snapshot_shared": ("aws.ec2.unshare_snapshot", "snapshot_id", "snapshot"),
    "image_shared": ("aws.ec2.unshare_image", "image_id", "AMI"),
    "db_snapshot_shared": ("aws.rds.unshare_db_snapshot", "db_snapshot_identifier", "DB snapshot"),
    "bucket_policy_changed": ("aws.s3.deny_external_accounts", "bucket_name", "bucket"),
}  # a noisy scope must not expand into hundreds of steps; the rest are listed for a person


class LeftoversInput(ActionInput):
    persistence: list[dict[str, Any]] = Field(default_factory=list, description="the scope report's persistence")
    handled_keys: list[str] = Field(default_factory=list, description="keys the playbook already contained")
    handled_principals: list[str] = Field(default_factory=list, description="user/role names already contained")


class LeftoversOutput(ActionOutput):
    steps: list[dict[str, Any]] = Field(default_factory=list)
    unhandled: list[dict[str, Any]] = Field(default_factory=list)


def _step_id(n: int, kind: str, target: str) -> str:
    return _SAFE.sub("-", f"loop_{n:02d}_{kind}_{target}".lower())[:63].rstrip("-_") or f"loop_{n:02d}"


def _accounts(item: dict[str, Any]) -> list[str]:
    return sorted({str(a) for a in item.get("external_accounts") or [] if _ACCOUNT.match(str(a))})


def plan_steps(items: list[dict[str, Any]], handled_keys: set[str], handled: set[str]) -> tuple[list, list]:
    """Persistence items → step specs (evidence before containment), and the items left for a person."""
    evidence: list[dict[str, Any]] = []
    contain: list[dict[str, Any]] = []
    unhandled: list[dict[str, Any]] = []
    captured: set[tuple[str, str]] = set()
    seen: set[tuple[str, str]] = set()

    def add(kind: str, target: str, action: str, args: dict[str, Any], why: str, **extra: Any) -> None:
        if (action, target) in seen:
            return
        seen.add((action, target))
        contain.append({"kind": kind, "target": target, "action": action, "with": args, "description": why, **extra})

    def capture(principal_kind: str, name: str) -> None:
        if (principal_kind, name) not in captured:
            captured.add((principal_kind, name))
            evidence.append(
                {
                    "kind": "evidence",
                    "target": name,
                    "action": "aws.iam.capture_principal",
                    "with": {principal_kind: name},
                    "description": f"state of {name} before containment",
                }
            )

    for item in items[:MAX_ITEMS]:
        if item.get("succeeded") is False or item.get("error_code"):
            continue  # the attacker tried and failed: nothing was left behind
        kind = str(item.get("kind") or "")
        target = str(item.get("target") or (item.get("resource_ids") or [""])[0] or "")
        accounts = _accounts(item)
        if kind == "access_key_created" and item.get("new_key") and target:
            key = str(item["new_key"])
            if key in handled_keys or not key.startswith("AKIA"):
                continue
            capture("user_name", target)
            add(
                kind,
                key,
                "aws.iam.deactivate_access_key",
                {"access_key_id": key, "user_name": target},
                f"key {key} created by the attacker for {target}",
            )
        elif kind == "user_created" and target and target not in handled:
            capture("user_name", target)
            add(
                kind,
                target,
                "aws.iam.quarantine_principal",
                {"user_name": target},
                f"user {target} created by the attacker",
            )
        elif kind == "role_created" and target and target not in handled:
            capture("role_name", target)
            add(
                kind,
                target,
                "aws.iam.quarantine_principal",
                {"role_name": target},
                f"role {target} created by the attacker",
            )
        elif kind in ("login_profile_created", "login_profile_updated") and target and target not in handled:
            capture("user_name", target)
            add(
                kind,
                target,
                "aws.iam.remove_login_profile",
                {"user_name": target},
                f"console password of {target} set by the attacker",
            )
        elif kind == "trust_policy_changed" and target:
            capture("role_name", target)
            trimmed = without_accounts(item.get("policy_document"), accounts)
            if trimmed is not None:
                add(
                    kind,
                    target,
                    "aws.iam_role.restore_trust_policy",
                    {"role_name": target, "policy_document": trimmed},
                    f"trust policy of {target} opened to {', '.join(accounts)}: those principals taken out",
                )
            else:  # no outside account to take out, or nothing would be left: a person decides
                add(
                    kind,
                    target,
                    "aws.iam_role.lock_trust_policy",
                    {"role_name": target},
                    f"trust policy of {target} changed by the attacker: nobody assumes it until a person decides",
                    approval={"timeout": 3600, "on_timeout": "deny"},
                )
        elif kind == "trail_stopped" and target:
            add(
                kind,
                target,
                "aws.cloudtrail.start_logging",
                {"trail": target},
                f"trail {target} stopped by the attacker",
            )
        elif kind in SHARES and target and accounts:
            action, argument, what = SHARES[kind]
            add(
                kind,
                target,
                action,
                {argument: target, "accounts": accounts},
                f"{what} {target} shared with {', '.join(accounts)}",
            )
        elif kind in ("event_selectors_changed", "flow_logs_deleted", "trail_deleted", "trail_updated"):
            unhandled.append(
                {
                    **_brief(item),
                    "why": "recorded for a person: the prior configuration is not in the "
                    "log record, so restoring it automatically could be wrong",
                }
            )
        else:
            unhandled.append({**_brief(item), "why": "no automatic containment for this kind"})
    for item in items[MAX_ITEMS:]:
        unhandled.append({**_brief(item), "why": f"beyond the first {MAX_ITEMS} items: review by hand"})
    specs = evidence + contain
    for n, spec in enumerate(specs, start=1):
        spec["id"] = _step_id(n, spec["kind"], spec["target"])
    return specs, unhandled


def without_accounts(document: Any, accounts: list[str]) -> dict[str, Any] | None:
    """The trust document the attacker wrote, minus the principals of the outside accounts it added.

    None when there is nothing to take out or nothing would be left (then a person decides).
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return None
    if not isinstance(document, dict) or not accounts:
        return None
    statements = document.get("Statement")
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list):
        return None

    def outside(principal: Any) -> bool:
        text = str(principal)
        return any(text == a or text.startswith(f"arn:aws:iam::{a}:") for a in accounts)

    kept: list[dict[str, Any]] = []
    removed = False
    for statement in statements:
        if not isinstance(statement, dict):
            return None
        principal = statement.get("Principal")
        if not isinstance(principal, dict) or "AWS" not in principal:
            kept.append(statement)
            continue
        aws = principal["AWS"] if isinstance(principal["AWS"], list) else [principal["AWS"]]
        left = [p for p in aws if not outside(p)]
        removed = removed or len(left) != len(aws)
        others = {k: v for k, v in principal.items() if k != "AWS"}
        if left:
            others["AWS"] = left if len(left) > 1 else left[0]
        if others:
            kept.append({**statement, "Principal": others})
    if not removed or not kept:
        return None
    return {**document, "Statement": kept}


def _brief(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item.get(k) for k in ("kind", "event_name", "time", "target", "resource_type") if item.get(k)}


class ContainLeftovers(Action[LeftoversInput]):
    """Turn what the attacker left behind into containment steps of this run (evidence first).

    Writes nothing itself: the engine appends the steps it names, each recorded and releasable.
    """

    name = "loop.contain_leftovers"
    Input = LeftoversInput
    Output = LeftoversOutput
    category = Category.ENRICH
    mutates = False
    expands = True

    def _specs(self, inp: LeftoversInput) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return plan_steps(list(inp.persistence), set(inp.handled_keys), set(inp.handled_principals))

    def plan(self, ctx: StepContext, inp: LeftoversInput) -> Change:
        specs, unhandled = self._specs(inp)
        return Change(
            will_change=False,
            summary=f"{len(specs)} step(s) to contain what the attacker left behind",
            notes=[s["description"] for s in specs] + [f"for a person: {u}" for u in unhandled],
        )

    def apply(self, ctx: StepContext, inp: LeftoversInput) -> Outcome:
        specs, unhandled = self._specs(inp)
        out = LeftoversOutput(steps=specs, unhandled=unhandled)
        summary = (
            (
                f"{len([s for s in specs if s['kind'] != 'evidence'])} thing(s) the attacker left behind "
                f"to contain; {len(unhandled)} for a person"
            )
            if specs or unhandled
            else "nothing left behind"
        )
        return Outcome(changed=False, summary=summary, output=out.model_dump(), notes=[s["description"] for s in specs])
