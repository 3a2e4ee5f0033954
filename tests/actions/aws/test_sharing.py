"""Sharing taken back: EBS snapshots, AMIs (``aws.ec2.unshare_*``) and RDS snapshots, against moto over HTTP.

Each removes only outside accounts (never the owner), records the list, is a no-op the second time, and
release shares again exactly what it removed — refusing when the list changed since.
"""

from __future__ import annotations

import boto3
import pytest

from responder.actions.aws.ec2 import UnshareImage, UnshareImageInput, UnshareSnapshot, UnshareSnapshotInput
from responder.actions.aws.rds import (
    UnshareDbSnapshot,
    UnshareDbSnapshotInput,
    UnshareInstanceSnapshots,
    UnshareInstanceSnapshotsInput,
)
from responder.errors import TargetChanged
from tests.actions.aws.action_ctx import OUTSIDE, step_context

OTHER = "777788889999"


def _snapshot() -> str:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snap,
        Attribute="createVolumePermission",
        OperationType="add",
        UserIds=[OUTSIDE, OTHER],
        GroupNames=["all"],
    )
    return snap


def _volume_permissions(snap: str) -> list:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    got = ec2.describe_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission")
    return sorted(p.get("UserId") or p.get("Group") for p in got["CreateVolumePermissions"])


def test_snapshot_unshared_from_one_account_then_released(moto_endpoint: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    snap = _snapshot()
    inp = UnshareSnapshotInput(snapshot_id=snap, accounts=[OUTSIDE])
    action = UnshareSnapshot()
    assert action.plan(ctx, inp).will_change
    done = action.apply(ctx, inp)
    assert done.changed and done.output["removed"] == [OUTSIDE]
    assert _volume_permissions(snap) == [OTHER, "all"]
    assert not action.apply(ctx, inp).changed, "second apply changes nothing"
    action.undo(ctx, inp, done)
    assert _volume_permissions(snap) == [OUTSIDE, OTHER, "all"]


def test_snapshot_unshared_from_everyone_and_release_refuses_drift(moto_endpoint: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    snap = _snapshot()
    inp = UnshareSnapshotInput(snapshot_id=snap)
    done = UnshareSnapshot().apply(ctx, inp)
    assert _volume_permissions(snap) == [] and done.output["public_removed"]
    boto3.client("ec2", region_name="us-east-1").modify_snapshot_attribute(
        SnapshotId=snap, Attribute="createVolumePermission", OperationType="add", UserIds=[OTHER]
    )
    with pytest.raises(TargetChanged):
        UnshareSnapshot().undo(ctx, inp, done)
    UnshareSnapshot().undo(ctx, inp, done, force=True)
    assert _volume_permissions(snap) == [OUTSIDE, OTHER, "all"]


def test_missing_snapshot_is_target_changed(moto_endpoint: str, tmp_path) -> None:
    with pytest.raises(TargetChanged):
        UnshareSnapshot().plan(step_context(tmp_path), UnshareSnapshotInput(snapshot_id="snap-0123456789abcdef0"))


def test_bad_account_ids_are_refused_before_any_call() -> None:
    with pytest.raises(ValueError):
        UnshareSnapshotInput(snapshot_id="snap-0123456789abcdef0", accounts=["12345; drop"])


def test_image_unshared_then_released(moto_endpoint: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    inst = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ami = ec2.create_image(InstanceId=inst, Name="attacker-copy")["ImageId"]
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": OUTSIDE}]})
    inp = UnshareImageInput(image_id=ami)
    done = UnshareImage().apply(ctx, inp)
    assert done.changed and done.before["shared_with"] == [OUTSIDE]
    assert ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"] == []
    UnshareImage().undo(ctx, inp, done)
    assert ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"] == [
        {"UserId": OUTSIDE}
    ]


def _db_with_shared_snapshot() -> None:
    rds = boto3.client("rds", region_name="us-east-1")
    rds.create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
    )
    rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="orders-copy")
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="orders-copy", AttributeName="restore", ValuesToAdd=[OUTSIDE])


def _restore(ident: str) -> list:
    got = boto3.client("rds", region_name="us-east-1").describe_db_snapshot_attributes(DBSnapshotIdentifier=ident)
    return got["DBSnapshotAttributesResult"]["DBSnapshotAttributes"][0]["AttributeValues"]


def test_db_snapshot_unshared_then_released(moto_endpoint: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    _db_with_shared_snapshot()
    inp = UnshareDbSnapshotInput(db_snapshot_identifier="orders-copy")
    done = UnshareDbSnapshot().apply(ctx, inp)
    assert done.changed and _restore("orders-copy") == []
    assert not UnshareDbSnapshot().apply(ctx, inp).changed
    UnshareDbSnapshot().undo(ctx, inp, done)
    assert _restore("orders-copy") == [OUTSIDE]


def test_every_shared_snapshot_of_an_instance(moto_endpoint: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    _db_with_shared_snapshot()
    inp = UnshareInstanceSnapshotsInput(db_instance_identifier="orders")
    action = UnshareInstanceSnapshots()
    assert action.plan(ctx, inp).will_change
    done = action.apply(ctx, inp)
    assert done.output["removed"] == {"orders-copy": [OUTSIDE]} and _restore("orders-copy") == []
    assert not action.apply(ctx, inp).changed
    action.undo(ctx, inp, done)
    assert _restore("orders-copy") == [OUTSIDE]
