from __future__ import annotations

from datetime import UTC, datetime

import pytest

from responder.errors import BadInput
from responder.notify import clocks, register
from responder.notify.settings import notify_settings

from .conftest import NOTIFY, NOW, RECEIVED, add_run, leaked_key

SETTINGS = notify_settings({**NOTIFY, "regimes": ["gdpr-33", "nis2", "sec-8k", "hipaa"]})


def _open(items):
    return {(c["regime"], c["milestone"]): c for c in items}


def test_awareness_defaults_to_received_and_moves_only_with_a_reason(store) -> None:
    add_run(store, leaked_key())
    assert clocks.ensure_awareness(store, "run-1", by="t", now=NOW) == datetime(2026, 3, 27, 17, 30, tzinfo=UTC)
    record = clocks.starts(store, "run-1")[clocks.StartEvent.AWARENESS]
    assert record["reason"] == clocks.RECEIVED
    earlier = datetime(2026, 3, 27, 9, tzinfo=UTC)
    with pytest.raises(BadInput, match="needs a reason"):
        clocks.record_start(store, "run-1", "awareness", at=earlier, reason=None, by="t", now=NOW)
    moved = clocks.record_start(store, "run-1", "awareness", at=earlier, reason="SOC told the DPO at 10:00",
                                by="dpo", now=NOW)
    assert moved["at"] == "2026-03-27T09:00:00Z" and moved["history"][0]["at"] == RECEIVED


def test_clocks_follow_events_decisions_and_submissions(store) -> None:
    add_run(store, leaked_key())
    clocks.ensure_awareness(store, "run-1", by="t", now=NOW)
    register.record_run(store, "run-1", now=NOW, summary={}, regimes=list(SETTINGS.regimes),
                        counts={"individuals": 120})
    got = _open(clocks.refresh(store, "run-1", SETTINGS, now=NOW))
    assert got[("gdpr-33", "authority-notice")]["due"] == "2026-03-30T17:30:00Z"
    assert got[("gdpr-33", "authority-notice")]["status"] == "open"
    assert got[("sec-8k", "form-8k")]["status"] == "waiting"  # no materiality determination recorded
    assert got[("hipaa", "hhs-notice")]["status"] == "not-required"  # 120 < 500
    assert got[("hipaa", "hhs-annual-log")]["status"] == "open"
    assert got[("nis2", "final-report")]["assumed_start"] is True

    with pytest.raises(BadInput, match="needs its time"):
        clocks.record_start(store, "run-1", "materiality", at=None, reason="board", by="cfo", now=NOW)
    later = datetime(2026, 4, 2, 15, tzinfo=UTC)  # recorded after the determination, never before it
    clocks.record_start(store, "run-1", "materiality", at=datetime(2026, 4, 2, 14, tzinfo=UTC),
                        reason="disclosure committee", by="cfo", now=later)
    clocks.mark_sent(store, "run-1", "nis2", "incident-notification", at=datetime(2026, 3, 29, 10, tzinfo=UTC),
                     by="ciso", now=NOW)
    register.decide(store, "run-1", "hipaa", "not-required", reason="no PHI", by="dpo", at=NOW)
    got = _open(clocks.refresh(store, "run-1", SETTINGS, now=NOW))
    # Thu 2 Apr 10:00 EDT: Fri 3 (1), Mon 6 (2), Tue 7 (3), Wed 8 (4), 17:30 EDT
    assert got[("sec-8k", "form-8k")]["due"] == "2026-04-08T21:30:00Z"
    assert got[("nis2", "incident-notification")]["status"] == "sent"
    # sent Sun 29 Mar 12:00 CEST → end of 29 Apr CEST
    assert got[("nis2", "final-report")]["due"] == "2026-04-29T21:59:59Z"
    assert got[("nis2", "final-report")]["assumed_start"] is False
    assert got[("hipaa", "individual-notice")]["status"] == "not-required"
    listed = clocks.all_clocks(store)
    assert all(c["status"] == "open" for c in listed)
    assert [c["due"] for c in listed if c["due"]] == sorted(c["due"] for c in listed if c["due"])


def test_parse_time() -> None:
    assert clocks.parse_time("2026-03-27T18:30:00+01:00") == datetime(2026, 3, 27, 17, 30, tzinfo=UTC)
    with pytest.raises(BadInput, match="ISO 8601"):
        clocks.parse_time("Friday evening")


def test_reminders_pick_due_soon_and_overdue(store) -> None:
    from datetime import timedelta

    add_run(store, leaked_key())
    clocks.ensure_awareness(store, "run-1", by="t", now=NOW)
    clocks.refresh(store, "run-1", notify_settings(NOTIFY), now=NOW)
    soon = clocks.reminders(store, datetime(2026, 3, 28, 6, tzinfo=UTC), within=timedelta(hours=12))
    assert [(c["regime"], c["milestone"]) for c in soon] == [("nis2", "early-warning")]  # due 28 Mar 17:30Z
    late = clocks.reminders(store, datetime(2026, 3, 31, tzinfo=UTC), within=timedelta(0))
    assert {c["milestone"] for c in late} == {"early-warning", "authority-notice", "incident-notification"}
