from __future__ import annotations

from datetime import timedelta

from responder.notify import register, workflow
from responder.notify.settings import notify_settings

from .conftest import CATEGORIES, HOSTILE, NOTIFY, NOW, SCOPE, add_run, leaked_key


def test_assess_then_draft_puts_reviewed_facts_in_the_locker(store, locker) -> None:
    finding = leaked_key(HOSTILE)
    add_run(store, finding)
    settings = notify_settings(NOTIFY)
    result = workflow.assess(store, "run-1", finding, SCOPE, settings, now=NOW)
    assert result["aware_at"] == "2026-03-27T17:30:00Z"
    made = workflow.draft(store, locker, "run-1", finding, SCOPE, settings, now=NOW)
    names = {d["name"] for d in made}
    assert "notifications/gdpr-33-authority-notice.md" in names
    assert "notifications/nis2-early-warning.md" in names
    text = locker.read("run-1", "notifications/gdpr-33-authority-notice.md").decode()
    assert "customers-prod" in text and CATEGORIES in text and "{{ 7*7 }}" in text
    assert "Example GmbH" in text and "BfDI" in text
    custody = locker.custody("run-1")
    assert custody[-1]["details"]["sent"] is False
    entry = register.get_entry(store, "run-1")
    assert {d["name"] for d in entry["drafts"]} == names
    assert entry["facts"]["record_categories"] == CATEGORIES
    assert entry["regimes"]["gdpr-33"]["proposal"] == "likely"
    # drafting again (a resumed step, an hour later) with the same facts writes nothing new: write-once locker
    later = NOW + timedelta(hours=1)
    assert len(workflow.draft(store, locker, "run-1", finding, SCOPE, settings, now=later)) == len(made)
    assert len(locker.artifacts("run-1")) == len(made)
    assert locker.verify("run-1").intact


def test_unlikely_regimes_are_not_drafted_until_a_person_says_so(store, locker) -> None:
    finding = leaked_key()
    add_run(store, finding)
    settings = notify_settings({**NOTIFY, "regimes": ["gdpr-33", "hipaa"]})
    workflow.assess(store, "run-1", finding, SCOPE, settings, now=NOW)
    made = workflow.draft(store, locker, "run-1", finding, SCOPE, settings, now=NOW)
    assert {d["regime"] for d in made} == {"gdpr-33"}
    register.decide(store, "run-1", "hipaa", "notify", reason="BA agreement", by="dpo", at=NOW)
    made = workflow.draft(store, locker, "run-1", finding, SCOPE, settings, now=NOW)
    assert "notifications/hipaa-individual-notice.md" in {d["name"] for d in made}
    assert "notifications/hipaa-hhs-notice.md" not in {d["name"] for d in made}  # same content, one draft
