"""Who a scope is about and over what time.

A subject starts from whatever the responder has: an access key id, a principal ARN, a role session,
or a finding (a run's finding gives the subject). Pivots found in the logs widen its keys later;
the subject itself only records where the investigation started.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import BadInput

if TYPE_CHECKING:
    from ..findings.model import Finding

KEY_RE = re.compile(r"^(AKIA|ASIA|AROA|AIDA|ABIA|ACCA)[A-Z0-9]{12,124}$")
ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]*:(iam|sts)::\d{12}:[\x21-\x7e]{1,1600}$")
UNBOUNDED = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_LOOKBACK_HOURS = 24


class Subject(BaseModel):
    """The seed of an investigation. Values are data from the finding: they only ever reach SQL bound."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["access_key", "principal", "role_session", "finding", "role", "bucket"]
    access_key_ids: tuple[str, ...] = ()
    principal_arns: tuple[str, ...] = ()
    actor_ips: tuple[str, ...] = ()
    interface_ids: tuple[str, ...] = ()
    local_ips: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()  # whoever read or wrote these is listed (bucket_access), not attributed
    finding_id: str | None = None
    label: str = ""

    def describe(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)


class Window(BaseModel):
    """Half-open [since, until) in UTC; ``since`` 1970 means 'everything the logs hold'."""

    model_config = ConfigDict(frozen=True)

    since: datetime = UNBOUNDED
    until: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def model_post_init(self, _: Any) -> None:
        if self.since >= self.until:
            raise BadInput(
                f"the window is empty: since {self.since.isoformat()} is not before until {self.until.isoformat()}",
                hint="pass an earlier --since or a later --until",
            )

    @property
    def naive(self) -> tuple[datetime, datetime]:
        """UTC without tzinfo: how both DuckDB TIMESTAMP and Athena's view compare them."""
        return (self.since.astimezone(UTC).replace(tzinfo=None), self.until.astimezone(UTC).replace(tzinfo=None))

    def days(self, slack: timedelta = timedelta(days=1)) -> tuple[str, str]:
        """Partition bounds ('YYYY/MM/DD'), widened because delivery folders lag event times."""
        lo = max(self.since - slack, UNBOUNDED)
        return lo.strftime("%Y/%m/%d"), (self.until + slack).strftime("%Y/%m/%d")

    def as_json(self) -> dict[str, str | None]:
        def z(dt: datetime) -> str:
            return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")

        return {"since": None if self.since == UNBOUNDED else z(self.since), "until": z(self.until)}


def parse_time(value: str, flag: str) -> datetime:
    """ISO 8601 (Z or offset; a bare date is midnight UTC) or BadInput naming the flag."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{flag} {value!r} is not an ISO-8601 time", hint=f"use e.g. {flag} 2026-11-20T14:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def subject_for_key(key_id: str) -> Subject:
    key = key_id.strip()
    if not KEY_RE.match(key):
        raise BadInput(
            f"{key_id[:64]!r} is not an AWS access key id",
            hint="access key ids look like AKIA… (long-term) or ASIA… (temporary), 20 characters",
        )
    return Subject(kind="role_session" if key.startswith("ASIA") else "access_key", access_key_ids=(key,), label=key)


def subject_for_principal(arn: str) -> Subject:
    value = arn.strip()
    if not ARN_RE.match(value):
        raise BadInput(
            f"{arn[:64]!r} is not an IAM or STS principal ARN",
            hint="e.g. arn:aws:iam::123456789012:user/alice, …:role/Name, "
            "arn:aws:sts::123456789012:assumed-role/Name/session",
        )
    kind = "role_session" if ":assumed-role/" in value else "principal"
    return Subject(kind=kind, principal_arns=(value,), label=value)


def subject_for_finding(finding: Finding) -> Subject:
    """The finding's resource gives keys and principals; its actor gives addresses to follow in flow logs."""
    keys: list[str] = []
    arns: list[str] = []
    enis: list[str] = []
    local: list[str] = []
    for res in (finding.resource, *finding.resources):
        key = getattr(res, "access_key_id", None)
        if key and KEY_RE.match(key) and key not in keys:
            keys.append(key)
        for attr in ("role_arn", "arn"):
            value = getattr(res, attr, None)
            if value and ARN_RE.match(value) and value not in arns and not keys:
                arns.append(value)
        enis.extend(getattr(res, "network_interface_ids", ()) or ())
        local.extend(getattr(res, "private_ips", ()) or ())
    if not keys and not arns:
        res = finding.resource
        user = getattr(res, "user_name", None)
        if user and finding.account_id and res.kind in ("access_key", "iam_user"):
            arns.append(f"arn:aws:iam::{finding.account_id}:user/{user}")
    if not keys and not arns:
        raise BadInput(
            f"finding {finding.id}: names no access key or principal to scope",
            hint="pass --access-key or --principal explicitly",
        )
    ips = (finding.actor.ip,) if finding.actor.ip else ()
    return Subject(
        kind="finding",
        access_key_ids=tuple(keys),
        principal_arns=tuple(arns),
        actor_ips=ips,
        interface_ids=tuple(enis),
        local_ips=tuple(local),
        finding_id=finding.id,
        label=keys[0] if keys else arns[0],
    )


_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_ROLE_RE = re.compile(r"^[\w+=,.@/-]{1,512}$")


def widen(
    subject: Subject | None,
    *,
    account: str | None = None,
    role_name: str | None = None,
    buckets: tuple[str, ...] = (),
    interface_ids: tuple[str, ...] = (),
    label: str = "",
) -> Subject:
    """A subject with a role's sessions, buckets and interfaces added (a playbook step names them)."""
    arns = list(subject.principal_arns) if subject else []
    if role_name:
        name = role_name.rsplit("/", 1)[-1] if role_name.startswith("arn:") else role_name
        if not _ROLE_RE.match(name) or not account:
            raise BadInput(f"{role_name[:64]!r} is not a role name in a known account", hint="e.g. role_name: WebRole")
        arns.append(role_name if role_name.startswith("arn:") else f"arn:aws:iam::{account}:role/{name}")
    for bucket in buckets:
        if not _BUCKET_RE.match(bucket):
            raise BadInput(f"{bucket[:64]!r} is not an S3 bucket name", hint="e.g. bucket_name: my-bucket")
    base = subject or Subject(kind="bucket" if buckets and not role_name else "role")
    return base.model_copy(
        update={
            "principal_arns": tuple(dict.fromkeys(arns)),
            "buckets": tuple(dict.fromkeys((*base.buckets, *buckets))),
            "interface_ids": tuple(dict.fromkeys((*base.interface_ids, *interface_ids))),
            "label": base.label or label or (arns[0] if arns else ", ".join(buckets)),
        }
    )


def window_for_finding(finding: Finding, now: datetime, lookback_hours: float = DEFAULT_LOOKBACK_HOURS) -> Window:
    """From the first evidence minus a look-back; a leaked secret's clock starts at its commit."""
    from ..findings.model import Source

    start = finding.incident_start or finding.first_seen or finding.created_at
    if start is None:
        return Window(until=now)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if finding.source != Source.SECRETS:
        start = start - timedelta(hours=lookback_hours)
    return Window(since=min(start, now - timedelta(seconds=1)), until=now)
