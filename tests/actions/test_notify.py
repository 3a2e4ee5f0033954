"""notify.* actions, directly and through the engine with a playbook that feeds them a scope."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer
import yaml
from typer.testing import CliRunner

from responder.actions.base import (
    Action,
    ActionInput,
    ActionOutput,
    Category,
    Change,
    Connectors,
    Outcome,
    StepContext,
)
from responder.actions.notify import AssessRegimes, BreachDrafts
from responder.actions.registry import CATALOG, Registry
from responder.clock import FixedClock
from responder.config import load_settings
from responder.errors import Refused
from responder.evidence.local import LocalLocker
from responder.findings.model import AccessKey, Finding, Source
from responder.state.records import RunRecord
from responder.state.sqlite import SqliteStore

RECEIVED = datetime(2026, 3, 27, 17, 30, tzinfo=UTC)
SCOPE = {  # shaped like scope.investigate's output
    "events": 1204,
    "buckets": ["customers-prod"],
    "objects_read": ["customers-prod/exports/2026-03.csv", "customers-prod/exports/2026-02.csv"],
    "data_categories": ["personal_data", "payment_data"],
    "first_activity": "2026-03-27T03:12:00Z",
    "last_activity": "2026-03-27T09:40:00Z",
}
NOTIFY = {"regimes": ["gdpr-33", "gdpr-34", "nis2"], "timezone": "Europe/Berlin",
          "personal_data_buckets": ["customers-*"],
          "organisation": {"controller": "Example GmbH", "dpo_contact": "dpo@example.com"}}


def _finding() -> Finding:
    return Finding(id="leaked-key-abc", source=Source.SECRETS,
                   type="CredentialAccess:IAMUser/LeakedAccessKey.SecretScanner",
                   title="AWS access key {{ 7*7 }} found", severity=8.0, account_id="123456789012",
                   resource=AccessKey(access_key_id="AKIAEXAMPLE0000000001", user_name="ci-deploy"))


def _context(tmp_path: Path, *, store: SqliteStore | None) -> StepContext:
    settings = load_settings().model_copy(update={"notify": NOTIFY})
    finding = _finding()
    if store is not None:
        store.claim_run(RunRecord(run_id="run-1", finding_id=finding.id, playbook_id="pb", playbook_digest="d",
                                  created_at="2026-03-27T17:30:00Z", updated_at="2026-03-27T17:30:00Z",
                                  finding=finding.model_dump(mode="json")))
    return StepContext(run_id="run-1", step_id="notify", playbook_id="pb", finding=finding,
                       clock=FixedClock(datetime(2026, 3, 27, 18, tzinfo=UTC)),
                       evidence=LocalLocker(tmp_path / "evidence"), settings=settings, connectors=Connectors(),
                       store=store)


def test_catalogued_and_declared() -> None:
    assert {"notify.assess_regimes", "notify.breach_drafts"} <= set(CATALOG)
    for cls in Registry(["notify.assess_regimes", "notify.breach_drafts"]).all():
        assert cls.category == Category.NOTIFY and not cls.mutates
        assert cls.permissions == frozenset({"s3:GetBucketTagging"})  # read-only, used with lookup_bucket_tags


def test_assess_starts_clocks_and_proposes(tmp_path: Path) -> None:
    ctx = _context(tmp_path, store=SqliteStore(tmp_path / "runs.sqlite3"))
    action = AssessRegimes()
    inp = AssessRegimes.Input(scope=SCOPE)
    change = action.plan(ctx, inp)
    assert not change.will_change and ctx.store.get_item("notify.register", "run-1") is None  # plan writes nothing
    out = AssessRegimes.Output.model_validate(action.apply(ctx, inp).output)
    assert out.aware_at == "2026-03-27T17:30:00Z" and "gdpr-33" in out.likely
    due = {(d.regime, d.milestone): d.due for d in out.deadlines}
    assert due[("gdpr-33", "authority-notice")] == "2026-03-30T17:30:00Z"
    assert due[("gdpr-34", "data-subject-notice")] is None


def test_drafts_land_in_the_locker(tmp_path: Path) -> None:
    ctx = _context(tmp_path, store=SqliteStore(tmp_path / "runs.sqlite3"))
    result = BreachDrafts().apply(ctx, BreachDrafts.Input(scope=SCOPE))
    out = BreachDrafts.Output.model_validate(result.output)
    assert "notifications/gdpr-33-authority-notice.md" in {d["name"] for d in out.drafts}
    assert out.to_be_completed > 0 and result.changed
    text = ctx.evidence.read("run-1", "notifications/gdpr-33-authority-notice.md").decode()
    assert "customers-prod" in text and "{{ 7*7 }}" in text
    assert ctx.store.get_run("run-1").milestones["drafted"] == "2026-03-27T18:00:00Z"


def test_awareness_override_needs_a_reason(tmp_path: Path) -> None:
    from responder.errors import BadInput

    ctx = _context(tmp_path, store=SqliteStore(tmp_path / "runs.sqlite3"))
    with pytest.raises(BadInput, match="reason"):
        AssessRegimes().apply(ctx, AssessRegimes.Input(aware_at="2026-03-27T08:00:00Z"))
    out = AssessRegimes().apply(ctx, AssessRegimes.Input(aware_at="2026-03-27T09:00:00+01:00",
                                                         aware_reason="DPO informed by phone")).output
    assert out["aware_at"] == "2026-03-27T08:00:00Z"


def test_no_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Refused):
        AssessRegimes().apply(_context(tmp_path, store=None), AssessRegimes.Input())


def test_bucket_tags_mark_personal_data(tmp_path: Path, moto_endpoint: str) -> None:
    import boto3

    from responder.aws.sessions import AwsAccess

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="crm-exports")
    s3.put_bucket_tagging(Bucket="crm-exports", Tagging={"TagSet": [{"Key": "data-classification",
                                                                     "Value": "personal-data"}]})
    s3.create_bucket(Bucket="untagged")
    ctx = _context(tmp_path, store=SqliteStore(tmp_path / "runs.sqlite3"))
    ctx.connectors = Connectors(aws=AwsAccess(load_settings().aws))
    scope = {"buckets": ["crm-exports", "untagged", "gone"], "objects_read": ["crm-exports/a.csv"]}
    result = AssessRegimes().apply(ctx, AssessRegimes.Input(scope=scope, lookup_bucket_tags=True))
    reasons = result.output["proposals"]["gdpr-33"]["reasons"]
    assert result.output["proposals"]["gdpr-33"]["likelihood"] == "likely"
    assert "data stores marked as holding personal data: crm-exports" in reasons
    assert result.notes == ["tags of bucket gone not read: NoSuchBucket"]


class FixtureScope(Action[ActionInput]):
    """Stands in for the scope subsystem (issue 10): outputs a fixed scope report."""

    name = "fixture.scope"
    Input = ActionInput
    Output = ActionOutput
    category = Category.SCOPE
    report: ClassVar[dict[str, Any]] = SCOPE

    def plan(self, ctx: StepContext, inp: ActionInput) -> Change:
        return Change(will_change=False, summary="scope")

    def apply(self, ctx: StepContext, inp: ActionInput) -> Outcome:
        return Outcome(changed=False, summary="scope", output=dict(self.report))


PLAYBOOK = {
    "id": "leaked-key-notify",
    "title": "Leaked key: scope and notify",
    "triggers": [{"sources": ["secrets"], "types": ["CredentialAccess:IAMUser/LeakedAccessKey.*"]}],
    "steps": [
        {"id": "scope", "action": "fixture.scope"},
        {"id": "assess", "action": "notify.assess_regimes", "with": {"scope": "{{ steps.scope.output }}"}},
        {"id": "drafts", "action": "notify.breach_drafts", "with": {"scope": "{{ steps.scope.output }}"}},
    ],
}


def test_playbook_run_ends_with_a_gdpr_draft_and_a_deadline(tmp_path: Path, responder_home: Path) -> None:
    from responder.app import build_engine
    from responder.cli.notify import register
    from responder.playbook.validate import load_playbooks

    (responder_home / "config.yaml").write_text(yaml.safe_dump({"notify": NOTIFY}))
    (tmp_path / "pb").mkdir()
    (tmp_path / "pb" / "leaked-key-notify.yaml").write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
    registry = Registry(CATALOG, extra={"fixture.scope": FixtureScope})
    settings = load_settings()
    engine = build_engine(settings, registry=registry, clock=FixedClock(RECEIVED), sleep=lambda _s: None)
    loaded = load_playbooks([tmp_path / "pb"], registry)[0]
    result = engine.run(loaded, _finding())
    assert result.status == "succeeded", result.steps

    draft = engine.evidence.read(result.run_id, "notifications/gdpr-33-authority-notice.md").decode()
    assert "personal data, payment data" in draft and "customers-prod" in draft and "at least 2 objects read" in draft
    assert "2026-03-30 19:30 CEST (2026-03-30T17:30:00Z)" in draft
    assert engine.evidence.verify(result.run_id).intact

    app = typer.Typer()
    register(app)
    shown = CliRunner().invoke(app, ["deadlines", "--json"])
    assert shown.exit_code == 0, shown.output
    clocks = json.loads(shown.output)
    gdpr = next(c for c in clocks if c["regime"] == "gdpr-33")
    assert (gdpr["run_id"], gdpr["due"]) == (result.run_id, "2026-03-30T17:30:00Z")
    listed = CliRunner().invoke(app, ["register", "--format", "csv"])
    assert result.run_id in listed.output and "likely" in listed.output
