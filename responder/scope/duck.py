"""The local backend: DuckDB over files in the real layouts, through the columnar cache.

Before a question runs, the files its window needs are synced into the cache (new and changed files
only); the question then reads the cache. Every value reaches DuckDB as a bound parameter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .cache import CT_COLUMNS, FLOW_COLUMNS, LogCache, Progress, SyncStats, cache_path
from .questions import ATTRIBUTED, FLOW_WINDOW, MINTING, WINDOW
from .sources import LogFile, cloudtrail_files, flow_files, in_window
from .sql import Question, bind

_LISTING_TTL = 30.0
# questions about the subject's own records say exactly this; with a focus they read ct_subject instead
_SUBJECT_FROM = f"FROM ct WHERE {ATTRIBUTED} AND {WINDOW}"
_WINDOW_KEYS = ("since", "until", "since_day", "until_day")
_RESOLUTION = frozenset({"identities", "pivots", "created_users", "console_sessions", "issuance"})
_RESOLVE_COLUMNS = (
    "log_day, event_time, event_name, event_id, error_code, access_key_id, principal_arn, identity_type, "
    "issuer_arn, user_name, invoked_by, source_ip, recipient_account_id, request_parameters, "
    "response_elements"
)
_RESOLVE_TABLE = f"""CREATE OR REPLACE TEMP TABLE ct_resolve AS
SELECT {_RESOLVE_COLUMNS} FROM ct WHERE {WINDOW} AND event_name IN ({MINTING}, 'CreateUser')
UNION ALL
SELECT min(log_day), min(event_time), NULL, NULL, NULL, access_key_id, principal_arn, identity_type, issuer_arn,
       user_name, NULL, NULL, NULL, NULL, NULL
FROM ct WHERE {WINDOW}
GROUP BY access_key_id, principal_arn, identity_type, issuer_arn, user_name"""
# The subject's records, as one branch per identity column: an OR across the columns would make DuckDB decode
# every column of every row group (1.7 s at 10M records); each IN alone lets it fetch only the matching rows.
_FOCUS_TABLE = f"""CREATE OR REPLACE TEMP TABLE ct_subject AS
SELECT * FROM ct WHERE access_key_id IN ($keys) AND {WINDOW}
UNION ALL
SELECT * FROM ct WHERE principal_arn IN ($principals) AND NOT coalesce(access_key_id IN ($keys), false) AND {WINDOW}
UNION ALL
SELECT * FROM ct WHERE issuer_arn IN ($roles) AND NOT coalesce(access_key_id IN ($keys), false)
  AND NOT coalesce(principal_arn IN ($principals), false) AND {WINDOW}"""
_FLOW_FOCUS_TABLE = f"""CREATE OR REPLACE TEMP TABLE flow_subject AS
SELECT * FROM flow WHERE interface_id IN ($enis) AND {FLOW_WINDOW}
UNION ALL
SELECT * FROM flow WHERE srcaddr IN ($addrs) AND NOT coalesce(interface_id IN ($enis), false) AND {FLOW_WINDOW}
UNION ALL
SELECT * FROM flow WHERE dstaddr IN ($addrs) AND NOT coalesce(interface_id IN ($enis), false)
  AND NOT coalesce(srcaddr IN ($addrs), false) AND {FLOW_WINDOW}"""
_FOCUS_KEYS = ("keys", "principals", "roles", "since", "until", "since_day", "until_day")


class LocalBackend:
    """``cloudtrail`` / ``flow_logs``: folders (or single files) holding logs; either may be None."""

    name = "local"

    def __init__(
        self,
        *,
        cloudtrail: Path | None,
        flow_logs: Path | None,
        cache_dir: Path,
        progress: Progress | None = None,
        memory_limit: str = "1GB",
        threads: int = 2,
    ) -> None:
        import duckdb

        self.roots = {
            "cloudtrail": Path(cloudtrail).expanduser() if cloudtrail else None,
            "flow": Path(flow_logs).expanduser() if flow_logs else None,
        }
        for root in self.roots.values():
            if root is not None and not root.exists():
                from ..errors import BadInput

                raise BadInput(
                    f"no such file or folder: {root}", hint="pass the folder that holds AWSLogs/ (or a single log file)"
                )
        self.cache_dir = Path(cache_dir)
        self.progress = progress
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute("SET preserve_insertion_order = false")
        self.caches: dict[str, LogCache] = {}
        self.syncs: list[SyncStats] = []
        self._listing: dict[str, tuple[float, list[LogFile]]] = {}
        self._synced: dict[tuple[str, str, str], float] = {}
        self._views: dict[str, str] = {}
        self._focus: dict[str, Any] | None = None
        self._resolving: dict[str, Any] | None = None
        self._flow_focus: dict[str, Any] | None = None
        for kind, view, columns in (("cloudtrail", "ct", CT_COLUMNS), ("flow", "flow", FLOW_COLUMNS)):
            root = self.roots[kind]
            if root is None:
                cols = ", ".join(f"{c} {t}" for c, t in columns)
                self.con.execute(f"CREATE TEMP TABLE {view} ({cols})")
                continue
            self.caches[kind] = LogCache(self.con, cache_path(self.cache_dir, kind, root), kind)

    def _files(self, kind: str) -> list[LogFile]:
        now = time.monotonic()
        cached = self._listing.get(kind)
        if cached and now - cached[0] < _LISTING_TTL:
            return cached[1]
        root = self.roots[kind]
        assert root is not None
        files = cloudtrail_files(root) if kind == "cloudtrail" else flow_files(root)
        self._listing[kind] = (now, files)
        return files

    def ensure(self, kind: str, since_day: str, until_day: str) -> SyncStats | None:
        """Sync the files the window needs; a no-op (no file opened) when the cache already has them."""
        if kind not in self.caches:
            return None
        key = (kind, since_day, until_day)
        if key in self._synced and time.monotonic() - self._synced[key] < _LISTING_TTL:
            return None
        everything = self._files(kind)
        cache = self.caches[kind]
        stats = cache.sync(
            in_window(everything, since_day, until_day), progress=self.progress, drop_missing_under=everything
        )
        self.syncs.append(stats)
        if kind == "flow" and (stats.records_added or stats.files_changed or stats.files_dropped):
            self._flow_focus = None
        if kind == "cloudtrail" and (stats.records_added or stats.files_changed or stats.files_dropped):
            self._focus = None  # new records: the focused subset may be missing some
            self._resolving = None
        self._synced[key] = time.monotonic()
        self._views.pop(kind, None)
        return stats

    def _point(self, kind: str, since_day: str, until_day: str) -> None:
        """(Re)define ``ct`` / ``flow`` over the cache parts that overlap the window."""
        if kind not in self.caches:
            return
        relation = self.caches[kind].relation(since_day, until_day)
        if self._views.get(kind) != relation:
            view = "ct" if kind == "cloudtrail" else "flow"
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {relation}")
            self._views[kind] = relation

    def prepare(self, table: str, values: dict[str, Any]) -> None:
        kind = "cloudtrail" if table == "ct" else "flow"
        self.ensure(kind, values["since_day"], values["until_day"])
        self._point(kind, values["since_day"], values["until_day"])

    def refresh(self) -> None:
        """Forget listings so the next question looks for new files at once."""
        self._listing.clear()
        self._synced.clear()
        self._views.clear()
        self._focus = None
        self._flow_focus = None

    def focus(self, values: dict[str, Any]) -> None:
        """Keep the subject's records (a few thousand among millions) in a temp table for the questions that
        ask only about them: the full report then scans the cache once, not once per question."""
        self.prepare("ct", values)
        sql, params = bind(_FOCUS_TABLE, values)
        self.con.execute(sql, params)
        self._focus = {k: values[k] for k in _FOCUS_KEYS}

    @contextmanager
    def resolving(self, values: dict[str, Any]) -> Iterator[None]:
        """While pivots are resolved (a dozen questions, round after round, about *who*), answer them from a
        small table: every credential-minting record of the window plus one row per distinct identity. The
        rounds then cost milliseconds instead of a scan of the cache each; counts there are not meaningful,
        only who and when first, which is all resolution reads."""
        self.prepare("ct", values)
        sql, params = bind(_RESOLVE_TABLE, values)
        self.con.execute(sql, params)
        self._resolving = {k: values[k] for k in _WINDOW_KEYS}
        try:
            yield
        finally:
            self._resolving = None
            self.con.execute("DROP TABLE IF EXISTS ct_resolve")

    def focus_flows(self, values: dict[str, Any]) -> None:
        """The affected interfaces' and addresses' flow records in a temp table, for the same reason as
        :meth:`focus`: the egress, rejected and unusual-port questions then read a few rows, not the cache."""
        self.prepare("flow", values)
        addrs = sorted({*values["local_ips"], *values["actor_ips"]})
        sql, params = bind(_FLOW_FOCUS_TABLE, {**values, "addrs": addrs})
        self.con.execute(sql, params)
        self._flow_focus = {k: values[k] for k in (*_WINDOW_KEYS, "enis", "local_ips", "actor_ips")}

    def _focused(self, question: Question, values: dict[str, Any]) -> str:
        text = question.sql
        if (
            self._flow_focus is not None
            and question.table == "flow"
            and all(values.get(k) == v for k, v in self._flow_focus.items())
        ):
            return text.replace("FROM flow WHERE", "FROM flow_subject WHERE")
        if (
            self._resolving is not None
            and question.name in _RESOLUTION
            and all(values.get(k) == v for k, v in self._resolving.items())
        ):
            return text.replace("FROM ct WHERE", "FROM ct_resolve WHERE")
        if (
            self._focus is not None
            and question.table == "ct"
            and _SUBJECT_FROM in text
            and all(values.get(k) == v for k, v in self._focus.items())
        ):
            return text.replace(_SUBJECT_FROM, _SUBJECT_FROM.replace("FROM ct ", "FROM ct_subject ", 1))
        return text

    def run(self, question: Question, values: dict[str, Any]) -> list[dict[str, Any]]:
        self.prepare(question.table, values)
        sql, params = bind(self._focused(question, values), values)
        cursor = self.con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def frame(self, question: Question, values: dict[str, Any]) -> Any:
        self.prepare(question.table, values)
        sql, params = bind(self._focused(question, values), values)
        return self.con.execute(sql, params).df()

    def sql(self, text: str, params: list[Any] | None = None) -> Any:
        """Free SQL over ``ct`` and ``flow`` for notebooks (the cache must already hold the window)."""
        return self.con.execute(text, params or []).df()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
