"""Independent reads of one action, issued at once: a bounded thread pool per call site.

Time to contain is mostly waiting: an evidence capture makes ten reads that do not depend on each
other, and each waits a full round trip (50–150 ms from a Lambda) when made one after another. Issued
together they cost one round trip. The rules that keep this safe:

* Clients are made by the caller *before* submitting (boto3 clients are thread-safe, sessions are not).
* Each read keeps the one retry layer (``responder.aws.retry``) — it wraps the client's calls, so a
  throttled read is retried on its own, inside its worker.
* Results come back keyed as declared, and the first error *in declared order* is the one raised, after
  every read has settled: what the caller builds from the results (and the evidence document's bytes)
  is the same whichever read finished first.
* The pool is bounded (``RESPONDER_READ_CONCURRENCY``, default 12): a burst of findings multiplies it, and
  IAM throttles. ``RESPONDER_READ_CONCURRENCY=1`` runs the reads one after another in the calling thread,
  exactly the sequential behaviour (``benchmarks/time_to_contain.py`` measures its baseline that way).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["DEFAULT_CONCURRENCY", "ENV", "Settled", "concurrency", "read_all", "settle", "start"]

ENV = "RESPONDER_READ_CONCURRENCY"
DEFAULT_CONCURRENCY = 12

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def concurrency(explicit: int | None = None) -> int:
    """How many reads one action may have in flight: the argument, else the environment, else 12."""
    if explicit is not None:
        return max(1, int(explicit))
    raw = os.environ.get(ENV, "").strip()
    try:
        return max(1, int(raw)) if raw else DEFAULT_CONCURRENCY
    except ValueError:
        return DEFAULT_CONCURRENCY


@dataclass(frozen=True)
class Settled(Generic[V]):
    """One read's result or its error (never both)."""

    value: V | None = None
    error: BaseException | None = None

    def get(self) -> V:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def settle(reads: Mapping[K, Callable[[], V]], *, workers: int | None = None) -> dict[K, Settled[V]]:
    """Run every read; return each one's value or error, keyed and ordered as declared."""
    names = list(reads)
    size = min(concurrency(workers), len(names))
    if size <= 1:
        return {name: _run(reads[name]) for name in names}
    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="responder-read") as pool:
        futures = {name: pool.submit(_run, reads[name]) for name in names}
        return {name: futures[name].result() for name in names}


def read_all(reads: Mapping[K, Callable[[], V]], *, workers: int | None = None) -> dict[K, V]:
    """Run every read; return the values keyed as declared, or raise the first error in declared order."""
    settled = settle(reads, workers=workers)
    return {name: result.get() for name, result in settled.items()}


class _Pending(Generic[V]):
    """A read already in flight; ``result()`` waits for it (and raises its error)."""

    def __init__(self, future: Future[Settled[V]] | None, done: Settled[V] | None) -> None:
        self._future, self._done = future, done

    def settled(self) -> Settled[V]:
        if self._done is None:
            assert self._future is not None
            self._done = self._future.result()
        return self._done

    def result(self) -> V:
        return self.settled().get()


def start(read: Callable[[], V], *, workers: int | None = None) -> _Pending[V]:
    """Start one read now and collect it later, so it overlaps whatever the caller does meanwhile.

    With concurrency 1 the read runs at once, in the calling thread (the sequential baseline).
    """
    if concurrency(workers) <= 1:
        return _Pending(None, _run(read))
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="responder-read")
    future = pool.submit(_run, read)
    pool.shutdown(wait=False)  # the worker finishes its one read and exits
    return _Pending(future, None)


def _run(read: Callable[[], Any]) -> Settled[Any]:
    try:
        return Settled(value=read())
    except BaseException as exc:  # handed back to the caller, raised in declared order
        return Settled(error=exc)
