"""The Lambda entry points, in-process, on real parts: published EventBridge events, moto over HTTP,
SQLite or DynamoDB state, and the Slack double.

Events (tests/fixtures, each file's basis in the SOURCES.md beside it):
* guardduty/iam-tor-ipcaller-sample-eventbridge.json — EventBridge "GuardDuty Finding" envelope,
  UnauthorizedAccess:IAMUser/TorIPCaller;
* guardduty/ec2-backdoor-cc-dns-eventbridge.json — EventBridge "GuardDuty Finding", Backdoor:EC2/C&CActivity.B!DNS;
* securityhub/securityhub-control-ec2-7-imported-envelope.json — "Security Hub Findings - Imported" envelope
  holding a control finding;
* securityhub/guardduty-consolelogin-custom-action.json — "Security Hub Findings - Custom Action" envelope
  holding a GuardDuty ASFF finding.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from responder import lambda_handler
from responder.findings import parse_event
from tests.approval_drill import APPROVER, SECRET, Drill, start, tor_event, user_policies
from tests.conftest import FIXTURES
from tests.slack_double import SlackDouble, click_body, sign

ROOT = Path(__file__).resolve().parents[1]
FINDINGS = FIXTURES


def _event(path: str) -> dict[str, Any]:
    return json.loads((FINDINGS / path).read_text())


@pytest.fixture
def slack() -> Iterator[SlackDouble]:
    with SlackDouble(groups={"S0ONCALL": ["U0ONCALL"]}) as double:
        yield double


@pytest.fixture
def drill(moto_endpoint: str, slack: SlackDouble, monkeypatch: pytest.MonkeyPatch) -> Drill:
    return start(monkeypatch, moto_endpoint, slack)


@pytest.fixture
def shipped(moto_endpoint: str, slack: SlackDouble, monkeypatch: pytest.MonkeyPatch) -> Drill:
    """The shipped playbooks (not the test one), with a DynamoDB run store as in AWS."""
    from responder.state.dynamodb import create_table

    drill = start(monkeypatch, moto_endpoint, slack, playbooks=ROOT / "playbooks")
    table = f"responder-{uuid.uuid4().hex[:8]}"
    create_table(table)
    monkeypatch.setenv("RESPONDER_STORE", f"dynamodb://{table}")
    lambda_handler.reset()
    return drill


def _store() -> Any:
    return lambda_handler._wired()["engine"].store


def test_cold_import_is_light() -> None:
    code = ("import sys, responder.lambda_handler as h; "
            "assert callable(h.on_event) and callable(h.on_slack) and callable(h.on_schedule); "
            "print(sorted(m for m in ('pandas', 'duckdb', 'jinja2', 'kubernetes', 'slack_sdk', 'pyathena') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_guardduty_event_runs_and_duplicates_join(shipped: Drill) -> None:
    event = tor_event()
    first = lambda_handler.on_event(copy.deepcopy(event))
    (result,) = first["results"]
    assert result["playbook"] == "iam-credential-compromise" and result["created"] is True
    steps_before = [(s.step_id, s.state.value, s.attempts) for s in _store().steps(result["run_id"])]
    assert steps_before and steps_before[0] == ("record_finding", "succeeded", 1)
    again = lambda_handler.on_event(copy.deepcopy(event))  # EventBridge delivers at least once
    assert again["results"][0]["run_id"] == result["run_id"] and again["results"][0]["created"] is False
    assert [(s.step_id, s.state.value, s.attempts) for s in _store().steps(result["run_id"])] == steps_before
    assert len(_store().finding_versions(parse_event(copy.deepcopy(event))[0].id)) == 1


def test_guardduty_update_joins_and_keeps_each_version(shipped: Drill) -> None:
    event = tor_event()
    first = lambda_handler.on_event(copy.deepcopy(event))["results"][0]
    update = copy.deepcopy(event)  # GuardDuty aggregates: same id, later updatedAt, higher count
    update["detail"]["updatedAt"] = "2026-03-02T09:44:00Z"
    update["detail"]["service"]["count"] = 7
    update["detail"]["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]["ipAddressV4"] = "198.51.100.9"
    joined = lambda_handler.on_event(update)["results"][0]
    assert joined["run_id"] == first["run_id"] and joined["created"] is False
    versions = _store().finding_versions(parse_event(copy.deepcopy(event))[0].id)
    assert len(versions) == 2
    assert {v.finding["actor"]["ip"] for v in versions} == {"198.51.100.23", "198.51.100.9"}
    run = _store().get_run(first["run_id"])
    assert run.versions == 2 and any(e["event"] == "finding_updated" for e in _store().audit_log(first["run_id"]))
    locker = lambda_handler._wired()["engine"].evidence
    kept = [p for p in (locker.root / first["run_id"] / "artifacts").iterdir() if p.name.startswith("finding-version-")]
    assert len(kept) == 1 and json.loads(kept[0].read_text())["actor"]["ip"] == "198.51.100.9"


def test_archived_finding_recorded_not_run(shipped: Drill) -> None:
    event = tor_event()
    event["detail"]["service"]["archived"] = True
    (result,) = lambda_handler.on_event(event)["results"]
    assert result["status"] == "suppressed"
    assert _store().steps(result["run_id"]) == []
    assert "responder-quarantine" not in user_policies(shipped)


def test_security_hub_envelopes(shipped: Drill) -> None:
    control = lambda_handler.on_event(_event("securityhub/securityhub-control-ec2-7-imported-envelope.json"))
    assert control["ok"] and [r["status"] for r in control["results"]] == ["triage"]
    custom = lambda_handler.on_event(_event("securityhub/guardduty-consolelogin-custom-action.json"))
    assert custom["ok"] and len(custom["results"]) == 1


def test_unmatched_and_malformed_events_answered_not_raised(shipped: Drill) -> None:
    ec2 = lambda_handler.on_event(_event("guardduty/ec2-backdoor-cc-dns-eventbridge.json"))
    assert ec2["ok"] and all(r["status"] in ("unmatched", "succeeded", "failed", "waiting") for r in ec2["results"])
    bad = lambda_handler.on_event({"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": "x"})
    assert bad["ok"] is False and "detail" in bad["error"]


def test_approval_pauses_slack_click_resumes_and_completes(drill: Drill) -> None:
    """The issue's 'done when': pause, prompt in the Slack double, signed click through on_slack, done."""
    (result,) = lambda_handler.on_event(drill.event)["results"]
    assert result["status"] == "waiting" and result["waiting_for"] == ["quarantine_user"]
    assert "responder-quarantine" not in user_policies(drill)
    (prompt,) = drill.slack.of("chat.postMessage")
    assert any(b["type"] == "actions" for b in prompt["blocks"])
    body = click_body(result["run_id"], "quarantine_user", user_id=APPROVER)
    reply = lambda_handler.on_slack({"body": body.decode(), "isBase64Encoded": False,
                                     "headers": {k.lower(): v for k, v in sign(body, SECRET).items()}})
    assert reply["statusCode"] == 200
    assert _store().get_run(result["run_id"]).status == "succeeded"
    assert "responder-quarantine" in user_policies(drill)
    again = lambda_handler.on_event(drill.event)["results"][0]  # a late duplicate repeats nothing
    assert again["created"] is False and again["status"] == "succeeded"


def test_resume_is_handed_to_an_async_invocation(drill: Drill, monkeypatch: pytest.MonkeyPatch) -> None:
    """In Lambda the click is answered at once; the run resumes in an ``InvocationType=Event`` call."""
    import io
    import zipfile

    import boto3

    role = boto3.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("h.py", "def h(e, c):\n    return e\n")
    boto3.client("lambda").create_function(FunctionName="responder-slack", Runtime="python3.12", Role=role,
                                           Handler="h.h", Code={"ZipFile": archive.getvalue()})
    monkeypatch.setenv("RESPONDER_RESUME", "lambda")
    monkeypatch.setenv("RESPONDER_RESUME_FUNCTION", "responder-slack")
    (result,) = lambda_handler.on_event(drill.event)["results"]
    body = click_body(result["run_id"], "quarantine_user", user_id=APPROVER)
    reply = lambda_handler.on_slack({"body": body.decode(),
                                     "headers": {k.lower(): v for k, v in sign(body, SECRET).items()}})
    assert reply["statusCode"] == 200
    assert _store().get_run(result["run_id"]).status == "waiting"  # not resumed in the Slack request
    resumed = lambda_handler.on_slack({"responder": "resume", "run_id": result["run_id"],
                                       "step_id": "quarantine_user"})  # what the Event invocation delivers
    assert resumed["status"] == "succeeded"


def test_posture_dry_run_changes_nothing_and_posts_plan(moto_endpoint: str, slack: SlackDouble,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    drill = start(monkeypatch, moto_endpoint, slack, posture="dry-run")  # the test playbook: no scope/notify
    before = user_policies(drill)
    iam = drill.box.client("iam")
    keys_before = iam.list_access_keys(UserName="GeneratedFindingUserName")["AccessKeyMetadata"]
    (result,) = lambda_handler.on_event(drill.event)["results"]
    assert result["status"] == "planned"
    assert user_policies(drill) == before
    assert iam.list_access_keys(UserName="GeneratedFindingUserName")["AccessKeyMetadata"] == keys_before
    assert iam.list_user_tags(UserName="GeneratedFindingUserName")["Tags"] == [{"Key": "team", "Value": "payments"}]
    (post,) = slack.of("chat.postMessage")  # the plan; no approval prompt in dry-run
    assert "Dry run" in post["text"] and "nothing was changed" in post["text"]
    assert "planned" in post["text"]


def test_aws_configuration_dynamodb_and_s3_object_lock(shipped: Drill, monkeypatch: pytest.MonkeyPatch) -> None:
    """As deployed: runs in DynamoDB, evidence in an Object Lock bucket; updates land in both."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="responder-evidence", ObjectLockEnabledForBucket=True)
    monkeypatch.setenv("RESPONDER_EVIDENCE", "s3://responder-evidence/evidence")
    monkeypatch.setenv("RESPONDER_EVIDENCE_RETENTION", "GOVERNANCE:1")
    lambda_handler.reset()
    event = tor_event()
    run_id = lambda_handler.on_event(copy.deepcopy(event))["results"][0]["run_id"]
    update = copy.deepcopy(event)
    update["detail"]["service"]["count"] = 9
    assert lambda_handler.on_event(update)["results"][0]["run_id"] == run_id
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="responder-evidence",
                                                 Prefix=f"evidence/{run_id}/artifacts/")["Contents"]]
    assert any("finding-version-" in k for k in keys) and len(keys) >= 2
    head = s3.head_object(Bucket="responder-evidence", Key=keys[0])
    assert head["ObjectLockMode"] == "GOVERNANCE"
