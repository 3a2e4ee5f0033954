"""``aws.iam_role.restore_trust_policy``: the attacker's trust-policy backdoor replaced by the previous
document, against moto over HTTP; release puts the backdoor back only on request and refuses drift."""

from __future__ import annotations

import json

import boto3
import pytest

from responder.actions.aws.iam_role import RestoreTrustInput, RestoreTrustPolicy
from responder.errors import Refused, TargetChanged
from tests.actions.aws.action_ctx import OUTSIDE, step_context

PREVIOUS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
BACKDOOR = {
    "Version": "2012-10-17",
    "Statement": [
        *PREVIOUS["Statement"],
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"}, "Action": "sts:AssumeRole"},
    ],
}


def _trust(role: str) -> dict:
    doc = boto3.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    return doc if isinstance(doc, dict) else json.loads(doc)


def test_previous_trust_restored_then_released(moto_endpoint: str, tmp_path) -> None:
    iam = boto3.client("iam")
    iam.create_role(RoleName="OpsAutomationRole", AssumeRolePolicyDocument=json.dumps(BACKDOOR))
    ctx = step_context(tmp_path)
    inp = RestoreTrustInput(role_name="OpsAutomationRole", policy_document=json.dumps(PREVIOUS))
    done = RestoreTrustPolicy().apply(ctx, inp)
    assert done.changed and _trust("OpsAutomationRole") == PREVIOUS
    assert not RestoreTrustPolicy().apply(ctx, inp).changed
    RestoreTrustPolicy().undo(ctx, inp, done)
    assert _trust("OpsAutomationRole") == BACKDOOR


def test_release_refuses_after_an_edit(moto_endpoint: str, tmp_path) -> None:
    iam = boto3.client("iam")
    iam.create_role(RoleName="OpsAutomationRole", AssumeRolePolicyDocument=json.dumps(BACKDOOR))
    ctx = step_context(tmp_path)
    inp = RestoreTrustInput(role_name="OpsAutomationRole", policy_document=PREVIOUS)
    done = RestoreTrustPolicy().apply(ctx, inp)
    iam.update_assume_role_policy(RoleName="OpsAutomationRole", PolicyDocument=json.dumps(BACKDOOR))
    with pytest.raises(TargetChanged):
        RestoreTrustPolicy().undo(ctx, inp, done)


def test_empty_document_and_root_are_refused(moto_endpoint: str, tmp_path) -> None:
    with pytest.raises(ValueError):
        RestoreTrustInput(role_name="r", policy_document={"Version": "2012-10-17", "Statement": []})
    with pytest.raises(Refused):
        RestoreTrustPolicy().plan(step_context(tmp_path), RestoreTrustInput(role_name="root", policy_document=PREVIOUS))
