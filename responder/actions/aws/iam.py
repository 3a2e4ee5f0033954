"""IAM evidence and containment for compromised users, keys and roles.

Evidence first (``capture_principal``), then containment that can be released: keys are deactivated,
never deleted (the key id must stay traceable in CloudTrail and undo must be able to restore it);
sessions are revoked with a deny on ``aws:TokenIssueTime``, because STS sessions minted from a
deactivated key live on until they expire; quarantine adds a deny-all without touching what was attached.
"""

from __future__ import annotations

import contextlib
import json
import re
from functools import partial
from typing import Any, ClassVar

from ...aws import parallel
from ...errors import Kept, Refused, TargetChanged
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext
from ._observed import fresh_output, observed_recently
from .common import PrincipalRef, jsonable, refuse_self, refuse_unrevocable_role

REVOKE_POLICY = "responder-revoke-sessions"
_TAG_UNSAFE = re.compile(r"[^\w .:/=+\-@]", re.UNICODE)
QUARANTINE_POLICY = "responder-quarantine"
DENY_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "ResponderQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}],
}


def _policy_doc(doc: Any) -> dict[str, Any]:
    if isinstance(doc, str):
        from urllib.parse import unquote

        return json.loads(unquote(doc))
    return dict(doc or {})


def _inline_policy(iam: Any, ref: PrincipalRef, name: str) -> dict[str, Any] | None:
    try:
        if ref.user_name:
            return _policy_doc(iam.get_user_policy(UserName=ref.user_name, PolicyName=name)["PolicyDocument"])
        return _policy_doc(iam.get_role_policy(RoleName=ref.role_name, PolicyName=name)["PolicyDocument"])
    except iam.exceptions.NoSuchEntityException:
        return None


def _put_inline(iam: Any, ref: PrincipalRef, name: str, doc: dict[str, Any]) -> None:
    body = json.dumps(doc)
    if ref.user_name:
        iam.put_user_policy(UserName=ref.user_name, PolicyName=name, PolicyDocument=body)
    else:
        iam.put_role_policy(RoleName=ref.role_name, PolicyName=name, PolicyDocument=body)


def _delete_inline(iam: Any, ref: PrincipalRef, name: str) -> None:
    try:
        if ref.user_name:
            iam.delete_user_policy(UserName=ref.user_name, PolicyName=name)
        else:
            iam.delete_role_policy(RoleName=ref.role_name, PolicyName=name)
    except iam.exceptions.NoSuchEntityException:
        pass


def _role(iam: Any, ref: PrincipalRef) -> dict[str, Any] | None:
    if not ref.role_name:
        return None
    try:
        return iam.get_role(RoleName=ref.role_name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        raise TargetChanged(f"role {ref.role_name} does not exist (deleted since the finding?)") from None


def _check_exists(iam: Any, ref: PrincipalRef) -> None:
    if ref.user_name:
        try:
            iam.get_user(UserName=ref.user_name)
        except iam.exceptions.NoSuchEntityException:
            raise TargetChanged(f"IAM user {ref.user_name} does not exist (deleted since the finding?)") from None


# ---------------------------------------------------------------------------------------------
# Capture reads. Round 1 is every read the principal's name allows, issued at once; round 2 is what
# round 1 named (inline policy documents, each key's last use). A key whose last use this run already
# read moments ago (the key-resolution step) is not asked again.
def _known_last_use(ctx: StepContext, user_name: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Key id → (step, last use) for the user's keys an earlier step of this run just resolved."""
    known: dict[str, tuple[str, dict[str, Any]]] = {}
    for step_id, output in (ctx.outputs or {}).items():
        if not isinstance(output, dict) or output.get("temporary") is not False:
            continue
        key, last = output.get("access_key_id"), output.get("last_used")
        fresh = observed_recently(ctx, output.get("observed_at"))
        if key and fresh and output.get("user_name") == user_name and isinstance(last, dict):
            known[str(key)] = (step_id, last)
    return known


def _missing_to_none(read: Any, iam: Any) -> Any:
    def wrapped() -> Any:
        try:
            return read()
        except iam.exceptions.NoSuchEntityException:
            return None

    return wrapped


def _collect_user(ctx: StepContext, iam: Any, user: str, notes: list[str]) -> dict[str, Any]:
    def get_user() -> Any:
        try:
            return iam.get_user(UserName=user)["User"]
        except iam.exceptions.NoSuchEntityException:
            raise TargetChanged(f"IAM user {user} does not exist") from None

    first = parallel.read_all(
        {
            "user": get_user,
            "attached_policies": lambda: iam.list_attached_user_policies(UserName=user)["AttachedPolicies"],
            "inline_names": lambda: iam.list_user_policies(UserName=user)["PolicyNames"],
            "groups": lambda: iam.list_groups_for_user(UserName=user)["Groups"],
            "access_keys": lambda: iam.list_access_keys(UserName=user)["AccessKeyMetadata"],
            "login_profile": _missing_to_none(lambda: iam.get_login_profile(UserName=user)["LoginProfile"], iam),
            "mfa_devices": lambda: iam.list_mfa_devices(UserName=user)["MFADevices"],
            "tags": lambda: iam.list_user_tags(UserName=user).get("Tags", []),
        }
    )
    known = _known_last_use(ctx, user)
    keys = first.pop("access_keys")

    def policy(name: str) -> dict[str, Any]:
        return _policy_doc(iam.get_user_policy(UserName=user, PolicyName=name)["PolicyDocument"])

    def last_use(key_id: str) -> dict[str, Any]:
        return iam.get_access_key_last_used(AccessKeyId=key_id).get("AccessKeyLastUsed", {})

    second: dict[tuple[str, str], Any] = {("policy", name): partial(policy, name) for name in first.pop("inline_names")}
    second.update(
        {("key", k["AccessKeyId"]): partial(last_use, k["AccessKeyId"]) for k in keys if k["AccessKeyId"] not in known}
    )
    found = parallel.read_all(second)
    for key in keys:
        key_id = key["AccessKeyId"]
        if key_id in known:
            step_id, key["LastUsed"] = known[key_id]
            notes.append(f"last use of {key_id} as read by step {step_id} moments before (not asked twice)")
        else:
            key["LastUsed"] = found[("key", key_id)]
    inline = {name: doc for (kind, name), doc in found.items() if kind == "policy"}
    return {**first, "inline_policies": inline, "access_keys": keys}


def _collect_role(iam: Any, role: str) -> dict[str, Any]:
    ref = PrincipalRef(role_name=role)
    first = parallel.read_all(
        {
            "role": lambda: _role(iam, ref),
            "attached_policies": lambda: iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"],
            "inline_names": lambda: iam.list_role_policies(RoleName=role)["PolicyNames"],
            "instance_profiles": lambda: iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"],
            "tags": lambda: iam.list_role_tags(RoleName=role).get("Tags", []),
        }
    )

    def policy(name: str) -> dict[str, Any]:
        return _policy_doc(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])

    inline = parallel.read_all({name: partial(policy, name) for name in first.pop("inline_names")})
    return {**first, "inline_policies": inline}


def _access_keys(ctx: StepContext, iam: Any, user: str, key_id: str) -> list[dict[str, Any]]:
    """The user's keys and their status: as this run's evidence step read them moments ago, else from IAM.

    Containment right after capture does not ask ``ListAccessKeys`` a second time (one round trip less
    between the finding and the key going inactive). Only an observation that the key is *active* is
    reused — deactivating is then done anyway, so nothing stale can make it skip; a resumed run, or one
    that waited for a person, is past ``_observed.FRESH_FOR`` and reads again.
    """
    for output in (ctx.outputs or {}).values():
        if (
            isinstance(output, dict)
            and output.get("kind") == "user"
            and output.get("name") == user
            and isinstance(output.get("access_keys"), list)
            and observed_recently(ctx, output.get("captured_at"))
        ):
            keys = [{"AccessKeyId": k.get("access_key_id"), "Status": k.get("status")} for k in output["access_keys"]]
            if {"AccessKeyId": key_id, "Status": "Active"} in keys:
                return keys
    try:
        return list(iam.list_access_keys(UserName=user)["AccessKeyMetadata"])
    except iam.exceptions.NoSuchEntityException:
        raise TargetChanged(f"IAM user {user} does not exist") from None


def _captured_without(ctx: StepContext, ref: PrincipalRef, policy_name: str) -> dict[str, Any] | None:
    """This run's capture of ``ref`` made moments ago, if it found no inline policy ``policy_name``.

    Revoking then writes that policy anyway, so nothing stale can make it skip the change; the principal's
    existence and (for a role) its path were read by the capture. Otherwise None: read now.
    """
    return fresh_output(
        ctx,
        lambda o: (
            o.get("kind") == ref.kind
            and o.get("name") == ref.name
            and bool(o.get("principal_arn"))
            and isinstance(o.get("inline_policies"), list)
            and policy_name not in o["inline_policies"]
        ),
    )


def _role_of_arn(arn: str, name: str) -> dict[str, Any]:
    """``RoleName`` and ``Path`` from a role ARN (``arn:aws:iam::ACCT:role/PATH/NAME``), for the refusals."""
    inner = arn.split(":role/", 1)[1] if ":role/" in arn else name
    path = "/" + inner.rsplit("/", 1)[0] + "/" if "/" in inner else "/"
    return {"RoleName": name, "Path": path}


# ---------------------------------------------------------------------------------------------
class CapturePrincipalOutput(ActionOutput):
    principal_arn: str | None = None
    kind: str = ""
    name: str = ""
    artifact: str = ""
    sha256: str = ""
    access_keys: list[dict[str, Any]] = []
    has_login_profile: bool = False
    attached_policies: list[str] = []
    inline_policies: list[str] = []
    groups: list[str] = []
    captured_at: str | None = None  # when the reads were made: a later step may reuse them while fresh


class CapturePrincipal(Action[PrincipalRef]):
    """Preserve an IAM user's or role's state as evidence before anything changes it.

    Captures the principal, attached and inline policies (with documents), groups, access keys with
    last use, login profile, MFA devices and tags (users); trust policy, last use, instance profiles
    (roles). Written once to the evidence locker with its SHA-256.
    """

    name = "aws.iam.capture_principal"
    Input = PrincipalRef
    Output = CapturePrincipalOutput
    category = Category.EVIDENCE
    permissions = frozenset(
        {
            "iam:GetUser",
            "iam:GetRole",
            "iam:ListAttachedUserPolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListUserPolicies",
            "iam:ListRolePolicies",
            "iam:GetUserPolicy",
            "iam:GetRolePolicy",
            "iam:ListGroupsForUser",
            "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed",
            "iam:GetLoginProfile",
            "iam:ListMFADevices",
            "iam:ListUserTags",
            "iam:ListRoleTags",
            "iam:ListInstanceProfilesForRole",
        }
    )

    def plan(self, ctx: StepContext, inp: PrincipalRef) -> Change:
        return Change(will_change=False, summary=f"capture IAM {inp.kind} {inp.name} as evidence")

    def preview(self, ctx: StepContext, inp: PrincipalRef) -> dict[str, Any]:
        iam = ctx.aws("iam")
        has_login = False
        if inp.user_name:
            try:
                iam.get_login_profile(UserName=inp.user_name)
                has_login = True
            except iam.exceptions.NoSuchEntityException:
                has_login = False
        return {"kind": inp.kind, "name": inp.name, "has_login_profile": has_login}

    def _collect(self, ctx: StepContext, inp: PrincipalRef, notes: list[str] | None = None) -> dict[str, Any]:
        """Two rounds of concurrent reads: everything the name alone allows, then what the lists name.

        The document is the one the reads made one by one would give (same keys, same list order):
        its SHA-256 does not depend on which read came back first.
        """
        iam = ctx.aws("iam")
        out: dict[str, Any] = {"kind": inp.kind, "name": inp.name, "captured_at": ctx.now.isoformat()}
        if inp.user_name:
            out.update(_collect_user(ctx, iam, inp.user_name, notes if notes is not None else []))
            out["arn"] = out["user"].get("Arn")
        else:
            out.update(_collect_role(iam, inp.role_name or ""))
            out["arn"] = out["role"].get("Arn") if out["role"] else None
        return jsonable(out)

    def apply(self, ctx: StepContext, inp: PrincipalRef) -> Outcome:
        notes: list[str] = []
        state = self._collect(ctx, inp, notes)
        artifact = ctx.evidence.put_json(
            ctx.run_id,
            f"{ctx.step_id}/iam-{inp.kind}-{inp.name}.json",
            state,
            collected_by=f"responder:{self.name}",
            at=ctx.now,
            details={"step": ctx.step_id, "api": "iam"},
        )
        output = CapturePrincipalOutput(
            principal_arn=state.get("arn"),
            kind=inp.kind,
            name=inp.name,
            artifact=artifact.name,
            sha256=artifact.sha256,
            access_keys=[
                {
                    "access_key_id": k["AccessKeyId"],
                    "status": k["Status"],
                    "last_used": (k.get("LastUsed") or {}).get("LastUsedDate"),
                }
                for k in state.get("access_keys", [])
            ],
            has_login_profile=bool(state.get("login_profile")),
            attached_policies=[p["PolicyArn"] for p in state.get("attached_policies", [])],
            inline_policies=sorted(state.get("inline_policies", {})),
            groups=[g["GroupName"] for g in state.get("groups", [])],
            captured_at=state.get("captured_at"),
        )
        return Outcome(
            changed=False,
            summary=f"captured IAM {inp.kind} {inp.name} → {artifact.name} (sha256 {artifact.sha256[:12]}…)",
            output=output.model_dump(),
            artifacts=[artifact.as_dict()],
            notes=notes,
        )


# ---------------------------------------------------------------------------------------------
class AccessKeyInput(ActionInput):
    access_key_id: str


class ResolveAccessKeyOutput(ActionOutput):
    access_key_id: str = ""
    temporary: bool = False
    user_name: str | None = None
    account_id: str | None = None
    last_used: dict[str, Any] = {}
    observed_at: str | None = None  # when IAM answered: the capture step reuses the last use while fresh


class ResolveAccessKey(Action[AccessKeyInput]):
    """Find who owns an access key (a secret-scanner report names only the key id). Read-only."""

    name = "aws.iam.resolve_access_key"
    Input = AccessKeyInput
    Output = ResolveAccessKeyOutput
    category = Category.ENRICH
    permissions = frozenset({"iam:GetAccessKeyLastUsed"})

    def plan(self, ctx: StepContext, inp: AccessKeyInput) -> Change:
        return Change(will_change=False, summary=f"look up the owner of {inp.access_key_id}")

    def apply(self, ctx: StepContext, inp: AccessKeyInput) -> Outcome:
        if inp.access_key_id.startswith("ASIA"):
            out = ResolveAccessKeyOutput(access_key_id=inp.access_key_id, temporary=True)
            return Outcome(
                changed=False,
                summary=f"{inp.access_key_id} is temporary (STS); its role session "
                "comes from the finding or from CloudTrail",
                output=out.model_dump(),
            )
        iam = ctx.aws("iam")
        try:
            found = iam.get_access_key_last_used(AccessKeyId=inp.access_key_id)
        except iam.exceptions.NoSuchEntityException:
            raise TargetChanged(
                f"access key {inp.access_key_id} is not in account {ctx.finding.account_id or '(home)'}"
                " — deleted, or in another account"
            ) from None
        out = ResolveAccessKeyOutput(
            access_key_id=inp.access_key_id,
            user_name=found.get("UserName"),
            account_id=ctx.finding.account_id,
            last_used=jsonable(found.get("AccessKeyLastUsed") or {}),
            observed_at=ctx.now.isoformat(),
        )
        return Outcome(
            changed=False, summary=f"{inp.access_key_id} belongs to IAM user {out.user_name}", output=out.model_dump()
        )


# ---------------------------------------------------------------------------------------------
class DeactivateAccessKeyInput(ActionInput):
    """AKIA keys only: ASIA (STS) keys cannot be deactivated; revoke the role's sessions instead."""

    access_key_id: str
    user_name: str | None = None


class DeactivateAccessKeyOutput(ActionOutput):
    access_key_id: str = ""
    user_name: str = ""
    previous_status: str = ""
    status: str = ""


class DeactivateAccessKey(Action[DeactivateAccessKeyInput]):
    """Stop a leaked key signing new requests.

    Deactivate, never delete: the key id stays traceable in CloudTrail, and release can restore it
    (with an explicit flag). A no-op when the key is already inactive.
    """

    name = "aws.iam.deactivate_access_key"
    Input = DeactivateAccessKeyInput
    Output = DeactivateAccessKeyOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"iam:ListAccessKeys", "iam:UpdateAccessKey", "iam:GetAccessKeyLastUsed"})
    undo_permissions = frozenset({"iam:ListAccessKeys", "iam:UpdateAccessKey"})

    def _current(self, ctx: StepContext, inp: DeactivateAccessKeyInput) -> tuple[str, str]:
        if inp.access_key_id.startswith("ASIA"):
            raise Refused(
                f"{inp.access_key_id} is a temporary (STS) key: it cannot be deactivated; "
                "use aws.iam.revoke_sessions on its role or user"
            )
        refuse_self(ctx, access_key_id=inp.access_key_id, user_name=None)
        iam = ctx.aws("iam")
        user = inp.user_name
        if not user:
            try:
                user = iam.get_access_key_last_used(AccessKeyId=inp.access_key_id).get("UserName")
            except iam.exceptions.NoSuchEntityException:
                user = None
            if not user:
                raise TargetChanged(f"access key {inp.access_key_id} not found in this account")
        for key in _access_keys(ctx, iam, user, inp.access_key_id):
            if key["AccessKeyId"] == inp.access_key_id:
                return user, key["Status"]
        raise TargetChanged(f"access key {inp.access_key_id} is not a key of IAM user {user} (deleted?)")

    def plan(self, ctx: StepContext, inp: DeactivateAccessKeyInput) -> Change:
        user, status = self._current(ctx, inp)
        if status == "Inactive":
            return Change(
                will_change=False,
                summary=f"key {inp.access_key_id} of {user} is already inactive",
                before={"status": status},
            )
        return Change(
            will_change=True,
            summary=f"deactivate key {inp.access_key_id} of IAM user {user}",
            before={"status": status},
            after={"status": "Inactive"},
        )

    def apply(self, ctx: StepContext, inp: DeactivateAccessKeyInput) -> Outcome:
        user, status = self._current(ctx, inp)
        out = DeactivateAccessKeyOutput(
            access_key_id=inp.access_key_id, user_name=user, previous_status=status, status="Inactive"
        )
        before = {"user_name": user, "access_key_id": inp.access_key_id, "status": status}
        after = {**before, "status": "Inactive"}
        if status == "Inactive":
            return Outcome(
                changed=False,
                summary=f"key {inp.access_key_id} was already inactive",
                before=before,
                after=after,
                output=out.model_dump(),
            )
        ctx.record_before(before)
        ctx.aws("iam").update_access_key(UserName=user, AccessKeyId=inp.access_key_id, Status="Inactive")
        return Outcome(
            changed=True,
            summary=f"deactivated key {inp.access_key_id} of IAM user {user}",
            before=before,
            after=after,
            output=out.model_dump(),
        )

    def undo(
        self,
        ctx: StepContext,
        inp: DeactivateAccessKeyInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        if not (options or {}).get("reenable_keys"):
            raise Kept(
                f"re-enabling access key {inp.access_key_id} needs an explicit flag "
                "(--reenable-keys): a leaked key should normally be rotated, not re-enabled"
            )
        user = applied.before.get("user_name") or inp.user_name
        iam = ctx.aws("iam")
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        current = next((k["Status"] for k in keys if k["AccessKeyId"] == inp.access_key_id), None)
        if current != applied.after.get("status") and not force:
            raise TargetChanged(
                f"key {inp.access_key_id} is {current}, responder left it "
                f"{applied.after.get('status')}: changed since; use --force to release anyway"
            )
        iam.update_access_key(
            UserName=user, AccessKeyId=inp.access_key_id, Status=applied.before.get("status", "Active")
        )
        return Outcome(
            changed=True,
            summary=f"re-enabled key {inp.access_key_id}",
            before={"status": current},
            after={"status": applied.before.get("status")},
        )


# ---------------------------------------------------------------------------------------------
class RevokeSessionsInput(PrincipalRef):
    policy_name: str = REVOKE_POLICY


class RevokeSessionsOutput(ActionOutput):
    principal: str = ""
    policy_name: str = ""
    revoked_before: str = ""


def revoke_document(cutoff: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ResponderRevokeOlderSessions",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}},
            }
        ],
    }


def _cutoff_of(doc: dict[str, Any] | None) -> str | None:
    if not doc:
        return None
    for stmt in doc.get("Statement", []) if isinstance(doc.get("Statement"), list) else [doc.get("Statement")]:
        value = (((stmt or {}).get("Condition") or {}).get("DateLessThan") or {}).get("aws:TokenIssueTime")
        if value:
            return str(value)
    return None


class RevokeSessions(Action[RevokeSessionsInput]):
    """Invalidate every session issued before now for a user or role.

    Deactivating a key does not end the STS sessions already minted from it; a deny on
    ``aws:TokenIssueTime`` earlier than now does (what the console's "Revoke active sessions" does).
    New sessions, issued after the cutoff, keep working — so the legitimate workload recovers.
    """

    name = "aws.iam.revoke_sessions"
    Input = RevokeSessionsInput
    Output = RevokeSessionsOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset(
        {
            "iam:GetUserPolicy",
            "iam:GetRolePolicy",
            "iam:PutUserPolicy",
            "iam:PutRolePolicy",
            "iam:GetRole",
            "iam:GetUser",
        }
    )
    undo_permissions = frozenset(
        {
            "iam:GetUserPolicy",
            "iam:GetRolePolicy",
            "iam:PutUserPolicy",
            "iam:PutRolePolicy",
            "iam:DeleteUserPolicy",
            "iam:DeleteRolePolicy",
        }
    )

    def _preflight(self, ctx: StepContext, inp: RevokeSessionsInput) -> dict[str, Any] | None:
        refuse_self(ctx, user_name=inp.user_name, role_name=inp.role_name)
        seen = _captured_without(ctx, inp, inp.policy_name)
        if seen is not None:  # this run's capture, moments ago: the principal exists and has no such policy
            if inp.role_name:
                refuse_unrevocable_role(_role_of_arn(str(seen.get("principal_arn") or ""), inp.role_name))
            return None
        iam = ctx.aws("iam")
        existing = parallel.start(lambda: _inline_policy(iam, inp, inp.policy_name))  # a read: overlaps the next
        role = _role(iam, inp)
        if role:
            refuse_unrevocable_role(role)
        else:
            _check_exists(iam, inp)
        return existing.result()

    def plan(self, ctx: StepContext, inp: RevokeSessionsInput) -> Change:
        existing = self._preflight(ctx, inp)
        cutoff = _cutoff_of(existing)
        now = ctx.now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        if cutoff and self._covers(ctx, cutoff):
            return Change(
                will_change=False,
                summary=f"sessions of {inp.kind} {inp.name} issued before {cutoff} are already revoked",
                before={"policy": existing},
            )
        return Change(
            will_change=True,
            summary=f"revoke every session of {inp.kind} {inp.name} issued before now",
            before={"policy": existing},
            after={"policy": revoke_document(now)},
        )

    def _covers(self, ctx: StepContext, cutoff: str) -> bool:
        """An existing revocation covers this run if it is at least as late as the run's creation."""
        run = ctx.store.get_run(ctx.run_id) if ctx.store else None
        return bool(run and cutoff >= run.created_at[:19] + "Z")

    def apply(self, ctx: StepContext, inp: RevokeSessionsInput) -> Outcome:
        existing = self._preflight(ctx, inp)
        cutoff = _cutoff_of(existing)
        out = RevokeSessionsOutput(principal=f"{inp.kind}/{inp.name}", policy_name=inp.policy_name)
        if cutoff and self._covers(ctx, cutoff):
            out.revoked_before = cutoff
            return Outcome(
                changed=False,
                summary=f"sessions before {cutoff} already revoked",
                before={"policy": existing},
                after={"policy": existing},
                output=out.model_dump(),
            )
        now = ctx.now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        doc = revoke_document(now)
        ctx.record_before({"policy": existing})
        _put_inline(ctx.aws("iam"), inp, inp.policy_name, doc)
        out.revoked_before = now
        return Outcome(
            changed=True,
            summary=f"revoked sessions of {inp.kind} {inp.name} issued before {now}",
            before={"policy": existing},
            after={"policy": doc},
            output=out.model_dump(),
        )

    def undo(
        self,
        ctx: StepContext,
        inp: RevokeSessionsInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        iam = ctx.aws("iam")
        current = _inline_policy(iam, inp, inp.policy_name)
        if current != applied.after.get("policy") and not force:
            raise TargetChanged(
                f"policy {inp.policy_name} on {inp.kind} {inp.name} differs from what responder "
                "wrote: changed since; use --force to release anyway"
            )
        previous = applied.before.get("policy")
        if previous:
            _put_inline(iam, inp, inp.policy_name, previous)
        else:
            _delete_inline(iam, inp, inp.policy_name)
        return Outcome(
            changed=True,
            summary=f"removed session revocation from {inp.kind} {inp.name}",
            before={"policy": current},
            after={"policy": previous},
        )


# ---------------------------------------------------------------------------------------------
class QuarantineInput(PrincipalRef):
    policy_name: str = QUARANTINE_POLICY


class QuarantineOutput(ActionOutput):
    principal: str = ""
    policy_name: str = ""
    attached_policies: list[str] = []
    inline_policies: list[str] = []
    groups: list[str] = []


class QuarantinePrincipal(Action[QuarantineInput]):
    """Deny everything to a user or role, keeping every existing attachment as it was.

    An inline deny-all (not the managed AWSDenyAll, which may be unavailable in a partition or
    detached by an attacker with iam:DetachUserPolicy) wins over every allow; the attachments in
    place before are recorded so release restores exactly that state.
    """

    name = "aws.iam.quarantine_principal"
    Input = QuarantineInput
    Output = QuarantineOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset(
        {
            "iam:GetUser",
            "iam:GetRole",
            "iam:ListAttachedUserPolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListUserPolicies",
            "iam:ListRolePolicies",
            "iam:ListGroupsForUser",
            "iam:GetUserPolicy",
            "iam:GetRolePolicy",
            "iam:PutUserPolicy",
            "iam:PutRolePolicy",
        }
    )
    undo_permissions = frozenset(
        {"iam:GetUserPolicy", "iam:GetRolePolicy", "iam:DeleteUserPolicy", "iam:DeleteRolePolicy"}
    )

    def _state(self, ctx: StepContext, inp: QuarantineInput) -> dict[str, Any]:
        refuse_self(ctx, user_name=inp.user_name, role_name=inp.role_name)
        iam = ctx.aws("iam")
        if inp.user_name:
            _check_exists(iam, inp)
            attached = [
                p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=inp.user_name)["AttachedPolicies"]
            ]
            inline = iam.list_user_policies(UserName=inp.user_name)["PolicyNames"]
            groups = [g["GroupName"] for g in iam.list_groups_for_user(UserName=inp.user_name)["Groups"]]
        else:
            role = _role(iam, inp)
            refuse_unrevocable_role(role or {})
            attached = [
                p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=inp.role_name)["AttachedPolicies"]
            ]
            inline = iam.list_role_policies(RoleName=inp.role_name)["PolicyNames"]
            groups = []
        return {
            "attached_policies": sorted(attached),
            "inline_policies": sorted(inline),
            "groups": sorted(groups),
            "quarantine_policy": _inline_policy(iam, inp, inp.policy_name),
        }

    def plan(self, ctx: StepContext, inp: QuarantineInput) -> Change:
        state = self._state(ctx, inp)
        if state["quarantine_policy"] == DENY_ALL:
            return Change(will_change=False, summary=f"{inp.kind} {inp.name} is already quarantined", before=state)
        return Change(
            will_change=True,
            summary=f"attach deny-all policy {inp.policy_name} to {inp.kind} {inp.name}",
            before=state,
            after={**state, "quarantine_policy": DENY_ALL},
        )

    def apply(self, ctx: StepContext, inp: QuarantineInput) -> Outcome:
        state = self._state(ctx, inp)
        out = QuarantineOutput(
            principal=f"{inp.kind}/{inp.name}",
            policy_name=inp.policy_name,
            attached_policies=state["attached_policies"],
            inline_policies=state["inline_policies"],
            groups=state["groups"],
        )
        if state["quarantine_policy"] == DENY_ALL:
            return Outcome(
                changed=False,
                summary=f"{inp.kind} {inp.name} was already quarantined",
                before=state,
                after=state,
                output=out.model_dump(),
            )
        ctx.record_before(state)
        _put_inline(ctx.aws("iam"), inp, inp.policy_name, DENY_ALL)
        after = {
            **state,
            "quarantine_policy": DENY_ALL,
            "inline_policies": sorted({*state["inline_policies"], inp.policy_name}),
        }
        return Outcome(
            changed=True,
            summary=f"quarantined {inp.kind} {inp.name} (deny-all {inp.policy_name}; "
            f"{len(state['attached_policies'])} attached policies recorded)",
            before=state,
            after=after,
            output=out.model_dump(),
        )

    def undo(
        self,
        ctx: StepContext,
        inp: QuarantineInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        iam = ctx.aws("iam")
        current = _inline_policy(iam, inp, inp.policy_name)
        if current != DENY_ALL and not force:
            raise TargetChanged(
                f"quarantine policy on {inp.kind} {inp.name} is not what responder wrote "
                f"({'missing' if current is None else 'edited'}); use --force to release anyway"
            )
        previous = applied.before.get("quarantine_policy")
        if previous:
            _put_inline(iam, inp, inp.policy_name, previous)
        else:
            _delete_inline(iam, inp, inp.policy_name)
        return Outcome(
            changed=True,
            summary=f"lifted quarantine of {inp.kind} {inp.name}",
            before={"quarantine_policy": current},
            after={"quarantine_policy": previous},
        )


# ---------------------------------------------------------------------------------------------
class UserInput(ActionInput):
    user_name: str


class RemoveLoginProfileOutput(ActionOutput):
    user_name: str = ""
    had_login_profile: bool = False
    created: str | None = None


class RemoveLoginProfile(Action[UserInput]):
    """Remove a user's console password so a stolen password cannot sign in.

    The profile's existence and creation date are recorded; the password itself cannot be restored
    (AWS never returns it), so release is a new password set by a person.
    """

    name = "aws.iam.remove_login_profile"
    Input = UserInput
    Output = RemoveLoginProfileOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # not reversible, but the run must still say a profile existed and was removed
    permissions = frozenset({"iam:GetLoginProfile", "iam:DeleteLoginProfile"})

    def _profile(self, ctx: StepContext, inp: UserInput) -> dict[str, Any] | None:
        refuse_self(ctx, user_name=inp.user_name)
        iam = ctx.aws("iam")
        try:
            return jsonable(iam.get_login_profile(UserName=inp.user_name)["LoginProfile"])
        except iam.exceptions.NoSuchEntityException:
            return None

    def plan(self, ctx: StepContext, inp: UserInput) -> Change:
        profile = self._profile(ctx, inp)
        if not profile:
            return Change(will_change=False, summary=f"{inp.user_name} has no console password")
        return Change(
            will_change=True,
            summary=f"remove console password of {inp.user_name}",
            before={"login_profile": profile},
            after={"login_profile": None},
            notes=["the password cannot be restored by release; a person sets a new one"],
        )

    def apply(self, ctx: StepContext, inp: UserInput) -> Outcome:
        profile = self._profile(ctx, inp)
        out = RemoveLoginProfileOutput(
            user_name=inp.user_name, had_login_profile=bool(profile), created=(profile or {}).get("CreateDate")
        )
        if not profile:
            return Outcome(
                changed=False,
                summary=f"{inp.user_name} had no console password",
                output=out.model_dump(),
                before={"login_profile": None},
                after={"login_profile": None},
            )
        iam = ctx.aws("iam")
        ctx.record_before({"login_profile": profile})
        with contextlib.suppress(iam.exceptions.NoSuchEntityException):
            iam.delete_login_profile(UserName=inp.user_name)
        return Outcome(
            changed=True,
            summary=f"removed console password of {inp.user_name} (created {profile.get('CreateDate')})",
            before={"login_profile": profile},
            after={"login_profile": None},
            output=out.model_dump(),
            notes=["release cannot restore the password: set a new one and require a reset"],
        )


# ---------------------------------------------------------------------------------------------
class TagPrincipalInput(PrincipalRef):
    tags: dict[str, str]


class TagPrincipal(Action[TagPrincipalInput]):
    """Tag a user or role (e.g. ``responder:quarantined=<run>``) so people and automation can see it."""

    name = "aws.iam.tag_principal"
    Input = TagPrincipalInput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"iam:ListUserTags", "iam:ListRoleTags", "iam:TagUser", "iam:TagRole"})
    undo_permissions = frozenset(
        {"iam:ListUserTags", "iam:ListRoleTags", "iam:TagUser", "iam:TagRole", "iam:UntagUser", "iam:UntagRole"}
    )
    MAX_VALUE: ClassVar[int] = 256

    def _tags(self, ctx: StepContext, inp: TagPrincipalInput) -> dict[str, str]:
        iam = ctx.aws("iam")
        try:
            raw = (
                iam.list_user_tags(UserName=inp.user_name)
                if inp.user_name
                else iam.list_role_tags(RoleName=inp.role_name)
            ).get("Tags", [])
        except iam.exceptions.NoSuchEntityException:
            raise TargetChanged(f"{inp.kind} {inp.name} does not exist") from None
        return {t["Key"]: t["Value"] for t in raw}

    def _wanted(self, inp: TagPrincipalInput) -> dict[str, str]:
        """IAM tags allow letters, digits, spaces and ``_.:/=+-@``: anything else from a finding becomes ``_``."""
        return {
            _TAG_UNSAFE.sub("_", k)[:128]: _TAG_UNSAFE.sub("_", str(v))[: self.MAX_VALUE] for k, v in inp.tags.items()
        }

    def plan(self, ctx: StepContext, inp: TagPrincipalInput) -> Change:
        current = self._tags(ctx, inp)
        wanted = self._wanted(inp)
        missing = {k: v for k, v in wanted.items() if current.get(k) != v}
        return Change(
            will_change=bool(missing),
            summary=f"tag {inp.kind} {inp.name} with {sorted(missing) or 'nothing new'}",
            before={"tags": {k: current.get(k) for k in wanted}},
            after={"tags": wanted},
        )

    def apply(self, ctx: StepContext, inp: TagPrincipalInput) -> Outcome:
        current = self._tags(ctx, inp)
        wanted = self._wanted(inp)
        before = {"tags": {k: current.get(k) for k in wanted}}
        missing = {k: v for k, v in wanted.items() if current.get(k) != v}
        if not missing:
            return Outcome(changed=False, summary="tags already present", before=before, after={"tags": wanted})
        iam = ctx.aws("iam")
        ctx.record_before(before)
        tags = [{"Key": k, "Value": v} for k, v in missing.items()]
        if inp.user_name:
            iam.tag_user(UserName=inp.user_name, Tags=tags)
        else:
            iam.tag_role(RoleName=inp.role_name, Tags=tags)
        return Outcome(
            changed=True,
            summary=f"tagged {inp.kind} {inp.name}: {', '.join(sorted(missing))}",
            before=before,
            after={"tags": wanted},
        )

    def undo(
        self,
        ctx: StepContext,
        inp: TagPrincipalInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        current = self._tags(ctx, inp)
        iam = ctx.aws("iam")
        drift = {k: current.get(k) for k, v in applied.after.get("tags", {}).items() if current.get(k) != v}
        if drift and not force:
            raise TargetChanged(f"tags changed since responder set them: {drift}; use --force to release anyway")
        remove = [k for k, v in applied.before.get("tags", {}).items() if v is None]
        restore = [{"Key": k, "Value": v} for k, v in applied.before.get("tags", {}).items() if v is not None]
        if inp.user_name:
            if remove:
                iam.untag_user(UserName=inp.user_name, TagKeys=remove)
            if restore:
                iam.tag_user(UserName=inp.user_name, Tags=restore)
        else:
            if remove:
                iam.untag_role(RoleName=inp.role_name, TagKeys=remove)
            if restore:
                iam.tag_role(RoleName=inp.role_name, Tags=restore)
        return Outcome(changed=True, summary=f"restored tags of {inp.kind} {inp.name}")
