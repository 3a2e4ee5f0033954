"""Holiday calendars for business-day deadlines, from the well-kept ``holidays`` package.

A jurisdiction is ``CC`` or ``CC-SUBDIV`` (ISO 3166): ``US``, ``BR``, ``BR-SP``, ``DE-BY``. ``holidays``
is imported only when a business-day regime is counted, so a cold start that never drafts stays light.
A business day is a day that is neither a Saturday, a Sunday, nor a public holiday of the jurisdiction.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from ..errors import BadInput


def split(jurisdiction: str) -> tuple[str, str | None]:
    """``BR-SP`` → (``BR``, ``SP``); ``US`` → (``US``, None)."""
    code = jurisdiction.strip().upper()
    country, _, subdiv = code.partition("-")
    return country, subdiv or None


@lru_cache(maxsize=32)
def _calendar(country: str, subdiv: str | None) -> Any:
    import holidays

    try:
        return holidays.country_holidays(country, subdiv=subdiv)
    except Exception as exc:  # NotImplementedError (country) or a ValueError subclass (subdivision), by version
        code = f"{country}-{subdiv}" if subdiv else country
        raise BadInput(f"no holiday calendar for jurisdiction {code!r} ({exc}): use an ISO 3166 code such as "
                       "US, BR, DE, optionally with a subdivision: BR-SP, DE-BY") from None


class HolidayCalendar:
    """Answers 'is this a business day?' for one jurisdiction."""

    def __init__(self, jurisdiction: str) -> None:
        self.jurisdiction = jurisdiction.upper()
        self._holidays = _calendar(*split(jurisdiction))

    def holiday(self, day: date) -> str | None:
        return self._holidays.get(day)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays


def validate(jurisdiction: str) -> str:
    """Fail early with a helpful message on an unknown jurisdiction code."""
    HolidayCalendar(jurisdiction)
    return jurisdiction.upper()


def regime_calendar(
    regime_default: str | None,
    regime_id: str,
    *,
    override: str | None = None,
    per_regime: dict[str, str] | None = None,
    organisation: str | None = None,
) -> str | None:
    """The calendar a regime counts business days in, most specific first.

    An explicit override (``--jurisdiction``), then ``notify.calendars[regime]``, then the organisation's
    jurisdiction when it is in the regime's country (``BR-SP`` refines LGPD's ``BR``; ``DE`` does not
    replace the SEC's ``US``), then the regime's own.
    """
    if override:
        return override.upper()
    if per_regime and per_regime.get(regime_id):
        return per_regime[regime_id].upper()
    if organisation and regime_default and split(organisation)[0] == split(regime_default)[0]:
        return organisation.upper()
    return regime_default
