"""Forensics for notebooks: the scope questions as pandas DataFrames.

    import responder.forensics as rf
    fx = rf.open(cloudtrail="logs/cloudtrail", flow_logs="logs/flowlogs")
    fx.timeline(access_key="AKIA…", since="2026-11-20")
    fx.api_calls(access_key="AKIA…")
    fx.techniques(access_key="AKIA…")        # the tactic timeline (ATT&CK)
    fx.persistence(access_key="AKIA…")       # what it left behind; fx.external_accounts(...) who got access

Every method takes the same subject (``access_key`` / ``principal``, pivots followed unless
``follow_pivots=False``) and window (``since`` / ``until``, ISO-8601 text or datetimes) arguments and
returns a DataFrame; the first call fills the cache, later ones read it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .scope import Window, parse_time, subject_for_key, subject_for_principal
from .scope import questions as Q
from .scope.assemble import flow_values
from .scope.attribution import NAMES as ATTRIBUTED_CALLS
from .scope.attribution import attribute, iso_time
from .scope.pivots import Resolution, resolve, subject_values
from .scope.techniques import techniques_from

__all__ = ["Forensics", "open"]

_PERSISTENCE_COLUMNS = [
    "time",
    "kind",
    "tactic",
    "technique_id",
    "event_name",
    "event_source",
    "target",
    "resource_type",
    "resource_ids",
    "new_key",
    "policy_arn",
    "policy_document",
    "external_accounts",
    "public",
    "succeeded",
    "error_code",
    "access_key_id",
    "event_id",
    "region",
    "account_id",
]


def _time(value: str | datetime | None, flag: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_time(value, flag)


class Forensics:
    """A scope backend with a notebook-shaped surface."""

    def __init__(self, backend: Any, organization: frozenset[str] = frozenset()) -> None:
        self.backend = backend
        self.organization = organization
        self._resolved: dict[tuple[Any, ...], Resolution] = {}

    def _window(self, since: str | datetime | None, until: str | datetime | None) -> Window:
        lo, hi = _time(since, "since"), _time(until, "until")
        return Window(**{k: v for k, v in (("since", lo), ("until", hi)) if v is not None})

    def subject(
        self,
        access_key: str | None = None,
        principal: str | None = None,
        *,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        follow_pivots: bool = True,
    ) -> tuple[Resolution, Window]:
        """Resolve the subject once per window: keys by pivot, principals, roles."""
        window = self._window(since, until)
        if access_key:
            subject = subject_for_key(access_key)
        elif principal:
            subject = subject_for_principal(principal)
        else:
            from .errors import BadInput

            raise BadInput("name a subject", hint="pass access_key='AKIA…' or principal='arn:aws:…'")
        cache_key = (subject, window.since, window.until.replace(second=0, microsecond=0), follow_pivots)
        if cache_key not in self._resolved:
            if follow_pivots:
                self._resolved[cache_key] = resolve(self.backend, subject, window)
            else:
                res = Resolution()
                from .scope.pivots import KeyOrigin

                res.keys = {k: KeyOrigin(key=k, pivot="seed") for k in subject.access_key_ids}
                res.principals = set(subject.principal_arns)
                self._resolved[cache_key] = res
        return self._resolved[cache_key], window

    def _frame(self, question: Any, values: dict[str, Any]) -> Any:
        return self.backend.frame(question, values)

    def keys(self, access_key: str | None = None, principal: str | None = None, **window: Any) -> Any:
        import pandas as pd

        res, _ = self.subject(access_key, principal, **window)
        return pd.DataFrame([o.as_dict() for o in res.keys.values()])

    def timeline(self, access_key: str | None = None, principal: str | None = None, **window: Any) -> Any:
        res, w = self.subject(access_key, principal, **window)
        return self._frame(Q.TIMELINE, subject_values(res, w))

    def api_calls(self, access_key: str | None = None, principal: str | None = None, **window: Any) -> Any:
        res, w = self.subject(access_key, principal, **window)
        return self._frame(Q.API_CALLS, subject_values(res, w))

    def resources(self, access_key: str | None = None, principal: str | None = None, **window: Any) -> Any:
        res, w = self.subject(access_key, principal, **window)
        return self._frame(Q.RESOURCES, subject_values(res, w))

    def persistence(self, access_key: str | None = None, principal: str | None = None, **window: Any) -> Any:
        """What the subject left behind, one row per item (kind, resource ids, outside accounts, ...)."""
        import pandas as pd

        items, _, _ = self._attribution(access_key, principal, **window)
        return pd.DataFrame(items, columns=_PERSISTENCE_COLUMNS)

    def external_accounts(self, access_key: str | None = None, principal: str | None = None, **window: Any) -> Any:
        """Accounts outside the organisation the subject granted access to (``organization=`` in :func:`open`)."""
        import pandas as pd

        _, external, _ = self._attribution(access_key, principal, **window)
        return pd.DataFrame(
            external, columns=["account_id", "event_name", "event_id", "time", "kind", "resource_type", "resource_id"]
        )

    def techniques(self, access_key: str | None = None, principal: str | None = None, **window: Any) -> Any:
        """ATT&CK techniques seen, with ``first`` / ``last`` as UTC timestamps: the tactic timeline."""
        import pandas as pd

        res, w = self.subject(access_key, principal, **window)
        calls = self.backend.run(Q.TECHNIQUE_CALLS, subject_values(res, w))
        frame = pd.DataFrame(
            techniques_from(calls, iso=iso_time),
            columns=[
                "tactic",
                "technique_id",
                "technique",
                "event_names",
                "count",
                "errors",
                "first",
                "last",
                "resources",
                "basis",
            ],
        )
        for column in ("first", "last"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def _attribution(self, access_key: str | None, principal: str | None, **window: Any) -> Any:
        res, w = self.subject(access_key, principal, **window)
        rows = self.backend.run(Q.ATTRIBUTION, {**subject_values(res, w), "names": list(ATTRIBUTED_CALLS)})
        return attribute(rows, organization=self.organization, iso=iso_time)

    def source_ips(self, access_key: str | None = None, principal: str | None = None, **window: Any) -> Any:
        res, w = self.subject(access_key, principal, **window)
        return self._frame(Q.SOURCE_IPS, subject_values(res, w))

    def egress(self, access_key: str | None = None, principal: str | None = None, **window: Any) -> Any:
        """Flow-log bytes out to the subject's addresses and from the instances it launched."""
        res, w = self.subject(access_key, principal, **window)
        values = subject_values(res, w)
        ips = [row["ip"] for row in self.backend.run(Q.SOURCE_IPS, values)]
        instances = self.backend.run(Q.INSTANCES, values)
        from .scope.subject import Subject

        fv = flow_values(Subject(kind="access_key"), w, instances, ips)
        return self._frame(Q.EGRESS, fv)

    def close(self) -> None:
        getattr(self.backend, "close", lambda: None)()

    def __enter__(self) -> Forensics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open(
    cloudtrail: str | Path | None = None,
    flow_logs: str | Path | None = None,
    backend: str = "local",
    *,
    cache_dir: str | Path | None = None,
    organization: Any = (),
    **options: Any,
) -> Forensics:
    """Open logs for analysis; locations default to RESPONDER_CLOUDTRAIL / RESPONDER_FLOW_LOGS / config."""
    from .config import load_settings
    from .scope import locations, open_backend

    settings = load_settings()
    ct, fl = locations(settings, cloudtrail=cloudtrail, flow_logs=flow_logs)
    engine = open_backend(
        backend,
        cloudtrail=ct,
        flow_logs=fl,
        settings=settings,
        cache_dir=Path(cache_dir) if cache_dir else None,
        options=options or None,
    )
    inside = {str(a) for a in (organization or settings.scope.get("organization_accounts") or [])}
    return Forensics(engine, frozenset(inside))
