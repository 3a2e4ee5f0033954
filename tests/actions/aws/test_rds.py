"""RDS evidence and containment against moto over HTTP: capture, a run-named snapshot taken once, public
access removed, two-move isolation into the VPC's no-rules group — each released exactly."""

from __future__ import annotations

import json

import boto3
import pytest

from responder.actions.aws import _ec2_groups as groups
from responder.actions.aws.rds import (
    CaptureDbInstance,
    DbInstanceInput,
    IsolateDbInstance,
    RemovePublicAccess,
    SnapshotDbInput,
    SnapshotDbInstance,
)
from responder.errors import TargetChanged
from tests.actions.aws.action_ctx import OUTSIDE, step_context

DB = "orders-prod"


@pytest.fixture
def database(moto_endpoint: str) -> dict:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
            "SubnetId"
        ]
        for i, z in ((1, "a"), (2, "b"))
    ]
    app = ec2.create_security_group(GroupName="db-app", Description="postgres from anywhere", VpcId=vpc)["GroupId"]
    rds = boto3.client("rds", region_name="us-east-1")
    rds.create_db_subnet_group(DBSubnetGroupName="db", DBSubnetGroupDescription="db", SubnetIds=subnets)
    rds.create_db_instance(
        DBInstanceIdentifier=DB,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        ManageMasterUserPassword=True,
        AllocatedStorage=20,
        PubliclyAccessible=True,
        DBSubnetGroupName="db",
        VpcSecurityGroupIds=[app],
    )
    rds.create_db_snapshot(DBInstanceIdentifier=DB, DBSnapshotIdentifier="orders-copy")
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="orders-copy", AttributeName="restore", ValuesToAdd=[OUTSIDE])
    return {"vpc": vpc, "app_group": app}


def _db() -> dict:
    return boto3.client("rds", region_name="us-east-1").describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]


def test_capture_records_exposure_sharing_and_the_secret_arn_only(database: dict, tmp_path) -> None:
    ctx = step_context(tmp_path)
    out = CaptureDbInstance().apply(ctx, DbInstanceInput(db_instance_identifier=DB))
    assert not out.changed
    o = out.output
    assert o["publicly_accessible"] and o["security_group_ids"] == [database["app_group"]]
    assert o["vpc_id"] == database["vpc"] and o["master_user_secret_arn"].startswith("arn:aws:secretsmanager:")
    assert o["shared_snapshots"] == [{"db_snapshot_identifier": "orders-copy", "shared_with": [OUTSIDE]}]
    saved = json.loads(ctx.evidence.read(ctx.run_id, o["artifact"]))
    assert saved["db_instance"]["DBInstanceIdentifier"] == DB and saved["security_groups"]


def test_snapshot_is_taken_once_per_run(database: dict, tmp_path) -> None:
    ctx = step_context(tmp_path)
    inp = SnapshotDbInput(db_instance_identifier=DB, wait=False)
    first = SnapshotDbInstance().apply(ctx, inp)
    second = SnapshotDbInstance().apply(ctx, inp)
    assert first.output["db_snapshot_identifier"] == second.output["db_snapshot_identifier"]
    snaps = boto3.client("rds", region_name="us-east-1").describe_db_snapshots(DBInstanceIdentifier=DB)["DBSnapshots"]
    assert sum(s["DBSnapshotIdentifier"].startswith("responder-") for s in snaps) == 1


def test_public_access_removed_then_released(database: dict, tmp_path) -> None:
    ctx = step_context(tmp_path)
    inp = DbInstanceInput(db_instance_identifier=DB)
    done = RemovePublicAccess().apply(ctx, inp)
    assert done.changed and not _db()["PubliclyAccessible"]
    assert not RemovePublicAccess().apply(ctx, inp).changed
    RemovePublicAccess().undo(ctx, inp, done)
    assert _db()["PubliclyAccessible"]


def test_isolated_in_two_moves_then_released(database: dict, tmp_path) -> None:
    ctx = step_context(tmp_path)
    inp = DbInstanceInput(db_instance_identifier=DB)
    done = IsolateDbInstance().apply(ctx, inp)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    iso = groups.find_group(ec2, groups.ISOLATION, database["vpc"])
    assert iso and [g["VpcSecurityGroupId"] for g in _db()["VpcSecurityGroups"]] == [iso["GroupId"]]
    assert iso["IpPermissions"] == [] and iso["IpPermissionsEgress"] == []
    assert groups.find_group(ec2, groups.UNTRACKING, database["vpc"]), "the untracking move happened"
    assert not IsolateDbInstance().apply(ctx, inp).changed
    IsolateDbInstance().undo(ctx, inp, done)
    assert [g["VpcSecurityGroupId"] for g in _db()["VpcSecurityGroups"]] == [database["app_group"]]


def test_missing_database_is_target_changed(moto_endpoint: str, tmp_path) -> None:
    with pytest.raises(TargetChanged):
        RemovePublicAccess().plan(step_context(tmp_path), DbInstanceInput(db_instance_identifier="gone"))
