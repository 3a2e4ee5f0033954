from __future__ import annotations

from datetime import UTC, datetime

from responder.notify.facts import build, count, literal, names, tbc
from responder.notify.settings import Organisation

from .conftest import CATEGORIES, HOSTILE, SCOPE, leaked_key


def test_tbc_marks_unknown_and_keeps_zero() -> None:
    assert tbc(None) == "[to be completed]"
    assert tbc([], "count them") == "[to be completed: count them]"
    assert tbc(0) == "0"
    assert tbc(["a", "b"]) == "a; b"


def test_literal_is_one_line() -> None:
    assert "\n" not in literal(HOSTILE) and "{{ 7*7 }}" in literal(HOSTILE)
    assert len(literal("x" * 2000)) == 500
    assert len(tbc("x" * 5000)) == 4000  # composed facts (the nature) get more room, still bounded


def test_scope_shapes_are_all_optional() -> None:
    assert count([1, 2]) == 2 and count({"a": 1}) == 1 and count("12") == 12 and count("many") is None
    assert count(True) is None
    assert names([{"bucket": "b1"}, "b2", {"other": 1}, None]) == ["b1", "b2"]
    assert names({"email": 3}) == ["email"]


def test_facts_come_from_the_scope_and_unknowns_stay_none() -> None:
    facts = build(leaked_key(), SCOPE, Organisation(dpo_contact="dpo@example.com"), run_id="r",
                  aware_at=datetime(2026, 3, 27, 17, 30, tzinfo=UTC), received_at=None)
    assert facts["record_categories"] == CATEGORIES
    assert facts["objects_read"] == "at least 3" and facts["buckets"] == ["customers-prod", "build-artifacts"]
    assert "customers-prod" in facts["nature"] and "at least 3 objects read" in facts["nature"]
    assert "GetObject" in facts["nature"] and "CreateAccessKey backup-user" in facts["nature"]
    assert "bytes sent" not in facts["nature"]  # 0 bytes to flagged destinations is not news
    assert facts["iocs"][:2] == ["203.0.113.9", "AKIAEXAMPLE0000000001"]
    assert facts["started_at"] == "2026-03-27T03:12:00Z"
    assert facts["contact"] == "dpo@example.com"
    for unknown in ("subjects_approx", "records_approx", "consequences", "measures", "controller"):
        assert facts[unknown] is None, unknown


def test_empty_scope_invents_nothing() -> None:
    facts = build(leaked_key(), {}, Organisation(), run_id="r", aware_at=None, received_at=None)
    assert facts["record_categories"] is None and facts["buckets"] is None and facts["contact"] is None
