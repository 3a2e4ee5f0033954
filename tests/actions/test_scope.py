"""scope.investigate as a playbook step: the report lands in the locker, the output feeds later steps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from responder.actions.base import Category, Connectors, StepContext
from responder.actions.registry import default_registry
from responder.actions.scope import Investigate, InvestigateInput
from responder.clock import FixedClock
from responder.config import load_settings
from responder.errors import Refused
from responder.evidence.local import LocalLocker
from responder.findings.model import AccessKey, Actor, Finding, Source
from responder.samples import StoryParams, generate

STORY = StoryParams(
    account_id="123456789012",
    access_key_id="AKIAIOSFODNN7EXAMPLE",
    user_name="jenkins",
    attacker_ip="198.51.100.77",
    start=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
)


def _finding(**changes) -> Finding:
    base = dict(
        id="leaked-key-1",
        source=Source.SECRETS,
        type="CredentialAccess:IAMUser/LeakedAccessKey.SecretScanner",
        severity=8.0,
        account_id="123456789012",
        region="us-east-1",
        incident_start=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        first_seen=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        resource=AccessKey(access_key_id="AKIAIOSFODNN7EXAMPLE", user_name="jenkins"),
        actor=Actor(ip="198.51.100.77"),
    )
    base.update(changes)
    return Finding(**base)


def _ctx(tmp_path: Path, finding: Finding, scope: dict | None = None) -> StepContext:
    settings = load_settings().model_copy(update={"scope": scope or {}})
    return StepContext(
        run_id="run-1",
        step_id="scope",
        playbook_id="iam-credential-compromise",
        finding=finding,
        clock=FixedClock(datetime(2026, 3, 2, 12, tzinfo=UTC)),
        evidence=LocalLocker(tmp_path / "evidence"),
        settings=settings,
        connectors=Connectors(),
    )


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory):
    return generate(tmp_path_factory.mktemp("logs"), 20_000, story=STORY)


def test_declared_as_a_read_only_scope_action() -> None:
    assert default_registry().get("scope.investigate") is Investigate
    assert Investigate.category is Category.SCOPE and Investigate.mutates is False
    assert "athena:StartQueryExecution" in Investigate.permissions and "s3:GetObject" in Investigate.permissions


def test_report_names_what_the_attacker_did_through_a_role_pivot(tmp_path: Path, logs) -> None:
    ctx = _ctx(tmp_path, _finding(), {"cloudtrail": str(logs.cloudtrail_dir), "flow_logs": str(logs.flow_logs_dir)})
    action, inp = Investigate(), InvestigateInput()
    assert action.plan(ctx, inp).will_change is False
    outcome = action.apply(ctx, inp)
    assert outcome.changed is False
    out = Investigate.Output.model_validate(outcome.output)
    assert out.events == len(logs.story_event_ids)
    assert set(out.keys) == set(logs.keys)
    assert any(p["pivot"] == "AssumeRole" and p["role_arn"] == logs.role_arn for p in out.pivots)
    assert out.objects_read == sorted(logs.objects_read) and out.buckets == [STORY.bucket]
    assert "personal_data" in out.data_categories and out.persistence_found
    assert [p["event_name"] for p in out.persistence] == logs.persistence
    assert out.egress_bytes == logs.egress[0].bytes
    assert out.first_activity == "2026-03-01T09:30:00Z" and out.window["since"] == "2026-03-01T09:00:00Z"
    report = json.loads(ctx.evidence.read("run-1", out.report_artifact))
    assert report["events"] == out.events
    markdown = ctx.evidence.read("run-1", out.markdown_artifact).decode()
    assert "AssumeRole" in markdown and logs.role_arn in markdown
    assert ctx.evidence.verify("run-1").intact


def test_step_arguments_override_config(tmp_path: Path, logs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONDER_CLOUDTRAIL", "/does/not/matter/overridden")
    ctx = _ctx(tmp_path, _finding())
    inp = InvestigateInput(cloudtrail=str(logs.cloudtrail_dir), since=datetime(2026, 3, 1, 9, 45, tzinfo=UTC))
    out = Investigate.Output.model_validate(Investigate().apply(ctx, inp).output)
    assert 0 < out.events < len(logs.story_event_ids)  # the recon before 09:45 is outside the window


def test_no_logs_configured_is_refused_with_a_hint(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, _finding())
    with pytest.raises(Refused) as err:
        Investigate().apply(ctx, InvestigateInput())
    assert "RESPONDER_CLOUDTRAIL" in (err.value.hint or "")
    assert "but" in Investigate().plan(ctx, InvestigateInput()).summary


def test_leaked_key_playbook_ending_with_scope_names_the_role_pivot(
    moto_endpoint: str, responder_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped leaked-key playbook, with scope.investigate as its last step, against moto and logs
    generated for the same key (as the sandbox demo does)."""
    from responder.actions.registry import default_registry
    from responder.app import load_shipped
    from tests.helpers import ROOT, engine, finding_of, sample_event, seed_user

    finding = finding_of(sample_event())
    key = finding.first("access_key")
    start = finding.incident_start or finding.first_seen
    truth = generate(
        tmp_path / "logs",
        6_000,
        story=StoryParams(
            account_id=finding.account_id,
            access_key_id=key.access_key_id,
            user_name=key.user_name,
            attacker_ip=finding.actor.ip or "203.0.113.66",
            start=start,
        ),
    )
    monkeypatch.setenv("RESPONDER_CLOUDTRAIL", str(truth.cloudtrail_dir))
    monkeypatch.setenv("RESPONDER_FLOW_LOGS", str(truth.flow_logs_dir))
    text = (ROOT / "playbooks" / "iam-credential-compromise.yaml").read_text()
    if "scope.investigate" not in text:
        text = text.rstrip() + "\n  - id: scope\n    action: scope.investigate\n"
    (tmp_path / "pb").mkdir()
    (tmp_path / "pb" / "iam-credential-compromise.yaml").write_text(text)
    playbook = next(
        p for p in load_shipped(default_registry(), [tmp_path / "pb"]) if p.playbook.id == "iam-credential-compromise"
    )
    seed_user(user=key.user_name, key_id=key.access_key_id, account=finding.account_id)
    result = engine().run(playbook, finding)
    assert result.status == "succeeded", result.steps
    scope = next(s for s in result.steps if s["id"] == "scope")
    assert scope["status"] == "succeeded"
    out = scope.get("output") or {}
    assert out["events"] == len(truth.story_event_ids)
    assert any(p["pivot"] == "AssumeRole" for p in out["pivots"]) and out["persistence_found"]


def test_a_role_and_a_bucket_as_the_subject(tmp_path: Path, logs) -> None:
    """The EC2 and S3 playbooks name an instance's role and a bucket: every session of the role is followed,
    and whoever read or wrote the bucket is listed."""
    ctx = _ctx(tmp_path, _finding(), {"cloudtrail": str(logs.cloudtrail_dir), "flow_logs": str(logs.flow_logs_dir)})
    outcome = Investigate().apply(ctx, InvestigateInput(role_name=STORY.role_name, bucket_name=STORY.bucket))
    out = Investigate.Output.model_validate(outcome.output)
    role_key = next(k for k, v in logs.keys.items() if v.startswith("AssumeRole"))
    assert role_key in out.keys  # the role's session, found through the role (the issuer), not the leaked key
    readers = {(b["principal_arn"], b["bucket"]) for b in out.bucket_access}
    assert (logs.session_arn, STORY.bucket) in readers
    reads = next(b for b in out.bucket_access if b["principal_arn"] == logs.session_arn)
    assert "GetObject" in reads["actions"] and reads["bytes_out"] > 0


def test_only_a_bucket_needs_no_principal(tmp_path: Path, logs) -> None:
    finding = _finding(resource=AccessKey(access_key_id=None, user_name=None))
    ctx = _ctx(tmp_path, finding, {"cloudtrail": str(logs.cloudtrail_dir)})
    with pytest.raises(Refused):
        Investigate().apply(ctx, InvestigateInput())  # a finding naming nobody, and no bucket: nothing to scope
    out = Investigate.Output.model_validate(Investigate().apply(ctx, InvestigateInput(bucket_name=STORY.bucket)).output)
    assert out.events == 0 and out.bucket_access


def test_a_hostile_bucket_or_role_name_is_refused(tmp_path: Path, logs) -> None:
    ctx = _ctx(tmp_path, _finding(), {"cloudtrail": str(logs.cloudtrail_dir)})
    for inp in (InvestigateInput(bucket_name="x' OR 1=1 --"), InvestigateInput(role_name="a b;c")):
        with pytest.raises(Refused):
            Investigate().apply(ctx, inp)
        assert "would scope, but" in Investigate().plan(ctx, inp).summary
