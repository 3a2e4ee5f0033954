"""The scope report: what the attacker did, touched and took, and since when — as JSON and Markdown.

The model's field names are the contract of ``responder scope --json`` and of the ``scope.investigate``
step's output, which notifications read (``data_categories``, ``objects_read``, ``egress_bytes``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

_CATEGORY_HINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "personal_data",
        re.compile(
            r"pii|personal|customer|client|user[-_]?data|member|gdpr|profile|contact|"
            r"employee|payroll|\bhr\b|hr[-_]",
            re.I,
        ),
    ),
    ("health_data", re.compile(r"health|medical|patient|clinic|phi\b", re.I)),
    ("payment_data", re.compile(r"payment|billing|card|stripe|pci|invoice|bank", re.I)),
    ("credentials", re.compile(r"secret|password|passwd|credential|token|api[-_]?key|private[-_]?key", re.I)),
)


class ApiCall(BaseModel):
    event_source: str | None
    event_name: str | None
    count: int
    errors: int
    access_denied: int = 0


class SourceIp(BaseModel):
    ip: str | None
    count: int
    user_agents: list[str | None] = Field(default_factory=list)


class Touched(BaseModel):
    kind: str
    id: str
    actions: list[str | None] = Field(default_factory=list)
    count: int
    errors: int = 0
    bytes_out: int = 0


class PersistenceEvent(BaseModel):
    """One thing the subject left behind; the fields are documented in :mod:`responder.scope.attribution`."""

    time: str
    event_name: str
    target: str | None = None
    new_key: str | None = None
    error_code: str | None = None
    access_key_id: str | None = None
    kind: str | None = None
    tactic: str | None = None
    technique_id: str | None = None
    event_source: str | None = None
    event_id: str | None = None
    region: str | None = None
    account_id: str | None = None
    succeeded: bool = True
    resource_type: str | None = None
    resource_ids: list[str] = Field(default_factory=list)
    policy_arn: str | None = None
    policy_document: Any = None
    external_accounts: list[str] = Field(default_factory=list)
    public: bool = False


class TechniqueSeen(BaseModel):
    """One ATT&CK technique the subject's calls match (the table is :mod:`responder.scope.techniques`)."""

    tactic: str
    technique_id: str
    technique: str
    event_names: list[str] = Field(default_factory=list)
    count: int = 0
    errors: int = 0
    first: str | None = None
    last: str | None = None
    resources: list[str] = Field(default_factory=list)
    basis: list[str] = Field(default_factory=list, description="the Stratus Red Team technique or ATT&CK page")


class ExternalAccount(BaseModel):
    """An account outside the organisation (or '*', everyone) the subject granted access to."""

    account_id: str
    event_name: str | None = None
    event_id: str | None = None
    time: str | None = None
    kind: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None


class Source(BaseModel):
    """A log source scope looked at: what it is, whether it was read, and why not when it was not."""

    kind: str  # cloudtrail | flow_logs | lookup_events | athena
    location: str | None = None
    read: bool = False
    why: str | None = None
    files: int = 0
    bytes: int = 0
    details: dict[str, Any] = Field(default_factory=dict)


class Egress(BaseModel):
    destination: str | None
    port: int | None
    bytes: int
    packets: int
    flows: int = 0


class ScopeReport(BaseModel):
    """Everything ``responder scope`` answers for one subject and window."""

    subject: dict[str, Any]
    backend: str
    generated_at: str
    window: dict[str, str | None]
    keys: list[str] = Field(description="every access key id attributed to the subject, pivots included")
    pivots: list[dict[str, Any]] = Field(default_factory=list, description="which key came from which pivot")
    principals: list[str] = Field(default_factory=list)
    events: int = Field(0, description="CloudTrail records attributed to the subject")
    errors: int = 0
    access_denied: int = 0
    first_activity: str | None = None
    last_activity: str | None = None
    api_calls: list[ApiCall] = Field(default_factory=list)
    denied_bursts: list[dict[str, Any]] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    source_ips: list[SourceIp] = Field(default_factory=list)
    resources: list[Touched] = Field(default_factory=list)
    buckets: list[str] = Field(default_factory=list)
    objects_read: list[str] = Field(default_factory=list)
    bytes_read: int = 0
    secrets_read: list[str] = Field(default_factory=list)
    data_categories: list[str] = Field(default_factory=list)
    objects_deleted: list[str] = Field(default_factory=list, description="objects and buckets deleted (impact)")
    objects_encrypted: list[str] = Field(
        default_factory=list, description="objects rewritten with a customer key (SSE-C ransomware)"
    )
    techniques: list[TechniqueSeen] = Field(default_factory=list, description="ATT&CK techniques, tactic order")
    external_accounts: list[ExternalAccount] = Field(default_factory=list)
    persistence: list[PersistenceEvent] = Field(default_factory=list)
    instances: list[dict[str, Any]] = Field(default_factory=list)
    egress: list[Egress] = Field(default_factory=list)
    egress_bytes: int = 0
    rejected: list[dict[str, Any]] = Field(default_factory=list)
    unusual_ports: list[dict[str, Any]] = Field(default_factory=list)
    bucket_access: list[dict[str, Any]] = Field(
        default_factory=list, description="who read and wrote the subject's buckets"
    )
    actor_activity: list[dict[str, Any]] = Field(
        default_factory=list, description="records from the actor IPs, whoever signed them"
    )
    sources: list[Source] = Field(default_factory=list, description="which logs were read, which not, and why")
    notes: list[str] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def markdown(self) -> str:
        return render_markdown(self)


def no_egress_sentence(r: ScopeReport) -> str:
    """An empty egress table must say why: no flow logs read is not the same as no traffic seen."""
    flow = [s for s in r.sources if s.kind == "flow_logs"]
    if flow and not any(s.read for s in flow):
        return "No egress seen: no VPC Flow Logs could be read (see Log sources), so egress is unknown."
    return "No egress seen: the flow logs read hold no accepted traffic from the affected interfaces or addresses."


def categories(names: list[str], secrets: list[str]) -> list[str]:
    """Data categories hinted by bucket/object names and by secrets read (a hint for notification duty)."""
    found: list[str] = []
    for label, pattern in _CATEGORY_HINTS:
        pool = secrets if label == "credentials" else names
        if any(pattern.search(n or "") for n in pool) and label not in found:
            found.append(label)
    if secrets and "credentials" not in found:
        found.append("credentials")
    return found


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        text = value.isoformat()
        return text + "Z" if value.tzinfo is None else text.replace("+00:00", "Z")
    return str(value)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")[:200]


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*out, ""]


def render_markdown(r: ScopeReport) -> str:
    """For people: the same facts as the JSON, finding data escaped so it cannot break the table."""
    lines = [
        f"# Scope report: {_cell(r.subject.get('label'))}",
        "",
        f"- Window: {r.window.get('since') or 'all data'} → {r.window.get('until')}",
        f"- Backend: {r.backend}; generated {r.generated_at}",
        f"- Records attributed: **{r.events}** ({r.errors} errors, {r.access_denied} access denied)",
        f"- Activity: {r.first_activity or '-'} → {r.last_activity or '-'}",
        f"- Regions: {', '.join(r.regions) or '-'}",
        f"- Data categories: {', '.join(r.data_categories) or 'none indicated'}",
        f"- Egress to flagged destinations: {r.egress_bytes:,} bytes",
        "",
    ]
    if r.sources:
        lines += ["## Log sources", ""]
        lines += _table(
            ["source", "location", "read", "why not"],
            [[s.kind, s.location, "yes" if s.read else "no", s.why] for s in r.sources],
        )
    lines += ["## Tactic timeline (MITRE ATT&CK)", ""]
    lines += _table(
        ["first", "last", "tactic", "technique", "calls", "count", "resources"],
        [
            [
                t.first,
                t.last,
                t.tactic,
                f"{t.technique_id} {t.technique}",
                ", ".join(t.event_names),
                t.count,
                ", ".join(t.resources[:5]),
            ]
            for t in r.techniques
        ],
    )
    lines += ["## Accounts outside the organisation granted access", ""]
    lines += _table(
        ["account", "how", "resource", "time", "event id"],
        [[e.account_id, e.event_name, e.resource_id, e.time, e.event_id] for e in r.external_accounts],
    )
    lines += ["## Keys and pivots", ""]
    lines += _table(
        ["key", "pivot", "from", "detail"],
        [[p.get("key"), p.get("pivot"), p.get("from_key"), p.get("detail")] for p in r.pivots],
    )
    lines += ["## API calls", ""]
    lines += _table(
        ["service", "API", "count", "errors", "denied"],
        [[a.event_source, a.event_name, a.count, a.errors, a.access_denied] for a in r.api_calls],
    )
    if r.denied_bursts:
        lines += ["## AccessDenied bursts (recon)", ""]
        lines += _table(["minute", "denied", "APIs"], [[b["minute"], b["denied"], b["apis"]] for b in r.denied_bursts])
    lines += ["## Source addresses", ""]
    lines += _table(
        ["ip", "count", "user agents"],
        [[s.ip, s.count, "; ".join(str(u) for u in s.user_agents)] for s in r.source_ips],
    )
    lines += ["## Resources touched", ""]
    lines += _table(
        ["kind", "id", "actions", "count", "bytes out"],
        [[t.kind, t.id, ", ".join(str(a) for a in t.actions), t.count, t.bytes_out] for t in r.resources],
    )
    lines += ["## Persistence", ""]
    lines += _table(
        ["time", "kind", "event", "target", "new key", "outside accounts", "error"],
        [
            [p.time, p.kind, p.event_name, p.target, p.new_key, ", ".join(p.external_accounts), p.error_code]
            for p in r.persistence
        ],
    )
    if r.objects_deleted or r.objects_encrypted:
        lines += ["## Impact on data", ""]
        lines += _table(
            ["what", "object"],
            [["deleted", o] for o in r.objects_deleted[:50]]
            + [["re-encrypted with a customer key (SSE-C)", o] for o in r.objects_encrypted[:50]],
        )
    if r.bucket_access:
        lines += ["## Bucket readers and writers", ""]
        lines += _table(
            ["bucket", "principal", "key", "actions", "count", "bytes out", "first", "last"],
            [
                [
                    b.get("bucket"),
                    b.get("principal_arn"),
                    b.get("access_key_id"),
                    ", ".join(str(a) for a in b.get("actions") or []),
                    b.get("count"),
                    b.get("bytes_out"),
                    b.get("first_seen"),
                    b.get("last_seen"),
                ]
                for b in r.bucket_access
            ],
        )
    lines += ["## Egress (VPC Flow Logs)", ""]
    if r.egress:
        lines += _table(
            ["destination", "port", "bytes", "packets"], [[e.destination, e.port, e.bytes, e.packets] for e in r.egress]
        )
    else:
        lines += [no_egress_sentence(r), ""]
    if r.notes:
        lines += ["## Notes", "", *[f"- {_cell(n)}" for n in r.notes], ""]
    return "\n".join(lines)
