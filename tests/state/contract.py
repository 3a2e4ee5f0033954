"""The run-store contract: one suite, run against every backend (SQLite file, DynamoDB on moto).

A backend module's test subclasses :class:`StoreContract` and provides a ``store`` fixture.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from responder.state.base import RunStore
from responder.state.records import ApprovalRecord, ApprovalState, RunRecord, StepRecord, StepState

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def run_record(run_id: str = "run-1", finding_id: str = "f-1") -> RunRecord:
    return RunRecord(run_id=run_id, finding_id=finding_id, playbook_id="pb", playbook_digest="d1",
                     created_at="2026-11-25T03:00:00Z", updated_at="2026-11-25T03:00:00Z",
                     finding={"id": finding_id, "odd": "<!channel> & \u202e", "n": 1.5})


def race(n: int, fn) -> list:  # type: ignore[no-untyped-def]
    """Run ``fn(i)`` in ``n`` threads released together; collect the results."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


class StoreContract:
    def test_claim_run_once(self, store: RunStore) -> None:
        _first, created = store.claim_run(run_record())
        again, created_again = store.claim_run(run_record().model_copy(update={"playbook_digest": "other"}))
        assert created and not created_again
        assert again.playbook_digest == "d1"
        assert store.get_run("run-1").finding["odd"] == "<!channel> & \u202e"  # type: ignore[union-attr]
        assert [r.run_id for r in store.list_runs()] == ["run-1"]

    def test_concurrent_claims_one_winner(self, store: RunStore) -> None:
        results = race(4, lambda i: store.claim_run(run_record())[1])
        assert sorted(results) == [False, False, False, True]

    def test_update_run_and_milestones(self, store: RunStore) -> None:
        store.claim_run(run_record())
        store.update_run("run-1", status="running", milestones={"received": "x"})
        store.mark_milestone("run-1", "contained", T0)
        store.mark_milestone("run-1", "contained", T0 + timedelta(hours=1))
        run = store.get_run("run-1")
        assert run is not None and run.status == "running"
        assert run.milestones == {"received": "x", "contained": "2026-11-25T03:00:00Z"}
        with pytest.raises(KeyError):
            store.update_run("nope", status="failed")

    def test_run_lease(self, store: RunStore) -> None:
        store.claim_run(run_record())
        assert store.acquire_run("run-1", "a", T0, timedelta(minutes=5))
        assert not store.acquire_run("run-1", "b", T0 + timedelta(minutes=1), timedelta(minutes=5))
        assert store.acquire_run("run-1", "b", T0 + timedelta(minutes=6), timedelta(minutes=5))  # expired
        store.release_run("run-1", "a")  # not the holder: no effect
        assert not store.acquire_run("run-1", "a", T0 + timedelta(minutes=7), timedelta(minutes=5))
        store.release_run("run-1", "b")
        assert store.acquire_run("run-1", "a", T0 + timedelta(minutes=7), timedelta(minutes=5))

    def test_begin_finish_step(self, store: RunStore) -> None:
        store.claim_run(run_record())
        store.ensure_step(StepRecord(run_id="run-1", step_id="s1", index=0, action="a.b", category="contain"))
        store.ensure_step(StepRecord(run_id="run-1", step_id="s0", index=1, action="a.c", category="evidence"))
        claimed = store.begin_step("run-1", "s1", owner="a", inputs={"k": 1}, now=T0, lease=timedelta(minutes=1))
        assert claimed is not None and claimed.state == StepState.RUNNING and claimed.attempts == 1
        # held: another owner cannot claim it until the lease expires
        assert store.begin_step("run-1", "s1", owner="b", inputs={}, now=T0, lease=timedelta(minutes=1)) is None
        taken = store.begin_step("run-1", "s1", owner="b", inputs={}, now=T0 + timedelta(minutes=2),
                                 lease=timedelta(minutes=1))
        assert taken is not None and taken.attempts == 2 and taken.owner == "b"
        done = store.finish_step("run-1", "s1", owner="b", state=StepState.SUCCEEDED, now=T0,
                                 output={"x": 1}, changed=True)
        assert done.state == StepState.SUCCEEDED and done.owner is None
        assert store.begin_step("run-1", "s1", owner="c", inputs={}, now=T0, lease=timedelta(minutes=1)) is None
        assert [s.step_id for s in store.steps("run-1")] == ["s1", "s0"]  # by index, not by key

    def test_concurrent_step_claims_one_winner(self, store: RunStore) -> None:
        store.claim_run(run_record())
        store.ensure_step(StepRecord(run_id="run-1", step_id="s1", action="a.b", category="contain"))
        results = race(4, lambda i: store.begin_step("run-1", "s1", owner=f"o{i}", inputs={}, now=T0,
                                                     lease=timedelta(minutes=5)))
        assert sum(r is not None for r in results) == 1, [r and (r.owner, r.attempts, r.version) for r in results]

    def test_one_decision_per_approval(self, store: RunStore) -> None:
        store.claim_run(run_record())
        store.update_run("run-1", status="waiting")
        store.request_approval(ApprovalRecord(run_id="run-1", step_id="s1", requested_at="2026-11-25T03:00:00Z"))
        again = store.request_approval(ApprovalRecord(run_id="run-1", step_id="s1", requested_at="later"))
        assert again.requested_at == "2026-11-25T03:00:00Z"
        assert [a.step_id for a in store.pending_approvals()] == ["s1"]
        results = race(2, lambda i: store.decide("run-1", "s1", approved=i == 0, by=f"u{i}", reason=None,
                                                 at=T0, via="test"))
        assert sorted(won for _, won in results) == [False, True]
        winner = next(rec for rec, won in results if won)
        final = store.get_approval("run-1", "s1")
        assert final is not None and final.state == winner.state and final.decided_by == winner.decided_by
        assert final.state != ApprovalState.PENDING
        assert store.pending_approvals() == []
        with pytest.raises(KeyError):
            store.decide("run-1", "nope", approved=True, by="x", reason=None, at=T0, via="test")

    def test_finding_versions_and_audit(self, store: RunStore) -> None:
        assert store.add_finding_version("f-1", "d1", T0, {"v": 1}, ["run-1"])
        assert not store.add_finding_version("f-1", "d1", T0, {"v": 1}, ["run-1"])
        assert store.add_finding_version("f-1", "d2", T0 + timedelta(seconds=1), {"v": 2}, ["run-1"])
        assert [v.finding["v"] for v in store.finding_versions("f-1")] == [1, 2]
        store.audit("run-1", T0, "a", detail="x")
        store.audit("run-1", T0, "b")
        assert sorted(e["event"] for e in store.audit_log("run-1")) == ["a", "b"]

    def test_generic_items(self, store: RunStore) -> None:
        store.put_item("clock", "k1", {"due": "x"})
        assert store.put_item("clock", "k1", {"due": "y"}, overwrite=False)["due"] == "x"
        store.put_item("clock", "k1", {"due": "z"})
        store.put_item("clock", "k2", {"due": "w"})
        assert store.get_item("clock", "k1")["due"] == "z"  # type: ignore[index]
        assert [i["key"] for i in store.list_items("clock")] == ["k1", "k2"]
        assert [i["key"] for i in store.list_items("clock", "k2")] == ["k2"]
        store.update_item("clock", "k2", lambda item: {**item, "due": "v"})
        assert store.get_item("clock", "k2")["due"] == "v"  # type: ignore[index]
        assert store.get_item("clock", "missing") is None
