"""Defensive readers for attacker-supplied JSON: every field may be missing, null, or of another shape.

GuardDuty findings arrive in camelCase (EventBridge) and PascalCase (boto3/CLI ``GetFindings``);
``pick`` reads either, so one adapter serves both.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

_MISSING = object()


def _variants(key: str) -> tuple[str, ...]:
    if not key:
        return (key,)
    return (key, key[0].upper() + key[1:], key[0].lower() + key[1:])


def pick(obj: Any, *path: str, default: Any = None) -> Any:
    """Follow ``path`` through dicts, accepting camelCase or PascalCase at each step."""
    cur = obj
    for key in path:
        if not isinstance(cur, dict):
            return default
        found = _MISSING
        for variant in _variants(key):
            if variant in cur:
                found = cur[variant]
                break
        if found is _MISSING or found is None:
            return default
        cur = found
    return cur


# Characters XML 1.0 cannot carry (C0 controls other than tab/newline/return, U+FFFE, U+FFFF). AWS's query
# APIs speak XML: a finding field holding one would make a tag or a policy call fail mid-run.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def text(value: Any) -> str | None:
    """A string or None; numbers become their text, containers become None. Characters no AWS API can
    carry become U+FFFD (the raw event keeps them as received)."""
    if value is None or isinstance(value, dict | list | bool):
        return None
    out = str(value).strip()
    if not out.isprintable():
        out = _NOT_XML.sub("\ufffd", out)
    return out or None


def dict_of(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def list_of(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def number(value: Any, default: float | None = None) -> float | None:
    """A finite float or ``default``: ``"NaN"``, ``"1e999"`` and huge integers are not numbers here."""
    if isinstance(value, bool):
        return default
    try:
        if isinstance(value, int | float):
            out = float(value)
        elif isinstance(value, str):
            out = float(value.strip())
        else:
            return default
    except (ValueError, OverflowError):
        return default
    return out if math.isfinite(out) else default


_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M:%S.%f %z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%a %b %d %H:%M:%S %Y %z",
    "%b %d, %Y %I:%M:%S %p",
)


_LOOSE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?(?:\s.*)?$")


def _loose(raw: str) -> datetime | None:
    """Git-style dates such as ``2022-06-16 10:17:40 -0700 PDT`` or ``... -0500 -0500``."""
    match = _LOOSE.match(raw)
    if not match:
        return None
    day, clock, zone = match.groups()
    zone = (zone or "+0000").replace("Z", "+0000").replace(":", "")
    try:
        return datetime.strptime(f"{day} {clock} {zone}", "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return None


def timestamp(value: Any) -> datetime | None:
    """Parse the timestamp shapes security tools publish (ISO, epoch s/ms, git dates) to aware UTC."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        secs = float(value) / 1000.0 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(secs, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    if raw.isdigit():
        return timestamp(int(raw))
    candidate = raw.replace("Z", "+00:00") if raw.endswith("Z") else raw
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        parsed = None
        for fmt in _TIME_FORMATS:
            try:
                parsed = datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        parsed = _loose(raw)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
