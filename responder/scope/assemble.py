"""Run every scope question for one subject and window and assemble the report.

The order matters: pivots first (they decide whose records count), then the CloudTrail questions, then
the flow-log questions, whose addresses and interfaces come from the finding, from the instances the
subject launched and from the addresses it called from.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from . import questions as Q
from .attribution import NAMES as ATTRIBUTED_CALLS
from .attribution import attribute
from .pivots import Backend, Resolution, base_values, resolve, subject_values
from .report import (
    ApiCall,
    Egress,
    ExternalAccount,
    PersistenceEvent,
    ScopeReport,
    Source,
    SourceIp,
    TechniqueSeen,
    Touched,
    categories,
    iso,
)
from .subject import Subject, Window
from .techniques import normalise, techniques_from

_READS = ("GetObject", "SelectObjectContent")


def _is_ip(value: str | None) -> bool:
    try:
        ipaddress.ip_address(value or "")
    except ValueError:
        return False
    return True


def _private(value: str) -> bool:
    return ipaddress.ip_address(value).is_private


def flow_values(
    subject: Subject, window: Window, instances: list[dict[str, Any]], source_ips: list[str]
) -> dict[str, Any]:
    enis = {*subject.interface_ids, *(i["interface_id"] for i in instances if i.get("interface_id"))}
    local = {*subject.local_ips, *(i["private_ip"] for i in instances if i.get("private_ip"))}
    actors = {ip for ip in (*subject.actor_ips, *source_ips) if _is_ip(ip) and not _private(ip)}
    return {
        **base_values(window),
        "enis": sorted(enis),
        "local_ips": sorted(local),
        "actor_ips": sorted(actors),
        "ips": sorted(actors),
    }


def investigate(
    backend: Backend,
    subject: Subject,
    window: Window,
    *,
    top: int = 25,
    now: datetime | None = None,
    organization: set[str] | frozenset[str] = frozenset(),
    sources: list[Source] | None = None,
) -> ScopeReport:
    """``organization``: account ids inside the organisation (grants to them are not 'external');
    ``sources``: what discovery found and read (default: what the backend says it reads)."""
    res: Resolution = resolve(backend, subject, window)
    values = subject_values(res, window)
    focus = getattr(backend, "focus", None)
    if focus is not None:  # the local backend keeps the subject's few records at hand for the questions below
        focus(values)
    counts = backend.run(Q.COUNTS, values)[0]
    api = backend.run(Q.API_CALLS, values)
    ips = backend.run(Q.SOURCE_IPS, values)
    resources = backend.run(Q.RESOURCES, values)
    calls = backend.run(Q.TECHNIQUE_CALLS, values)
    attributed = backend.run(Q.ATTRIBUTION, {**values, "names": list(ATTRIBUTED_CALLS)})
    encrypted = backend.run(Q.SSE_C_WRITES, values)
    instances = backend.run(Q.INSTANCES, values)
    regions = backend.run(Q.REGIONS, values)
    bursts = backend.run(Q.DENIED_BURSTS, values)
    principals = sorted({row["principal_arn"] for row in backend.run(Q.IDENTITIES, values) if row["principal_arn"]})
    fv = flow_values(subject, window, instances, [row["ip"] for row in ips])
    focus_flows = getattr(backend, "focus_flows", None)
    if focus_flows is not None:
        focus_flows(fv)
    egress = backend.run(Q.EGRESS, fv)
    rejected = backend.run(Q.REJECTED, fv)
    unusual = backend.run(Q.UNUSUAL_PORTS, fv)
    bucket_rows = backend.run(Q.BUCKET_ACCESS, {**values, "buckets": list(subject.buckets)}) if subject.buckets else []
    actor_rows = backend.run(Q.ACTOR_ACTIVITY, {**fv, "ips": sorted(subject.actor_ips)}) if subject.actor_ips else []

    touched = [
        Touched(
            kind=r["kind"],
            id=r["id"],
            actions=list(r["actions"] or []),
            count=r["count"],
            errors=r["errors"],
            bytes_out=int(r["bytes_out"] or 0),
        )
        for r in resources
    ]
    ok_reads = [
        r
        for r in resources
        if r["kind"] == "s3_object" and any(a in _READS for a in (r["actions"] or [])) and r["count"] > r["errors"]
    ]
    persistence, external, bulk_secrets = attribute(attributed, organization=organization, iso=iso)
    by_action: dict[str, list[str]] = {}
    for r in resources:
        for action in r["actions"] or []:
            by_action.setdefault(normalise(action), []).append(r["id"])
    for item in persistence:
        by_action.setdefault(normalise(item["event_name"]), []).extend(item["resource_ids"])
    techniques = techniques_from(calls, by_action, iso=iso)
    deleted = [
        r["id"]
        for r in resources
        if r["kind"] == "s3_object" and "DeleteObject" in (r["actions"] or []) and r["count"] > r["errors"]
    ]
    deleted += [
        f"{r['id']}/* (DeleteObjects)"
        for r in resources
        if r["kind"] == "s3_bucket" and "DeleteObjects" in (r["actions"] or []) and r["count"] > r["errors"]
    ]
    deleted += [
        r["id"]
        for r in resources
        if r["kind"] == "s3_bucket" and "DeleteBucket" in (r["actions"] or []) and r["count"] > r["errors"]
    ]
    buckets = sorted(
        {r["id"] for r in resources if r["kind"] == "s3_bucket"}
        | {r["id"].split("/", 1)[0] for r in resources if r["kind"] == "s3_object"}
    )
    secrets = sorted(
        {r["id"] for r in resources if r["kind"] in ("secret", "parameter") and r["count"] > r["errors"]}
        | set(bulk_secrets)
    )
    objects = sorted(r["id"] for r in ok_reads)
    notes = []
    if not res.keys and not res.principals and not res.roles and not subject.buckets:
        notes.append("the subject names no key or principal")
    if counts["events"] == 0:
        notes.append(
            "no CloudTrail record in the window is attributed to the subject: check the window and "
            "that the trail covers the account and regions"
        )
    if subject.actor_ips and not actor_rows:
        notes.append("no CloudTrail record comes from the finding's actor IP in the window")
    if sources is None:
        sources = _backend_sources(backend)
    for source in sources:
        if not source.read:
            notes.append(f"{source.kind} {source.location or ''} was not read: {source.why}".replace("  ", " "))
    failed = {path: why for sync in getattr(backend, "syncs", []) for path, why in sync.failed.items()}
    if failed:
        path, why = next(iter(sorted(failed.items())))
        notes.append(f"{len(failed)} log file(s) could not be read and were skipped (first: {path}: {why})")
    generated = now or datetime.now(UTC)
    return ScopeReport(
        subject=subject.describe(),
        backend=getattr(backend, "name", "?"),
        generated_at=iso(generated) or "",
        window=window.as_json(),
        keys=sorted(res.keys),
        pivots=[o.as_dict() for o in sorted(res.keys.values(), key=lambda o: (o.pivot != "seed", str(o.event_time)))],
        principals=principals,
        events=counts["events"],
        errors=counts["errors"],
        access_denied=counts["access_denied"],
        first_activity=iso(counts["first_activity"]),
        last_activity=iso(counts["last_activity"]),
        api_calls=[
            ApiCall(
                event_source=r["event_source"],
                event_name=r["event_name"],
                count=r["count"],
                errors=r["errors"],
                access_denied=r["access_denied"],
            )
            for r in api[:top]
        ],
        denied_bursts=[{"minute": iso(b["minute"]), "denied": b["denied"], "apis": b["apis"]} for b in bursts],
        regions=[r["region"] for r in regions if r["region"]],
        source_ips=[SourceIp(ip=r["ip"], count=r["count"], user_agents=list(r["user_agents"] or [])) for r in ips],
        resources=touched,
        buckets=buckets,
        objects_read=objects,
        bytes_read=sum(int(r["bytes_out"] or 0) for r in ok_reads),
        secrets_read=secrets,
        data_categories=categories(buckets + objects, secrets),
        objects_deleted=sorted(set(deleted)),
        objects_encrypted=[r["object"] for r in encrypted if r["object"]],
        techniques=[TechniqueSeen(**t) for t in techniques],
        external_accounts=[ExternalAccount(**e) for e in external],
        persistence=[
            PersistenceEvent(**{**p, "time": p["time"] or "", "event_name": p["event_name"] or ""}) for p in persistence
        ],
        sources=sources,
        instances=[{k: iso(v) if isinstance(v, datetime) else v for k, v in i.items()} for i in instances],
        egress=[
            Egress(
                destination=e["destination"],
                port=e["port"],
                bytes=int(e["bytes"] or 0),
                packets=int(e["packets"] or 0),
                flows=e["flows"],
            )
            for e in egress[:top]
        ],
        egress_bytes=sum(int(e["bytes"] or 0) for e in egress),
        rejected=[_plain(r) for r in rejected[:top]],
        unusual_ports=[_plain(r) for r in unusual[:top]],
        actor_activity=[_plain(r) for r in actor_rows],
        bucket_access=[_plain(r) for r in bucket_rows],
        notes=notes,
    )


def _backend_sources(backend: Backend) -> list[Source]:
    """Sources from a backend that was handed its locations (configuration, flags): what it read."""
    if getattr(backend, "name", "") == "athena":
        return [Source(kind="athena", location=str(getattr(backend, "tables", {}).get("ct", "")), read=True)]
    roots = getattr(backend, "roots", None) or {}
    out = []
    for kind, label in (("cloudtrail", "cloudtrail"), ("flow", "flow_logs")):
        root = roots.get(kind)
        if root is None:
            why = (
                "no VPC Flow Logs location was given or found"
                if kind == "flow"
                else "no CloudTrail location was given or found"
            )
            out.append(Source(kind=label, read=False, why=why))
            continue
        files = max((s.files_seen for s in getattr(backend, "syncs", []) if s.kind == kind), default=0)
        out.append(Source(kind=label, location=str(root), read=True, files=files))
    return out


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in row.items()}
