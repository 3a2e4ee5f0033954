"""IAM actions against moto over HTTP: idempotent apply, plan is read-only, undo with drift checks,
and the refusals that keep responder from locking itself out."""

from __future__ import annotations

import json

import boto3
import pytest

from responder.actions.aws.iam import (
    DENY_ALL,
    DeactivateAccessKey,
    DeactivateAccessKeyInput,
    QuarantineInput,
    QuarantinePrincipal,
    RevokeSessions,
    RevokeSessionsInput,
)
from responder.actions.base import Connectors, StepContext
from responder.aws.sessions import AwsAccess
from responder.clock import SystemClock
from responder.config import load_settings
from responder.errors import Refused, TargetChanged
from responder.evidence.local import LocalLocker
from tests.helpers import finding_of, key_status, sample_event, seed_user


@pytest.fixture
def ctx(moto_endpoint: str, tmp_path) -> StepContext:
    settings = load_settings()
    return StepContext(
        run_id="run-test",
        step_id="step",
        playbook_id="pb",
        finding=finding_of(sample_event()),
        clock=SystemClock(),
        evidence=LocalLocker(tmp_path / "ev"),
        settings=settings,
        connectors=Connectors(aws=AwsAccess(settings.aws)),
    )


def test_deactivate_is_idempotent_and_undo_needs_a_flag(ctx: StepContext) -> None:
    key = seed_user()
    action, inp = DeactivateAccessKey(), DeactivateAccessKeyInput(access_key_id=key)
    assert action.plan(ctx, inp).will_change
    first = action.apply(ctx, inp)
    second = action.apply(ctx, inp)
    assert first.changed and not second.changed
    assert not action.plan(ctx, inp).will_change
    with pytest.raises(Refused, match="explicit flag"):
        action.undo(ctx, inp, first)
    action.undo(ctx, inp, first, options={"reenable_keys": True})
    assert key_status("ci-deploy", key) == "Active"


def test_temporary_keys_are_refused(ctx: StepContext) -> None:
    with pytest.raises(Refused, match="temporary"):
        DeactivateAccessKey().plan(ctx, DeactivateAccessKeyInput(access_key_id="ASIA2E0A8F3B244C9986"))


def test_responder_never_contains_itself(ctx: StepContext) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="responder")
    mine = iam.create_access_key(UserName="responder")["AccessKey"]
    ident = ctx.identity()
    ident["AccessKeyId"] = mine["AccessKeyId"]  # responder signing with this key
    with pytest.raises(Refused, match="responder itself signs with"):
        DeactivateAccessKey().plan(
            ctx, DeactivateAccessKeyInput(access_key_id=mine["AccessKeyId"], user_name="responder")
        )
    assert key_status("responder", mine["AccessKeyId"]) == "Active"


def test_service_linked_and_identity_center_roles_are_refused(ctx: StepContext) -> None:
    iam = boto3.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    iam.create_role(
        RoleName="AWSReservedSSO_Admin_0123456789abcdef",
        AssumeRolePolicyDocument=trust,
        Path="/aws-reserved/sso.amazonaws.com/",
    )
    iam.create_role(RoleName="AWSServiceRoleForSupport", AssumeRolePolicyDocument=trust, Path="/aws-service-role/")
    with pytest.raises(Refused, match="Identity Center"):
        RevokeSessions().apply(ctx, RevokeSessionsInput(role_name="AWSReservedSSO_Admin_0123456789abcdef"))
    with pytest.raises(Refused, match="service-linked"):
        QuarantinePrincipal().apply(ctx, QuarantineInput(role_name="AWSServiceRoleForSupport"))
    assert iam.list_role_policies(RoleName="AWSServiceRoleForSupport")["PolicyNames"] == []


def test_revoke_sessions_for_a_role_and_release(ctx: StepContext) -> None:
    iam = boto3.client("iam")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    action, inp = RevokeSessions(), RevokeSessionsInput(role_name="app")
    outcome = action.apply(ctx, inp)
    doc = iam.get_role_policy(RoleName="app", PolicyName="responder-revoke-sessions")["PolicyDocument"]
    assert doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"] == outcome.output["revoked_before"]
    action.undo(ctx, inp, outcome)
    assert iam.list_role_policies(RoleName="app")["PolicyNames"] == []


def test_quarantine_release_refuses_drift(ctx: StepContext) -> None:
    seed_user()
    iam = boto3.client("iam")
    action, inp = QuarantinePrincipal(), QuarantineInput(user_name="ci-deploy")
    outcome = action.apply(ctx, inp)
    assert outcome.before["inline_policies"] == ["app"]
    iam.put_user_policy(
        UserName="ci-deploy",
        PolicyName="responder-quarantine",
        PolicyDocument=json.dumps({**DENY_ALL, "Statement": [{**DENY_ALL["Statement"][0], "Action": "s3:*"}]}),
    )
    with pytest.raises(TargetChanged, match="edited"):
        action.undo(ctx, inp, outcome)
    action.undo(ctx, inp, outcome, force=True)
    assert iam.list_user_policies(UserName="ci-deploy")["PolicyNames"] == ["app"]
