"""The bounded read pool: reads really overlap, results and errors come back in declared order, and
``RESPONDER_READ_CONCURRENCY=1`` is the sequential behaviour, in the calling thread."""

from __future__ import annotations

import threading
import time

import pytest

from responder.aws import parallel


def test_reads_overlap_and_come_back_keyed_as_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(parallel.ENV, raising=False)
    meeting = threading.Barrier(4, timeout=5)  # only passes if all four reads are in flight at once

    def read(value: int) -> int:
        meeting.wait()
        return value

    reads = {name: (lambda v=value: read(v)) for name, value in (("d", 4), ("a", 1), ("c", 3), ("b", 2))}
    result = parallel.read_all(reads)
    assert list(result.items()) == [("d", 4), ("a", 1), ("c", 3), ("b", 2)]


def test_concurrency_one_is_sequential_in_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.ENV, "1")
    seen: list[tuple[str, int]] = []

    def read(name: str) -> str:
        seen.append((name, threading.get_ident()))
        return name.upper()

    assert parallel.read_all({n: (lambda n=n: read(n)) for n in "xyz"}) == {"x": "X", "y": "Y", "z": "Z"}
    assert seen == [(n, threading.get_ident()) for n in "xyz"]
    pending = parallel.start(lambda: read("w"))
    assert seen[-1] == ("w", threading.get_ident())  # ran at once, before start() returned
    assert pending.result() == "W"


def test_first_error_in_declared_order_is_raised_after_every_read_settled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(parallel.ENV, raising=False)
    finished: list[str] = []

    def slow_failure() -> None:
        time.sleep(0.2)
        finished.append("first")
        raise LookupError("declared first, fails last")

    def fast_failure() -> None:
        finished.append("second")
        raise ValueError("declared second, fails first")

    def fine() -> str:
        time.sleep(0.1)
        finished.append("third")
        return "ok"

    with pytest.raises(LookupError, match="declared first"):
        parallel.read_all({"first": slow_failure, "second": fast_failure, "third": fine})
    assert sorted(finished) == ["first", "second", "third"]
    settled = parallel.settle({"second": fast_failure, "third": fine})
    assert isinstance(settled["second"].error, ValueError) and settled["third"].get() == "ok"


def test_the_pool_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.ENV, "3")
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def read() -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1

    parallel.read_all({i: read for i in range(9)})
    assert state["most"] == 3


def test_start_overlaps_the_callers_own_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(parallel.ENV, raising=False)
    started = threading.Event()
    pending = parallel.start(lambda: (started.set(), "done")[1])
    assert started.wait(5)  # running while the caller has not asked for it yet
    assert pending.result() == "done" and pending.settled().error is None


@pytest.mark.parametrize(("raw", "expected"), [("", 12), ("4", 4), ("0", 1), ("many", 12)])
def test_concurrency_from_the_environment(monkeypatch: pytest.MonkeyPatch, raw: str, expected: int) -> None:
    monkeypatch.setenv(parallel.ENV, raw)
    assert parallel.concurrency() == expected
    assert parallel.concurrency(2) == 2
