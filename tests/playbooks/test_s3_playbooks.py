"""The shipped s3-exposure playbook through the real Engine against moto over HTTP, released after; and
sandbox replays of GuardDuty S3 findings.

Findings (tests/fixtures/guardduty, each file's basis in the SOURCES.md there):
- s3-exfiltration-anomalousbehavior-list.json — Exfiltration:S3/AnomalousBehavior, severity 8, in a list
- s3-pentest-parrotlinux-bare.json — PenTest:S3/ParrotLinux: not an exposure class, notify-only
- s3-discovery-maliciousipcaller-getfindings-cli.json — `aws guardduty get-findings` output (PascalCase),
  Discovery:S3/MaliciousIPCaller in us-west-2, another account
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from typer.testing import CliRunner

from responder.cli import app
from responder.engine.release import release
from responder.findings import load_file
from responder.sandbox import Sandbox
from responder.sandbox.resources import describe_bucket, seed_resources
from tests.conftest import FIXTURES
from tests.helpers import engine, shipped

FINDINGS = FIXTURES / "guardduty"
EXFIL = FINDINGS / "s3-exfiltration-anomalousbehavior-list.json"
BUCKET = "example-analytics-exports"
PLAYBOOK = "s3-exposure"


def _seeded(endpoint: str) -> Any:
    finding = load_file(EXFIL)[0]
    seed_resources(Sandbox(endpoint=endpoint, account_id="123456789012", region="us-east-1"), finding)
    return finding


def test_public_bucket_blocked_then_released(moto_endpoint: str, responder_home, with_scope_logs) -> None:
    finding = _seeded(moto_endpoint)
    s3 = boto3.client("s3")
    before = describe_bucket(s3, BUCKET)
    eng = engine()
    run = eng.run(shipped(PLAYBOOK), finding)
    steps = {s["id"]: s for s in run.steps}
    assert run.status == "succeeded", [(s["id"], s["error"]) for s in run.steps]
    assert steps["capture_bucket"]["output"]["public_policy"]
    assert describe_bucket(s3, BUCKET)["public_access_block"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert describe_bucket(s3, BUCKET)["policy_statements"] == 1, "the public policy stays as evidence"
    release(eng, run.run_id)
    assert describe_bucket(s3, BUCKET) == before


def test_a_private_bucket_is_not_blocked_for_an_exfiltration_finding(moto_endpoint: str, responder_home) -> None:
    finding = _seeded(moto_endpoint)
    boto3.client("s3").delete_bucket_policy(Bucket=BUCKET)
    run = engine().run(shipped(PLAYBOOK), finding)
    steps = {s["id"]: s for s in run.steps}
    assert steps["capture_bucket"]["status"] == "succeeded" and steps["block_public_access"]["status"] == "skipped"


def test_release_refused_after_the_block_was_changed(moto_endpoint: str, responder_home, with_scope_logs) -> None:
    finding = _seeded(moto_endpoint)
    eng = engine()
    run = eng.run(shipped(PLAYBOOK), finding)
    boto3.client("s3").put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": True})
    result = release(eng, run.run_id)
    # all-or-nothing: the drifted step is named and nothing at all is undone
    assert result.message and "block_public_access" in result.message and "BlockPublicPolicy" in result.message
    assert not [s for s in result.steps if s["id"].startswith("release:")]


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, ["run", *args, "--sandbox", "--json", "--quiet"], catch_exceptions=False)


def test_sandbox_replay_of_s3_findings(moto_endpoint: str, responder_home) -> None:
    result = _run(str(EXFIL))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["playbook"] == PLAYBOOK and data["status"] == "succeeded"
    after = next(r for r in data["sandbox"]["after"] if r["principal"] == f"bucket/{BUCKET}")
    assert after["public_access_block"]["BlockPublicPolicy"] is True
    # another account and region, PascalCase shape: a Discovery finding is notify-only; a person may force it
    other = FINDINGS / "s3-discovery-maliciousipcaller-getfindings-cli.json"
    forced = _run(str(other), "--playbook", PLAYBOOK)
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["status"] == "succeeded"


def test_pentest_and_discovery_findings_are_not_exposure(moto_endpoint: str, responder_home) -> None:
    for name in ("s3-pentest-parrotlinux-bare.json", "s3-discovery-maliciousipcaller-getfindings-cli.json"):
        data = json.loads(CliRunner().invoke(app, ["match", str(FINDINGS / name), "--json"]).stdout)
        assert PLAYBOOK not in data["playbooks"]


def test_cli_run_then_release(moto_endpoint: str, responder_home, tmp_path, with_scope_logs) -> None:
    """``responder run EVENT`` then ``responder release RUN_ID --json`` (no sandbox: moto is the account)."""
    _seeded(moto_endpoint)
    s3 = boto3.client("s3")
    before = describe_bucket(s3, BUCKET)
    runner = CliRunner()
    ran = runner.invoke(app, ["run", str(EXFIL), "--json", "--quiet"], catch_exceptions=False)
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.stdout)["run_id"]
    assert describe_bucket(s3, BUCKET) != before
    released = runner.invoke(app, ["release", run_id, "--json"], catch_exceptions=False)
    assert released.exit_code == 0, released.output
    data = json.loads(released.stdout)
    assert [s["id"] for s in data["released"]] == ["release:block_public_access"] and not data["refused"]
    assert describe_bucket(s3, BUCKET) == before
