"""The shipped ec2-instance-compromise playbook, end to end through the real Engine against moto over HTTP,
then released; and replayed in the sandbox (``responder run EVENT --sandbox``) against GuardDuty findings.

Findings (tests/fixtures, each file's basis in the SOURCES.md beside it):
- guardduty/ec2-bitcointool-bare.json — a bare CryptoCurrency:EC2/BitcoinTool.B finding in account 123456789012
- guardduty/ec2-backdoor-cc-dns-eventbridge.json — EventBridge Backdoor:EC2/C&CActivity.B!DNS, another account:
  exercises the cross-account role
- securityhub/guardduty-ssh-bruteforce-asff.json — UnauthorizedAccess:EC2/SSHBruteForce relayed as ASFF,
  severity 2: the instance was the target
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from typer.testing import CliRunner

from responder.aws.sessions import AwsAccess
from responder.cli import app
from responder.config import load_settings
from responder.engine.release import release
from responder.findings import load_file
from responder.sandbox import Sandbox
from responder.sandbox.resources import describe_instance, seed_resources
from tests.conftest import FIXTURES
from tests.helpers import engine, shipped

FINDINGS = FIXTURES
CANARY = FINDINGS / "guardduty" / "ec2-bitcointool-bare.json"
INSTANCE = "i-0c3a5e7f9b1d24680"
PLAYBOOK = "ec2-instance-compromise"
EVIDENCE = ("record_finding", "capture_instance", "snapshot_volumes")


def _seeded(endpoint: str) -> Any:
    finding = load_file(CANARY)[0]
    seed_resources(Sandbox(endpoint=endpoint, account_id="123456789012", region="us-east-1"), finding)
    return finding


def _state() -> dict[str, Any]:
    state = describe_instance(boto3.client("ec2"), boto3.client("autoscaling"), boto3.client("elbv2"), INSTANCE)
    state["role_policies"] = sorted(boto3.client("iam").list_role_policies(RoleName="sandbox-app-role")["PolicyNames"])
    return state


def test_contains_then_release_restores_the_state_before(moto_endpoint: str, responder_home, with_scope_logs) -> None:
    finding = _seeded(moto_endpoint)
    before = _state()
    eng = engine()
    run = eng.run(shipped(PLAYBOOK), finding)
    steps = {s["id"]: s for s in run.steps}
    assert run.status == "succeeded", [(s["id"], s["error"]) for s in run.steps]
    during = _state()
    assert during["termination_protection"] and during["autoscaling_group"] is None and during["target_groups"] == []
    assert during["instance_profile"] is None and "responder-revoke-sessions" in during["role_policies"]
    assert during["tags"]["responder:quarantined"] == run.run_id
    iso = steps["isolate_network"]["output"]["isolation_group_id"]
    assert all(g == [iso] for g in during["security_groups"].values())
    assert len(steps["snapshot_volumes"]["output"]["snapshot_ids"]) == 2

    result = release(eng, run.run_id)
    released = {s["id"]: s for s in result.steps if s["id"].startswith("release:")}
    assert all(s["status"] == "succeeded" for s in released.values()), released
    assert "release:snapshot_volumes" not in released  # evidence stays; nothing to undo
    assert _state() == before


def test_release_refused_after_a_security_group_changed_by_hand(moto_endpoint: str, responder_home) -> None:
    finding = _seeded(moto_endpoint)
    eng = engine()
    run = eng.run(shipped(PLAYBOOK), finding)
    ec2 = boto3.client("ec2")
    eni = next(iter(_state()["security_groups"]))
    vpc = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["VpcId"]
    by_hand = ec2.create_security_group(GroupName="opened-by-hand", Description="x", VpcId=vpc)["GroupId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[by_hand])
    ec2.modify_instance_attribute(InstanceId=INSTANCE, Groups=[by_hand])
    result = release(eng, run.run_id, step_id="isolate_network")
    step = next(s for s in result.steps if s["id"] == "release:isolate_network")
    assert step["status"] == "failed"
    assert eni in step["error"] and by_hand in step["error"] and "changed since isolation" in step["error"]
    assert _state()["security_groups"] == {eni: [by_hand]}, "a refused release changes nothing"
    forced = release(eng, run.run_id, step_id="isolate_network", force=True)
    assert next(s for s in forced.steps if s["id"] == "release:isolate_network")["status"] == "succeeded"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _deny(operation: str) -> Any:
    """AWS answering AccessDenied to one operation (a real botocore response, parsed as AWS's would be)."""
    def handler(request: Any, **_: Any) -> AWSResponse:
        body = (f"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to "
                f"perform: ec2:{operation}</Message></Error></Errors></Response>").encode()
        return AWSResponse(request.url, 403, {}, _Raw(body))
    return handler


def test_a_failing_containment_step_does_not_stop_the_response(moto_endpoint: str, responder_home) -> None:
    finding = _seeded(moto_endpoint)
    access = AwsAccess(load_settings().aws)
    access.hooks.append(("before-send.ec2.ModifyInstanceAttribute", _deny("ModifyInstanceAttribute")))
    run = engine(aws=access).run(shipped(PLAYBOOK), finding)
    steps = {s["id"]: s for s in run.steps}
    assert run.status == "failed"
    assert steps["protect_instance"]["status"] == "failed"
    assert "ModifyInstanceAttribute" in steps["protect_instance"]["error"]
    assert all(steps[e]["status"] == "succeeded" for e in EVIDENCE)
    for later in ("deregister_from_load_balancers", "detach_from_autoscaling", "detach_instance_profile",
                  "tag_quarantined"):
        assert steps[later]["status"] == "succeeded", (later, steps[later]["error"])


def _sandbox(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["run", *args, "--sandbox", "--json", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("path", ["guardduty/ec2-backdoor-cc-dns-eventbridge.json",
                                  "guardduty/ec2-bitcointool-bare.json"])
def test_sandbox_replay_of_ec2_findings(moto_endpoint: str, responder_home, path: str) -> None:
    data = _sandbox(str(FINDINGS / path))
    assert data["playbook"] == PLAYBOOK and data["status"] == "succeeded"
    before = next(r for r in data["sandbox"]["before"] if r["principal"].startswith("instance/"))
    after = next(r for r in data["sandbox"]["after"] if r["principal"].startswith("instance/"))
    assert before["principal"] == after["principal"]
    assert after["termination_protection"] and after["security_groups"] != before["security_groups"]
    assert after["autoscaling_group"] is None and after["instance_profile"] is None


def test_low_severity_ssh_brute_force_is_notify_only(moto_endpoint: str, responder_home) -> None:
    path = FINDINGS / "securityhub" / "guardduty-ssh-bruteforce-asff.json"
    result = CliRunner().invoke(app, ["match", str(path), "--json"], catch_exceptions=False)
    data = json.loads(result.stdout)
    assert PLAYBOOK not in data["playbooks"] and "severity 2 below 4" in data["not_matched"][PLAYBOOK]
    forced = _sandbox(str(path), "--playbook", PLAYBOOK)  # a person may still choose to contain it
    assert forced["status"] == "succeeded"


def test_cli_release_of_one_step(moto_endpoint: str, responder_home) -> None:
    """``responder release RUN_ID --step isolate_network --json`` restores only that step's state."""
    finding = _seeded(moto_endpoint)
    before = _state()
    run = engine().run(shipped(PLAYBOOK), finding)
    released = CliRunner().invoke(app, ["release", run.run_id, "--step", "isolate_network", "--json"],
                                  catch_exceptions=False)
    assert released.exit_code == 0, released.output
    assert [s["id"] for s in json.loads(released.stdout)["released"]] == ["release:isolate_network"]
    after = _state()
    assert after["security_groups"] == before["security_groups"]
    assert after["autoscaling_group"] is None, "other steps stay contained"
