"""The columnar cache: raw log files ingested once into Parquet under ``$RESPONDER_HOME/cache/scope``.

Reading gzipped JSON is what makes a cold question slow; reading a column store is what makes the next
forty questions interactive. So the first question ingests the files its window needs, and every later
question reads the cache. The manifest remembers each ingested file's size and mtime: a file seen
before is not read again, a changed file has its rows replaced, a vanished file has its rows dropped.

One cache folder per log root (CloudTrail or flow logs), named by a hash of the root's path. Parquet
rather than a DuckDB database: it writes about twice as fast, and any number of readers (a CLI, a
notebook) can read it while one writer adds parts.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sources import LogFile

Progress = Callable[[str, int, int], None]  # (what, files done, files total)

_CT_STRUCT = (
    "STRUCT(eventVersion VARCHAR, eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, "
    "eventType VARCHAR, awsRegion VARCHAR, sourceIPAddress VARCHAR, userAgent VARCHAR, "
    "errorCode VARCHAR, errorMessage VARCHAR, requestID VARCHAR, eventID VARCHAR, readOnly VARCHAR, "
    "recipientAccountId VARCHAR, vpcEndpointId VARCHAR, sessionCredentialFromConsole VARCHAR, "
    "userIdentity JSON, requestParameters JSON, responseElements JSON, additionalEventData JSON, "
    "resources JSON)"
)
_IDENTITY_PATHS = (
    "$.type",
    "$.principalId",
    "$.arn",
    "$.accountId",
    "$.accessKeyId",
    "$.userName",
    "$.invokedBy",
    "$.sessionContext.sessionIssuer.arn",
    "$.sessionContext.sessionIssuer.userName",
    "$.sessionContext.sessionIssuer.type",
)
_TIME_FORMATS = "['%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S.%fZ', '%Y-%m-%d %H:%M:%S']"

CT_COLUMNS = (
    ("file_id", "INTEGER"),
    ("log_day", "VARCHAR"),
    ("event_time", "TIMESTAMP"),
    ("event_version", "VARCHAR"),
    ("event_id", "VARCHAR"),
    ("request_id", "VARCHAR"),
    ("event_source", "VARCHAR"),
    ("event_name", "VARCHAR"),
    ("event_type", "VARCHAR"),
    ("aws_region", "VARCHAR"),
    ("source_ip", "VARCHAR"),
    ("user_agent", "VARCHAR"),
    ("error_code", "VARCHAR"),
    ("error_message", "VARCHAR"),
    ("read_only", "VARCHAR"),
    ("recipient_account_id", "VARCHAR"),
    ("vpc_endpoint_id", "VARCHAR"),
    ("console", "VARCHAR"),
    ("identity_type", "VARCHAR"),
    ("principal_id", "VARCHAR"),
    ("principal_arn", "VARCHAR"),
    ("account_id", "VARCHAR"),
    ("access_key_id", "VARCHAR"),
    ("user_name", "VARCHAR"),
    ("invoked_by", "VARCHAR"),
    ("issuer_arn", "VARCHAR"),
    ("issuer_name", "VARCHAR"),
    ("issuer_type", "VARCHAR"),
    ("request_parameters", "VARCHAR"),
    ("response_elements", "VARCHAR"),
    ("additional_event_data", "VARCHAR"),
    ("resources", "VARCHAR"),
)
FLOW_COLUMNS = (
    ("file_id", "INTEGER"),
    ("log_day", "VARCHAR"),
    ("version", "INTEGER"),
    ("account_id", "VARCHAR"),
    ("interface_id", "VARCHAR"),
    ("srcaddr", "VARCHAR"),
    ("dstaddr", "VARCHAR"),
    ("srcport", "INTEGER"),
    ("dstport", "INTEGER"),
    ("protocol", "INTEGER"),
    ("packets", "BIGINT"),
    ("bytes", "BIGINT"),
    ("start_time", "TIMESTAMP"),
    ("end_time", "TIMESTAMP"),
    ("action", "VARCHAR"),
    ("log_status", "VARCHAR"),
    ("vpc_id", "VARCHAR"),
    ("subnet_id", "VARCHAR"),
    ("instance_id", "VARCHAR"),
    ("tcp_flags", "INTEGER"),
    ("pkt_srcaddr", "VARCHAR"),
    ("pkt_dstaddr", "VARCHAR"),
    ("region", "VARCHAR"),
    ("flow_direction", "VARCHAR"),
    ("traffic_path", "VARCHAR"),
)
# v2 default format, used when a text file has no header line
DEFAULT_FLOW_FIELDS = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
]
_FLOW_NUMERIC = {"version", "srcport", "dstport", "protocol", "packets", "bytes", "tcp_flags"}
_BATCH_BYTES = 64 * 1024 * 1024
_FORMAT = "responder-scope-cache/1"


def cache_path(cache_dir: Path, kind: str, root: Path | str) -> Path:
    digest = hashlib.sha256(str(Path(root).expanduser().resolve()).encode()).hexdigest()[:16]
    return Path(cache_dir) / "scope" / f"{kind}-{digest}"


def _uncompressed_size(f: LogFile) -> int:
    """gzip's trailer holds the input size mod 2**32: enough to size DuckDB's object buffer per batch."""
    if not f.path.endswith(".gz") or f.size < 18:
        return f.size
    with open(f.path, "rb") as handle:
        handle.seek(-4, os.SEEK_END)
        size = struct.unpack("<I", handle.read(4))[0]
    return max(size, f.size)


def _flow_header(f: LogFile) -> tuple[tuple[str, ...], bool]:
    """The file's field list and whether its first line is a header (custom formats always have one)."""
    opener = gzip.open if f.path.endswith(".gz") else open
    with opener(f.path, "rt", encoding="utf-8", errors="replace") as handle:  # type: ignore[operator]
        first = handle.readline().split()
    if first and not first[0].isdigit() and first[0] != "-":
        return tuple(first), True
    return tuple(DEFAULT_FLOW_FIELDS), False


@dataclass
class SyncStats:
    """What one sync did: the test for 'a cache hit reads no raw file again' reads ``files_read``."""

    files_seen: int = 0
    kind: str = ""
    files_read: int = 0
    files_changed: int = 0
    files_dropped: int = 0
    records_added: int = 0
    read_paths: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path → why DuckDB could not read it


class LogCache:
    """One log root's records as Parquet parts under ``folder``, with a JSON manifest.

    Each part holds one ingest batch of source files, written in path order (the layouts put the date
    in the path), so a part covers about one day; the manifest records each part's day range and the
    questions read only the parts that overlap their window. A file lock serialises writers.
    """

    def __init__(self, con: Any, folder: Path, kind: str) -> None:
        self.con, self.folder, self.kind = con, Path(folder), kind
        self.folder.mkdir(parents=True, exist_ok=True)
        self.columns = CT_COLUMNS if kind == "cloudtrail" else FLOW_COLUMNS
        self.manifest = self._load()

    # -- manifest ---------------------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        path = self.folder / "manifest.json"
        if path.exists():
            try:
                data = json.loads(path.read_text())
                if data.get("format") == _FORMAT:
                    return data
            except (OSError, ValueError):
                pass  # an unreadable manifest: start again, the raw files are still there
            for part in self.folder.glob("part-*.parquet"):
                part.unlink()
        return {"format": _FORMAT, "next_id": 1, "files": {}, "parts": {}}

    def _save(self) -> None:
        path = self.folder / "manifest.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.manifest, sort_keys=True))
        os.replace(tmp, path)

    def parts(self, since_day: str, until_day: str) -> list[str]:
        """Parts whose rows may fall in the window (undated rows sort as '' and are always included)."""
        out = []
        for name, meta in sorted(self.manifest["parts"].items()):
            if not meta["rows"]:
                continue
            lo, hi = meta["min_day"] or "", meta["max_day"] or "9999"
            if meta["min_day"] is None or (lo <= until_day and hi >= since_day):
                out.append(str(self.folder / name))
        return out

    def relation(self, since_day: str, until_day: str) -> str:
        """SQL for the window's rows: a read_parquet over our own part files (paths, never data)."""
        parts = self.parts(since_day, until_day)
        if not parts:
            cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in self.columns)
            return f"(SELECT {cols} WHERE false)"
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in parts)
        return f"read_parquet([{listed}])"

    # -- sync -------------------------------------------------------------------------------------------
    def sync(
        self, files: list[LogFile], *, progress: Progress | None = None, drop_missing_under: list[LogFile] | None = None
    ) -> SyncStats:
        """Ingest new and changed files among ``files``; drop rows of files gone from ``drop_missing_under``."""
        with _locked(self.folder / ".lock"):
            self.manifest = self._load()
            return self._sync(files, progress, drop_missing_under)

    def _sync(
        self, files: list[LogFile], progress: Progress | None, drop_missing_under: list[LogFile] | None
    ) -> SyncStats:
        stats = SyncStats(files_seen=len(files), kind=self.kind)
        known: dict[str, dict[str, Any]] = self.manifest["files"]
        todo: list[LogFile] = []
        stale: dict[str | None, list[int]] = {}
        for f in files:
            seen = known.get(f.path)
            if seen is None:
                todo.append(f)
            elif (seen["size"], seen["mtime_ns"]) != (f.size, f.mtime_ns):
                todo.append(f)
                stale.setdefault(seen["part"], []).append(seen["file_id"])
                stats.files_changed += 1
        if drop_missing_under is not None:
            present = {f.path for f in drop_missing_under}
            for path in [p for p in known if p not in present]:
                meta = known.pop(path)
                stale.setdefault(meta["part"], []).append(meta["file_id"])
                stats.files_dropped += 1
        for part, ids in stale.items():
            if part is not None:
                self._rewrite_without(part, ids)
        if stale:
            self._save()
        if not todo:
            return stats
        done = 0
        if progress:
            progress(self.kind, 0, len(todo))
        for batch in _batches(todo):
            first = int(self.manifest["next_id"])
            ids = list(range(first, first + len(batch)))
            self.manifest["next_id"] = first + len(batch)
            name = f"part-{first:09d}.parquet"
            self.con.execute("CREATE OR REPLACE TEMP TABLE _batch (path VARCHAR, file_id INTEGER, log_day VARCHAR)")
            self.con.executemany(
                "INSERT INTO _batch VALUES (?, ?, ?)",
                [[f.path, fid, f.log_day] for f, fid in zip(batch, ids, strict=True)],
            )
            target = self.folder / name
            rows, failed = self._write_batch(batch, target)
            if target.exists():
                self._note_part(name, rows)
            for f, fid in zip(batch, ids, strict=True):
                part = None if f.path in failed else name
                known[f.path] = {"size": f.size, "mtime_ns": f.mtime_ns, "file_id": fid, "part": part}
            stats.failed.update(failed)
            self._save()
            stats.records_added += rows
            stats.files_read += len(batch)
            stats.read_paths.extend(f.path for f in batch)
            done += len(batch)
            if progress:
                progress(self.kind, done, len(todo))
        return stats

    def _attempt(self, batch: list[LogFile], target: Path) -> int:
        if self.kind != "cloudtrail":
            return self._copy(self._flow_select(batch), target)
        try:  # compact one-line files (what CloudTrail writes) read fast as newline-delimited
            return self._copy(self._cloudtrail_select(batch, "newline_delimited"), target)
        except Exception:  # a pretty-printed file: DuckDB's slower unstructured reader
            return self._copy(self._cloudtrail_select(batch, "unstructured"), target)

    def _write_batch(self, batch: list[LogFile], target: Path) -> tuple[int, dict[str, str]]:
        """Write one part; a file DuckDB cannot read (not JSON, truncated gzip) is set aside, named in the
        stats, and not retried until it changes, so one bad file never hides the rest."""
        try:
            return self._attempt(batch, target), {}
        except Exception as exc:
            if len(batch) == 1:
                return 0, {batch[0].path: str(exc).splitlines()[0][:300]}
        good: list[LogFile] = []
        failed: dict[str, str] = {}
        probe = target.with_suffix(".probe")
        for f in batch:
            try:
                self._attempt([f], probe)
                good.append(f)
            except Exception as exc:
                failed[f.path] = str(exc).splitlines()[0][:300]
        probe.unlink(missing_ok=True)
        return (self._attempt(good, target) if good else 0), failed

    def _copy(self, select: tuple[str, list[Any]], target: Path) -> int:
        sql, params = select
        tmp = target.with_suffix(".tmp")
        out = "'" + str(tmp).replace("'", "''") + "'"
        self.con.execute(f"COPY ({sql}) TO {out} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)", params)
        os.replace(tmp, target)
        row = self.con.execute(
            "SELECT count(*), min(log_day), max(log_day) FROM read_parquet(?)", [str(target)]
        ).fetchone()
        self._pending = (row[1], row[2])
        return int(row[0])

    def _note_part(self, name: str, rows: int) -> None:
        lo, hi = self._pending
        self.manifest["parts"][name] = {"rows": rows, "min_day": lo, "max_day": hi}

    def _rewrite_without(self, name: str, file_ids: list[int]) -> None:
        """A changed or vanished source file: its part is rewritten without that file's rows."""
        target = self.folder / name
        if name not in self.manifest["parts"] or not target.exists():
            self.manifest["parts"].pop(name, None)
            return
        sql = "SELECT * FROM read_parquet(?) WHERE file_id NOT IN (SELECT unnest(?::INTEGER[]))"
        rows = self._copy((sql, [str(target), file_ids]), target)
        self._note_part(name, rows)

    # -- CloudTrail -------------------------------------------------------------------------------------
    def _cloudtrail_select(self, batch: list[LogFile], fmt: str) -> tuple[str, list[Any]]:
        return _named(self._cloudtrail_sql(fmt, batch), CT_COLUMNS), [[f.path for f in batch]]

    @staticmethod
    def _max_object(batch: list[LogFile]) -> int:
        return int(max(16 * 1024 * 1024, max(_uncompressed_size(f) for f in batch) + 1024 * 1024))

    def _cloudtrail_sql(self, fmt: str, batch: list[LogFile]) -> str:
        max_object = self._max_object(batch)
        u = ", ".join(f"'{p}'" for p in _IDENTITY_PATHS)
        return f"""
        SELECT b.file_id, coalesce(b.log_day, strftime(x.t, '%Y/%m/%d')), x.t, r.eventVersion, r.eventID,
               r.requestID, r.eventSource, r.eventName, r.eventType, r.awsRegion, r.sourceIPAddress, r.userAgent,
               r.errorCode, r.errorMessage, r.readOnly, r.recipientAccountId, r.vpcEndpointId,
               r.sessionCredentialFromConsole, u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
               CAST(r.requestParameters AS VARCHAR), CAST(r.responseElements AS VARCHAR),
               CAST(r.additionalEventData AS VARCHAR), CAST(r.resources AS VARCHAR)
        FROM (SELECT filename, r, try_strptime(r.eventTime, {_TIME_FORMATS}) AS t,
                     json_extract_string(r.userIdentity, [{u}]) AS u
              FROM (SELECT filename, unnest(Records, recursive := false) AS r
                    FROM read_json(?, columns = {{'Records': '{_CT_STRUCT}[]'}}, format = '{fmt}', records = true,
                                   filename = true, maximum_object_size = {int(max_object)}))) x
        JOIN _batch b ON b.path = x.filename
        WHERE r.eventType IS DISTINCT FROM 'AwsCloudTrailInsight'"""

    # -- VPC Flow Logs ----------------------------------------------------------------------------------
    def _flow_select(self, batch: list[LogFile]) -> tuple[str, list[Any]]:
        selects: list[str] = []
        params: list[Any] = []
        parquet = [f for f in batch if f.path.endswith(".parquet")]
        text = [f for f in batch if not f.path.endswith(".parquet")]
        groups: dict[tuple[tuple[str, ...], bool], list[LogFile]] = {}
        for f in text:
            groups.setdefault(_flow_header(f), []).append(f)
        for (fields, has_header), files in groups.items():
            parts = {name.replace("-", "_"): f"NULLIF(p[{i + 1}], '-')" for i, name in enumerate(fields)}
            source = (
                f"(SELECT filename, string_split_regex(trim(line), '\\s+') AS p FROM read_csv(?, "
                f"columns = {{'line': 'VARCHAR'}}, delim = chr(1), header = {str(has_header).lower()}, "
                "quote = '', escape = '', filename = true, auto_detect = false) WHERE trim(line) <> '')"
            )
            selects.append(self._flow_sql(source, parts))
            params.append([f.path for f in files])
        if parquet:
            paths = [f.path for f in parquet]
            cols = [
                row[0]
                for row in self.con.execute(
                    "DESCRIBE SELECT * FROM read_parquet(?, union_by_name = true)", [paths]
                ).fetchall()
            ]
            parts = {c.replace("-", "_"): f'"{c}"' for c in cols}
            source = "(SELECT * FROM read_parquet(?, union_by_name = true, filename = true))"
            selects.append(self._flow_sql(source, parts, cast_text=True))
            params.append(paths)
        return _named(" UNION ALL ".join(selects), FLOW_COLUMNS), params

    def _flow_sql(self, source: str, parts: dict[str, str], cast_text: bool = False) -> str:
        def col(name: str, kind: str) -> str:
            expr = parts.get(name)
            if expr is None:
                return f"CAST(NULL AS {kind})"
            if cast_text:
                expr = f"NULLIF(CAST({expr} AS VARCHAR), '-')"
            return f"TRY_CAST({expr} AS {kind})" if kind != "VARCHAR" else expr

        start = col("start", "BIGINT")
        end = col("end", "BIGINT")
        select = []
        for name, kind in FLOW_COLUMNS:
            if name == "file_id":
                select.append("b.file_id")
            elif name == "log_day":
                select.append(f"coalesce(b.log_day, strftime(make_timestamp({start} * 1000000), '%Y/%m/%d'))")
            elif name == "start_time":
                select.append(f"make_timestamp({start} * 1000000)")
            elif name == "end_time":
                select.append(f"make_timestamp({end} * 1000000)")
            else:
                select.append(
                    col(name, "BIGINT" if kind == "BIGINT" else "INTEGER" if name in _FLOW_NUMERIC else "VARCHAR")
                )
        return f"SELECT {', '.join(select)} FROM {source} s JOIN _batch b ON b.path = s.filename"


def _batches(files: list[LogFile]) -> list[list[LogFile]]:
    """Batches of about 64 MiB compressed: progress moves, memory stays bounded."""
    out: list[list[LogFile]] = [[]]
    size = 0
    for f in files:
        if out[-1] and (size + f.size > _BATCH_BYTES or len(out[-1]) >= 256):
            out.append([])
            size = 0
        out[-1].append(f)
        size += f.size
    return [b for b in out if b]


def _named(sql: str, columns: tuple[tuple[str, str], ...]) -> str:
    names = ", ".join(c for c, _ in columns)
    return f"SELECT * FROM ({sql}) AS named({names})"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer per cache: a second process waits here rather than interleaving parts."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
