"""Clocks: the recorded start events of a run and the deadlines they set running.

Start events are explicit records (kind ``notify.start``, key ``<run_id>#<event>``): awareness defaults to
when the finding was received (the run's ``created_at``) and may be moved only with a reason, kept in the
record's history. Discovery (HIPAA) is awareness unless recorded separately; a materiality determination
(SEC 8-K) is never assumed. Submissions are ``notify.sent`` items. From these, the register's decisions
and the regime data, :func:`refresh` computes every milestone's clock and stores it as a ``notify.clock``
item (key ``<run_id>#<regime>#<milestone>``), which ``responder deadlines`` and reminders read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..clock import iso
from ..errors import BadInput
from ..state.base import RunStore
from . import register
from .calendars import HolidayCalendar, regime_calendar
from .deadlines import milestone_due, needs_calendar, regime_zone
from .model import StartEvent
from .regimes import get_regime
from .settings import NotifySettings

START_KIND = "notify.start"
SENT_KIND = "notify.sent"
CLOCK_KIND = "notify.clock"

RECEIVED = "default: when the finding was received"


def parse_time(text: str, *, zone: Any = UTC) -> datetime:
    """ISO 8601; a time without an offset is read in ``zone`` (the organisation's time zone)."""
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{text!r} is not an ISO 8601 time",
            hint="expected e.g. 2026-03-27T18:30:00+01:00 or 2026-03-27T17:30:00Z",
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=zone)).astimezone(UTC)


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def received_at(store: RunStore, run_id: str) -> datetime:
    run = store.get_run(run_id)
    if run is None:
        raise BadInput(f"no run {run_id!r} in the store", hint="list runs with 'responder runs'")
    return parse_time(run.created_at)


def starts(store: RunStore, run_id: str) -> dict[StartEvent, dict[str, Any]]:
    out = {}
    for item in store.list_items(START_KIND, f"{run_id}#"):
        if item.get("run_id") == run_id:
            out[StartEvent(item["event"])] = item
    return out


#: clocks on two machines disagree a little; beyond this, a start time "in the future" is a mistake
FUTURE_SKEW = timedelta(minutes=1)


def record_start(
    store: RunStore,
    run_id: str,
    event: StartEvent | str,
    *,
    at: datetime | None,
    reason: str | None,
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record (or move, with a reason) when a start event happened; earlier values stay in ``history``."""
    event = StartEvent(event)
    if event == StartEvent.SENT:
        raise BadInput("record submissions with 'responder notify sent', not as a start event")
    received = received_at(store, run_id)
    if at is not None and at > now + FUTURE_SKEW:
        raise BadInput(
            f"{event.value} at {iso(at)} is in the future (now {iso(now)}): a clock cannot start from a time "
            "that has not happened",
            hint="give the time it happened (with its zone, e.g. 2026-12-01T09:30+01:00)",
        )
    if at is None:
        if event == StartEvent.MATERIALITY:
            raise BadInput(
                "a materiality determination needs its time",
                hint="add --at with when the registrant determined the incident material",
            )
        at, reason = received, reason or RECEIVED
        if event == StartEvent.DISCOVERY:
            known = starts(store, run_id).get(StartEvent.AWARENESS)
            at = _parse(known["at"]) if known else received
            reason = reason if reason != RECEIVED else "default: same as awareness"
    elif event == StartEvent.AWARENESS and at == received:
        reason = reason or RECEIVED
    elif event == StartEvent.AWARENESS and not (reason or "").strip():
        raise BadInput(
            "an awareness time other than when the finding was received needs a reason",
            hint="add --reason, e.g. 'SOC escalated to the DPO at this time'",
        )
    elif event != StartEvent.AWARENESS and not (reason or "").strip():
        raise BadInput(f"recording {event.value} needs a reason", hint="add --reason saying who determined it and how")
    record = {
        "run_id": run_id,
        "event": event.value,
        "at": iso(at),
        "reason": reason,
        "recorded_by": by,
        "recorded_at": iso(now),
    }
    key = f"{run_id}#{event.value}"
    if store.get_item(START_KIND, key) is None:
        store.put_item(START_KIND, key, {**record, "history": []}, overwrite=False)
    else:

        def change(item: dict[str, Any]) -> dict[str, Any] | None:
            if item.get("at") == record["at"] and item.get("reason") == record["reason"]:
                return None
            history = [
                *item.get("history", []),
                {k: item.get(k) for k in ("at", "reason", "recorded_by", "recorded_at")},
            ]
            return {**item, **record, "history": history}

        store.update_item(START_KIND, key, change)
    return store.get_item(START_KIND, key) or record


def ensure_awareness(store: RunStore, run_id: str, *, by: str, now: datetime) -> datetime:
    """Awareness as recorded, or recorded now as the default (when the finding was received)."""
    known = starts(store, run_id).get(StartEvent.AWARENESS)
    if known:
        return _parse(known["at"]) or now
    return _parse(record_start(store, run_id, StartEvent.AWARENESS, at=None, reason=None, by=by, now=now)["at"]) or now


def mark_sent(
    store: RunStore,
    run_id: str,
    regime_id: str,
    milestone_id: str,
    *,
    at: datetime,
    by: str,
    reference: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Record that a person submitted a notice: it closes that clock and may start the next (NIS2)."""
    get_regime(regime_id).milestone(milestone_id)
    item = {
        "run_id": run_id,
        "regime": regime_id,
        "milestone": milestone_id,
        "at": iso(at),
        "by": by,
        "reference": reference,
        "recorded_at": iso(now),
    }
    store.put_item(SENT_KIND, f"{run_id}#{regime_id}#{milestone_id}", item)
    if register.get_entry(store, run_id) is not None:
        register.add_sent(store, run_id, item, at=now)
    return item


def sent(store: RunStore, run_id: str, regime_id: str) -> dict[str, datetime]:
    out = {}
    for item in store.list_items(SENT_KIND, f"{run_id}#{regime_id}#"):
        at = _parse(item.get("at"))
        if at:
            out[item["milestone"]] = at
    return out


def regimes_in_play(
    store: RunStore, run_id: str, settings: NotifySettings, entry: dict[str, Any] | None = None
) -> list[str]:
    """The run's regimes from the register, else the organisation's configured ones."""
    entry = entry if entry is not None else (register.get_entry(store, run_id) or {})
    known = list((entry.get("regimes") or {}).keys())
    return known or list(settings.regimes)


def refresh(store: RunStore, run_id: str, settings: NotifySettings, *, now: datetime) -> list[dict[str, Any]]:
    """Recompute and store every clock of a run; returns them, soonest due first."""
    entry = register.get_entry(store, run_id) or {}
    decisions = entry.get("regimes") or {}
    counts = entry.get("counts") or {}
    recorded = {event: _parse(item.get("at")) for event, item in starts(store, run_id).items()}
    if StartEvent.AWARENESS in recorded and StartEvent.DISCOVERY not in recorded:
        recorded[StartEvent.DISCOVERY] = recorded[StartEvent.AWARENESS]
    start_times = {k: v for k, v in recorded.items() if v is not None}
    clocks = []
    submissions: dict[str, dict[str, datetime]] = {}
    for item in store.list_items(SENT_KIND, f"{run_id}#"):  # one read for every regime's submissions
        at = _parse(item.get("at"))
        if at and item.get("regime"):
            submissions.setdefault(item["regime"], {})[item["milestone"]] = at
    for regime_id in regimes_in_play(store, run_id, settings, entry):
        regime = get_regime(regime_id)
        calendar = None
        if needs_calendar(regime):
            code = regime_calendar(
                regime.calendar, regime.id, per_regime=settings.calendars, organisation=settings.jurisdiction
            )
            calendar = HolidayCalendar(code or "US")
        zone = regime_zone(regime, settings.zone)
        submitted = submissions.get(regime_id, {})
        decision = (decisions.get(regime_id) or {}).get("decision", register.Decision.PENDING.value)
        for milestone in regime.milestones:
            due = milestone_due(regime, milestone, start_times, submitted, zone=zone, calendar=calendar)
            holds = milestone.condition.holds(counts.get(milestone.condition.fact)) if milestone.condition else None
            if milestone.id in submitted:
                status = "sent"
            elif decision == register.Decision.NOT_REQUIRED.value or holds is False:
                status = "not-required"
            elif due.started_at is None:
                status = "waiting"
            else:
                status = "open"
            clock = {
                "run_id": run_id,
                "regime": regime_id,
                "milestone": milestone.id,
                "title": milestone.title,
                "recipient": milestone.recipient,
                "starts_on": milestone.starts_on.value,
                "started_at": iso(due.started_at),
                "assumed_start": due.assumed_start,
                "due": iso(due.due),
                "standard": milestone.standard,
                "citation": milestone.citation,
                "condition": milestone.condition.text if milestone.condition else None,
                "condition_holds": holds,
                "decision": decision,
                "status": status,
                "sent_at": iso(submitted.get(milestone.id)),
                "timezone": str(zone),
                "refreshed_at": iso(now),
            }
            store.put_item(CLOCK_KIND, f"{run_id}#{regime_id}#{milestone.id}", clock)
            clocks.append(clock)
    return sort_clocks(clocks)


def sort_clocks(clocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Soonest due first; clocks with no fixed due ('without undue delay') after them."""
    return sorted(
        clocks,
        key=lambda c: (
            c.get("due") is None,
            c.get("due") or "",
            c.get("run_id"),
            c.get("regime"),
            c.get("milestone"),
        ),
    )


def all_clocks(
    store: RunStore, *, statuses: tuple[str, ...] = ("open",), regime: str | None = None
) -> list[dict[str, Any]]:
    items = [c for c in store.list_items(CLOCK_KIND) if c.get("status") in statuses]
    if regime:
        items = [c for c in items if c.get("regime") == regime]
    return sort_clocks([{k: v for k, v in c.items() if k not in ("kind", "key", "version")} for c in items])


def run_clocks(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    """Every stored clock of one run, whatever its status, soonest due first."""
    items = [c for c in store.list_items(CLOCK_KIND, f"{run_id}#") if c.get("run_id") == run_id]
    return sort_clocks([{k: v for k, v in c.items() if k not in ("kind", "key", "version")} for c in items])


def reminders(store: RunStore, now: datetime, *, within: timedelta = timedelta(hours=12)) -> list[dict[str, Any]]:
    """Open clocks due within ``within`` of ``now`` or already overdue: what a scheduled reminder posts."""
    horizon = iso(now + within) or ""
    return [c for c in all_clocks(store) if c.get("due") and c["due"] <= horizon]


def time_left(clock: dict[str, Any], now: datetime) -> float | None:
    """Seconds until due (negative when overdue); None when the law sets no fixed limit."""
    due = _parse(clock.get("due"))
    return None if due is None else (due - now).total_seconds()
