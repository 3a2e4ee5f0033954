"""The Athena backend: the same questions over the standard CloudTrail and Flow Logs tables.

Each question is the DuckDB text transpiled once to Trino (sqlglot), prefixed by a CTE that maps the
standard table's columns to the normalised names. Values go to Athena as ``ExecutionParameters``
(pyathena's ``qmark`` style): Athena binds them as in ``EXECUTE … USING``, never splicing them into the
text. A watcher stops any query that scans more than ``bytes_cutoff``.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ActionFailed, BadInput
from .ddl import ident
from .sql import Question, athena_literal, bind, to_trino

DEFAULT_CUTOFF = 10 * 1024**3  # 10 GiB: about $0.05 per question at $5/TB

CT_MAP = """SELECT "timestamp" AS log_day,
  CAST(from_iso8601_timestamp(eventtime) AS timestamp) AS event_time, eventversion AS event_version,
  eventid AS event_id, requestid AS request_id, eventsource AS event_source, eventname AS event_name,
  eventtype AS event_type, awsregion AS aws_region, sourceipaddress AS source_ip, useragent AS user_agent,
  errorcode AS error_code, errormessage AS error_message, readonly AS read_only,
  recipientaccountid AS recipient_account_id, vpcendpointid AS vpc_endpoint_id,
  sessioncredentialfromconsole AS console, useridentity.type AS identity_type,
  useridentity.principalid AS principal_id, useridentity.arn AS principal_arn,
  useridentity.accountid AS account_id, useridentity.accesskeyid AS access_key_id,
  useridentity.username AS user_name, useridentity.invokedby AS invoked_by,
  useridentity.sessioncontext.sessionissuer.arn AS issuer_arn,
  useridentity.sessioncontext.sessionissuer.username AS issuer_name,
  useridentity.sessioncontext.sessionissuer.type AS issuer_type, requestparameters AS request_parameters,
  responseelements AS response_elements, additionaleventdata AS additional_event_data
FROM {table}"""

FLOW_MAP = """SELECT day AS log_day, version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport,
  CAST(protocol AS integer) AS protocol, packets, bytes,
  CAST(from_unixtime(start) AS timestamp) AS start_time, CAST(from_unixtime("end") AS timestamp) AS end_time,
  action, log_status
FROM {table}"""


class AthenaBackend:
    """``connection``: a pyathena connection (or anything with ``cursor()``)."""

    name = "athena"

    def __init__(
        self,
        connection: Any,
        *,
        database: str = "default",
        cloudtrail_table: str = "cloudtrail_logs",
        flow_table: str = "vpc_flow_logs",
        bytes_cutoff: int = DEFAULT_CUTOFF,
        poll: float = 1.0,
    ) -> None:
        self.connection = connection
        self.database = ident(database, "athena database")
        self.tables = {
            "ct": f'"{self.database}"."{ident(cloudtrail_table, "CloudTrail table")}"',
            "flow": f'"{self.database}"."{ident(flow_table, "Flow Logs table")}"',
        }
        self.bytes_cutoff = int(bytes_cutoff)
        self.poll = poll
        self.executed: list[tuple[str, list[str]]] = []

    @classmethod
    def from_config(cls, conf: dict[str, Any]) -> AthenaBackend:
        """From ``scope.athena`` in config: region, workgroup, output (s3 staging dir), database, tables."""
        import pyathena

        if not conf.get("output") and not conf.get("workgroup"):
            raise BadInput(
                "the Athena backend needs a query result location or a workgroup",
                hint="set scope.athena.output: s3://BUCKET/athena-results/ (or .workgroup) in config",
            )
        kwargs: dict[str, Any] = {"region_name": conf.get("region") or "us-east-1"}
        if conf.get("output"):
            kwargs["s3_staging_dir"] = conf["output"]
        if conf.get("workgroup"):
            kwargs["work_group"] = conf["workgroup"]
        if conf.get("endpoint_url"):
            kwargs["endpoint_url"] = conf["endpoint_url"]
        return cls(
            pyathena.connect(**kwargs),
            database=conf.get("database", "default"),
            cloudtrail_table=conf.get("cloudtrail_table", "cloudtrail_logs"),
            flow_table=conf.get("flow_table", "vpc_flow_logs"),
            bytes_cutoff=int(conf.get("bytes_cutoff", DEFAULT_CUTOFF)),
            poll=float(conf.get("poll", 1.0)),
        )

    def statement(self, question: Question, values: dict[str, Any]) -> tuple[str, list[str]]:
        """The Trino text and its ExecutionParameters (literal expressions, quotes doubled)."""
        sql, params = bind(question.sql, values)
        mapping = (CT_MAP if question.table == "ct" else FLOW_MAP).format(table=self.tables[question.table])
        return f"WITH {question.table} AS ({mapping})\n{to_trino(sql)}", [athena_literal(v) for v in params]

    def _watch(self, cursor: Any, query_id: str, done: threading.Event, tripped: list[int]) -> None:
        client = getattr(self.connection, "client", None)
        while client is not None and not done.wait(self.poll):
            try:
                stats = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"].get("Statistics", {})
            except Exception:
                return
            scanned = int(stats.get("DataScannedInBytes") or 0)
            if scanned > self.bytes_cutoff:
                tripped.append(scanned)
                client.stop_query_execution(QueryExecutionId=query_id)
                return

    def run(self, question: Question, values: dict[str, Any]) -> list[dict[str, Any]]:
        sql, params = self.statement(question, values)
        self.executed.append((sql, params))
        cursor = self.connection.cursor()
        done, tripped, watchers = threading.Event(), [], []

        def started(query_id: str) -> None:
            watcher = threading.Thread(target=self._watch, args=(cursor, query_id, done, tripped), daemon=True)
            watcher.start()
            watchers.append(watcher)

        try:
            cursor.execute(sql, params or None, paramstyle="qmark", on_start_query_execution=started)
            rows = cursor.fetchall()
        except Exception as exc:
            if tripped:
                raise ActionFailed(
                    f"Athena query {question.name} stopped after scanning {tripped[0]:,} bytes "
                    f"(cutoff {self.bytes_cutoff:,})",
                    hint="narrow --since/--until or raise scope.athena.bytes_cutoff",
                ) from None
            raise ActionFailed(f"Athena query {question.name} failed: {exc}") from None
        finally:
            done.set()
            for watcher in watchers:
                watcher.join(timeout=5)
        scanned = getattr(cursor, "data_scanned_in_bytes", None)
        if scanned is not None and scanned > self.bytes_cutoff:  # finished between two polls of the watcher
            raise ActionFailed(
                f"Athena query {question.name} scanned {scanned:,} bytes (cutoff {self.bytes_cutoff:,})",
                hint="narrow --since/--until or raise scope.athena.bytes_cutoff",
            )
        names = [d[0] for d in cursor.description or []]
        return [_typed(dict(zip(names, row, strict=False))) for row in rows]

    def create_tables(self, cloudtrail: str, flow_logs: str | None = None) -> list[str]:
        """Create the partition-projected tables over the discovered locations (``IF NOT EXISTS``: an existing
        table is left as it is). Only when the deployment allows it (``scope.athena.create_tables: true``)."""
        from .ddl import cloudtrail_ddl, flow_ddl

        database, ct_table = self.database, self.tables["ct"].split(".")[-1].strip('"')
        statements = [cloudtrail_ddl(_folder(cloudtrail), database=database, table=ct_table)]
        if flow_logs:
            statements.append(
                flow_ddl(_folder(flow_logs), database=database, table=self.tables["flow"].split(".")[-1].strip('"'))
            )
        for sql in statements:
            self.executed.append((sql, []))
            cursor = self.connection.cursor()
            try:
                cursor.execute(sql)
            except Exception as exc:
                raise ActionFailed(
                    f"Athena could not create its table: {exc}",
                    hint="grant glue:CreateTable (and glue:GetDatabase), or create the table "
                    "with `responder scope --print-ddl`",
                ) from None
        return statements

    def frame(self, question: Question, values: dict[str, Any]) -> Any:
        import pandas as pd

        return pd.DataFrame(self.run(question, values))

    def close(self) -> None:
        close = getattr(self.connection, "close", None)
        if close:
            close()


def _folder(location: str) -> str:
    """A discovered location, checked as the DDL module checks flags (it is spliced into DDL text)."""
    from .ddl import _S3

    url = location.rstrip("/") + "/"
    if not _S3.match(url):
        raise BadInput(f"{url!r} is not an S3 location responder accepts", hint="s3://bucket/prefix/")
    return url


_LISTS = {"user_agents", "actions", "source_ips"}
_INTS = {
    "count",
    "errors",
    "access_denied",
    "events",
    "bytes",
    "packets",
    "flows",
    "bytes_out",
    "denied",
    "apis",
    "port",
}


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """Athena returns arrays as '[a, b]' text in some result modes: give lists back as lists."""
    for key in _LISTS & row.keys():
        value = row[key]
        if isinstance(value, str):
            inner = value.strip()[1:-1]
            row[key] = [v.strip() for v in inner.split(",")] if inner else []
    for key in _INTS & row.keys():
        if isinstance(row[key], str) and row[key].lstrip("-").isdigit():
            row[key] = int(row[key])
    return row


__all__ = ["AthenaBackend"]
