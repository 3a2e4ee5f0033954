"""ECS task evidence (env var names only) and two-move ENI isolation, against moto over HTTP.

moto cannot run an ``awsvpc`` task (RunTask fails building the ENI attachment), so the task runs without
one and the sandbox's own seeding attaches an ENI the way ECS reports it (``attachments[].details``).
"""

from __future__ import annotations

import boto3
import pytest

from responder.actions.aws import _ec2_groups as groups
from responder.actions.aws.ecs import CaptureTask, IsolateTask, IsolateTaskInput, TaskInput
from responder.errors import TargetChanged
from responder.sandbox import Sandbox
from responder.sandbox.resources import seed_ecs_task
from tests.actions.aws.action_ctx import ACCOUNT, step_context


@pytest.fixture
def task(moto_endpoint: str) -> dict:
    box = Sandbox(endpoint=moto_endpoint, account_id=ACCOUNT, region="us-east-1")
    return seed_ecs_task(box, cluster="payments", task_id=None)


def _groups(eni: str) -> list[str]:
    found = boto3.client("ec2", region_name="us-east-1").describe_network_interfaces(NetworkInterfaceIds=[eni])
    return sorted(g["GroupId"] for g in found["NetworkInterfaces"][0]["Groups"])


def test_capture_names_enis_and_roles_not_env_values(task: dict, tmp_path) -> None:
    ctx = step_context(tmp_path)
    out = CaptureTask().apply(ctx, TaskInput(cluster="payments", task=task["task_arn"]))
    o = out.output
    assert o["network_interface_ids"] == [task["eni"]] and o["task_role_name"] == task["task_role"]
    assert o["environment_variable_names"] == ["PAYMENT_API_KEY"] and o["vpc_id"] == task["vpc_id"]
    assert b"sandbox-not-a-real-key" not in ctx.evidence.read(ctx.run_id, o["artifact"])


def test_task_isolated_in_two_moves_then_released(task: dict, tmp_path) -> None:
    ctx = step_context(tmp_path)
    inp = IsolateTaskInput(cluster="payments", task=task["task_arn"])
    before = _groups(task["eni"])
    done = IsolateTask().apply(ctx, inp)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    iso = groups.find_group(ec2, groups.ISOLATION, task["vpc_id"])
    assert done.changed and _groups(task["eni"]) == [iso["GroupId"]]
    assert groups.find_group(ec2, groups.UNTRACKING, task["vpc_id"])
    assert not IsolateTask().apply(ctx, inp).changed
    IsolateTask().undo(ctx, inp, done)
    assert _groups(task["eni"]) == before


def test_unknown_task_is_target_changed(task: dict, tmp_path) -> None:
    with pytest.raises(TargetChanged):
        CaptureTask().apply(step_context(tmp_path), TaskInput(cluster="payments", task="0" * 32))
