"""Termination protection right after the capture: the attributes the capture read moments ago are reused
(no second DescribeInstanceAttribute round trip), but only when they call for the change, and then both
attributes are written, so nothing that changed since can leave the instance unprotected. Instance: seeded
by responder's sandbox seeding from tests/fixtures/guardduty/ec2-bitcointool-bare.json (basis in SOURCES.md)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from responder.actions.aws.ec2 import InstanceInput, ProtectInstance
from responder.actions.base import Connectors, StepContext
from responder.aws.sessions import AwsAccess
from responder.clock import FixedClock
from responder.config import load_settings
from responder.evidence.local import LocalLocker
from responder.findings import load_file
from responder.sandbox import Sandbox
from responder.sandbox.resources import seed_resources
from tests.conftest import FIXTURES

AT = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def instance(moto_endpoint: str) -> tuple[Any, str]:
    finding = load_file(FIXTURES / "guardduty" / "ec2-bitcointool-bare.json")[0]
    seed_resources(Sandbox(endpoint=moto_endpoint, account_id="123456789012", region="us-east-1"), finding)
    return finding, finding.first("ec2_instance").instance_id


def _run(tmp_path: Path, finding: Any, instance_id: str, observed: dict[str, Any], age: timedelta
         ) -> tuple[Any, Counter[str]]:
    access = AwsAccess(load_settings().aws)
    asked: Counter[str] = Counter()
    lock = threading.Lock()

    def record(model: Any = None, **_: Any) -> None:
        with lock:
            asked[model.name] += 1

    access.hooks.append(("before-parameter-build.*.*", record))
    capture = {"instance_id": instance_id, "captured_at": (AT - age).isoformat(), **observed}
    ctx = StepContext(run_id="run-protect", step_id="protect_instance", playbook_id="pb", finding=finding,
                      clock=FixedClock(AT), evidence=LocalLocker(tmp_path / "ev"), settings=load_settings(),
                      connectors=Connectors(aws=access), outputs={"capture_instance": capture})
    return ProtectInstance().apply(ctx, InstanceInput(instance_id=instance_id)), asked


def _attributes(instance_id: str) -> tuple[bool, str]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    term = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")
    down = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")
    return term["DisableApiTermination"]["Value"], down["InstanceInitiatedShutdownBehavior"]["Value"]


def test_a_fresh_capture_spares_the_reads_and_both_attributes_are_written(
    instance: tuple[Any, str], tmp_path: Path
) -> None:
    finding, iid = instance
    # what the capture saw; since then someone set shutdown to terminate: the write covers it anyway
    boto3.client("ec2", region_name="us-east-1").modify_instance_attribute(
        InstanceId=iid, InstanceInitiatedShutdownBehavior={"Value": "terminate"})
    outcome, asked = _run(tmp_path, finding, iid, {"termination_protection": False, "shutdown_behavior": "stop"},
                          timedelta(seconds=1))
    assert outcome.changed and outcome.before == {"termination_protection": False, "shutdown_behavior": "stop"}
    assert asked["DescribeInstanceAttribute"] == 0 and asked["ModifyInstanceAttribute"] == 2
    assert _attributes(iid) == (True, "stop")


@pytest.mark.parametrize(("observed", "age"), [
    ({"termination_protection": False, "shutdown_behavior": "stop"}, timedelta(minutes=10)),  # stale
    ({"termination_protection": True, "shutdown_behavior": "stop"}, timedelta(seconds=1)),  # says: nothing to do
])
def test_otherwise_the_state_is_read_now(instance: tuple[Any, str], tmp_path: Path, observed: dict[str, Any],
                                         age: timedelta) -> None:
    finding, iid = instance
    outcome, asked = _run(tmp_path, finding, iid, observed, age)
    assert asked["DescribeInstanceAttribute"] == 2
    assert outcome.changed and outcome.before["termination_protection"] is False
    assert _attributes(iid)[0] is True
