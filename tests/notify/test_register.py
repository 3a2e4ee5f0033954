from __future__ import annotations

import csv
import io
import json

import pytest

from responder.errors import BadInput
from responder.notify import register

from .conftest import NOW


def _entry(store, run_id="run-1", nature="=HYPERLINK(\"http://evil\")"):
    return register.record_run(store, run_id, now=NOW, summary={"finding_id": "f", "aware_at": "2026-03-27T17:30:00Z"},
                               facts={"nature": nature}, proposals={"gdpr-33": {"likelihood": "likely",
                                                                                "reasons": ["tagged bucket"]}},
                               regimes=["gdpr-33", "gdpr-34"])


def test_proposal_and_decision_are_kept_apart(store) -> None:
    _entry(store)
    entry = register.decide(store, "run-1", "gdpr-34", "not-required", reason="keys encrypted with KMS",
                            exemption="34(3)(a)", by="dpo", at=NOW)
    assert entry["regimes"]["gdpr-33"] == {"decision": "pending", "proposal": "likely", "reasons": ["tagged bucket"]}
    assert entry["regimes"]["gdpr-34"]["exemption"] == "34(3)(a)"
    _entry(store)  # a re-run of the step keeps the person's decision
    assert register.get_entry(store, "run-1")["regimes"]["gdpr-34"]["decision"] == "not-required"
    again = register.decide(store, "run-1", "gdpr-34", "notify", reason="new facts", by="dpo", at=NOW)
    assert again["regimes"]["gdpr-34"]["history"][0]["decision"] == "not-required"


def test_decisions_are_checked(store) -> None:
    _entry(store)
    with pytest.raises(BadInput, match="needs a reason"):
        register.decide(store, "run-1", "gdpr-33", "not-required", reason=" ", by="x", at=NOW)
    with pytest.raises(BadInput, match="34\\(3\\)\\(a\\)"):
        register.decide(store, "run-1", "gdpr-34", "not-required", reason="r", exemption="34(9)", by="x", at=NOW)
    with pytest.raises(BadInput, match="notify, not-required"):
        register.decide(store, "run-1", "gdpr-33", "maybe", reason="r", by="x", at=NOW)
    with pytest.raises(BadInput, match="not in the breach register"):
        register.decide(store, "run-404", "gdpr-33", "notify", reason="r", by="x", at=NOW)


def test_exports(store) -> None:
    _entry(store)
    _entry(store, "run-2", nature="plain")
    rows = list(csv.DictReader(io.StringIO(register.to_csv(register.entries(store)))))
    assert [(r["run_id"], r["regime"]) for r in rows] == [("run-1", "gdpr-33"), ("run-1", "gdpr-34"),
                                                          ("run-2", "gdpr-33"), ("run-2", "gdpr-34")]
    assert rows[0]["nature"].startswith("'=")  # no formula injection into spreadsheets
    data = json.loads(register.to_json(register.entries(store)))
    assert data[0]["facts"]["nature"].startswith("=HYPERLINK")  # JSON keeps the value as it is
