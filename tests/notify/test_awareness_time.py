"""`responder aware --at` refuses a time in the future and keeps the history of changes with reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest

from responder.errors import BadInput
from responder.notify import clocks
from tests.helpers import engine, finding_of, sample_event, seed_user, shipped


def test_future_awareness_is_refused_and_history_kept(moto_endpoint: str, responder_home) -> None:
    seed_user()
    eng = engine()
    run = eng.run(shipped(), finding_of(sample_event()))
    store, now = eng.store, eng.clock.now()
    with pytest.raises(BadInput, match="future"):
        clocks.record_start(store, run.run_id, "awareness", at=now + timedelta(days=14), reason="typo", by="t", now=now)
    earlier = now - timedelta(hours=5)
    record = clocks.record_start(store, run.run_id, "awareness", at=earlier, reason="SOC call", by="dpo", now=now)
    assert record["reason"] == "SOC call"
    assert record.get("history"), record  # the earlier awareness time is kept, with its reason
    clocks.record_start(store, run.run_id, "awareness", at=now + timedelta(seconds=30), reason="skew", by="t", now=now)
