"""The scenario table: every regime's due times, written out by hand from the rule, not from the code.

Each row: regime, milestone, the organisation's time zone, the start (awareness, discovery or
materiality determination, as an ISO time with its own offset), the calendar, and the due time in UTC
worked out by hand. The comment on each row is the working.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from responder.notify.calendars import HolidayCalendar
from responder.notify.deadlines import add_business_days, add_months, plan
from responder.notify.regimes import REGIMES

BERLIN, LONDON, NEW_YORK, LA = "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles"

SCENARIOS = [
    # --- GDPR Art. 33(1): 72 elapsed hours from awareness; weekends, holidays and DST never move it ---------
    ("gdpr-33", "authority-notice", BERLIN, "2026-06-09T10:00:00+02:00", None, "2026-06-12T08:00:00Z"),
    # weekday: Tue 10:00 CEST = 08:00Z, +72 h = Fri 08:00Z
    ("gdpr-33", "authority-notice", BERLIN, "2026-06-12T18:30:00+02:00", None, "2026-06-15T16:30:00Z"),
    # Friday evening 18:30 CEST = 16:30Z: the weekend counts, Mon 16:30Z
    ("gdpr-33", "authority-notice", BERLIN, "2026-12-23T15:00:00+01:00", None, "2026-12-26T14:00:00Z"),
    # before Christmas: 14:00Z Wed + 72 h = Sat 26 Dec (a public holiday) 14:00Z, not extended
    ("gdpr-33", "authority-notice", BERLIN, "2026-03-27T18:30:00+01:00", None, "2026-03-30T17:30:00Z"),
    # across DST (29 Mar): 17:30Z + 72 h = 17:30Z, which is 19:30 CEST on the wall, not 18:30
    ("gdpr-33", "authority-notice", BERLIN, "2026-06-09T09:00:00-07:00", None, "2026-06-12T16:00:00Z"),
    # another time zone: 09:00 PDT = 16:00Z, +72 h
    # --- UK GDPR Art. 33(1): same rule, to the ICO --------------------------------------------------------
    ("uk-gdpr", "ico-notice", LONDON, "2026-06-09T10:00:00+01:00", None, "2026-06-12T09:00:00Z"),
    # weekday: Tue 10:00 BST = 09:00Z
    ("uk-gdpr", "ico-notice", LONDON, "2026-06-12T18:00:00+01:00", None, "2026-06-15T17:00:00Z"),
    # Friday evening
    ("uk-gdpr", "ico-notice", LONDON, "2026-08-28T17:00:00+01:00", None, "2026-08-31T16:00:00Z"),
    # before the late summer bank holiday (Mon 31 Aug): due on it, 16:00Z
    ("uk-gdpr", "ico-notice", LONDON, "2026-10-23T12:00:00+01:00", None, "2026-10-26T11:00:00Z"),
    # across the end of BST (25 Oct): 11:00Z + 72 h = 11:00Z = 11:00 GMT on the wall
    ("uk-gdpr", "ico-notice", LONDON, "2026-06-09T08:00:00+09:00", None, "2026-06-11T23:00:00Z"),
    # another time zone: 08:00 JST = 23:00Z the day before
    # --- NIS2 Art. 23(4)(a) 24 h early warning, (b) 72 h notification, (d) final report one month after it --
    ("nis2", "early-warning", BERLIN, "2026-06-09T10:00:00+02:00", None, "2026-06-10T08:00:00Z"),
    ("nis2", "incident-notification", BERLIN, "2026-06-09T10:00:00+02:00", None, "2026-06-12T08:00:00Z"),
    ("nis2", "final-report", BERLIN, "2026-06-09T10:00:00+02:00", None, "2026-07-12T21:59:59Z"),
    # weekday; final report from the notification's latest time, Fri 12 Jun (Berlin) → end of 12 Jul CEST
    ("nis2", "early-warning", BERLIN, "2026-06-12T18:30:00+02:00", None, "2026-06-13T16:30:00Z"),
    ("nis2", "incident-notification", BERLIN, "2026-06-12T18:30:00+02:00", None, "2026-06-15T16:30:00Z"),
    ("nis2", "final-report", BERLIN, "2026-06-12T18:30:00+02:00", None, "2026-07-15T21:59:59Z"),
    # Friday evening: early warning on Saturday; notification Mon 15 Jun → final end of 15 Jul CEST
    ("nis2", "early-warning", BERLIN, "2026-12-23T15:00:00+01:00", None, "2026-12-24T14:00:00Z"),
    ("nis2", "incident-notification", BERLIN, "2026-12-23T15:00:00+01:00", None, "2026-12-26T14:00:00Z"),
    ("nis2", "final-report", BERLIN, "2026-12-23T15:00:00+01:00", None, "2027-01-26T22:59:59Z"),
    # before Christmas: nothing moves; notification Sat 26 Dec → end of 26 Jan 2027 CET (22:59:59Z)
    ("nis2", "early-warning", BERLIN, "2026-03-27T18:30:00+01:00", None, "2026-03-28T17:30:00Z"),
    ("nis2", "incident-notification", BERLIN, "2026-03-27T18:30:00+01:00", None, "2026-03-30T17:30:00Z"),
    ("nis2", "final-report", BERLIN, "2026-03-27T18:30:00+01:00", None, "2026-04-30T21:59:59Z"),
    # across DST: notification Mon 30 Mar 19:30 CEST → end of 30 Apr CEST = 21:59:59Z
    ("nis2", "early-warning", BERLIN, "2026-01-30T20:00:00-05:00", None, "2026-02-01T01:00:00Z"),
    ("nis2", "incident-notification", BERLIN, "2026-01-30T20:00:00-05:00", None, "2026-02-03T01:00:00Z"),
    ("nis2", "final-report", BERLIN, "2026-01-30T20:00:00-05:00", None, "2026-03-03T22:59:59Z"),
    # another time zone: 20:00 EST = 01:00Z 31 Jan; notification 3 Feb 02:00 CET → end of 3 Mar CET
    ("nis2", "final-report", BERLIN, "2026-01-28T12:00:00Z", None, "2026-02-28T22:59:59Z"),
    # month end: notification 31 Jan 13:00 CET; February has no 31st → end of 28 Feb (Reg. 1182/71 Art. 3(2)(c))
    # --- HIPAA 45 CFR 164.404(b)/164.406/164.408(b): end of the 60th calendar day after discovery -----------
    ("hipaa", "individual-notice", NEW_YORK, "2026-06-09T10:00:00-04:00", None, "2026-08-09T03:59:59Z"),
    ("hipaa", "hhs-notice", NEW_YORK, "2026-06-09T10:00:00-04:00", None, "2026-08-09T03:59:59Z"),
    ("hipaa", "media-notice", NEW_YORK, "2026-06-09T10:00:00-04:00", None, "2026-08-09T03:59:59Z"),
    ("hipaa", "hhs-annual-log", NEW_YORK, "2026-06-09T10:00:00-04:00", None, "2027-03-02T04:59:59Z"),
    # weekday: 9 Jun +21 = 30 Jun, +31 = 31 Jul (52), +8 = 8 Aug → 23:59:59 EDT; annual: 31 Dec + 60 = 1 Mar 2027 EST
    ("hipaa", "individual-notice", NEW_YORK, "2026-06-12T19:00:00-04:00", None, "2026-08-12T03:59:59Z"),
    # Friday evening: day 0 is Fri 12 Jun (New York), +18 = 30 Jun, +31 = 31 Jul (49), +11 = 11 Aug
    ("hipaa", "individual-notice", NEW_YORK, "2026-11-25T16:00:00-05:00", None, "2027-01-25T04:59:59Z"),
    # before Thanksgiving: 25 Nov +5 = 30 Nov, +31 = 31 Dec (36), +24 = Sun 24 Jan 2027: calendar days, no extension
    ("hipaa", "individual-notice", NEW_YORK, "2026-02-01T09:00:00-05:00", None, "2026-04-03T03:59:59Z"),
    # across DST (8 Mar): 1 Feb +27 = 28 Feb, +31 = 31 Mar (58), +2 = 2 Apr; end of day is EDT now (03:59:59Z)
    ("hipaa", "individual-notice", LA, "2026-03-01T20:00:00-08:00", None, "2026-05-01T06:59:59Z"),
    ("hipaa", "hhs-annual-log", LA, "2026-03-01T20:00:00-08:00", None, "2027-03-02T07:59:59Z"),
    # another time zone: 04:00Z on 2 Mar is still 1 Mar in Los Angeles: +30 = 31 Mar, +30 = 30 Apr, 23:59:59 PDT
    ("hipaa", "hhs-annual-log", NEW_YORK, "2027-06-01T12:00:00-04:00", None, "2028-03-01T04:59:59Z"),
    # leap year: 31 Dec 2027 + 60 days = 29 Feb 2028, 23:59:59 EST
    # --- SEC Form 8-K Item 1.05: 4 business days after the determination, 17:30 Eastern (17 CFR 232.13) -----
    ("sec-8k", "form-8k", BERLIN, "2026-06-09T10:00:00-04:00", None, "2026-06-15T21:30:00Z"),
    # weekday Tue: Wed(1) Thu(2) Fri(3) Mon 15(4), 17:30 EDT
    ("sec-8k", "form-8k", BERLIN, "2026-06-12T19:00:00-04:00", None, "2026-06-18T21:30:00Z"),
    # Friday evening: Mon(1) Tue(2) Wed(3) Thu 18(4)
    ("sec-8k", "form-8k", BERLIN, "2026-06-13T10:00:00-04:00", None, "2026-06-18T21:30:00Z"),
    # Saturday: the period begins on and includes Mon 15 (General Instruction B.1) → Thu 18
    ("sec-8k", "form-8k", BERLIN, "2026-11-24T12:00:00-05:00", None, "2026-12-01T22:30:00Z"),
    # before Thanksgiving: Wed 25(1), Thu 26 holiday, Fri 27(2), Mon 30(3), Tue 1 Dec(4), 17:30 EST
    ("sec-8k", "form-8k", BERLIN, "2026-06-16T09:00:00-04:00", None, "2026-06-23T21:30:00Z"),
    # before Juneteenth: Wed 17(1), Thu 18(2), Fri 19 holiday, Mon 22(3), Tue 23(4)
    ("sec-8k", "form-8k", BERLIN, "2026-03-04T15:00:00-05:00", None, "2026-03-10T21:30:00Z"),
    # across DST (8 Mar): Thu 5(1) Fri 6(2) Mon 9(3) Tue 10(4); 17:30 is EDT by then = 21:30Z, not 22:30Z
    ("sec-8k", "form-8k", BERLIN, "2026-06-15T08:00:00+09:00", None, "2026-06-18T21:30:00Z"),
    # another time zone: Mon 08:00 Tokyo is Sun 19:00 in New York: Mon(1) Tue(2) Wed(3) Thu 18(4)
    # --- LGPD, Res. CD/ANPD 15/2024 art. 6: 3 business days, end of day in Brasília (UTC-3) --------------
    ("lgpd", "anpd-notice", BERLIN, "2026-06-09T10:00:00-03:00", None, "2026-06-13T02:59:59Z"),
    # weekday Tue: Wed(1) Thu(2) Fri 12(3), 23:59:59 BRT = 02:59:59Z Sat
    ("lgpd", "anpd-notice", BERLIN, "2026-06-12T19:00:00-03:00", None, "2026-06-18T02:59:59Z"),
    # Friday evening: Mon(1) Tue(2) Wed 17(3)
    ("lgpd", "anpd-notice", BERLIN, "2026-04-02T10:00:00-03:00", None, "2026-04-09T02:59:59Z"),
    # before Good Friday (3 Apr, national holiday): Mon 6(1) Tue 7(2) Wed 8(3)
    ("lgpd", "anpd-notice", BERLIN, "2026-07-08T10:00:00-03:00", "BR", "2026-07-14T02:59:59Z"),
    ("lgpd", "anpd-notice", BERLIN, "2026-07-08T10:00:00-03:00", "BR-SP", "2026-07-15T02:59:59Z"),
    # before 9 Jul, a São Paulo state holiday only: BR Thu 9(1) Fri(2) Mon 13(3); BR-SP Fri 10(1) Mon(2) Tue 14(3)
    ("lgpd", "anpd-notice", LONDON, "2026-10-23T18:00:00+01:00", None, "2026-10-29T02:59:59Z"),
    # across a DST change (UK, 25 Oct) that Brasília does not have: Fri 14:00 BRT → Mon(1) Tue(2) Wed 28(3)
    ("lgpd", "anpd-notice", BERLIN, "2026-06-15T08:00:00+09:00", None, "2026-06-18T02:59:59Z"),
    # another time zone: Mon 08:00 Tokyo is Sun 20:00 in Brasília: Mon(1) Tue(2) Wed 17(3)
]


def _due(regime_id: str, milestone: str, zone: str, start: str, jurisdiction: str | None) -> str | None:
    dues = plan(REGIMES[regime_id], datetime.fromisoformat(start), organisation_zone=ZoneInfo(zone),
                jurisdiction=jurisdiction)
    return next(d.as_plan()["due"] for d in dues if d.milestone == milestone)


@pytest.mark.parametrize(("regime_id", "milestone", "zone", "start", "jurisdiction", "expected"), SCENARIOS)
def test_scenario_table(regime_id: str, milestone: str, zone: str, start: str, jurisdiction: str | None,
                        expected: str) -> None:
    assert _due(regime_id, milestone, zone, start, jurisdiction) == expected


def test_every_regime_is_in_the_table() -> None:
    assert {row[0] for row in SCENARIOS} | {"gdpr-34"} == set(REGIMES)


@pytest.mark.parametrize("start", sorted({row[3] for row in SCENARIOS if row[0] == "gdpr-33"}))
def test_gdpr_34_has_no_invented_deadline(start: str) -> None:
    """Art. 34(1) says 'without undue delay' and nothing more: no due time is made up, in any scenario."""
    for regime_id in ("gdpr-34", "uk-gdpr"):
        dues = plan(REGIMES[regime_id], datetime.fromisoformat(start), organisation_zone=ZoneInfo(BERLIN))
        subjects = next(d for d in dues if d.milestone == "data-subject-notice")
        assert subjects.due is None


def test_business_days_never_count_the_start_day() -> None:
    us = HolidayCalendar("US")
    assert add_business_days(date(2026, 6, 9), 1, us) == date(2026, 6, 10)
    assert add_business_days(date(2026, 11, 25), 1, us) == date(2026, 11, 27)  # Thanksgiving skipped


def test_months_clamp_to_the_last_day() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2027, 12, 15), 1) == date(2028, 1, 15)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)


def test_naive_start_is_refused() -> None:
    from responder.errors import BadInput

    with pytest.raises(BadInput):
        plan(REGIMES["gdpr-33"], datetime(2026, 6, 9, 10), organisation_zone=ZoneInfo(BERLIN))
