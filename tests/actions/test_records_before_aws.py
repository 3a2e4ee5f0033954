"""Crash-consistent effects (issue 18), AWS side: a step that dies right after its effect, before recording
it, resumes as changed with the first attempt's "before", and release restores what was there.

Each test runs a one-step playbook through the real engine. A botocore hook on the effect's own call, once
AWS has answered, copies the run and the step as the store holds them at that instant — what a SIGKILL
there would leave: the write-ahead record with its ``pending_before``, no end — and stops the action. The
engine then records the stop; the test writes the copies back over that record (nothing a killed process
could have written survives; the lease holder is a process that has exited). A fresh engine resumes the run
and releases it. ``test_sigkill_between_the_two_isolation_moves`` kills a real ``responder run`` process
instead, as tests/engine/test_crash_release.py does.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from responder.actions.aws import _ec2_lookup as look
from responder.actions.registry import default_registry
from responder.aws.sessions import AwsAccess
from responder.config import load_settings
from responder.engine.release import release
from responder.engine.runner import Engine
from responder.findings import load_file
from responder.findings.model import Finding
from responder.playbook.validate import LoadedPlaybook, load_playbooks
from responder.sandbox import Sandbox
from responder.sandbox.resources import SANDBOX_AMI, SANDBOX_ASG, describe_instance, seed_resources
from responder.state.records import RunRecord, StepRecord, StepState
from tests.conftest import FIXTURES
from tests.helpers import engine

CANARY = FIXTURES / "guardduty" / "ec2-bitcointool-bare.json"
INSTANCE = "i-0c3a5e7f9b1d24680"  # the finding's instance id, given to the emulated instance
ACCOUNT = "123456789012"
OUTSIDE = "444455556666"
OTHER = "777788889999"
STEP = "contain"


class Killed(BaseException):
    """The action stops here: nothing after the effect's answer runs."""


def _dead_owner() -> str:
    """A lease holder on this host whose process has exited (what a SIGKILL leaves behind)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return f"{socket.gethostname()}:{int(done.stdout)}:killed"


@dataclass
class Frozen:
    """The run and the step as the store held them when the effect was answered."""

    run: RunRecord | None = None
    step: StepRecord | None = None


def _freezing_at(access: AwsAccess, eng: Engine, operation: str, nth: int) -> Frozen:
    """Copy the store's run and step once the ``nth`` call of ``operation`` is answered; stop the action."""
    frozen, seen = Frozen(), [0]

    def kill(model: Any = None, **_: Any) -> None:
        if model is None or model.name != operation:
            return
        seen[0] += 1
        if seen[0] == nth:
            run_id = eng.store.list_runs()[0].run_id
            frozen.run, frozen.step = eng.store.get_run(run_id), eng.store.get_step(run_id, STEP)
            raise Killed(f"after {operation} #{nth}")

    access.hooks.append(("after-call", kill))
    return frozen


def _as_killed(eng: Engine, frozen: Frozen) -> None:
    """Write the copies back over everything the engine recorded after the effect."""
    assert frozen.run is not None and frozen.step is not None, "the effect's call was never made"
    step = frozen.step.model_dump(mode="json", exclude={"version", "run_id", "step_id"})
    eng.store.set_step(frozen.run.run_id, STEP, **step)
    run = frozen.run.model_dump(mode="json", include={"status", "owner", "lease_until", "milestones", "error"})
    eng.store.update_run(frozen.run.run_id, **run)


def _playbook(folder: Path, action: str, args: dict[str, Any]) -> LoadedPlaybook:
    """A one-step playbook around ``action`` (JSON is YAML; arguments are literals, not templates)."""
    (folder / "playbooks").mkdir(parents=True)
    (folder / "runbooks").mkdir()
    (folder / "runbooks" / "crash.md").write_text("crash drill\n")
    body = {
        "id": "crash-drill",
        "title": "crash drill",
        "runbook": "runbooks/crash.md",
        "triggers": [{"types": ["*"]}],
        "steps": [{"id": STEP, "action": action, "with": args}],
    }
    (folder / "playbooks" / "crash.yaml").write_text(json.dumps(body))
    return load_playbooks([folder / "playbooks"], default_registry())[0]


@dataclass
class Crash:
    engine: Engine  # the fresh engine that resumed the run
    run_id: str
    ahead: StepRecord  # the step as the crash left it
    done: StepRecord  # the step once resumed


def crash_and_resume(loaded: LoadedPlaybook, finding: Finding, operation: str, nth: int = 1) -> Crash:
    access = AwsAccess(load_settings().aws)
    crashed = engine(aws=access, owner=_dead_owner())
    frozen = _freezing_at(access, crashed, operation, nth)
    crashed.run(loaded, finding)
    _as_killed(crashed, frozen)
    run_id = crashed.store.list_runs()[0].run_id
    ahead = crashed.store.get_step(run_id, STEP)
    assert ahead is not None and ahead.state == StepState.RUNNING and ahead.finished_at is None, ahead
    assert ahead.pending_before, "the step wrote its before ahead of the effect"
    fresh = engine()
    fresh.resume(run_id, loaded)
    done = fresh.store.get_step(run_id, STEP)
    assert done is not None and done.state == StepState.SUCCEEDED, done
    return Crash(fresh, run_id, ahead, done)


def released(crash: Crash) -> StepRecord:
    release(crash.engine, crash.run_id, options={"reenable_keys": True})
    rec = crash.engine.store.get_step(crash.run_id, f"release:{STEP}")
    assert rec is not None
    return rec


# ------------------------------------------------------------------------------------------ EC2
@pytest.fixture
def instance(moto_endpoint: str, responder_home: Path) -> Finding:
    finding = load_file(CANARY)[0]
    seed_resources(Sandbox(endpoint=moto_endpoint, account_id=ACCOUNT, region="us-east-1"), finding)
    return finding


def _instance() -> dict[str, Any]:
    ec2 = boto3.client("ec2")
    state = describe_instance(ec2, boto3.client("autoscaling"), boto3.client("elbv2"), INSTANCE)
    state.pop("state")
    return state


def _two_eni_instance() -> str:
    """An instance with two ENIs, each in a group of its own: isolation moves both, and must remember both.

    Launched without security groups: moto reports an ENI's groups as the union with the launch groups
    (see the moto notes), which would hide the moves on a second ENI.
    """
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    app = ec2.create_security_group(GroupName="app", Description="first eni", VpcId=vpc)["GroupId"]
    db = ec2.create_security_group(GroupName="db-clients", Description="second eni", VpcId=vpc)["GroupId"]
    inst = ec2.run_instances(ImageId=SANDBOX_AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"])
    instance_id = str(inst["Instances"][0]["InstanceId"])
    primary = inst["Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=primary, Groups=[app])
    second = ec2.create_network_interface(SubnetId=subnet["SubnetId"], Groups=[db])["NetworkInterface"]
    ec2.attach_network_interface(NetworkInterfaceId=second["NetworkInterfaceId"], InstanceId=instance_id, DeviceIndex=1)
    return instance_id


def _enis(instance_id: str) -> dict[str, list[str]]:
    ec2 = boto3.client("ec2")
    return {e["NetworkInterfaceId"]: look.eni_groups(e) for e in look.network_interfaces(ec2, instance_id)}


def _second_target_group() -> None:
    ec2, elbv2 = boto3.client("ec2"), boto3.client("elbv2")
    vpc = ec2.describe_instances(InstanceIds=[INSTANCE])["Reservations"][0]["Instances"][0]["VpcId"]
    tg = elbv2.create_target_group(Name="admin-tg", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="instance")
    elbv2.register_targets(TargetGroupArn=tg["TargetGroups"][0]["TargetGroupArn"], Targets=[{"Id": INSTANCE}])


@pytest.mark.parametrize(
    ("action", "args", "operation"),
    [
        ("aws.ec2.detach_from_autoscaling", {}, "DetachInstances"),
        ("aws.ec2.deregister_from_target_groups", {}, "DeregisterTargets"),
        ("aws.ec2.isolate_instance", {}, "ModifyInstanceAttribute"),  # the last write of the second move
        ("aws.ec2.tag_instance", {"tags": {"responder:quarantined": "run"}}, "CreateTags"),
        ("aws.ec2.protect_instance", {}, "ModifyInstanceAttribute"),
        ("aws.ec2.detach_instance_profile", {}, "DisassociateIamInstanceProfile"),
    ],
)
def test_instance_containment_killed_after_its_effect_is_released_to_the_original(
    instance: Finding, tmp_path: Path, action: str, args: dict[str, Any], operation: str
) -> None:
    original = _instance()
    nth = 2 if action == "aws.ec2.isolate_instance" else 1
    crash = crash_and_resume(_playbook(tmp_path, action, {"instance_id": INSTANCE, **args}), instance, operation, nth)
    assert _instance() != original, "the effect stands after the crash and the resume"
    assert crash.done.changed is True and crash.done.before == crash.ahead.pending_before, crash.done
    assert released(crash).state == StepState.SUCCEEDED
    after = _instance()
    if action == "aws.ec2.detach_from_autoscaling":
        assert after["autoscaling_group"] == SANDBOX_ASG
    assert after == original


def test_isolation_killed_between_its_moves_remembers_every_eni(instance: Finding, tmp_path: Path) -> None:
    """Killed after the first ENI's first move, the second ENI untouched: the resumed step still names every
    ENI's own groups (all written ahead of the first move), and release puts each back."""
    instance_id = _two_eni_instance()
    original = _enis(instance_id)
    assert len(original) == 2 and all(len(groups) == 1 for groups in original.values())
    crash = crash_and_resume(
        _playbook(tmp_path, "aws.ec2.isolate_instance", {"instance_id": instance_id}),
        instance,
        "ModifyNetworkInterfaceAttribute",
    )
    assert crash.ahead.pending_before == {"network_interfaces": original}
    assert crash.done.changed is True and crash.done.before == {"network_interfaces": original}, crash.done
    isolated = crash.done.output["isolation_group_id"]
    assert all(groups == [isolated] for groups in _enis(instance_id).values())
    assert released(crash).state == StepState.SUCCEEDED
    assert _enis(instance_id) == original


def test_single_eni_isolation_killed_after_the_first_move(instance: Finding, tmp_path: Path) -> None:
    """Killed with the ENI in the allow-all group (move 1 done, move 2 not): release puts back its own groups,
    not the allow-all group the resumed step found it in."""
    original = _instance()
    crash = crash_and_resume(
        _playbook(tmp_path, "aws.ec2.isolate_instance", {"instance_id": INSTANCE}), instance, "ModifyInstanceAttribute"
    )
    untracking = crash.done.output["untracking_group_id"]
    assert untracking not in json.dumps(crash.done.before) and crash.done.changed is True
    assert crash.done.before == {"network_interfaces": original["security_groups"]}
    assert released(crash).state == StepState.SUCCEEDED
    assert _instance() == original


def test_deregistration_killed_between_groups_restores_both(instance: Finding, tmp_path: Path) -> None:
    _second_target_group()
    original = _instance()
    assert len(original["target_groups"]) == 2
    crash = crash_and_resume(
        _playbook(tmp_path, "aws.ec2.deregister_from_target_groups", {"instance_id": INSTANCE}),
        instance,
        "DeregisterTargets",
    )
    assert len(crash.done.before["target_groups"]) == 2 and crash.done.changed is True
    assert _instance()["target_groups"] == []
    assert released(crash).state == StepState.SUCCEEDED
    assert sorted(_instance()["target_groups"]) == sorted(original["target_groups"])
