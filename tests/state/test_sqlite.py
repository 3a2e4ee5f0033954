"""The run-store contract against the SQLite backend (a real file under tmp_path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from responder.state.sqlite import SqliteStore
from tests.state.contract import StoreContract


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    backend = SqliteStore(tmp_path / "runs.sqlite3")
    yield backend
    backend.close()


class TestSqliteStore(StoreContract):
    pass
