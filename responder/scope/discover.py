"""Find the account's logs with no configuration, and bring the window's partitions into the local cache.

An engineer in the console looks at CloudTrail → Trails and VPC → Flow logs; so does this module:

* **CloudTrail**: ``DescribeTrails`` (``includeShadowTrails``: organisation and multi-region trails created
  elsewhere are listed too) gives each trail's bucket, prefix and KMS key; ``GetTrailStatus`` says whether it
  logs. The bucket is listed only under the finding account's day folders inside the window, in both layouts
  AWS writes: ``<prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`` and, for organisation trails,
  ``<prefix>/AWSLogs/<org-id>/<account>/CloudTrail/<region>/YYYY/MM/DD/``.
* **VPC Flow Logs**: ``DescribeFlowLogs`` for the affected interfaces, their subnets and VPCs (or, with none
  named, every flow log of the region): an S3 destination is read like a trail (``…/vpcflowlogs/<region>/
  YYYY/MM/DD/``); a CloudWatch Logs destination is read with ``FilterLogEvents`` over the window, one file per
  stream, headed by the flow log's own format.
* **Fallback**: when no trail is readable, CloudTrail ``LookupEvents`` (management events of the last 90 days,
  no data events) is written out as CloudTrail files, and the report says so.

Objects are fetched in parallel into ``<cache>/discovered/<account>/…`` keeping the S3 key layout, so the local
backend reads them as it reads any ``AWSLogs`` folder. A file already there with the same size is not fetched
again (a stopped sync resumes); one sync reads at most ``max_bytes`` (default 2 GiB, ``scope.max_download_bytes``)
and never more than four fifths of the free disk (a Lambda's /tmp), and says when it stopped short. Every
source looked at — read or not, and why — is returned as a :class:`~responder.scope.report.Source` for the
report.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .report import Source
from .subject import Window

DEFAULT_MAX_BYTES = 2 * 1024**3
LOOKUP_DAYS = 90
LOOKUP_MAX_EVENTS = 50_000
LOOKUP_MAX_KEYS = 50  # keys followed through LookupEvents (the seed and what it minted)
Clients = Callable[..., Any]  # clients(service, region=None) -> boto3 client
Progress = Callable[[str, int, int], None]

_S3_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:s3:::([^/]+)/?(.*)$")
_FORMAT_FIELD = re.compile(r"\$\{([a-z0-9-]+)\}")


@dataclass
class Discovered:
    """Where the window's logs now are on this machine, and what was (not) read."""

    cloudtrail: Path | None = None
    flow_logs: Path | None = None
    sources: list[Source] = field(default_factory=list)
    lookup_events: bool = False


def _error(exc: BaseException) -> str:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return f"{code}: {text}" if code and code not in text else text


def days(window: Window, *, now: datetime | None = None) -> list[str]:
    """'YYYY/MM/DD' of every delivery folder that can hold the window's records (a day of slack each side)."""
    since, until = window.since, min(window.until, (now or datetime.now(UTC)) + timedelta(days=1))
    since = max(since, until - timedelta(days=400)) - timedelta(days=1)
    out, day = [], since.astimezone(UTC).date()
    while day <= (until + timedelta(days=1)).astimezone(UTC).date():
        out.append(day.strftime("%Y/%m/%d"))
        day += timedelta(days=1)
    return out


class _Fetcher:
    """Lists day prefixes and fetches objects into ``root`` (S3 key layout), bounded by ``budget`` bytes."""

    def __init__(
        self, clients: Clients, root: Path, budget: list[int], workers: int, progress: Progress | None, label: str
    ) -> None:
        self.clients, self.root, self.budget, self.workers = clients, root, budget, workers
        self.progress, self.label = progress, label

    def folders(self, s3: Any, bucket: str, prefix: str) -> list[str]:
        found: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            found += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        return found

    def listing(self, s3: Any, bucket: str, prefixes: Iterable[str], skip: tuple[str, ...]) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        for prefix in prefixes:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                objects += [o for o in page.get("Contents", []) if not any(s in o["Key"] for s in skip)]
        return objects

    def fetch(self, s3: Any, bucket: str, objects: list[dict[str, Any]]) -> tuple[int, int, int, list[str]]:
        """(files now local, bytes, files skipped by the bound, errors)."""
        todo, have, size = [], 0, 0
        for obj in sorted(objects, key=lambda o: o["Key"]):
            path = self.root / bucket / obj["Key"]
            if path.exists() and path.stat().st_size == obj["Size"]:
                have += 1
                size += obj["Size"]
                continue
            todo.append((obj, path))
        allowed, skipped = [], 0
        for obj, path in todo:
            if obj["Size"] > self.budget[0]:
                skipped += 1
                continue
            self.budget[0] -= obj["Size"]
            allowed.append((obj, path))
        errors: list[str] = []
        done = 0

        def one(item: tuple[dict[str, Any], Path]) -> str | None:
            obj, path = item
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(path.name + ".part")
            try:
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
                with open(part, "wb") as handle:
                    for chunk in iter(lambda: body.read(1024 * 1024), b""):
                        handle.write(chunk)
                os.replace(part, path)
            except Exception as exc:  # one unreadable object never hides the rest; the report names it
                part.unlink(missing_ok=True)
                return f"s3://{bucket}/{obj['Key']}: {_error(exc)}"
            return None

        if self.progress and allowed:
            self.progress(self.label, 0, len(allowed))
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for (obj, _), failure in zip(allowed, pool.map(one, allowed), strict=True):
                done += 1
                if failure:
                    errors.append(failure)
                else:
                    have += 1
                    size += obj["Size"]
                if self.progress:
                    self.progress(self.label, done, len(allowed))
        return have, size, skipped, errors


def _account_roots(fetch: _Fetcher, s3: Any, bucket: str, prefix: str, account: str, folder: str) -> list[str]:
    """``…/AWSLogs/<account>/<folder>/`` and, for an organisation trail, ``…/AWSLogs/<o-…>/<account>/<folder>/``."""
    base = f"{prefix.strip('/')}/AWSLogs/" if prefix.strip("/") else "AWSLogs/"
    roots = [f"{base}{account}/{folder}/"]
    for entry in fetch.folders(s3, bucket, base):
        name = entry[len(base) :].strip("/")
        if name.startswith("o-"):
            roots.append(f"{base}{name}/{account}/{folder}/")
    return roots


def _day_prefixes(
    fetch: _Fetcher, s3: Any, bucket: str, roots: list[str], window_days: list[str], regions: list[str] | None
) -> list[str]:
    prefixes = []
    for root in roots:
        present = [p[len(root) :].strip("/") for p in fetch.folders(s3, bucket, root)]
        for region in present:
            if regions is None or region in regions:
                prefixes += [f"{root}{region}/{day}/" for day in window_days]
    return prefixes


def _disk_room(folder: Path) -> int:
    """Four fifths of the free space where the cache lives: a Lambda's /tmp (512 MiB by default) bounds the
    fetch before the configured size does."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return int(shutil.disk_usage(probe).free * 0.8)


def discover(
    clients: Clients,
    *,
    account: str,
    region: str,
    window: Window,
    cache_dir: Path,
    interface_ids: Iterable[str] = (),
    subnet_ids: Iterable[str] = (),
    vpc_ids: Iterable[str] = (),
    keys: Iterable[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    workers: int = 8,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> Discovered:
    """Find and fetch the window's CloudTrail and Flow Logs of ``account`` (see the module docstring)."""
    out = Discovered()
    root = Path(cache_dir) / "discovered" / account
    budget = [min(int(max_bytes), _disk_room(Path(cache_dir)))]
    window_days = days(window, now=now)
    ct_root, flow_root = root / "cloudtrail", root / "flowlogs"
    _cloudtrail(clients, out, ct_root, account, region, window_days, budget, workers, progress)
    if not any(s.read for s in out.sources if s.kind == "cloudtrail"):
        _lookup_events(clients, out, ct_root, account, region, window, keys, now or datetime.now(UTC))
    if any(s.read for s in out.sources if s.kind in ("cloudtrail", "lookup_events")):
        out.cloudtrail = ct_root
    _flow_logs(
        clients,
        out,
        flow_root,
        account,
        region,
        window,
        window_days,
        list(interface_ids),
        list(subnet_ids),
        list(vpc_ids),
        budget,
        workers,
        progress,
    )
    if any(s.read for s in out.sources if s.kind == "flow_logs"):
        out.flow_logs = flow_root
    return out


def _cloudtrail(
    clients: Clients,
    out: Discovered,
    ct_root: Path,
    account: str,
    region: str,
    window_days: list[str],
    budget: list[int],
    workers: int,
    progress: Progress | None,
) -> None:
    try:
        trails = clients("cloudtrail", region=region).describe_trails(includeShadowTrails=True).get("trailList", [])
    except Exception as exc:
        out.sources.append(Source(kind="cloudtrail", read=False, why=f"DescribeTrails failed: {_error(exc)}"))
        return
    if not trails:
        out.sources.append(
            Source(
                kind="cloudtrail",
                read=False,
                why=f"no trail in {account} {region} (DescribeTrails, shadow trails included)",
            )
        )
        return
    seen: set[tuple[str, str]] = set()
    fetch = _Fetcher(clients, ct_root, budget, workers, progress, "cloudtrail")
    for trail in trails:
        bucket, prefix = trail.get("S3BucketName"), trail.get("S3KeyPrefix") or ""
        arn = trail.get("TrailARN") or trail.get("Name")
        details = {
            "trail": arn,
            "bucket": bucket,
            "prefix": prefix,
            "kms_key": trail.get("KmsKeyId"),
            "organization_trail": bool(trail.get("IsOrganizationTrail")),
            "multi_region": bool(trail.get("IsMultiRegionTrail")),
            "home_region": trail.get("HomeRegion"),
        }
        try:
            status = clients("cloudtrail", region=trail.get("HomeRegion") or region).get_trail_status(Name=arn)
            details["is_logging"] = bool(status.get("IsLogging"))
            details["latest_delivery_error"] = status.get("LatestDeliveryError")
        except Exception as exc:
            details["status_error"] = _error(exc)
        location = f"s3://{bucket}/{prefix}".rstrip("/") if bucket else None
        if not bucket:
            out.sources.append(
                Source(
                    kind="cloudtrail",
                    location=arn,
                    read=False,
                    details=details,
                    why="the trail delivers to no S3 bucket",
                )
            )
            continue
        if (bucket, prefix) in seen:
            continue
        seen.add((bucket, prefix))
        try:
            s3 = clients("s3", region=region)
            roots = _account_roots(fetch, s3, bucket, prefix, account, "CloudTrail")
            regions = None if trail.get("IsMultiRegionTrail") else [trail.get("HomeRegion") or region]
            objects = fetch.listing(
                s3,
                bucket,
                _day_prefixes(fetch, s3, bucket, roots, window_days, regions),
                ("CloudTrail-Digest", "CloudTrail-Insight"),
            )
            files, size, skipped, errors = fetch.fetch(s3, bucket, objects)
        except Exception as exc:
            out.sources.append(
                Source(
                    kind="cloudtrail",
                    location=location,
                    read=False,
                    details=details,
                    why=f"cannot list the trail's bucket: {_error(exc)}",
                )
            )
            continue
        why = None
        if not objects:
            why = f"no log file for account {account} in the window's day folders"
        elif errors and not files:
            why = f"no log file could be fetched (first: {errors[0]}); a KMS-encrypted trail also needs kms:Decrypt"
        elif skipped:
            why = f"stopped at the size bound ({skipped} files left unread; raise scope.max_download_bytes)"
        details.update({"errors": errors[:5], "skipped_by_size_bound": skipped})
        out.sources.append(
            Source(
                kind="cloudtrail", location=location, read=files > 0, why=why, files=files, bytes=size, details=details
            )
        )


def athena_locations(clients: Clients, *, account: str, region: str) -> tuple[str | None, list[Source]]:
    """For Athena at scale: the S3 location of the account's CloudTrail folder (``…/AWSLogs/[<org>/]<account>/
    CloudTrail/``), found as above but with nothing downloaded."""
    sources: list[Source] = []
    try:
        trails = clients("cloudtrail", region=region).describe_trails(includeShadowTrails=True).get("trailList", [])
    except Exception as exc:
        return None, [Source(kind="cloudtrail", read=False, why=f"DescribeTrails failed: {_error(exc)}")]
    fetch = _Fetcher(clients, Path("."), [0], 1, None, "cloudtrail")
    for trail in trails:
        bucket, prefix = trail.get("S3BucketName"), trail.get("S3KeyPrefix") or ""
        if not bucket:
            continue
        try:
            s3 = clients("s3", region=region)
            for root in _account_roots(fetch, s3, bucket, prefix, account, "CloudTrail"):
                if fetch.folders(s3, bucket, root):
                    sources.append(
                        Source(
                            kind="athena",
                            location=f"s3://{bucket}/{root}",
                            read=True,
                            details={"trail": trail.get("TrailARN")},
                        )
                    )
                    return f"s3://{bucket}/{root}", sources
        except Exception as exc:
            sources.append(
                Source(
                    kind="cloudtrail",
                    location=f"s3://{bucket}/{prefix}".rstrip("/"),
                    read=False,
                    why=f"cannot list the trail's bucket: {_error(exc)}",
                )
            )
    if not sources:
        sources.append(Source(kind="cloudtrail", read=False, why=f"no trail with logs for {account} in {region}"))
    return None, sources


def records_from_lookup(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """LookupEvents ``Events`` → CloudTrail records: each event's ``CloudTrailEvent`` is the record as JSON text."""
    records = []
    for event in events:
        text = event.get("CloudTrailEvent")
        try:
            record = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            record = None
        if not isinstance(record, dict):  # no full record: rebuild what LookupEvents' own fields say
            when = event.get("EventTime")
            record = {
                "eventVersion": "1.08",
                "eventID": event.get("EventId"),
                "eventName": event.get("EventName"),
                "eventSource": event.get("EventSource"),
                "readOnly": event.get("ReadOnly"),
                "eventTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                if isinstance(when, datetime)
                else when,
                "userIdentity": {"accessKeyId": event.get("AccessKeyId"), "userName": event.get("Username")},
            }
        records.append(record)
    return records


def write_records(root: Path, account: str, region: str, records: list[dict[str, Any]], name: str) -> int:
    """Records into ``root/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<name>.json.gz``, one file a day."""
    by_day: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        when = str(record.get("eventTime") or "")
        day = when[:10].replace("-", "/") if re.match(r"^\d{4}-\d{2}-\d{2}", when) else "1970/01/01"
        by_day.setdefault((record.get("awsRegion") or region, day), []).append(record)
    for (rec_region, day), batch in by_day.items():
        folder = root / "AWSLogs" / account / "CloudTrail" / rec_region / day
        folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"Records": batch}, separators=(",", ":")).encode()
        (folder / f"{account}_CloudTrail_{rec_region}_{name}.json.gz").write_bytes(gzip.compress(body, mtime=0))
    return len(by_day)


def _lookup(client: Any, start: datetime, end: datetime, keys: list[str]) -> list[dict[str, Any]]:
    """LookupEvents by access key, following the keys each record mints (AssumeRole, CreateAccessKey, …): far
    fewer calls than the whole account's events at LookupEvents' 2 calls a second. With no key (a principal
    subject), every event of the window, up to the cap."""
    events: list[dict[str, Any]] = []
    seen: set[str] = set()

    def pages(**extra: Any) -> Iterable[dict[str, Any]]:
        for page in client.get_paginator("lookup_events").paginate(StartTime=start, EndTime=end, **extra):
            yield from page.get("Events", [])

    if not keys:
        for event in pages():
            events.append(event)
            if len(events) >= LOOKUP_MAX_EVENTS:
                break
        return events
    queue = list(dict.fromkeys(keys))
    while queue and len(seen) < LOOKUP_MAX_KEYS and len(events) < LOOKUP_MAX_EVENTS:
        key = queue.pop(0)
        if key in seen:
            continue
        seen.add(key)
        for event in pages(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key}]):
            if event.get("EventId") in {e.get("EventId") for e in events[-1000:]}:
                continue
            events.append(event)
            for record in records_from_lookup([event]):
                minted = record.get("responseElements") if isinstance(record.get("responseElements"), dict) else {}
                new = (minted.get("credentials") or {}).get("accessKeyId") or (minted.get("accessKey") or {}).get(
                    "accessKeyId"
                )
                if new and new not in seen and not record.get("errorCode"):
                    queue.append(str(new))
    return events[:LOOKUP_MAX_EVENTS]


def _lookup_events(
    clients: Clients,
    out: Discovered,
    ct_root: Path,
    account: str,
    region: str,
    window: Window,
    keys: Iterable[str],
    now: datetime,
) -> None:
    start = max(window.since, now - timedelta(days=LOOKUP_DAYS))
    end = min(window.until, now)
    location = f"CloudTrail LookupEvents {account} {region}"
    if start >= end:
        out.sources.append(
            Source(
                kind="lookup_events", location=location, read=False, why="the window lies outside LookupEvents' 90 days"
            )
        )
        return
    try:
        events = _lookup(clients("cloudtrail", region=region), start, end, list(keys))
    except Exception as exc:
        out.sources.append(
            Source(kind="lookup_events", location=location, read=False, why=f"LookupEvents failed: {_error(exc)}")
        )
        return
    records = records_from_lookup(events)
    files = write_records(ct_root, account, region, records, "lookup-events")
    why = (
        "management events of the last 90 days only: no data events (S3 objects, Lambda invokes), and only this region"
    )
    if len(events) >= LOOKUP_MAX_EVENTS:
        why += f"; stopped at {LOOKUP_MAX_EVENTS:,} events"
    out.sources.append(
        Source(
            kind="lookup_events",
            location=location,
            read=True,
            files=files,
            why=why,
            details={"events": len(records), "since": start.isoformat(), "until": end.isoformat()},
        )
    )
    out.lookup_events = True


def _flow_logs(
    clients: Clients,
    out: Discovered,
    flow_root: Path,
    account: str,
    region: str,
    window: Window,
    window_days: list[str],
    enis: list[str],
    subnets: list[str],
    vpcs: list[str],
    budget: list[int],
    workers: int,
    progress: Progress | None,
) -> None:
    ec2 = clients("ec2", region=region)
    try:
        if enis and not (subnets and vpcs):  # the interfaces' subnets and VPCs carry flow logs too
            for eni in ec2.describe_network_interfaces(NetworkInterfaceIds=enis).get("NetworkInterfaces", []):
                subnets.append(eni.get("SubnetId"))
                vpcs.append(eni.get("VpcId"))
        resources = sorted({r for r in (*enis, *subnets, *vpcs) if r})
        filters = [{"Name": "resource-id", "Values": resources}] if resources else []
        logs = (
            ec2.describe_flow_logs(Filters=filters).get("FlowLogs", [])
            if filters
            else ec2.describe_flow_logs().get("FlowLogs", [])
        )
    except Exception as exc:
        out.sources.append(Source(kind="flow_logs", read=False, why=f"DescribeFlowLogs failed: {_error(exc)}"))
        return
    if not logs:
        named = ", ".join(sorted({r for r in (*enis, *subnets, *vpcs) if r})) or f"region {region}"
        out.sources.append(Source(kind="flow_logs", read=False, why=f"no VPC Flow Logs for {named}"))
        return
    fetch = _Fetcher(clients, flow_root, budget, workers, progress, "flow")
    seen: set[str] = set()
    for flow in logs:
        details = {
            "flow_log_id": flow.get("FlowLogId"),
            "resource_id": flow.get("ResourceId"),
            "destination_type": flow.get("LogDestinationType"),
            "format": flow.get("LogFormat"),
        }
        kind = flow.get("LogDestinationType") or "cloud-watch-logs"
        if kind == "s3":
            match = _S3_ARN.match(flow.get("LogDestination") or "")
            if not match:
                out.sources.append(
                    Source(
                        kind="flow_logs",
                        read=False,
                        details=details,
                        why="the flow log's S3 destination is not a bucket ARN",
                    )
                )
                continue
            bucket, prefix = match.group(1), match.group(2)
            if (bucket + "/" + prefix) in seen:
                continue
            seen.add(bucket + "/" + prefix)
            location = f"s3://{bucket}/{prefix}".rstrip("/")
            try:
                s3 = clients("s3", region=region)
                roots = _account_roots(fetch, s3, bucket, prefix, account, "vpcflowlogs")
                objects = fetch.listing(s3, bucket, _day_prefixes(fetch, s3, bucket, roots, window_days, [region]), ())
                files, size, skipped, errors = fetch.fetch(s3, bucket, objects)
            except Exception as exc:
                out.sources.append(
                    Source(
                        kind="flow_logs",
                        location=location,
                        read=False,
                        details=details,
                        why=f"cannot list the flow log bucket: {_error(exc)}",
                    )
                )
                continue
            why = (
                None
                if files
                else (
                    f"no flow log file in the window's day folders of {account} {region}"
                    if not objects
                    else f"no file could be fetched (first: {(errors or ['?'])[0]})"
                )
            )
            if skipped:
                why = f"stopped at the size bound ({skipped} files left unread)"
            out.sources.append(
                Source(
                    kind="flow_logs",
                    location=location,
                    read=files > 0,
                    why=why,
                    files=files,
                    bytes=size,
                    details=details,
                )
            )
        elif kind == "cloud-watch-logs":
            group = flow.get("LogGroupName")
            if not group or group in seen:
                continue
            seen.add(group)
            out.sources.append(_cloudwatch(clients, flow_root, account, region, window, group, flow, details))
        else:
            out.sources.append(
                Source(
                    kind="flow_logs",
                    location=flow.get("LogDestination"),
                    read=False,
                    details=details,
                    why=f"destination type {kind} is not read by responder",
                )
            )


def _cloudwatch(
    clients: Clients,
    flow_root: Path,
    account: str,
    region: str,
    window: Window,
    group: str,
    flow: dict[str, Any],
    details: dict[str, Any],
) -> Source:
    """A CloudWatch Logs destination: the window's events, a file per stream, headed by the log's format."""
    fields = _FORMAT_FIELD.findall(flow.get("LogFormat") or "")
    header = " ".join(fields) if fields else None
    location = f"logs:{group}"
    lines: dict[str, list[tuple[int, str]]] = {}
    try:
        paginator = clients("logs", region=region).get_paginator("filter_log_events")
        for page in paginator.paginate(
            logGroupName=group,
            startTime=int(window.since.timestamp() * 1000),
            endTime=int(window.until.timestamp() * 1000),
        ):
            for event in page.get("events", []):
                lines.setdefault(event.get("logStreamName") or "stream", []).append(
                    (int(event.get("timestamp") or 0), str(event.get("message") or "").strip())
                )
    except Exception as exc:
        return Source(
            kind="flow_logs",
            location=location,
            read=False,
            details=details,
            why=f"FilterLogEvents failed: {_error(exc)}",
        )
    files = size = 0
    for stream, rows in lines.items():
        rows.sort()
        day = datetime.fromtimestamp(rows[0][0] / 1000, UTC).strftime("%Y/%m/%d")
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", stream)[:120]
        folder = (
            flow_root
            / "cloudwatch"
            / re.sub(r"[^A-Za-z0-9_.-]", "_", group)[:120]
            / "AWSLogs"
            / account
            / "vpcflowlogs"
            / region
            / day
        )
        folder.mkdir(parents=True, exist_ok=True)
        body = "\n".join(([header] if header else []) + [m for _, m in rows if m]) + "\n"
        data = gzip.compress(body.encode(), mtime=0)
        (folder / f"{safe}.log.gz").write_bytes(data)
        files += 1
        size += len(data)
    why = None if files else f"no flow log events in {group} within the window"
    return Source(
        kind="flow_logs", location=location, read=files > 0, why=why, files=files, bytes=size, details=details
    )


__all__ = [
    "DEFAULT_MAX_BYTES",
    "Discovered",
    "athena_locations",
    "days",
    "discover",
    "records_from_lookup",
    "write_records",
]
