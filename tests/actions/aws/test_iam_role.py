"""Role-session actions against moto over HTTP: deny one session, lock the trust policy, undo with drift
checks, and the refusals (service-linked, Identity Center, root, responder's own role) that change nothing.

The role session comes from a Security Hub (ASFF) GuardDuty finding:
tests/fixtures/securityhub/guardduty-role-session-cloudtrail-disabled-asff.json (basis in SOURCES.md there).
"""

from __future__ import annotations

import json

import boto3
import pytest

from responder.actions.aws.iam_role import (
    LOCKED_TRUST,
    DenySession,
    DenySessionInput,
    LockTrustPolicy,
    RoleInput,
)
from responder.actions.base import Connectors, StepContext
from responder.aws.sessions import AwsAccess
from responder.clock import SystemClock
from responder.config import load_settings
from responder.errors import Refused, TargetChanged
from responder.evidence.local import LocalLocker
from responder.findings import load_file
from tests.conftest import FIXTURES

ROLE_FINDING = FIXTURES / "securityhub" / "guardduty-role-session-cloudtrail-disabled-asff.json"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def _ctx(tmp_path, access: AwsAccess) -> StepContext:
    finding = load_file(ROLE_FINDING)[0].model_copy(update={"account_id": "123456789012"})  # moto's home account
    return StepContext(run_id="run-role-test", step_id="step", playbook_id="pb", finding=finding,
                       clock=SystemClock(), evidence=LocalLocker(tmp_path / "ev"), settings=load_settings(),
                       connectors=Connectors(aws=access))


@pytest.fixture
def ctx(moto_endpoint: str, tmp_path) -> StepContext:
    return _ctx(tmp_path, AwsAccess(load_settings().aws))


def _role(name: str = "Admin", path: str = "/") -> str:
    return boto3.client("iam").create_role(RoleName=name, Path=path,
                                           AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["RoleId"]


def _inline(role: str) -> list[str]:
    return boto3.client("iam").list_role_policies(RoleName=role)["PolicyNames"]


def test_deny_session_names_only_the_stolen_session(ctx: StepContext) -> None:
    role_id = _role()
    session = ctx.finding.resource  # role Admin, session "example", principal AROA…:example
    action = DenySession()
    inp = DenySessionInput(role_name="Admin", principal_id=session.principal_id)
    assert action.plan(ctx, inp).will_change
    applied = action.apply(ctx, inp)
    doc = boto3.client("iam").get_role_policy(RoleName="Admin", PolicyName="responder-deny-session")["PolicyDocument"]
    assert doc["Statement"][0]["Effect"] == "Deny"
    assert doc["Statement"][0]["Condition"] == {"StringEquals": {"aws:userid": [f"{role_id}:example"]}}
    assert not action.apply(ctx, inp).changed
    # a second stolen session of the same role joins the same policy; the first stays denied
    second = action.apply(ctx, DenySessionInput(role_name="Admin", session_name="other", source_identity="mallory"))
    assert second.output["denied_userids"] == sorted([f"{role_id}:example", f"{role_id}:other"])
    assert second.output["denied_source_identities"] == ["mallory"]
    with pytest.raises(TargetChanged, match="edited"):
        action.undo(ctx, inp, applied)  # the policy is no longer what the first apply left
    action.undo(ctx, inp, second)
    assert second.before["policy"] == applied.after["policy"]
    action.undo(ctx, inp, applied)
    assert _inline("Admin") == []


def test_deny_session_needs_a_session_to_name() -> None:
    with pytest.raises(ValueError, match="session_name"):
        DenySessionInput(role_name="Admin")


def test_lock_trust_policy_and_release(ctx: StepContext) -> None:
    _role()
    action, inp = LockTrustPolicy(), RoleInput(role_name="Admin")
    applied = action.apply(ctx, inp)
    iam = boto3.client("iam")
    assert iam.get_role(RoleName="Admin")["Role"]["AssumeRolePolicyDocument"] == LOCKED_TRUST
    assert not action.apply(ctx, inp).changed
    iam.update_assume_role_policy(RoleName="Admin", PolicyDocument=json.dumps(TRUST))
    with pytest.raises(TargetChanged, match="edited since responder locked it"):
        action.undo(ctx, inp, applied)
    iam.update_assume_role_policy(RoleName="Admin", PolicyDocument=json.dumps(LOCKED_TRUST))
    action.undo(ctx, inp, applied)
    assert iam.get_role(RoleName="Admin")["Role"]["AssumeRolePolicyDocument"] == TRUST


@pytest.mark.parametrize(("name", "path", "said"), [
    ("AWSServiceRoleForSupport", "/aws-service-role/support.amazonaws.com/", "service-linked"),
    ("AWSReservedSSO_Admin_0123456789abcdef", "/aws-reserved/sso.amazonaws.com/", "permission set"),
])
def test_unrevocable_roles_are_refused_and_nothing_changes(ctx: StepContext, name: str, path: str, said: str) -> None:
    _role(name, path)
    for action, inp in ((DenySession(), DenySessionInput(role_name=name, session_name="s")),
                        (LockTrustPolicy(), RoleInput(role_name=name))):
        with pytest.raises(Refused) as refused:
            action.apply(ctx, inp)
        assert said in (refused.value.message + (refused.value.hint or ""))
    assert _inline(name) == []
    assert boto3.client("iam").get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == TRUST


def test_root_is_refused(ctx: StepContext) -> None:
    with pytest.raises(Refused, match="root"):
        DenySession().plan(ctx, DenySessionInput(role_name="root", principal_id="123456789012:x"))


def test_responders_own_role_is_refused(moto_endpoint: str, tmp_path) -> None:
    _role("ResponderRole")
    creds = boto3.client("sts").assume_role(RoleArn="arn:aws:iam::123456789012:role/ResponderRole",
                                            RoleSessionName="responder")["Credentials"]
    own = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"], region_name="us-east-1")
    ctx = _ctx(tmp_path, AwsAccess(load_settings().aws, session=own))
    for action, inp in ((DenySession(), DenySessionInput(role_name="ResponderRole", session_name="attacker")),
                        (LockTrustPolicy(), RoleInput(role_name="ResponderRole"))):
        with pytest.raises(Refused, match="responder runs as"):
            action.apply(ctx, inp)
    assert _inline("ResponderRole") == []
