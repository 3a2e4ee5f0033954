"""The emergency SCP against a member account's root user: attached once, detached on release, refused
for the management account (moto's Organizations over HTTP)."""

from __future__ import annotations

import boto3
import pytest

from responder.actions.aws.organizations import POLICY_NAME, DenyRootInput, DenyRootUser
from responder.errors import Refused
from tests.actions.aws.action_ctx import ACCOUNT, step_context


@pytest.fixture
def member(moto_endpoint: str) -> str:
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(AccountName="payments", Email="payments@example.com")["CreateAccountStatus"]
    return str(
        org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"]
    )


def _attached(account: str) -> list[str]:
    org = boto3.client("organizations", region_name="us-east-1")
    return [
        p["Name"] for p in org.list_policies_for_target(TargetId=account, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    ]


def test_scp_attached_once_then_detached(member: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    inp = DenyRootInput(account_id=member, management_account=ACCOUNT)
    assert DenyRootUser().plan(ctx, inp).will_change
    done = DenyRootUser().apply(ctx, inp)
    assert done.changed and POLICY_NAME in _attached(member)
    assert not DenyRootUser().apply(ctx, inp).changed
    DenyRootUser().undo(ctx, inp, done)
    assert POLICY_NAME not in _attached(member)


def test_management_account_is_refused(member: str, tmp_path) -> None:
    with pytest.raises(Refused):
        DenyRootUser().apply(step_context(tmp_path), DenyRootInput(account_id=ACCOUNT))
