"""Date arithmetic for notification deadlines: one function per way the law counts time.

Rules (each regime's data says which applies, with its citation):

* Every instant is stored and compared in UTC; time zones matter only to decide *which day* it is.
* **Hours** (GDPR Art. 33, NIS2 Art. 23(4)(a)/(b)): exactly N elapsed hours from the recorded instant,
  whatever the wall clock does (72 h across a daylight-saving change is still 72 h). Regulation (EEC,
  Euratom) 1182/71 Art. 3(1)-(2) would let the period start at the next full hour; we don't, so the
  deadline shown is never later than the law's. Weekends and holidays never extend an hours period.
* **Calendar days** (HIPAA 45 CFR 164.404(b)): the day of the start event is day 0 in the regime's time
  zone; the deadline is the *end* of day N (the period's cutoff, 23:59:59 local), weekends and holidays
  included.
* **Business days** (SEC Form 8-K, LGPD): the day of the start event is not counted; day 1 is the first
  business day after it (a day that is not a Saturday, Sunday or public holiday of the calendar). A start
  on a weekend or holiday therefore runs from, and includes, the next business day (Form 8-K General
  Instruction B.1). The deadline is the cutoff on business day N (17:30 Eastern for EDGAR, 17 CFR
  232.13(a)(2); otherwise 23:59:59 local).
* **Months** (NIS2 Art. 23(4)(d)): the end of the day bearing the same date N months later, or of the
  month's last day when there is no such date (Regulation 1182/71 Art. 3(2)(c)); not extended over a
  weekend (conservative).
* **Days after year end** (HIPAA 45 CFR 164.408(c)): end of the Nth day after 31 December of the year of
  the start event.
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..errors import BadInput
from .calendars import HolidayCalendar
from .model import Milestone, Period, Regime, StartEvent, Unit


def _end_of(day: date, period: Period, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, period.cutoff, tzinfo=zone).astimezone(UTC)


def add_business_days(day: date, count: int, calendar: HolidayCalendar) -> date:
    """The ``count``-th business day after ``day`` (``day`` itself never counts)."""
    current, found = day, 0
    while found < count:
        current += timedelta(days=1)
        if calendar.is_business_day(current):
            found += 1
    return current


def add_months(day: date, months: int) -> date:
    """Same date ``months`` later, or that month's last day when the date does not exist."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _cal.monthrange(year, month)[1]))


def due_at(period: Period, start: datetime, *, zone: ZoneInfo, calendar: HolidayCalendar | None = None) -> datetime:
    """When a period that started at ``start`` ends, in UTC (rules in the module docstring)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    start = start.astimezone(UTC)
    local_day = start.astimezone(zone).date()
    if period.unit == Unit.HOURS:
        return start + timedelta(hours=period.amount)
    if period.unit == Unit.CALENDAR_DAYS:
        return _end_of(local_day + timedelta(days=period.amount), period, zone)
    if period.unit == Unit.BUSINESS_DAYS:
        if calendar is None:
            raise ValueError("business days need a holiday calendar")
        return _end_of(add_business_days(local_day, period.amount, calendar), period, zone)
    if period.unit == Unit.MONTHS:
        return _end_of(add_months(local_day, period.amount), period, zone)
    if period.unit == Unit.DAYS_AFTER_YEAR_END:
        return _end_of(date(local_day.year, 12, 31) + timedelta(days=period.amount), period, zone)
    raise ValueError(f"unknown unit {period.unit}")


@dataclass(frozen=True)
class Due:
    """One milestone's clock: when it started, when it is due (None: no fixed limit)."""

    regime: str
    milestone: str
    recipient: str
    started_at: datetime | None
    due: datetime | None
    assumed_start: bool = False  # started from an earlier milestone's latest due time, not a recorded event

    def as_plan(self) -> dict[str, str | None]:
        return {
            "regime": self.regime,
            "recipient": self.recipient,
            "milestone": self.milestone,
            "due": iso_utc(self.due),
        }


def iso_utc(at: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def regime_zone(regime: Regime, organisation_zone: ZoneInfo) -> ZoneInfo:
    """The zone that decides which day it is: the regime's own (EDGAR, Brasília) or the organisation's."""
    return ZoneInfo(regime.timezone) if regime.timezone else organisation_zone


def milestone_due(
    regime: Regime,
    milestone: Milestone,
    starts: dict[StartEvent, datetime],
    sent: dict[str, datetime],
    *,
    zone: ZoneInfo,
    calendar: HolidayCalendar | None,
    assume_chain: bool = True,
) -> Due:
    """The clock of one milestone given the recorded start events and submissions of the run.

    A milestone that starts when an earlier one was sent (NIS2 final report) runs from that submission;
    before it is recorded, and when ``assume_chain``, from the earlier milestone's due time, the latest
    moment the law allows for it, so the plan is never later than reality.
    """
    start: datetime | None
    assumed = False
    if milestone.starts_on == StartEvent.SENT:
        start = sent.get(milestone.after or "")
        if start is None and assume_chain:
            before = milestone_due(
                regime, regime.milestone(milestone.after or ""), starts, sent, zone=zone, calendar=calendar
            )
            start, assumed = before.due, True
    else:
        start = starts.get(milestone.starts_on)
    due = None
    if start is not None and milestone.period is not None:
        due = due_at(milestone.period, start, zone=zone, calendar=calendar)
    return Due(
        regime=regime.id,
        milestone=milestone.id,
        recipient=milestone.recipient,
        started_at=start,
        due=due,
        assumed_start=assumed,
    )


def needs_calendar(regime: Regime) -> bool:
    return any(m.period is not None and m.period.unit == Unit.BUSINESS_DAYS for m in regime.milestones)


def plan(regime: Regime, start: datetime, *, organisation_zone: ZoneInfo, jurisdiction: str | None = None) -> list[Due]:
    """Every milestone of one regime for a clock started at ``start``, without a run (drills, planning).

    Every start event (awareness, discovery, materiality determination) is taken to be ``start``; a
    milestone that runs from an earlier submission assumes that submission at its latest due time.
    """
    if start.tzinfo is None:
        raise BadInput("the start time needs a time zone", hint="e.g. 2026-03-27T18:30:00+01:00 or ...Z")
    calendar = None
    if needs_calendar(regime):
        calendar = HolidayCalendar(jurisdiction or regime.calendar or "US")
    zone = regime_zone(regime, organisation_zone)
    starts = dict.fromkeys(StartEvent, start)
    starts.pop(StartEvent.SENT)
    return [milestone_due(regime, m, starts, {}, zone=zone, calendar=calendar) for m in regime.milestones]
