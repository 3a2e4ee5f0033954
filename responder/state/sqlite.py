"""SQLite run store: the embedded default (one file under ``$RESPONDER_HOME``).

WAL mode and ``BEGIN IMMEDIATE`` make the version check and the write one atomic step across
processes, so two ``responder`` processes racing on one finding behave like two Lambdas racing on
DynamoDB's conditional write. A busy timeout (30 s) plus a short bounded retry of the rare "locked"
answers SQLite gives without waiting keep ``database is locked`` from ever reaching a person.

A damaged store is named, never papered over: a file that is a directory, empty (truncated), not a
database, malformed, missing responder's table (dropped), read-only, full, or removed or replaced while
in use raises :class:`~responder.errors.StoreDamaged` (exit 2) saying which file and what to do next.
Responder marks the files it creates (``PRAGMA user_version``), so a dropped table is told apart from a
new store instead of being silently re-created empty — that would start new runs for findings whose
runs the store lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import StoreDamaged
from .base import RunStore

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS items_by_sk ON items (sk, pk)",
)
USER_VERSION = 1  # set on every store responder creates: a marked file without ``items`` lost its table
BUSY_TIMEOUT_S = 30
_LOCKED_RETRIES = 6


class SqliteStore(RunStore):
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.where = f"sqlite:///{self.path}"
        self._local = threading.local()
        self._identity: tuple[int, int] | None = None
        self._open()

    # ------------------------------------------------------------------ opening and guarding
    def _damaged(self, what: str, hint: str) -> StoreDamaged:
        return StoreDamaged(f"run store {self.path}: {what}", hint=hint)

    def _open(self) -> None:
        with self._guard():
            self._open_checked()
        self._identity = self._stat()

    def _open_checked(self) -> None:
        if self.path.is_dir():
            raise self._damaged(
                "is a directory, not a SQLite file",
                "point RESPONDER_STORE at a file (sqlite:///PATH/runs.sqlite3), or move the directory away",
            )
        if self.path.exists() and self.path.stat().st_size == 0:
            raise self._damaged(
                "is empty (0 bytes): it was truncated, and every run it held is gone from it",
                "restore it from a backup; to start afresh on purpose, remove the file — "
                "`responder doctor` lists the runs the evidence locker holds that the store no longer does",
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            self._create_file()
        conn = self._conn()
        conn.execute("BEGIN")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute("COMMIT")
        if "items" not in tables:
            self._create(conn, tables, version)
        elif version < USER_VERSION and self._writable():
            conn.execute(f"PRAGMA user_version={USER_VERSION}")  # a store from before the mark

    def _create_file(self) -> None:
        """A new store appears whole: built beside the path, then linked in (a no-op if another process won).

        SQLite would otherwise create an empty file first, which another process opening at that moment
        could not tell from a store truncated to zero."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.new")
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={USER_VERSION}")
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
        finally:
            conn.close()
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)

    def _create(self, conn: sqlite3.Connection, tables: set[str], version: int) -> None:
        if version >= USER_VERSION:
            raise self._damaged(
                "responder's table `items` is missing from a store responder created: it was dropped, "
                "and every run it held is gone from it",
                "restore the file from a backup; `responder doctor` lists the runs the evidence locker still holds",
            )
        if tables:
            raise self._damaged(
                f"is a SQLite database of something else (tables: {', '.join(sorted(tables)[:5])})",
                "point RESPONDER_STORE at responder's own store file",
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "items" not in tables:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={USER_VERSION}")
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _writable(self) -> bool:
        return os.access(self.path, os.W_OK)

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def _still_there(self) -> None:
        """The file responder opened is still the one at the path (not removed or replaced mid-run)."""
        if self._identity is None:
            return
        now = self._stat()
        if now != self._identity:
            what = "was removed" if now is None else "was replaced by another file"
            raise self._damaged(
                f"{what} while responder was using it: what was written since is not in the store at that path",
                "restore the file; `responder doctor` compares the store with the evidence locker, and "
                "`responder evidence verify RUN_ID` checks a run's evidence",
            )

    @contextlib.contextmanager
    def _guard(self, item: tuple[str, str] | None = None) -> Iterator[None]:
        """Turn SQLite's and JSON's failures into StoreDamaged naming the file and the next step."""
        try:
            yield
        except StoreDamaged:
            raise
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            where = f" item {item[0]} / {item[1]}" if item else " an item"
            raise self._damaged(
                f"{where.strip()} is damaged ({type(exc).__name__}: {str(exc)[:80]})",
                "restore the file from a backup; `responder doctor` lists every damaged item",
            ) from None
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        except OSError as exc:
            raise self._damaged(
                f"cannot be reached ({exc.strerror or exc})",
                "check the permissions of the file and its folders for the user responder runs as",
            ) from None

    def _translate(self, exc: sqlite3.Error) -> StoreDamaged:
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return self._damaged(
                f"stayed locked by another process for more than {BUSY_TIMEOUT_S} s",
                "another responder process is holding it; retry shortly, or find the holder (`fuser FILE`)",
            )
        if "readonly" in text or "read-only" in text:
            return self._damaged(
                "is read-only",
                "give responder write access to the file and its folder (SQLite writes FILE-wal and FILE-shm "
                "beside it), or point RESPONDER_STORE at a writable path",
            )
        if "full" in text or "too big" in text or "disk i/o" in text:
            return self._damaged(
                f"cannot grow ({exc}): the disk is full or a size limit was reached",
                "free space or raise the limit (ulimit -f, quota), then run `responder resume RUN_ID`",
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return self._damaged(
                f"is not a readable SQLite database ({exc}): the file is truncated or corrupt",
                "restore it from a backup; `responder doctor` compares what is left with the evidence locker",
            )
        if "no such table" in text:
            return self._damaged(
                "responder's table `items` was dropped while in use",
                "restore the file from a backup; `responder doctor` lists the runs the evidence locker still holds",
            )
        if "unable to open" in text:
            return self._damaged(
                "cannot be opened (a missing folder, a directory, or no permission)",
                "check RESPONDER_STORE and the file's permissions",
            )
        return self._damaged(f"failed: {exc}", "run `responder doctor` for a full check")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"):
                with contextlib.suppress(sqlite3.OperationalError):  # read-only: the first write names it
                    self._retry_locked(lambda p=pragma: conn.execute(p).fetchall())
            self._local.conn = conn
        return conn

    @staticmethod
    def _retry_locked(fn: Any) -> Any:
        """SQLite answers "locked" at once in a few cases its busy handler does not cover (changing the
        journal mode, a WAL being recovered): retry those briefly rather than show them to a person."""
        for attempt in range(_LOCKED_RETRIES):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or attempt == _LOCKED_RETRIES - 1:
                    raise
                time.sleep(0.02 * 2**attempt * (1 + random.random()))
        return None

    def _run(self, item: tuple[str, str] | None, fn: Any) -> Any:
        with self._guard(item):
            self._still_there()
            return self._retry_locked(fn)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ primitives
    @staticmethod
    def _decode(raw: str) -> dict[str, Any]:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, found {type(data).__name__}")
        return data

    def _insert_if_absent(self, pk: str, sk: str, item: dict[str, Any]) -> dict[str, Any] | None:
        def attempt() -> dict[str, Any] | None:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT data FROM items WHERE pk=? AND sk=?", (pk, sk)).fetchone()
                if row is not None:
                    conn.execute("COMMIT")
                    return self._decode(row[0])
                conn.execute(
                    "INSERT INTO items (pk, sk, version, data) VALUES (?,?,?,?)",
                    (pk, sk, int(item.get("version", 0)), json.dumps(item, default=str)),
                )
                conn.execute("COMMIT")
                return None
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

        return self._run((pk, sk), attempt)

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        def attempt() -> dict[str, Any] | None:
            row = self._conn().execute("SELECT data FROM items WHERE pk=? AND sk=?", (pk, sk)).fetchone()
            return self._decode(row[0]) if row else None

        return self._run((pk, sk), attempt)

    def _replace_if_version(self, pk: str, sk: str, item: dict[str, Any], version: int) -> bool:
        def attempt() -> bool:
            cur = self._conn().execute(
                "UPDATE items SET data=?, version=? WHERE pk=? AND sk=? AND version=?",
                (json.dumps(item, default=str), version + 1, pk, sk, version),
            )
            return cur.rowcount == 1

        return bool(self._run((pk, sk), attempt))

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        def attempt() -> list[dict[str, Any]]:
            out = []
            for pk, sk, raw in self._conn().execute(sql, params).fetchall():
                try:
                    out.append(self._decode(raw))
                except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
                    raise self._damaged(
                        f"item {pk} / {sk} is damaged ({type(exc).__name__})",
                        "restore the file from a backup; `responder doctor` lists every damaged item",
                    ) from None
            return out

        return self._run(None, attempt)

    def _query(self, pk: str, sk_prefix: str = "") -> list[dict[str, Any]]:
        return self._rows(
            "SELECT pk, sk, data FROM items WHERE pk=? AND substr(sk, 1, ?)=? ORDER BY sk",
            (pk, len(sk_prefix), sk_prefix),
        )

    def _scan(self, pk_prefix: str, sk: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT pk, sk, data FROM items WHERE sk=? AND substr(pk, 1, ?)=? ORDER BY pk",
            (sk, len(pk_prefix), pk_prefix),
        )

    # ------------------------------------------------------------------ health (``responder doctor``)
    def check(self) -> list[dict[str, str]]:
        """Every problem a full read finds: SQLite's integrity check, then each item's JSON."""
        problems: list[dict[str, str]] = []
        try:
            with self._guard():
                self._still_there()
                result = [r[0] for r in self._conn().execute("PRAGMA integrity_check").fetchall()]
                if result != ["ok"]:
                    problems.append(
                        {"kind": "store_corrupt", "subject": str(self.path), "detail": "; ".join(result[:5])}
                    )
                for pk, sk, raw in self._conn().execute("SELECT pk, sk, data FROM items"):
                    try:
                        self._decode(raw)
                    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
                        problems.append(
                            {"kind": "item_damaged", "subject": f"{pk} / {sk}", "detail": type(exc).__name__}
                        )
        except StoreDamaged as exc:
            problems.append({"kind": "store_damaged", "subject": str(self.path), "detail": exc.message})
        return problems
