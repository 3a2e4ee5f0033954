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
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from responder.actions.aws import _ec2_lookup as look
from responder.actions.registry import default_registry
from responder.app import build_responder
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
from tests.throttle_proxy import ThrottleProxy

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


# ------------------------------------------------------------------------------ S3, sharing, trails, SCP, IAM
BUCKET = "crash-data"
TRAIL = "org-trail"
PUBLIC_READ = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        }
    ],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
BACKDOOR = {
    "Version": "2012-10-17",
    "Statement": [
        *TRUST["Statement"],
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"}, "Action": "sts:AssumeRole"},
    ],
}


@pytest.fixture
def finding(moto_endpoint: str, responder_home: Path) -> Finding:
    return load_file(CANARY)[0]


def _bucket(policy: dict[str, Any] | None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    if policy:
        s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))


def _policy(args: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return json.loads(boto3.client("s3").get_bucket_policy(Bucket=args["bucket_name"])["Policy"])
    except boto3.client("s3").exceptions.ClientError as exc:
        assert "NoSuchBucketPolicy" in str(exc)
        return None


def _snapshot() -> dict[str, Any]:
    ec2 = boto3.client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snap,
        Attribute="createVolumePermission",
        OperationType="add",
        UserIds=[OUTSIDE, OTHER],
        GroupNames=["all"],
    )
    return {"snapshot_id": snap, "accounts": [OUTSIDE, "all"]}


def _volume_permissions(args: dict[str, Any]) -> list[str]:
    ec2 = boto3.client("ec2")
    got = ec2.describe_snapshot_attribute(SnapshotId=args["snapshot_id"], Attribute="createVolumePermission")
    return sorted(p.get("UserId") or p.get("Group") for p in got["CreateVolumePermissions"])


def _image() -> dict[str, Any]:
    ec2 = boto3.client("ec2")
    inst = ec2.run_instances(ImageId=SANDBOX_AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ami = ec2.create_image(InstanceId=inst, Name="attacker-copy")["ImageId"]
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": OUTSIDE}, {"UserId": OTHER}]})
    return {"image_id": ami}


def _launch_permissions(args: dict[str, Any]) -> list[str]:
    ec2 = boto3.client("ec2")
    got = ec2.describe_image_attribute(ImageId=args["image_id"], Attribute="launchPermission")["LaunchPermissions"]
    return sorted(p.get("UserId") or p.get("Group") for p in got)


def _db_snapshot() -> dict[str, Any]:
    rds = boto3.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
    )
    rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="orders-copy")
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="orders-copy", AttributeName="restore", ValuesToAdd=[OUTSIDE, OTHER]
    )
    return {"db_snapshot_identifier": "orders-copy", "accounts": [OUTSIDE]}


def _restore_values(args: dict[str, Any]) -> list[str]:
    got = boto3.client("rds").describe_db_snapshot_attributes(DBSnapshotIdentifier="orders-copy")
    return sorted(got["DBSnapshotAttributesResult"]["DBSnapshotAttributes"][0]["AttributeValues"])


def _trail(selectors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    boto3.client("s3").create_bucket(Bucket="trail-logs")
    ct = boto3.client("cloudtrail")
    ct.create_trail(Name=TRAIL, S3BucketName="trail-logs")  # created stopped, as an attacker leaves it
    if selectors is not None:
        ct.put_event_selectors(TrailName=TRAIL, EventSelectors=selectors)
    return {"trail": TRAIL}


def _trail_state(args: dict[str, Any]) -> dict[str, Any]:
    """Logging and selectors; a basic selector with its defaults filled in (CloudTrail reports both ways)."""
    ct = boto3.client("cloudtrail")
    selectors = ct.get_event_selectors(TrailName=TRAIL)
    defaults = {"DataResources": [], "ExcludeManagementEventSources": []}
    return {
        "logging": ct.get_trail_status(Name=TRAIL)["IsLogging"],
        "selectors": [{**defaults, **s} for s in selectors.get("EventSelectors") or []],
        "advanced": selectors.get("AdvancedEventSelectors"),
    }


def _member() -> dict[str, Any]:
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(AccountName="payments", Email="payments@example.com")["CreateAccountStatus"]
    made = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    return {"account_id": made["AccountId"], "management_account": ACCOUNT}


def _scps(args: dict[str, Any]) -> list[str]:
    org = boto3.client("organizations")
    found = org.list_policies_for_target(TargetId=args["account_id"], Filter="SERVICE_CONTROL_POLICY")["Policies"]
    return sorted(p["Name"] for p in found)


def _role(trust: dict[str, Any]) -> dict[str, Any]:
    boto3.client("iam").create_role(RoleName="OpsAutomationRole", AssumeRolePolicyDocument=json.dumps(trust))
    return {"role_name": "OpsAutomationRole"}


def _trust(args: dict[str, Any]) -> dict[str, Any]:
    doc = boto3.client("iam").get_role(RoleName=args["role_name"])["Role"]["AssumeRolePolicyDocument"]
    return doc if isinstance(doc, dict) else json.loads(doc)


@dataclass
class Case:
    action: str
    seed: Callable[[], dict[str, Any]]  # makes the resource as an attacker left it; returns the step's arguments
    read: Callable[[dict[str, Any]], Any]  # what the action changes, as the API reports it (given the arguments)
    operation: str  # the effect's own AWS call


CASES = [
    Case(
        "aws.s3.deny_external_accounts",
        lambda: (_bucket(PUBLIC_READ), {"bucket_name": BUCKET, "accounts": [OUTSIDE]})[1],
        _policy,
        "PutBucketPolicy",
    ),
    Case(
        "aws.s3.deny_object_deletion",  # no policy before: release deletes the one responder made
        lambda: (_bucket(None), {"bucket_name": BUCKET})[1],
        _policy,
        "PutBucketPolicy",
    ),
    Case("aws.ec2.unshare_snapshot", _snapshot, _volume_permissions, "ModifySnapshotAttribute"),
    Case("aws.ec2.unshare_image", _image, _launch_permissions, "ModifyImageAttribute"),
    Case("aws.rds.unshare_db_snapshot", _db_snapshot, _restore_values, "ModifyDBSnapshotAttribute"),
    Case("aws.cloudtrail.start_logging", _trail, _trail_state, "StartLogging"),
    Case(
        "aws.cloudtrail.restore_event_selectors",
        lambda: _trail([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": False}]),
        _trail_state,
        "PutEventSelectors",
    ),
    Case("aws.organizations.deny_root_user", _member, _scps, "AttachPolicy"),
    Case("aws.iam_role.lock_trust_policy", lambda: _role(TRUST), _trust, "UpdateAssumeRolePolicy"),
    Case(
        "aws.iam_role.restore_trust_policy",
        lambda: {**_role(BACKDOOR), "policy_document": TRUST},
        _trust,
        "UpdateAssumeRolePolicy",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.action for c in CASES])
def test_containment_killed_after_its_effect_is_released_to_the_original(
    finding: Finding, tmp_path: Path, case: Case
) -> None:
    args = case.seed()
    original = case.read(args)
    crash = crash_and_resume(_playbook(tmp_path, case.action, args), finding, case.operation)
    assert case.read(args) != original, "the effect stands after the crash and the resume"
    assert crash.done.changed is True and crash.done.before == crash.ahead.pending_before, crash.done
    assert released(crash).state == StepState.SUCCEEDED
    assert case.read(args) == original


def test_versioning_killed_after_it_was_turned_on_is_suspended_on_release(finding: Finding, tmp_path: Path) -> None:
    """S3 cannot turn versioning off: release suspends it, which it does only for a step that changed it."""
    _bucket(None)
    crash = crash_and_resume(
        _playbook(tmp_path, "aws.s3.enable_versioning", {"bucket_name": BUCKET}), finding, "PutBucketVersioning"
    )
    assert crash.done.changed is True and crash.done.before == {"versioning": None}
    assert released(crash).state == StepState.SUCCEEDED
    assert boto3.client("s3").get_bucket_versioning(Bucket=BUCKET).get("Status") == "Suspended"


def test_login_profile_removal_killed_after_it_still_says_what_was_removed(finding: Finding, tmp_path: Path) -> None:
    """Not reversible (AWS never returns a password), but the run must say a profile existed and went."""
    iam = boto3.client("iam")
    iam.create_user(UserName="svc-backup-sync")
    created = iam.create_login_profile(UserName="svc-backup-sync", Password="Attacker-Chosen-1!")["LoginProfile"]
    crash = crash_and_resume(
        _playbook(tmp_path, "aws.iam.remove_login_profile", {"user_name": "svc-backup-sync"}),
        finding,
        "DeleteLoginProfile",
    )
    assert crash.done.changed is True
    assert crash.done.before["login_profile"]["UserName"] == created["UserName"]
    skipped = released(crash)
    assert skipped.state == StepState.SKIPPED and "cannot be undone" in (skipped.summary or "")


# ------------------------------------------------------------------------------ a real SIGKILL
def test_sigkill_between_the_two_isolation_moves(instance: Finding, tmp_path: Path) -> None:
    """``responder run`` SIGKILLed once the first ENI's first move is answered (the second ENI untouched):
    resume still knows both ENIs' own groups, and release puts each back."""
    instance_id = _two_eni_instance()
    original = _enis(instance_id)
    _playbook(tmp_path, "aws.ec2.isolate_instance", {"instance_id": instance_id})
    box: dict[str, int] = {}
    proxy = ThrottleProxy(
        os.environ["AWS_ENDPOINT_URL"],
        "ModifyNetworkInterfaceAttribute",
        times=1,
        after_forward=lambda: os.kill(box["pid"], signal.SIGKILL),
    )
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "responder", "run", str(CANARY), "-p", str(tmp_path / "playbooks"), "--json", "-q"],
            env={**os.environ, "AWS_ENDPOINT_URL": proxy.url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        box["pid"] = proc.pid
        _, err = proc.communicate(timeout=120)
    finally:
        proxy.close()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    moved = _enis(instance_id)
    assert moved != original and sum(moved[e] != original[e] for e in original) == 1, "killed between ENIs"

    service = build_responder(load_settings(), engine=engine(), playbook_paths=[tmp_path / "playbooks"])
    run_id = service.engine.store.list_runs()[0].run_id
    step = next(s for s in service.resume(run_id).steps if s["id"] == STEP)
    assert step["changed"] is True and step["before"] == {"network_interfaces": original}, step
    release(service.engine, run_id)
    assert _enis(instance_id) == original
