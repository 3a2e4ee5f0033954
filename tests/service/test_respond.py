"""Issue 14's reproductions, each on real parts (moto over HTTP, SQLite, the shipped playbooks)."""

from __future__ import annotations

import copy
import json

import boto3

from responder.app import build_responder
from responder.config import load_settings
from responder.engine.release import release
from responder.service import exit_code
from tests.helpers import engine, finding_of, key_status, sample_event, seed_user

KEY = "AKIA2E0A8F3B244C9986"


def _service():
    return build_responder(load_settings(), engine=engine())


def test_dry_run_then_run_contains_the_key(moto_endpoint: str, responder_home) -> None:
    seed_user()
    service = _service()
    finding = finding_of(sample_event())
    dry = service.respond_one(finding, dry_run=True)
    assert [r.status for r in dry] == ["planned"] and dry[0].dry_run
    assert service.engine.store.list_runs() == []  # no run, no clock, nothing a real run could join
    assert key_status("ci-deploy", KEY) == "Active"
    real = service.respond_one(finding)
    assert real[0].created and key_status("ci-deploy", KEY) == "Inactive"


def test_fix_then_resume_contains_the_key(moto_endpoint: str, responder_home, monkeypatch) -> None:
    """No cross-account role: the run fails (fixable); after configuring the role, resume contains."""
    other = "210987654321"

    def in_other(request, **_kw):
        request.headers["x-moto-account-id"] = other

    other_iam = boto3.client("iam")
    other_iam.meta.events.register("before-sign.*.*", in_other)
    other_iam.create_user(UserName="ci-deploy")
    created = other_iam.create_access_key(UserName="ci-deploy")["AccessKey"]["AccessKeyId"]
    from responder.sandbox import _rekey

    _rekey(other, created, KEY)
    other_iam.create_role(
        RoleName="ResponderRole",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
            }
        ),
    )
    finding = finding_of(sample_event(accountId=other))
    first = _service().respond_one(finding)[0]
    assert first.status == "failed" and exit_code([first]) == 1
    assert any("cross-account role" in (s["error"] or "") for s in first.steps)

    monkeypatch.setenv("RESPONDER_ROLE_NAME", "ResponderRole")
    service = _service()
    again = service.resume(first.run_id)
    keys = other_iam.list_access_keys(UserName="ci-deploy")["AccessKeyMetadata"]
    status = {k["AccessKeyId"]: k["Status"] for k in keys}
    assert status[KEY] == "Inactive", again.steps
    assert again.status in ("succeeded", "partial")
    events = [e["event"] for e in service.engine.store.audit_log(first.run_id)]
    assert "run_retried" in events


def test_redelivered_failed_run_resumes(moto_endpoint: str, responder_home) -> None:
    finding = finding_of(sample_event())
    first = _service().respond_one(finding)[0]  # the user does not exist yet: containment fails
    assert first.status == "failed"
    seed_user()
    again = _service().respond_one(finding)[0]
    assert again.run_id == first.run_id and key_status("ci-deploy", KEY) == "Inactive"


def test_finding_without_a_key_skips_the_key_steps(moto_endpoint: str, responder_home) -> None:
    """A console-login finding names a user but no access key: key steps skipped, the run succeeds."""
    seed_user()
    event = sample_event()
    details = event["detail"]["resource"]["accessKeyDetails"]
    details.pop("accessKeyId", None)
    event["detail"]["type"] = "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B"
    result = _service().respond_one(finding_of(event))[0]
    steps = {s["id"]: s for s in result.steps}
    assert steps["deactivate_key"]["status"] == "skipped", steps["deactivate_key"]
    assert "no" in steps["deactivate_key"]["summary"]
    assert result.status in ("succeeded", "partial"), result
    assert not any(s["status"] == "failed" and s["category"] in ("evidence", "contain") for s in result.steps)


def test_scope_without_logs_is_partial_exit_4(moto_endpoint: str, responder_home) -> None:
    seed_user()
    result = _service().respond_one(finding_of(sample_event()))[0]
    assert key_status("ci-deploy", KEY) == "Inactive"
    scope = next(s for s in result.steps if s["category"] == "scope")
    if scope["status"] in ("failed", "refused"):  # no logs anywhere: contained, scope could not run
        assert result.status == "partial" and exit_code([result]) == 4
        assert "scope" in (result.message or "")


def test_release_after_drift_changes_nothing(moto_endpoint: str, responder_home) -> None:
    seed_user()
    eng = engine()
    run = _service().respond_one(finding_of(sample_event()))[0]
    iam = boto3.client("iam")
    iam.delete_user_policy(UserName="ci-deploy", PolicyName="responder-quarantine")  # someone changed it
    tags_before = iam.list_user_tags(UserName="ci-deploy")["Tags"]
    policies_before = sorted(iam.list_user_policies(UserName="ci-deploy")["PolicyNames"])
    result = release(eng, run.run_id, options={"reenable_keys": True})
    assert result.message and "quarantine_user" in result.message
    assert key_status("ci-deploy", KEY) == "Inactive"  # nothing undone
    assert iam.list_user_tags(UserName="ci-deploy")["Tags"] == tags_before
    assert sorted(iam.list_user_policies(UserName="ci-deploy")["PolicyNames"]) == policies_before
    assert not [s for s in result.steps if s["id"].startswith("release:")]


def test_plain_release_keeps_the_key_inactive_as_kept(moto_endpoint: str, responder_home) -> None:
    seed_user()
    eng = engine()
    run = _service().respond_one(finding_of(sample_event()))[0]
    result = release(eng, run.run_id)
    step = next(s for s in result.steps if s["id"] == "release:deactivate_key")
    assert step["status"] == "kept" and key_status("ci-deploy", KEY) == "Inactive"


def test_unmatched_high_finding_becomes_a_triage_record(moto_endpoint: str, responder_home) -> None:
    event = sample_event(type="Discovery:S3/MaliciousIPCaller", severity=8)
    event["detail"]["resource"]["resourceType"] = "Unknown"
    service = _service()
    finding = finding_of(event)
    if service.select(finding):  # a playbook may answer it now; then make it one nobody answers
        event["detail"]["type"] = "Recon:Imaginary/NobodyAnswers"
        finding = finding_of(event)
    result = service.respond_one(finding)[0]
    assert result.status == "triage" and exit_code([result]) == 0
    run = service.engine.store.get_run(result.run_id)
    assert run is not None and run.finding_id == finding.id and run.extra["declined"]
    assert any(r.status == "triage" for r in service.engine.store.list_runs())
    again = service.respond_one(copy.deepcopy(finding))[0]
    assert again.run_id == result.run_id and not again.created
