"""One question, two engines: SQL written once in DuckDB's dialect, bound positionally in both.

Questions use ``$name`` placeholders. :func:`bind` turns them into ``?`` and returns the values in
order; a list value becomes ``?, ?, …`` (``NULL`` when empty), so the *shape* of the SQL depends only
on how many keys there are, never on what they say. Athena gets the same text through sqlglot, with
``?`` kept, and its values as literal expressions for ``ExecutionParameters`` (Athena's EXECUTE …
USING binding), escaped by :func:`athena_literal`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

_PLACEHOLDER = re.compile(r"\$([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Question:
    """A named, parameterised query over the normalised ``ct`` (CloudTrail) or ``flow`` relation."""

    name: str
    table: str  # "ct" or "flow"
    sql: str
    doc: str = ""

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_PLACEHOLDER.findall(self.sql)))


def bind(sql: str, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """``$name`` → ``?``; lists expand. Raises KeyError for a parameter nobody supplied."""
    ordered: list[Any] = []

    def replace(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        if isinstance(value, list | tuple | set | frozenset):
            items = sorted(value) if isinstance(value, set | frozenset) else list(value)
            if not items:
                return "NULL"
            ordered.extend(items)
            return ", ".join("?" for _ in items)
        ordered.append(value)
        return "?"

    return _PLACEHOLDER.sub(replace, sql), ordered


@cache
def to_trino(sql: str) -> str:
    """DuckDB dialect → Athena (Trino) dialect; ``?`` placeholders survive unchanged."""
    import sqlglot

    return sqlglot.transpile(sql, read="duckdb", write="trino")[0]


def athena_literal(value: Any) -> str:
    """A value as an Athena parameter literal: quotes doubled, so it stays one string literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"
