"""A defensive reading of the scope step's output: every field optional, any reasonable shape.

The scope subsystem (``scope.investigate``) reports lists capped at its ``top`` rows, names rather than
tags, and data categories *hinted* by the names of what was read (``personal_data``, ``health_data``,
``payment_data``, ``credentials``). This view says what is known and how well: a capped list gives
"at least N", a count gives N, an absent field gives nothing at all. Every string is attacker-influenced
and is flattened to one line before anyone prints it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_MAX = 500
_NAME_KEYS = ("name", "bucket", "bucket_name", "category", "id", "arn", "key", "access_key_id", "ip", "resource")
_READABLE = {
    "personal_data": "personal data",
    "health_data": "health data",
    "payment_data": "payment data",
    "credentials": "credentials and secrets",
}
NOT_PERSONAL = frozenset({"credentials", "secrets"})


def literal(value: Any, limit: int = _MAX) -> str:
    """One line of plain text: control characters and line breaks become spaces, long values are cut."""
    text = _CONTROL.sub(" ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def count(value: Any) -> int | None:
    """A count from a number, a collection (its length) or a numeric string; None when unknowable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, list | tuple | set | dict):
        return len(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def names(value: Any) -> list[str]:
    """Names from a list of strings, a list of mappings (``name``, ``bucket``, ...) or a mapping's keys."""
    if value is None:
        return []
    if isinstance(value, str):
        return [literal(value)]
    if isinstance(value, dict):
        return [literal(k) for k in value]
    out = []
    if isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, dict):
                label = next((item[k] for k in _NAME_KEYS if item.get(k)), None)
                if label is not None:
                    out.append(literal(label))
            elif item is not None:
                out.append(literal(item))
    return out


def readable(category: str) -> str:
    return _READABLE.get(category.lower(), category)


@dataclass
class ScopeView:
    """What the scope says, normalised. ``objects_exact`` is False when only a capped list was given."""

    present: bool
    events: int | None = None
    api_calls: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    bucket_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    bucket_reads: dict[str, int] = field(default_factory=dict)
    objects_read: int | None = None
    objects_exact: bool = True
    bytes_read: int | None = None
    secrets_read: int | None = None
    categories: list[str] = field(default_factory=list)
    subject_categories: list[str] = field(default_factory=list)
    subjects: int | None = None
    records: int | None = None
    max_residents_one_state: int | None = None
    persistence: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    source_ips: list[str] = field(default_factory=list)
    egress_bytes: int | None = None
    first_activity: str | None = None
    last_activity: str | None = None

    @property
    def personal_categories(self) -> list[str]:
        return [c for c in self.categories if c.lower() not in NOT_PERSONAL]

    def objects_text(self) -> str | None:
        if self.objects_read is None:
            return None
        return f"{'' if self.objects_exact else 'at least '}{self.objects_read}"


def _tags(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {literal(k): literal(v) for k, v in raw.items()}
    out: dict[str, str] = {}
    if isinstance(raw, list | tuple):
        for item in raw:
            if isinstance(item, dict) and "Key" in item:
                out[literal(item["Key"])] = literal(item.get("Value", ""))
            elif item is not None:
                out[literal(item)] = ""
    return out


def _first(scope: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if scope.get(key) not in (None, "", [], {}):
            return scope[key]
    return None


def read(scope: dict[str, Any] | None) -> ScopeView:
    """Normalise the scope step's output (``scope.investigate`` or anything shaped like it)."""
    scope = dict(scope or {})
    view = ScopeView(present=bool(scope))
    view.events = count(scope.get("events")) if not isinstance(scope.get("events"), list) else len(scope["events"])
    calls = scope.get("api_calls")
    if isinstance(calls, list):
        view.api_calls = [
            literal(c.get("event_name") or c.get("name"))
            for c in calls
            if isinstance(c, dict) and (c.get("event_name") or c.get("name"))
        ]
        view.api_calls += [literal(c) for c in calls if isinstance(c, str)]
    for bucket in scope.get("buckets") or []:
        name = (names([bucket]) or [None])[0]
        if not name:
            continue
        view.buckets.append(name)
        if isinstance(bucket, dict):
            if bucket.get("tags") is not None:
                view.bucket_tags[name] = _tags(bucket.get("tags"))
            reads = [count(bucket.get(k)) for k in ("objects_read", "data_events", "get_object")]
            view.bucket_reads[name] = max([r for r in reads if r is not None], default=0)
    objects = scope.get("objects_read")
    if isinstance(objects, list | tuple):
        view.objects_read, view.objects_exact = len(objects), False
        for key in objects:
            bucket = str(key).split("/", 1)[0]
            view.bucket_reads[bucket] = view.bucket_reads.get(bucket, 0) + 1
    else:
        view.objects_read = count(objects)
    for res in scope.get("resources") or []:
        if (
            isinstance(res, dict)
            and res.get("kind") == "s3_object"
            and (count(res.get("count")) or 0) > (count(res.get("errors")) or 0)
        ):
            bucket = str(res.get("id", "")).split("/", 1)[0]
            view.bucket_reads[bucket] = max(view.bucket_reads.get(bucket, 0), 1)
    for bucket in view.bucket_reads:
        if bucket not in view.buckets:
            view.buckets.append(literal(bucket))
    view.bytes_read = count(scope.get("bytes_read"))
    view.secrets_read = count(scope.get("secrets_read"))
    view.categories = names(_first(scope, "data_categories", "record_categories"))
    view.subject_categories = names(_first(scope, "data_subject_categories", "subject_categories"))
    view.subjects = count(_first(scope, "data_subjects", "subjects_approx", "individuals"))
    view.records = count(_first(scope, "records", "records_approx"))
    view.max_residents_one_state = count(scope.get("max_residents_one_state"))
    for item in scope.get("persistence") or []:
        if isinstance(item, dict):
            view.persistence.append(literal(" ".join(str(item[k]) for k in ("event_name", "target") if item.get(k))))
        elif item:
            view.persistence.append(literal(item))
    view.keys = names(scope.get("keys"))
    view.source_ips = names(scope.get("source_ips"))
    view.egress_bytes = count(scope.get("egress_bytes"))
    first, last = scope.get("first_activity"), scope.get("last_activity")
    view.first_activity = literal(first) if first else None
    view.last_activity = literal(last) if last else None
    return view
