"""The engine end to end on real parts: boto3 → moto server over HTTP, real SQLite, real evidence files."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from responder.evidence.local import LocalLocker
from responder.state.records import StepState
from tests.helpers import engine, finding_of, inline_policies, key_status, sample_event, seed_user, shipped


def test_leaked_key_playbook_end_to_end(moto_endpoint: str, responder_home) -> None:
    seed_user()
    eng = engine()
    result = eng.run(shipped(), finding_of(sample_event()))
    assert result.status == "succeeded", result.steps
    states = {s["id"]: s["status"] for s in result.steps}
    assert states["deactivate_key"] == "succeeded"
    assert states["revoke_sessions"] == "succeeded"
    assert states["remove_console_login"] == "skipped"
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Inactive"
    assert {"responder-revoke-sessions", "responder-quarantine"} <= set(inline_policies("ci-deploy"))
    doc = boto3.client("iam").get_user_policy(UserName="ci-deploy", PolicyName="responder-revoke-sessions")
    condition = doc["PolicyDocument"]["Statement"][0]["Condition"]["DateLessThan"]
    assert "aws:TokenIssueTime" in condition

    locker: LocalLocker = eng.evidence
    artifacts = {a.name: a for a in locker.artifacts(result.run_id)}
    assert "capture_user/iam-user-ci-deploy.json" in artifacts
    captured = json.loads(locker.read(result.run_id, "capture_user/iam-user-ci-deploy.json"))
    assert captured["access_keys"][0]["Status"] == "Active"  # evidence taken before containment
    assert locker.verify(result.run_id).intact
    milestones = eng.store.get_run(result.run_id).milestones
    assert {"received", "evidence_secured", "contained", "finished"} <= set(milestones)


def test_second_run_and_updated_finding_change_nothing(moto_endpoint: str, responder_home) -> None:
    seed_user()
    eng = engine()
    first = eng.run(shipped(), finding_of(sample_event()))
    audit_before = len(eng.store.audit_log(first.run_id))
    again = eng.run(shipped(), finding_of(sample_event()))
    updated = eng.run(shipped(), finding_of(sample_event(updatedAt="2026-11-20T11:00:00.000Z", service__count=9)))
    assert again.run_id == updated.run_id == first.run_id
    assert not again.created and not updated.created
    assert len(eng.store.list_runs()) == 1
    succeeded = [s.attempts for s in eng.store.steps(first.run_id) if s.state == StepState.SUCCEEDED]
    assert len(succeeded) >= 10 and set(succeeded) == {1}  # nothing ran twice
    run = eng.store.get_run(first.run_id)
    assert run.versions == 2  # the update was kept, the duplicate was not counted twice
    assert len(eng.store.finding_versions(run.finding_id)) == 2
    events = [e["event"] for e in eng.store.audit_log(first.run_id)[audit_before:]]
    assert "step_applied" not in events
    assert {"finding_redelivered", "finding_updated"} <= set(events)


def test_throttling_is_retried_within_the_bound(moto_endpoint: str, responder_home) -> None:
    from responder.aws.retry import CallRetryPolicy
    from responder.aws.sessions import AwsAccess
    from responder.config import load_settings

    seed_user()
    aws = AwsAccess(load_settings().aws, retry=CallRetryPolicy(sleep=lambda _s: None))
    left = [3]
    aws.hooks.append(("before-send.iam.*", _make_throttler(left)))
    eng = engine(aws=aws)
    result = eng.run(shipped(), finding_of(sample_event()))
    assert result.status == "succeeded"
    assert left[0] == 0  # all three throttles were met ...
    assert all(s["retries"] == 0 and s["attempts"] <= 1 for s in result.steps)  # ... and retried per call, once


def test_throttling_beyond_the_bound_fails_the_step_without_a_second_layer(moto_endpoint: str, responder_home) -> None:
    from responder.aws.retry import CallRetryPolicy
    from responder.aws.sessions import AwsAccess
    from responder.config import load_settings

    seed_user()
    sends = [0]
    throttle = _make_throttler([10_000])

    def counting(request, **kw):
        body = request.body or b""
        if b"UpdateAccessKey" in (body if isinstance(body, bytes) else body.encode()):
            sends[0] += 1
            return throttle(request, **kw)
        return None

    aws = AwsAccess(load_settings().aws, retry=CallRetryPolicy(attempts=4, sleep=lambda _s: None))
    aws.hooks.append(("before-send.iam.*", counting))
    result = engine(aws=aws).run(shipped(), finding_of(sample_event()))
    step = next(s for s in result.steps if s["id"] == "deactivate_key")
    assert step["status"] == "failed" and "gave up after 4 attempts" in step["error"]
    assert sends[0] == 4  # bounded: one layer, not 4 x the step's attempts
    assert step["retries"] == 0


def _make_throttler(left: list[int]):
    class _Raw:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def stream(self, **_kw):
            yield self.body

    def handler(request, **_kw):
        if left[0] <= 0:
            return None
        left[0] -= 1
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded"
            b"</Message></Error></ErrorResponse>"
        )
        return AWSResponse(request.url, 400, {}, _Raw(body))

    return handler


def test_access_denied_fails_at_once_naming_the_permission(moto_endpoint: str, responder_home) -> None:
    from responder.aws.sessions import AwsAccess
    from responder.config import load_settings

    seed_user()
    calls = {"n": 0}

    class _Raw:
        def stream(self, **_kw):
            yield (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: "
                b"arn:aws:iam::123456789012:user/responder is not authorized to perform: iam:UpdateAccessKey on "
                b"resource: user ci-deploy</Message></Error></ErrorResponse>"
            )

    def deny_update(request, **_kw):
        body = request.body or b""
        if b"Action=UpdateAccessKey" in (body if isinstance(body, bytes) else body.encode()):
            calls["n"] += 1
            return AWSResponse(request.url, 403, {}, _Raw())
        return None

    aws = AwsAccess(load_settings().aws)
    aws.hooks.append(("before-send.iam.*", deny_update))
    eng = engine(aws=aws)
    result = eng.run(shipped(), finding_of(sample_event()))
    step = next(s for s in result.steps if s["id"] == "deactivate_key")
    assert step["status"] == "failed"
    assert "iam:UpdateAccessKey" in step["error"]
    assert step["attempts"] == 1 and calls["n"] == 1  # not retried
    assert result.status == "failed"
    # a failing containment step stops nothing else: sessions were still revoked
    assert next(s for s in result.steps if s["id"] == "revoke_sessions")["status"] == "succeeded"


def test_dry_run_changes_nothing(moto_endpoint: str, responder_home) -> None:
    seed_user()
    eng = engine()
    result = eng.run(shipped(), finding_of(sample_event()), dry_run=True)
    assert result.status == "planned" and result.dry_run
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Active"
    assert inline_policies("ci-deploy") == ["app"]
    planned = {s["id"]: s for s in result.steps}
    assert planned["deactivate_key"]["status"] == "planned"
    assert planned["capture_user"]["status"] == "planned"  # evidence is previewed, not written
    assert eng.store.get_run(result.run_id) is None  # nothing a real run could join
    assert eng.store.list_runs() == []


def test_plan_is_read_only(moto_endpoint: str, responder_home) -> None:
    seed_user()
    plan = engine().plan(shipped(), finding_of(sample_event()))
    by_id = {s.id: s for s in plan.steps}
    assert by_id["record_finding"].will_change is False
    assert by_id["deactivate_key"].will_change is True  # planned with the outputs earlier steps would give
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Active"
    assert plan.run_id.startswith("run-")


def test_cross_account_without_role_is_refused_and_changes_nothing(moto_endpoint: str, responder_home) -> None:
    seed_user()
    event = sample_event(accountId="210987654321")
    result = engine().run(shipped(), finding_of(event))
    failed = [s for s in result.steps if s["status"] == "failed"]
    assert failed and all("no cross-account role is configured" in s["error"] for s in failed)
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Active"


@pytest.mark.parametrize(
    "hostile", ["{{ 7*7 }}", "{% for x in range(3) %}x{% endfor %}", "a'b\"c\nd", "{{ ''.__class__.__mro__ }}"]
)
def test_hostile_finding_fields_stay_literal(moto_endpoint: str, responder_home, hostile: str) -> None:
    user = "hostile-user"
    seed_user(user=user, key_id="AKIA2E0A8F3B244C9987")
    event = sample_event(
        title=hostile,
        type="Exfiltration:IAMUser/" + hostile.replace("\n", " "),
        resource__accessKeyDetails__accessKeyId="AKIA2E0A8F3B244C9987",
        resource__accessKeyDetails__userName=user,
    )
    finding = finding_of(event)
    eng = engine()
    result = eng.run(shipped(), finding)
    assert result.status == "succeeded", result.steps
    tags = {t["Key"]: t["Value"] for t in boto3.client("iam").list_user_tags(UserName=user)["Tags"]}
    assert "49" not in tags["responder:finding-type"]  # never rendered
    assert tags["responder:finding-type"].startswith("Exfiltration:IAMUser/")
    recorded = json.loads(eng.evidence.read(result.run_id, "record_finding/finding.json"))
    assert recorded["finding"]["title"] == hostile


def test_a_child_run_is_linked_to_its_incident_from_its_first_write(moto_endpoint: str, responder_home) -> None:
    """The link is part of the record ``claim_run`` writes: no crash can leave a child run unlinked."""
    seed_user()
    eng = engine()
    result = eng.run(shipped(), finding_of(sample_event()), parent_run_id="run-parent", incident="seq-1")
    created = next(e for e in eng.store.audit_log(result.run_id) if e["event"] == "run_created")
    run = eng.store.get_run(result.run_id)
    assert (run.parent_run_id, run.incident) == ("run-parent", "seq-1") and created
    eng.run(shipped(), finding_of(sample_event()))  # a redelivery without the link keeps it
    assert eng.store.get_run(result.run_id).parent_run_id == "run-parent"
