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

    @property
    def flow_logs_read(self) -> bool:
        """Whether any VPC Flow Logs are behind this analysis (an empty egress table means little without)."""
        roots = getattr(self.backend, "roots", None)
        return True if roots is None else roots.get("flow") is not None

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


# -- plotting helpers for the notebooks (matplotlib is imported only when one is called) ----------------------
def utc_times(values: Any) -> Any:
    """Timestamps as tz-aware UTC (DuckDB returns CloudTrail's UTC clock without a zone)."""
    import pandas as pd

    return pd.to_datetime(values, utc=True)


def time_axis(ax: Any, times: Any = None) -> None:
    """Dates and times on the x axis, labelled with the time zone (UTC), and the day in the label when the
    data spans one day: a forensic chart must never leave the reader guessing when."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz="UTC")
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz="UTC"))
    label = "time (UTC)"
    if times is not None and len(times):
        stamps = utc_times(times)
        first, last = stamps.min(), stamps.max()
        label = (
            f"time (UTC), {first:%Y-%m-%d}"
            if first.date() == last.date()
            else f"time (UTC), {first:%Y-%m-%d} – {last:%Y-%m-%d}"
        )
    ax.set_xlabel(label)


def plot_tactics(frame: Any, ax: Any) -> None:
    """The tactic timeline: one row per ATT&CK tactic, a bar from the first to the last call of each technique."""
    import matplotlib.dates as mdates

    from .scope.techniques import TACTICS

    if not len(frame):
        ax.text(0.5, 0.5, "No ATT&CK technique seen in the window", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
        return
    present = [t for t in TACTICS if t in set(frame["tactic"])]
    rows = {t: i for i, t in enumerate(reversed(present))}
    for _, row in frame.iterrows():
        y = rows[row["tactic"]]
        start, end = mdates.date2num(row["first"]), mdates.date2num(row["last"])
        ax.broken_barh([(start, max(end - start, 1 / 1440))], (y - 0.3, 0.6), alpha=0.6)
    for tactic, group in frame.groupby("tactic"):  # one label per row: the techniques, in time order
        ids = list(dict.fromkeys(group.sort_values("first")["technique_id"]))
        ax.annotate(", ".join(ids), (mdates.date2num(group["first"].min()), rows[tactic] + 0.32), fontsize=7)
    ax.set_yticks(list(rows.values()), list(rows.keys()))
    time_axis(ax, list(frame["first"]) + list(frame["last"]))
    ax.set_title("Tactic timeline (MITRE ATT&CK)")


def plot_objects(reads: Any, ax: Any, *, width: int = 48) -> None:
    """Bytes read per object, labelled by key (long keys shortened in the middle)."""
    if not len(reads):
        ax.text(0.5, 0.5, "No object read in the window", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
        return

    def short(key: str) -> str:
        return key if len(key) <= width else key[: width // 2 - 1] + "…" + key[-(width // 2) :]

    ordered = reads.sort_values("bytes_out")
    ax.barh([short(str(k)) for k in ordered["id"]], ordered["bytes_out"] / 1e6)
    ax.set_xlabel("MB read (bytesTransferredOut)")
    ax.set_title(f"{len(reads)} objects read, {reads['bytes_out'].sum() / 1e6:,.0f} MB")


def plot_egress(egress: Any, ax: Any, *, flow_logs_read: bool = True) -> str:
    """Bytes out by destination; with none, the chart *says* so, and why (no traffic, or no flow logs)."""
    if len(egress):
        labels = egress["destination"].astype(str) + ":" + egress["port"].astype(str)
        ax.bar(labels, egress["bytes"] / 1e6)
        ax.set_ylabel("MB out")
        ax.set_title("Egress to the subject's addresses and from instances it launched")
        return f"{int(egress['bytes'].sum()):,} bytes out to {len(egress)} destination(s)"
    message = (
        "No egress seen: the flow logs read hold no accepted traffic from the affected interfaces or addresses."
        if flow_logs_read
        else "No egress seen: no VPC Flow Logs were read, so egress is unknown."
    )
    ax.text(0.5, 0.5, message.replace(": ", ":\n", 1), ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("Egress (VPC Flow Logs)")
    return message
