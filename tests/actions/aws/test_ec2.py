"""EC2 evidence and containment against moto over HTTP: evidence captured, containment idempotent, the
two-move isolation, and undo that restores the before state or refuses (naming the difference) after drift.

The instance comes from a GuardDuty finding, seeded into moto by responder's own sandbox seeding:
tests/fixtures/guardduty/ec2-bitcointool-bare.json (basis in SOURCES.md there).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from responder.actions.aws import _ec2_groups as groups
from responder.actions.aws.ec2 import (
    CaptureInstance,
    CaptureInstanceInput,
    DeregisterFromTargetGroups,
    DetachFromAutoscaling,
    DetachInstanceProfile,
    InstanceInput,
    IsolateInstance,
    ProtectInstance,
    SnapshotVolumes,
    SnapshotVolumesInput,
    TagInstance,
    TagInstanceInput,
)
from responder.actions.base import Connectors, StepContext
from responder.aws.sessions import AwsAccess
from responder.clock import SystemClock
from responder.config import load_settings
from responder.errors import TargetChanged
from responder.evidence.local import LocalLocker
from responder.findings import load_file
from responder.sandbox import Sandbox
from responder.sandbox.resources import SANDBOX_ASG, describe_instance, seed_resources
from tests.conftest import FIXTURES

CANARY = FIXTURES / "guardduty" / "ec2-bitcointool-bare.json"
INSTANCE = "i-0c3a5e7f9b1d24680"  # the finding's own instance id, given to the emulated instance


@pytest.fixture
def access(moto_endpoint: str) -> AwsAccess:
    return AwsAccess(load_settings().aws)


@pytest.fixture
def ctx(access: AwsAccess, moto_endpoint: str, tmp_path) -> StepContext:
    finding = load_file(CANARY)[0]
    box = Sandbox(endpoint=moto_endpoint, account_id="123456789012", region="us-east-1")
    seed_resources(box, finding)
    return StepContext(run_id="run-ec2-test", step_id="step", playbook_id="pb", finding=finding,
                       clock=SystemClock(), evidence=LocalLocker(tmp_path / "ev"), settings=load_settings(),
                       connectors=Connectors(aws=access))


def _state() -> dict[str, Any]:
    return describe_instance(boto3.client("ec2"), boto3.client("autoscaling"), boto3.client("elbv2"), INSTANCE)


def test_seeding_gives_the_instance_the_findings_id(ctx: StepContext) -> None:
    state = _state()
    assert state["state"] == "running" and state["autoscaling_group"] == SANDBOX_ASG
    assert state["target_groups"] and state["instance_profile"]


def test_capture_instance_records_everything_and_notes_the_missing_screenshot(ctx: StepContext) -> None:
    out = CaptureInstance().apply(ctx, CaptureInstanceInput(instance_id=INSTANCE))
    assert not out.changed
    o = out.output
    assert o["vpc_id"] and o["subnet_id"] and o["security_group_ids"] and o["network_interface_ids"]
    assert len(o["volume_ids"]) == 2 and o["role_name"] == "sandbox-app-role"
    assert o["autoscaling_group"] == SANDBOX_ASG and o["target_group_arns"]
    assert o["console_artifact"] and o["screenshot_artifact"] is None
    assert any("screenshot" in n for n in out.notes)  # moto has no GetConsoleScreenshot: a note, not an error
    saved = json.loads(ctx.evidence.read("run-ec2-test", o["artifact"]))
    assert saved["instance"]["InstanceId"] == INSTANCE
    assert saved["security_groups"][0]["IpPermissions"], "group rules are part of the evidence"
    console = json.loads(ctx.evidence.read("run-ec2-test", o["console_artifact"]))
    assert console["InstanceId"] == INSTANCE and "Linux" in console["output"]  # decoded text, not base64


def test_console_output_is_redacted_before_it_is_stored() -> None:
    import base64

    leaked = "cloud-init: export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    notes: list[str] = []
    record = CaptureInstance._console_record({"InstanceId": INSTANCE,
                                               "Output": base64.b64encode(leaked.encode()).decode()}, notes)
    assert "wJalrXUtnFEMI" not in record["output"] and record["redacted"] and notes


def test_snapshots_are_tagged_waited_for_and_not_repeated(ctx: StepContext) -> None:
    action, inp = SnapshotVolumes(), SnapshotVolumesInput(instance_id=INSTANCE)
    first = action.apply(ctx, inp)
    again = action.apply(ctx, inp)
    assert "2 new" in first.summary and "0 new" in again.summary
    assert first.output["snapshot_ids"] == again.output["snapshot_ids"] and len(first.output["snapshot_ids"]) == 2
    assert all(s["state"] == "completed" for s in first.output["snapshots"])
    snaps = boto3.client("ec2").describe_snapshots(SnapshotIds=first.output["snapshot_ids"])["Snapshots"]
    tags = [{t["Key"]: t["Value"] for t in s["Tags"]} for s in snaps]
    assert all(t["responder:run-id"] == "run-ec2-test" and t["responder:instance-id"] == INSTANCE for t in tags)


def test_snapshots_not_waited_for_keep_the_state_they_were_created_in(ctx: StepContext) -> None:
    """The playbooks' way (``wait: false``): no read after the creates; the next run of the step finds them."""
    action, inp = SnapshotVolumes(), SnapshotVolumesInput(instance_id=INSTANCE, wait=False)
    first = action.apply(ctx, inp)
    again = action.apply(ctx, inp)
    assert "2 new" in first.summary and "0 new" in again.summary
    assert first.output["snapshot_ids"] == again.output["snapshot_ids"] and len(first.output["snapshot_ids"]) == 2
    assert all(s["state"] in ("pending", "completed") for s in first.output["snapshots"] + again.output["snapshots"])


def test_protect_is_idempotent_and_undo_refuses_after_drift(ctx: StepContext) -> None:
    action, inp = ProtectInstance(), InstanceInput(instance_id=INSTANCE)
    before = _state()
    applied = action.apply(ctx, inp)
    assert applied.changed and not action.apply(ctx, inp).changed
    assert _state()["termination_protection"] is True and _state()["shutdown_behavior"] == "stop"
    ec2 = boto3.client("ec2")
    ec2.modify_instance_attribute(InstanceId=INSTANCE, DisableApiTermination={"Value": False})
    with pytest.raises(TargetChanged, match="termination_protection"):
        action.undo(ctx, inp, applied)
    ec2.modify_instance_attribute(InstanceId=INSTANCE, DisableApiTermination={"Value": True})
    action.undo(ctx, inp, applied)
    assert _state() == before


def test_isolation_moves_each_eni_twice_through_per_vpc_groups(access: AwsAccess, ctx: StepContext) -> None:
    moves: list[list[str]] = []
    access.hooks.append(("provide-client-params.ec2.ModifyNetworkInterfaceAttribute",
                         lambda params, **_: moves.append(list(params.get("Groups", [])))))
    before = _state()
    action, inp = IsolateInstance(), InstanceInput(instance_id=INSTANCE)
    applied = action.apply(ctx, inp)
    iso, untrack = applied.output["isolation_group_id"], applied.output["untracking_group_id"]
    assert moves == [[untrack], [iso]], "first the allow-all group, then the no-rules group"
    ec2 = boto3.client("ec2")
    found = {g["GroupId"]: g for g in ec2.describe_security_groups(GroupIds=[iso, untrack])["SecurityGroups"]}
    assert found[iso]["IpPermissions"] == [] and found[iso]["IpPermissionsEgress"] == []
    assert any(r["CidrIp"] == "0.0.0.0/0" for p in found[untrack]["IpPermissions"] for r in p.get("IpRanges", []))
    assert all(g == [iso] for g in _state()["security_groups"].values())
    assert not action.apply(ctx, inp).changed
    # a second run in the same VPC finds the groups by tag, or by name when the tag is gone
    ec2.delete_tags(Resources=[iso], Tags=[{"Key": groups.ROLE_TAG}])
    assert groups.find_group(ec2, groups.ISOLATION, applied.output["vpc_id"])["GroupId"] == iso
    action.undo(ctx, inp, applied)
    assert _state() == before


def test_isolation_release_refused_after_a_group_changed_by_hand(ctx: StepContext) -> None:
    action, inp = IsolateInstance(), InstanceInput(instance_id=INSTANCE)
    applied = action.apply(ctx, inp)
    ec2 = boto3.client("ec2")
    vpc = applied.output["vpc_id"]
    other = ec2.create_security_group(GroupName="by-hand", Description="x", VpcId=vpc)["GroupId"]
    eni = next(iter(applied.after["network_interfaces"]))
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[other])
    ec2.modify_instance_attribute(InstanceId=INSTANCE, Groups=[other])
    with pytest.raises(TargetChanged) as refused:
        action.undo(ctx, inp, applied)
    assert eni in refused.value.message and other in refused.value.message
    forced = action.undo(ctx, inp, applied, force=True)
    assert forced.notes and "drift overridden" in forced.notes[0]


def test_autoscaling_detach_keeps_desired_capacity_and_undo_attaches(ctx: StepContext) -> None:
    asg = boto3.client("autoscaling")
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[SANDBOX_ASG])["AutoScalingGroups"][0]
    desired = group["DesiredCapacity"]
    action, inp = DetachFromAutoscaling(), InstanceInput(instance_id=INSTANCE)
    applied = action.apply(ctx, inp)
    assert applied.changed and _state()["autoscaling_group"] is None
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[SANDBOX_ASG])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == desired
    assert not action.apply(ctx, inp).changed
    undone = action.undo(ctx, inp, applied)
    assert _state()["autoscaling_group"] == SANDBOX_ASG and undone.notes


def test_target_groups_and_profile_are_restored(ctx: StepContext) -> None:
    before = _state()
    dereg, prof = DeregisterFromTargetGroups(), DetachInstanceProfile()
    inp = InstanceInput(instance_id=INSTANCE)
    a1, a2 = dereg.apply(ctx, inp), prof.apply(ctx, inp)
    assert _state()["target_groups"] == [] and _state()["instance_profile"] is None
    assert not dereg.apply(ctx, inp).changed and not prof.apply(ctx, inp).changed
    prof.undo(ctx, inp, a2)
    dereg.undo(ctx, inp, a1)
    assert _state() == before


def test_profile_release_refused_when_another_profile_was_attached(ctx: StepContext) -> None:
    inp = InstanceInput(instance_id=INSTANCE)
    applied = DetachInstanceProfile().apply(ctx, inp)
    iam = boto3.client("iam")
    other = iam.create_instance_profile(InstanceProfileName="by-hand")["InstanceProfile"]["Arn"]
    boto3.client("ec2").associate_iam_instance_profile(IamInstanceProfile={"Arn": other}, InstanceId=INSTANCE)
    with pytest.raises(TargetChanged, match="by-hand"):
        DetachInstanceProfile().undo(ctx, inp, applied)


def test_tags_are_sanitised_and_removed_on_release(ctx: StepContext) -> None:
    action = TagInstance()
    inp = TagInstanceInput(instance_id=INSTANCE, tags={"responder:quarantined": "run-1\x00\n{{ 7*7 }}"})
    applied = action.apply(ctx, inp)
    assert _state()["tags"] == {"responder:quarantined": "run-1__{{ 7*7 }}"}
    action.undo(ctx, inp, applied)
    assert _state()["tags"] == {}


def test_a_missing_instance_is_target_changed(ctx: StepContext) -> None:
    with pytest.raises(TargetChanged, match="does not exist"):
        ProtectInstance().plan(ctx, InstanceInput(instance_id="i-0000000000000dead"))


@pytest.mark.parametrize("bad", ["i-1; rm -rf /", "{{ 7*7 }}", "i-XYZ", "", "sg-0123456789abcdef0"])
def test_attacker_shaped_instance_ids_never_reach_the_api(bad: str) -> None:
    with pytest.raises(ValueError, match="instance_id"):
        InstanceInput(instance_id=bad)
