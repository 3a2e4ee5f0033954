"""The run store's evidence-anchor block on both backends (a real SQLite file; DynamoDB on moto over HTTP).

A head only moves forward; the usual advance is one conditional write; the anchor lives in its own
partition, so it never shows among the runs; ``check`` answers for ``responder doctor``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from responder.evidence.anchor import StoreAnchors, next_anchor
from responder.evidence.base import GENESIS, entry_hash
from responder.state.base import RunStore
from responder.state.dynamodb import DynamoStore, create_table
from responder.state.sqlite import SqliteStore


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RunStore:
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "runs.sqlite3")
    request.getfixturevalue("moto_endpoint")
    table = f"responder-{uuid.uuid4().hex[:8]}"
    create_table(table)
    return DynamoStore(table)


def _chain(n: int) -> list[dict]:
    entries, prev = [], GENESIS
    for seq in range(1, n + 1):
        entry = {"seq": seq, "event": "collected", "artifact": f"a{seq}.json", "sha256": f"{seq:064d}", "prev": prev}
        entry["hash"] = prev = entry_hash(entry)
        entries.append(entry)
    return entries


def test_heads_only_move_forward(store: RunStore) -> None:
    anchors, anchor = StoreAnchors(store), None
    for entry in _chain(4):
        anchor = next_anchor("run-1", anchor, entry, None)
        assert anchors.write("run-1", anchor)
    assert store.get_anchor("run-1")["count"] == 4
    assert store.get_anchor("run-1")["artifacts"] == {f"a{n}.json": f"{n:064d}" for n in range(1, 5)}
    stale = next_anchor("run-1", None, _chain(3)[-1], None)
    assert not anchors.write("run-1", stale)  # a writer that read an older head loses, and is told
    assert store.get_anchor("run-1")["count"] == 4
    assert store.anchored_runs() == ["run-1"] and store.list_runs() == []
    assert store.get_anchor("run-2") is None


def test_check_reports_a_sound_store(store: RunStore) -> None:
    assert store.check() == []  # type: ignore[attr-defined]


def test_dynamodb_check_names_a_missing_table(moto_endpoint: str) -> None:
    problems = DynamoStore(f"missing-{uuid.uuid4().hex[:6]}").check()
    assert [p["kind"] for p in problems] == ["store_missing"]


def test_dynamodb_advance_is_one_request(moto_endpoint: str) -> None:
    table = f"responder-{uuid.uuid4().hex[:8]}"
    create_table(table)
    store = DynamoStore(table)
    chain = _chain(3)
    first = next_anchor("run-1", None, chain[0], None)
    store.advance_anchor("run-1", first)
    calls: list[bytes] = []
    store.client.meta.events.register(
        "before-send.dynamodb.*", lambda request, **_: calls.append(request.headers["X-Amz-Target"])
    )
    store.advance_anchor("run-1", next_anchor("run-1", first, chain[1], None))
    assert calls == [b"DynamoDB_20120810.PutItem"]
