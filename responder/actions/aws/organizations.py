"""Organization-level containment: an emergency service control policy that stops the root user.

An SCP is the only control that binds a member account's root user. ``deny_root_user`` attaches a
policy denying every action to ``arn:aws:iam::*:root`` to the compromised member account, from the
organization's management account (``management_account``; responder assumes its configured role
there). It is disruptive — nobody can use root in that account until released, for recovery included —
so playbooks put it behind an approval. It cannot protect the management account itself (SCPs never
apply there): that is refused with nothing changed. The policy is created once and reused; release
detaches it and leaves the policy in place for the next incident.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from ...errors import Refused, TargetChanged
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext

POLICY_NAME = "responder-deny-root-user"
DENY_ROOT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ResponderDenyRootUser",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringLike": {"aws:PrincipalArn": ["arn:aws:iam::*:root"]}},
        }
    ],
}


class DenyRootInput(ActionInput):
    account_id: str = Field(pattern=r"^\d{12}$", description="the member account whose root user is denied")
    management_account: str | None = Field(
        None, pattern=r"^\d{12}$", description="where Organizations is called (default: the finding's)"
    )


class DenyRootOutput(ActionOutput):
    account_id: str = ""
    policy_id: str = ""
    attached: bool = False


def _org(ctx: StepContext, inp: DenyRootInput) -> Any:
    return ctx.aws("organizations", account=inp.management_account or ctx.finding.account_id)


def _attached(org: Any, account: str) -> list[str]:
    try:
        found = org.list_policies_for_target(TargetId=account, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    except Exception as exc:
        if "TargetNotFound" in str(exc) or "AccountNotFound" in str(exc):
            raise TargetChanged(f"account {account} is not a member of this organization") from None
        raise
    return sorted(p["Id"] for p in found)


def _policy_id(org: Any, *, create: bool) -> str | None:
    for page in org.get_paginator("list_policies").paginate(Filter="SERVICE_CONTROL_POLICY"):
        for policy in page.get("Policies", []):
            if policy.get("Name") == POLICY_NAME:
                return str(policy["Id"])
    if not create:
        return None
    made = org.create_policy(
        Name=POLICY_NAME,
        Type="SERVICE_CONTROL_POLICY",
        Content=json.dumps(DENY_ROOT),
        Description="responder: deny every action to the root user (incident containment)",
    )
    return str(made["Policy"]["PolicySummary"]["Id"])


class DenyRootUser(Action[DenyRootInput]):
    """Attach an SCP denying every action to the root user of a member account (behind an approval)."""

    name = "aws.organizations.deny_root_user"
    Input = DenyRootInput
    Output = DenyRootOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset(
        {
            "organizations:DescribeOrganization",
            "organizations:ListPolicies",
            "organizations:CreatePolicy",
            "organizations:ListPoliciesForTarget",
            "organizations:AttachPolicy",
        }
    )
    undo_permissions = frozenset(
        {"organizations:ListPolicies", "organizations:ListPoliciesForTarget", "organizations:DetachPolicy"}
    )

    def _check(self, org: Any, inp: DenyRootInput) -> None:
        master = org.describe_organization()["Organization"].get("MasterAccountId")
        if master == inp.account_id:
            raise Refused(
                f"account {inp.account_id} is the organization's management account: SCPs never apply "
                "to it; nothing changed",
                hint="secure its root user by hand (runbook)",
            )

    def plan(self, ctx: StepContext, inp: DenyRootInput) -> Change:
        org = _org(ctx, inp)
        self._check(org, inp)
        pid = _policy_id(org, create=False)
        attached = _attached(org, inp.account_id)
        done = pid is not None and pid in attached
        return Change(
            will_change=not done,
            summary=f"attach SCP {POLICY_NAME} ({pid or 'to be created'}) to account "
            f"{inp.account_id}: its root user can do nothing until released",
            before={"attached": attached},
            after={"attached": sorted({*attached, pid or POLICY_NAME})},
            notes=["recovery that needs root in that account waits for the release"],
        )

    def apply(self, ctx: StepContext, inp: DenyRootInput) -> Outcome:
        org = _org(ctx, inp)
        self._check(org, inp)
        pid = _policy_id(org, create=True) or ""
        attached = _attached(org, inp.account_id)
        out = DenyRootOutput(account_id=inp.account_id, policy_id=pid, attached=True).model_dump()
        if pid in attached:
            return Outcome(
                changed=False,
                summary=f"SCP {pid} is already attached to {inp.account_id}",
                before={"attached": attached},
                after={"attached": attached},
                output=out,
            )
        # the policy itself (created once, found by name) is kept by release: the attachment is the effect
        before = {"attached": attached, "policy_id": pid}
        ctx.record_before(before)
        org.attach_policy(PolicyId=pid, TargetId=inp.account_id)
        return Outcome(
            changed=True,
            summary=f"attached SCP {POLICY_NAME} ({pid}) to account {inp.account_id}",
            before=before,
            after={"attached": sorted({*attached, pid})},
            output=out,
        )

    def undo(
        self,
        ctx: StepContext,
        inp: DenyRootInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        org = _org(ctx, inp)
        pid = applied.before.get("policy_id") or _policy_id(org, create=False)
        attached = _attached(org, inp.account_id)
        if pid not in attached:
            if not force:
                raise TargetChanged(f"SCP {pid} is no longer attached to {inp.account_id}; nothing to release")
            return Outcome(
                changed=False,
                summary=f"SCP {pid} was already detached",
                before={"attached": attached},
                after={"attached": attached},
            )
        org.detach_policy(PolicyId=pid, TargetId=inp.account_id)
        return Outcome(
            changed=True,
            summary=f"detached SCP {pid} from account {inp.account_id} (policy kept)",
            before={"attached": attached},
            after={"attached": [p for p in attached if p != pid]},
        )
