"""Role-session containment: deny one stolen session, or lock who may assume the role.

``aws.iam.revoke_sessions`` cuts every session of a role issued before now, which also interrupts every
legitimate user of the role (each instance of a fleet, each pipeline). When the finding names the one
session that was stolen, ``deny_session`` denies only that session (``aws:userid`` is
``<role id>:<session name>``) or only sessions carrying the attacker's ``sourceIdentity``; the playbook
chooses. ``lock_trust_policy`` stops new sessions from being minted at all; it is meant to sit behind an
approval. Both refuse, changing nothing, where they cannot work: service-linked roles, IAM Identity
Center roles, the root user, and the role responder itself runs as.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from ...aws import parallel
from ...errors import Refused, TargetChanged
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext
from .common import refuse_self, refuse_unrevocable_role

DENY_SESSION_POLICY = "responder-deny-session"
_ROLE_NAME = r"^[\w+=,.@-]{1,64}$"  # IAM's own pattern: the name comes from the finding
LOCKED_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Sid": "ResponderLockedTrust", "Effect": "Deny", "Principal": {"AWS": "*"},
    "Action": ["sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity", "sts:TagSession",
               "sts:SetSourceIdentity"]}]}


def _doc(doc: Any) -> dict[str, Any] | None:
    if doc is None:
        return None
    if isinstance(doc, str):
        from urllib.parse import unquote

        return json.loads(unquote(doc))
    return dict(doc)


def _refuse_root(role_name: str | None, principal_id: str | None) -> None:
    if (role_name or "").lower() == "root" or (principal_id or "").isdigit():
        raise Refused("the finding names the root user: root sessions cannot be revoked or denied by IAM policy; "
                      "nothing changed", hint="sign in as root, rotate its password and MFA, delete its access keys")


def _role(ctx: StepContext, role_name: str) -> dict[str, Any]:
    refuse_self(ctx, role_name=role_name)
    iam = ctx.aws("iam")
    try:
        role = iam.get_role(RoleName=role_name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        raise TargetChanged(f"role {role_name} does not exist (deleted since the finding?)") from None
    refuse_unrevocable_role(role)
    return dict(role)


def _get_inline(iam: Any, role_name: str, name: str) -> dict[str, Any] | None:
    try:
        return _doc(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
    except iam.exceptions.NoSuchEntityException:
        return None


# ---------------------------------------------------------------------------------------------
class DenySessionInput(ActionInput):
    """Which session to deny: ``session_name`` (with the role's id, looked up) or ``source_identity``.

    ``principal_id`` as GuardDuty reports it (``AROA…:session``) may stand in for ``session_name``.
    """

    role_name: str = Field(pattern=_ROLE_NAME)
    session_name: str | None = None
    principal_id: str | None = None
    source_identity: str | None = None
    policy_name: str = DENY_SESSION_POLICY

    @model_validator(mode="after")
    def _something(self) -> DenySessionInput:
        if not (self.session_name or self.source_identity or (self.principal_id and ":" in self.principal_id)):
            raise ValueError("give session_name, principal_id (AROA…:session) or source_identity")
        return self


class DenySessionOutput(ActionOutput):
    role_name: str = ""
    policy_name: str = ""
    denied_userids: list[str] = []
    denied_source_identities: list[str] = []


class DenySession(Action[DenySessionInput]):
    """Deny every action to one stolen role session, leaving the role's other sessions working.

    Writes an inline deny conditioned on ``aws:userid`` (role id + session name) and/or
    ``aws:SourceIdentity``. A second stolen session of the same role is added to the same policy. Note:
    a new session with the same session name (e.g. an EC2 instance's own, named after the instance) is
    denied too; use ``revoke_sessions`` where that matters.
    """

    name = "aws.iam_role.deny_session"
    Input = DenySessionInput
    Output = DenySessionOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy"})
    undo_permissions = frozenset({"iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy"})

    def _targets(self, role: dict[str, Any], inp: DenySessionInput) -> tuple[list[str], list[str]]:
        userids: list[str] = []
        session = inp.session_name
        if not session and inp.principal_id and ":" in inp.principal_id:
            session = inp.principal_id.split(":", 1)[1]
        if session:
            userids.append(f"{role['RoleId']}:{session}")
        return userids, [inp.source_identity] if inp.source_identity else []

    @staticmethod
    def _current_values(doc: dict[str, Any] | None) -> tuple[list[str], list[str]]:
        userids: list[str] = []
        sources: list[str] = []
        for stmt in (doc or {}).get("Statement", []):
            cond = stmt.get("Condition", {}).get("StringEquals", {})
            for key, bucket in (("aws:userid", userids), ("aws:SourceIdentity", sources)):
                value = cond.get(key, [])
                bucket.extend([value] if isinstance(value, str) else value)
        return sorted(set(userids)), sorted(set(sources))

    @staticmethod
    def document(userids: list[str], sources: list[str]) -> dict[str, Any]:
        statements = []
        if userids:
            statements.append({"Sid": "ResponderDenyStolenSession", "Effect": "Deny", "Action": "*", "Resource": "*",
                               "Condition": {"StringEquals": {"aws:userid": sorted(userids)}}})
        if sources:
            statements.append({"Sid": "ResponderDenySourceIdentity", "Effect": "Deny", "Action": "*", "Resource": "*",
                               "Condition": {"StringEquals": {"aws:SourceIdentity": sorted(sources)}}})
        return {"Version": "2012-10-17", "Statement": statements}

    def _desired(self, ctx: StepContext, inp: DenySessionInput) -> tuple[dict[str, Any] | None, dict[str, Any],
                                                                           list[str], list[str]]:
        _refuse_root(inp.role_name, inp.principal_id)
        iam = ctx.aws("iam")
        current = parallel.start(lambda: _get_inline(iam, inp.role_name, inp.policy_name))  # a read: overlaps GetRole
        role = _role(ctx, inp.role_name)
        ident = ctx.identity()
        userids, sources = self._targets(role, inp)
        if ident.get("UserId") and ident.get("UserId") in userids:
            raise Refused(f"session {ident['UserId']} is responder's own; refusing to deny itself")
        existing = current.result()
        have_u, have_s = self._current_values(existing)
        doc = self.document(sorted({*have_u, *userids}), sorted({*have_s, *sources}))
        return existing, doc, userids, sources

    def plan(self, ctx: StepContext, inp: DenySessionInput) -> Change:
        existing, doc, userids, sources = self._desired(ctx, inp)
        return Change(will_change=existing != doc, summary=f"deny session(s) {userids + sources} of role "
                      f"{inp.role_name} (other sessions keep working)", before={"policy": existing},
                      after={"policy": doc})

    def apply(self, ctx: StepContext, inp: DenySessionInput) -> Outcome:
        existing, doc, userids, sources = self._desired(ctx, inp)
        have_u, have_s = self._current_values(doc)
        out = DenySessionOutput(role_name=inp.role_name, policy_name=inp.policy_name, denied_userids=have_u,
                                denied_source_identities=have_s).model_dump()
        if existing == doc:
            return Outcome(changed=False, summary=f"session(s) {userids + sources} of {inp.role_name} already denied",
                           before={"policy": existing}, after={"policy": doc}, output=out)
        ctx.record_before({"policy": existing})
        ctx.aws("iam").put_role_policy(RoleName=inp.role_name, PolicyName=inp.policy_name,
                                       PolicyDocument=json.dumps(doc))
        return Outcome(changed=True, summary=f"denied session(s) {userids + sources} of role {inp.role_name}",
                       before={"policy": existing}, after={"policy": doc}, output=out,
                       notes=["only the named session is denied: sessions of the role minted by other callers "
                              "keep working"])

    def undo(self, ctx: StepContext, inp: DenySessionInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        iam = ctx.aws("iam")
        current = _get_inline(iam, inp.role_name, inp.policy_name)
        if current != applied.after.get("policy") and not force:
            raise TargetChanged(f"policy {inp.policy_name} on role {inp.role_name} is "
                                f"{'missing' if current is None else 'edited'} since responder wrote it; "
                                "use --force to release anyway")
        previous = applied.before.get("policy")
        if previous:
            iam.put_role_policy(RoleName=inp.role_name, PolicyName=inp.policy_name, PolicyDocument=json.dumps(previous))
        elif current is not None:
            iam.delete_role_policy(RoleName=inp.role_name, PolicyName=inp.policy_name)
        return Outcome(changed=True, summary=f"lifted the session deny on role {inp.role_name}",
                       before={"policy": current}, after={"policy": previous})


# ---------------------------------------------------------------------------------------------
class RoleInput(ActionInput):
    role_name: str = Field(pattern=_ROLE_NAME)


class LockTrustOutput(ActionOutput):
    role_name: str = ""
    locked: bool = False


class LockTrustPolicy(Action[RoleInput]):
    """Replace the role's trust policy with a deny-all-assume one, so nobody mints new sessions.

    Stronger than revoking sessions (which spares sessions issued after now, including the attacker's
    next one if they still hold the credentials that assume the role), and disruptive: every legitimate
    caller loses the role. Meant to sit behind an approval. The original trust policy is the before
    state; release puts it back if the locked one is still in place.
    """

    name = "aws.iam_role.lock_trust_policy"
    Input = RoleInput
    Output = LockTrustOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"iam:GetRole", "iam:UpdateAssumeRolePolicy"})
    undo_permissions = permissions

    def _trust(self, ctx: StepContext, inp: RoleInput) -> dict[str, Any] | None:
        _refuse_root(inp.role_name, None)
        return _doc(_role(ctx, inp.role_name).get("AssumeRolePolicyDocument"))

    def plan(self, ctx: StepContext, inp: RoleInput) -> Change:
        trust = self._trust(ctx, inp)
        return Change(will_change=trust != LOCKED_TRUST, summary=f"lock the trust policy of role {inp.role_name} "
                      "(nobody can assume it until released)", before={"trust_policy": trust},
                      after={"trust_policy": LOCKED_TRUST}, notes=["every legitimate caller of the role loses it too"])

    def apply(self, ctx: StepContext, inp: RoleInput) -> Outcome:
        trust = self._trust(ctx, inp)
        out = LockTrustOutput(role_name=inp.role_name, locked=True).model_dump()
        if trust == LOCKED_TRUST:
            return Outcome(changed=False, summary=f"trust policy of {inp.role_name} is already locked",
                           before={"trust_policy": trust}, after={"trust_policy": trust}, output=out)
        ctx.record_before({"trust_policy": trust})
        ctx.aws("iam").update_assume_role_policy(RoleName=inp.role_name, PolicyDocument=json.dumps(LOCKED_TRUST))
        return Outcome(changed=True, summary=f"locked the trust policy of role {inp.role_name}",
                       before={"trust_policy": trust}, after={"trust_policy": LOCKED_TRUST}, output=out)

    def undo(self, ctx: StepContext, inp: RoleInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        iam = ctx.aws("iam")
        try:
            current = _doc(iam.get_role(RoleName=inp.role_name)["Role"].get("AssumeRolePolicyDocument"))
        except iam.exceptions.NoSuchEntityException:
            raise TargetChanged(f"role {inp.role_name} no longer exists") from None
        if current != applied.after.get("trust_policy") and not force:
            raise TargetChanged(f"trust policy of role {inp.role_name} was edited since responder locked it; "
                                "use --force to release anyway")
        previous = applied.before.get("trust_policy")
        iam.update_assume_role_policy(RoleName=inp.role_name, PolicyDocument=json.dumps(previous))
        return Outcome(changed=True, summary=f"restored the trust policy of role {inp.role_name}",
                       before={"trust_policy": current}, after={"trust_policy": previous})


# =============================================================================================
# Trust policy restored (issue 17): the attacker's UpdateAssumeRolePolicy undone. Appended block.
# =============================================================================================
class RestoreTrustInput(RoleInput):
    """The trust policy to put back: the document CloudTrail recorded before the change, or a reviewed one."""

    policy_document: dict[str, Any] | str

    @model_validator(mode="after")
    def _parsable(self) -> RestoreTrustInput:
        doc = _doc(self.policy_document)
        if not isinstance(doc, dict) or not doc.get("Statement"):
            raise ValueError("policy_document must be a trust policy with at least one statement")
        return self


class RestoreTrustPolicy(Action[RestoreTrustInput]):
    """Put a role's previous trust policy back, cutting out whoever the attacker made able to assume it.

    A backdoor in a trust policy (an outside account, ``*``, a new federated provider) survives every key
    rotation. The document found is recorded; release puts it back if it is still responder's. Meant to sit
    behind an approval: a wrong "previous" document locks the role's real callers out.
    """

    name = "aws.iam_role.restore_trust_policy"
    Input = RestoreTrustInput
    Output = LockTrustOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"iam:GetRole", "iam:UpdateAssumeRolePolicy"})
    undo_permissions = permissions

    def plan(self, ctx: StepContext, inp: RestoreTrustInput) -> Change:
        _refuse_root(inp.role_name, None)
        current = _doc(_role(ctx, inp.role_name).get("AssumeRolePolicyDocument"))
        wanted = _doc(inp.policy_document)
        return Change(will_change=current != wanted, summary=f"restore the previous trust policy of role "
                      f"{inp.role_name}", before={"trust_policy": current}, after={"trust_policy": wanted},
                      notes=["whoever the current trust policy admits and the previous one does not loses the role"])

    def apply(self, ctx: StepContext, inp: RestoreTrustInput) -> Outcome:
        _refuse_root(inp.role_name, None)
        current = _doc(_role(ctx, inp.role_name).get("AssumeRolePolicyDocument"))
        wanted = _doc(inp.policy_document)
        out = LockTrustOutput(role_name=inp.role_name, locked=False).model_dump()
        if current == wanted:
            return Outcome(changed=False, summary=f"trust policy of {inp.role_name} is already the previous one",
                           before={"trust_policy": current}, after={"trust_policy": current}, output=out)
        ctx.record_before({"trust_policy": current})
        ctx.aws("iam").update_assume_role_policy(RoleName=inp.role_name, PolicyDocument=json.dumps(wanted))
        return Outcome(changed=True, summary=f"restored the previous trust policy of role {inp.role_name}",
                       before={"trust_policy": current}, after={"trust_policy": wanted}, output=out)

    def undo(self, ctx: StepContext, inp: RestoreTrustInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        return LockTrustPolicy().undo(ctx, RoleInput(role_name=inp.role_name), applied, force=force, options=options)
