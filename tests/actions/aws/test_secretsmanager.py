"""Secrets rotated through their configured rotation, never by hand, never un-rotated (moto over HTTP)."""

from __future__ import annotations

import boto3

from responder.actions.aws.secretsmanager import RotateSecret, SecretInput
from tests.actions.aws.action_ctx import step_context


def test_rds_managed_secret_is_rotated(moto_endpoint: str, tmp_path) -> None:
    rds = boto3.client("rds", region_name="us-east-1")
    db = rds.create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        ManageMasterUserPassword=True,
        AllocatedStorage=20,
    )
    arn = db["DBInstance"]["MasterUserSecret"]["SecretArn"]
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 7})  # rotation configured
    out = RotateSecret().apply(step_context(tmp_path), SecretInput(secret_id=arn))
    assert out.output["rotation_enabled"] and out.output["rotated"]
    assert not RotateSecret.reversible


def test_secret_without_rotation_is_left_for_a_person(moto_endpoint: str, tmp_path) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name="app/db", SecretString="sandbox-not-a-secret")
    out = RotateSecret().apply(step_context(tmp_path), SecretInput(secret_id="app/db"))
    assert not out.changed and not out.output["rotated"] and "by hand" in out.notes[0]
    assert sm.get_secret_value(SecretId="app/db")["SecretString"] == "sandbox-not-a-secret"
