"""Follow the subject through the credentials it obtained or minted.

A key the subject's records mint (AssumeRole, GetSessionToken, GetFederationToken,
AssumeRoleWithWebIdentity/SAML, CreateAccessKey for any user) belongs to the subject, and so on
transitively; a long-term key's user brings its console sessions; a user the subject created is the
subject's entirely (its console sign-in included). Each key remembers the pivot that
brought it in, so the report can say which key came from where.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from . import questions as Q
from .subject import UNBOUNDED, Subject, Window

MAX_ROUNDS = 12
ISSUANCE_LOOKBACK = timedelta(hours=36)  # GetSessionToken credentials live up to 36 h


class Backend(Protocol):
    name: str

    def run(self, question: Any, values: dict[str, Any]) -> list[dict[str, Any]]: ...


@dataclass
class KeyOrigin:
    """How one access key came to belong to the subject."""

    key: str
    pivot: str  # "seed", "AssumeRole", "CreateAccessKey", "console session", ...
    from_key: str | None = None
    event_time: datetime | None = None
    event_id: str | None = None
    detail: str = ""
    role_arn: str | None = None
    session_arn: str | None = None
    issued_by: str | None = None
    principal_arn: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() + "Z" if isinstance(v, datetime) and v.tzinfo is None else v)
            for k, v in self.__dict__.items()
        }


@dataclass
class Resolution:
    """The subject as the logs know it: every key, principal and role that is the attacker."""

    keys: dict[str, KeyOrigin] = field(default_factory=dict)
    principals: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    created_users: dict[str, dict[str, Any]] = field(default_factory=dict)  # user ARN → the CreateUser record


def base_values(window: Window) -> dict[str, Any]:
    since, until = window.naive
    since_day, until_day = window.days()
    return {"since": since, "until": until, "since_day": since_day, "until_day": until_day}


def subject_values(res: Resolution, window: Window) -> dict[str, Any]:
    return {
        **base_values(window),
        "keys": sorted(res.keys),
        "principals": sorted(res.principals),
        "roles": sorted(res.roles),
    }


def resolve(backend: Backend, subject: Subject, window: Window) -> Resolution:
    res = Resolution()
    for key in subject.access_key_ids:
        res.keys[key] = KeyOrigin(key=key, pivot="seed", detail=f"the subject ({subject.kind})")
    for arn in subject.principal_arns:
        if ":role/" in arn and arn.startswith("arn:aws") and ":iam::" in arn:
            res.roles.add(arn)
        else:
            res.principals.add(arn)
        if ":user/" in arn:
            res.users.add(arn)
    # credentials minted shortly before the window still act inside it: look for pivots further back
    wider = Window(since=max(window.since - ISSUANCE_LOOKBACK, UNBOUNDED), until=window.until)
    resolving = getattr(backend, "resolving", None)  # the local backend answers the rounds from a small table
    with resolving(base_values(wider)) if resolving else nullcontext():
        _rounds(backend, res, wider)
        _issuance(backend, res, wider)
    return res


def _rounds(backend: Backend, res: Resolution, wider: Window) -> None:
    for _ in range(MAX_ROUNDS):
        before = len(res.keys)
        values = subject_values(res, wider)
        for row in backend.run(Q.IDENTITIES, values):
            if (
                row["identity_type"] == "IAMUser"
                and row["principal_arn"]
                and (row["access_key_id"] or "").startswith("AKIA")
            ):
                res.users.add(row["principal_arn"])
            origin = res.keys.get(row["access_key_id"] or "")
            if origin and not origin.principal_arn:
                origin.principal_arn = row["principal_arn"]
        for row in backend.run(Q.PIVOTS, values):
            new = row["new_key"]
            if not new or new in res.keys:
                continue
            detail = (
                f"{row['event_name']} {row['role_arn']}"
                if row["role_arn"]
                else f"{row['event_name']} for {row['for_user']}"
                if row["for_user"]
                else row["event_name"]
            )
            res.keys[new] = KeyOrigin(
                key=new,
                pivot=row["event_name"],
                from_key=row["from_key"],
                event_time=row["event_time"],
                event_id=row["event_id"],
                detail=detail,
                role_arn=row["role_arn"],
                session_arn=row["session_arn"] or row["federated_arn"],
                issued_by=row["by_principal"],
            )
        for row in backend.run(Q.CREATED_USERS, values):
            arn = row["user_arn"]
            if arn and arn not in res.principals:
                res.principals.add(arn)
                res.users.add(arn)
                res.created_users[arn] = row
                before -= 1  # a new principal is progress even before it brings a key
        if res.users:
            console = backend.run(Q.CONSOLE, {**values, "users": sorted(res.users)})
            for row in console:
                key = row["access_key_id"]
                if key and key not in res.keys:
                    res.keys[key] = KeyOrigin(
                        key=key,
                        pivot="console session",
                        principal_arn=row["principal_arn"],
                        event_time=row["first_seen"],
                        detail=f"session of {row['principal_arn']}",
                    )
        if len(res.keys) == before:
            break


def _issuance(backend: Backend, res: Resolution, wider: Window) -> None:
    """Resolve temporary keys to their role sessions: who issued them, for which role and session."""
    values = {**base_values(wider), "keys": sorted(res.keys)}
    for row in backend.run(Q.ISSUANCE, values):
        origin = res.keys.get(row["new_key"])
        if origin is None:
            continue
        origin.role_arn = origin.role_arn or row["role_arn"]
        origin.session_arn = origin.session_arn or row["session_arn"]
        if origin.pivot == "seed":
            origin.issued_by = row["issued_by"]
            origin.event_time = origin.event_time or row["event_time"]
            origin.detail = (
                f"issued by {row['event_name']} ({row['issued_by']}) for "
                f"{row['session_arn'] or row['role_arn'] or row['for_user']}"
            )
            if origin.principal_arn and origin.principal_arn != row["session_arn"]:
                origin.detail += f"; used as {origin.principal_arn}"
