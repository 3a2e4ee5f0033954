from __future__ import annotations

from datetime import date

import pytest

from responder.errors import BadInput
from responder.notify.calendars import HolidayCalendar, regime_calendar, split


def test_business_days() -> None:
    us = HolidayCalendar("US")
    assert not us.is_business_day(date(2026, 11, 26))  # Thanksgiving
    assert not us.is_business_day(date(2026, 6, 13))  # Saturday
    assert us.is_business_day(date(2026, 6, 15))
    assert HolidayCalendar("BR-SP").holiday(date(2026, 7, 9))
    assert HolidayCalendar("BR").holiday(date(2026, 7, 9)) is None


def test_most_specific_calendar_wins() -> None:
    assert split("br-sp") == ("BR", "SP")
    assert regime_calendar("BR", "lgpd") == "BR"
    assert regime_calendar("BR", "lgpd", organisation="BR-SP") == "BR-SP"
    assert regime_calendar("US", "sec-8k", organisation="DE") == "US"  # Germany does not replace the SEC's days
    assert regime_calendar("BR", "lgpd", per_regime={"lgpd": "br-rj"}, organisation="BR-SP") == "BR-RJ"
    assert regime_calendar("BR", "lgpd", override="BR-MG", per_regime={"lgpd": "BR-RJ"}) == "BR-MG"


def test_unknown_jurisdiction_is_bad_input() -> None:
    with pytest.raises(BadInput, match="ISO 3166"):
        HolidayCalendar("XX")
