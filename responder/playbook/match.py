"""Which playbooks answer a finding: type globs, severity, source, resource kind, account/region lists,
and field matchers over the normalised finding (``principal.user_type``, ``target.k8s_pod.pod_name``,
``fields.action_type``, ``raw.…``).

A trigger's ``resource_kinds`` match *any* resource the finding names (``primary_kinds`` only the one it
is about), and its severity floor does not apply to ``floor_exempt_types`` (the playbook checks the
resource itself). :func:`explain` says in plain words what a finding names and why each playbook answers
or declines, for ``responder match``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from ..findings.model import Finding
from .model import AllowDeny, Playbook, Trigger

_MISSING = object()


def _get(data: Any, path: str) -> Any:
    cur = data
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def _value_matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, list):
        return any(_value_matches(actual, e) for e in expected)
    if actual is _MISSING:
        return expected is None
    if isinstance(actual, list):
        return any(_value_matches(a, expected) for a in actual)
    if isinstance(expected, str) and isinstance(actual, str):
        return fnmatchcase(actual, expected) if any(c in expected for c in "*?[") else actual == expected
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    return bool(actual == expected)


def _allowed(value: str | None, rule: AllowDeny) -> bool:
    if value is not None and any(fnmatchcase(value, d) for d in rule.deny):
        return False
    if rule.allow:
        return value is not None and any(fnmatchcase(value, a) for a in rule.allow)
    return True


def _type_names(finding: Finding) -> list[str]:
    """GuardDuty prefixes preview types (``[beta]Exfiltration:S3/...``); match with and without it."""
    names = [finding.type]
    if finding.type.startswith("[") and "]" in finding.type:
        names.append(finding.type.split("]", 1)[1])
    return names


def floor_exempt(trigger: Trigger, finding: Finding) -> bool:
    """The type is answered below the severity floor: the playbook looks at the resource itself."""
    return any(fnmatchcase(n, g) for n in _type_names(finding) for g in trigger.floor_exempt_types)


def why_not(trigger: Trigger, finding: Finding, data: dict[str, Any] | None = None) -> str | None:
    """None when the trigger matches, else the first reason it does not (for ``responder match``)."""
    if finding.archived and not trigger.include_archived:
        return "finding is archived/suppressed"
    if trigger.sources and finding.source not in trigger.sources:
        return f"source {finding.source.value} not in {[s.value for s in trigger.sources]}"
    names = _type_names(finding)
    if trigger.types and not any(fnmatchcase(n, g) for n in names for g in trigger.types):
        return f"type {finding.type} matches none of {trigger.types}"
    if any(fnmatchcase(n, g) for n in names for g in trigger.exclude_types):
        return f"type {finding.type} is excluded"
    if finding.severity < trigger.min_severity and not floor_exempt(trigger, finding):
        return f"severity {finding.severity:g} below {trigger.min_severity:g}"
    if trigger.resource_kinds and not any(k in trigger.resource_kinds for k in finding.resource_kinds):
        return f"names no {' or '.join(trigger.resource_kinds)} (it names {', '.join(finding.resource_kinds)})"
    if trigger.primary_kinds and finding.resource.kind not in trigger.primary_kinds:
        return f"is about a {finding.resource.kind}, not a {' or '.join(trigger.primary_kinds)}"
    if trigger.products and not any(fnmatchcase(finding.product or "", p) for p in trigger.products):
        return f"product {finding.product} not in {trigger.products}"
    if not _allowed(finding.account_id, trigger.accounts):
        return f"account {finding.account_id} not allowed"
    if not _allowed(finding.region, trigger.regions):
        return f"region {finding.region} not allowed"
    if trigger.match:
        data = data if data is not None else finding.model_dump(mode="json")
        for path, expected in trigger.match.items():
            if not _value_matches(_get(data, path), expected):
                return f"{path} does not match {expected!r}"
    return None


@dataclass(frozen=True)
class MatchResult:
    playbook: Playbook
    matched: bool
    trigger_index: int | None
    reason: str | None
    below_floor: bool = False  # answered under the trigger's severity floor (a floor-exempt type)


def evaluate(playbook: Playbook, finding: Finding, data: dict[str, Any] | None = None) -> MatchResult:
    data = data if data is not None else finding.model_dump(mode="json")
    reasons = []
    for index, trigger in enumerate(playbook.triggers):
        reason = why_not(trigger, finding, data)
        if reason is None:
            return MatchResult(playbook, True, index, None, finding.severity < trigger.min_severity)
        reasons.append(reason)
    return MatchResult(playbook, False, None, "; ".join(reasons))


def _ident(res: Any) -> str:
    for name in (
        "bucket_name",
        "instance_id",
        "pod_name",
        "cluster_name",
        "role_name",
        "access_key_id",
        "user_name",
        "username",
        "function_name",
        "db_instance_identifier",
        "task_arn",
        "container_id",
        "volume_id",
        "resource_id",
        "resource_type",
    ):
        value = getattr(res, name, None)
        if value:
            if name == "pod_name" and getattr(res, "namespace", None):
                return f"{res.namespace}/{value}"
            return str(value)
    return "(unnamed)"


def describe_resources(finding: Finding) -> str:
    """``s3_bucket logs-prod (target, primary); access_key AKIA… (actor)``: what the finding names."""
    parts = []
    for index, res in enumerate(finding.all_resources()):
        role = f"{res.role}, primary" if index == 0 else res.role
        parts.append(f"{res.kind} {_ident(res)} ({role})")
    return "; ".join(parts)


def explain(finding: Finding, results: list[MatchResult]) -> str:
    """Plain words for ``responder match``: the resources seen, who answers (and under which rule), who declines."""
    lines = [f"{finding.type} (severity {finding.severity:g}) names: {describe_resources(finding)}"]
    for result in results:
        if result.matched:
            note = " (below its severity floor: this type is floor-exempt, the playbook checks the resource)"
            lines.append(f"  answers: {result.playbook.id}{note if result.below_floor else ''}")
        else:
            lines.append(f"  declines: {result.playbook.id}: {result.reason}")
    if not any(r.matched for r in results):
        lines.append("  no playbook answers this finding")
    return "\n".join(lines)


def matching(playbooks: list[Playbook], finding: Finding) -> list[Playbook]:
    data = finding.model_dump(mode="json")
    return [p for p in playbooks if evaluate(p, finding, data).matched]
