"""SQLite run store: the embedded default (one file under ``$RESPONDER_HOME``).

WAL mode and ``BEGIN IMMEDIATE`` make the version check and the write one atomic step across
processes, so two ``responder`` processes racing on one finding behave like two Lambdas racing on
DynamoDB's conditional write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from .base import RunStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_sk ON items (sk, pk);
"""


class SqliteStore(RunStore):
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _insert_if_absent(self, pk: str, sk: str, item: dict[str, Any]) -> dict[str, Any] | None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT data FROM items WHERE pk=? AND sk=?", (pk, sk)).fetchone()
            if row is not None:
                conn.execute("COMMIT")
                return json.loads(row[0])
            conn.execute(
                "INSERT INTO items (pk, sk, version, data) VALUES (?,?,?,?)",
                (pk, sk, int(item.get("version", 0)), json.dumps(item, default=str)),
            )
            conn.execute("COMMIT")
            return None
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT data FROM items WHERE pk=? AND sk=?", (pk, sk)).fetchone()
        return json.loads(row[0]) if row else None

    def _replace_if_version(self, pk: str, sk: str, item: dict[str, Any], version: int) -> bool:
        cur = self._conn().execute(
            "UPDATE items SET data=?, version=? WHERE pk=? AND sk=? AND version=?",
            (json.dumps(item, default=str), version + 1, pk, sk, version),
        )
        return cur.rowcount == 1

    def _query(self, pk: str, sk_prefix: str = "") -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT data FROM items WHERE pk=? AND substr(sk, 1, ?)=? ORDER BY sk",
                (pk, len(sk_prefix), sk_prefix),
            )
            .fetchall()
        )
        return [json.loads(r[0]) for r in rows]

    def _scan(self, pk_prefix: str, sk: str) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT data FROM items WHERE sk=? AND substr(pk, 1, ?)=? ORDER BY pk",
                (sk, len(pk_prefix), pk_prefix),
            )
            .fetchall()
        )
        return [json.loads(r[0]) for r in rows]
