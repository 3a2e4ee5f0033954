"""The regime data: every deadline and content item cites its source, ids are the documented ones."""

from __future__ import annotations

import pytest

from responder.errors import BadInput
from responder.notify.model import StartEvent, Unit
from responder.notify.regimes import REGIMES, get_regime


def test_ids() -> None:
    assert list(REGIMES) == ["gdpr-33", "gdpr-34", "uk-gdpr", "nis2", "hipaa", "sec-8k", "lgpd"]


@pytest.mark.parametrize("regime", REGIMES.values(), ids=list(REGIMES))
def test_everything_cites_its_source(regime) -> None:
    assert regime.source and regime.start_citation and regime.law
    for milestone in regime.milestones:
        assert milestone.citation and milestone.standard and milestone.recipient
        for item in milestone.content:
            assert item.citation, (regime.id, milestone.id, item.key)
        if milestone.starts_on == StartEvent.SENT:
            assert regime.milestone(milestone.after or "")


def test_gdpr_33_content_is_art_33_3_a_to_d() -> None:
    cites = {item.citation for item in get_regime("gdpr-33").milestone("authority-notice").content}
    assert cites == {"GDPR Art. 33(3)(a)", "GDPR Art. 33(3)(b)", "GDPR Art. 33(3)(c)", "GDPR Art. 33(3)(d)"}
    gdpr = get_regime("gdpr-33")
    assert gdpr.late_citation.startswith("GDPR Art. 33(1)")
    assert gdpr.phases_citation == "GDPR Art. 33(4)" and gdpr.documentation_citation == "GDPR Art. 33(5)"


def test_art_34_3_exemptions_are_recorded_choices() -> None:
    assert [e.key for e in get_regime("gdpr-34").exemptions] == ["34(3)(a)", "34(3)(b)", "34(3)(c)"]


def test_what_starts_each_clock() -> None:
    assert get_regime("sec-8k").milestone("form-8k").starts_on == StartEvent.MATERIALITY
    assert get_regime("hipaa").milestone("individual-notice").starts_on == StartEvent.DISCOVERY
    final = get_regime("nis2").milestone("final-report")
    assert (final.starts_on, final.after, final.period.unit) == (StartEvent.SENT, "incident-notification",
                                                                  Unit.MONTHS)
    assert get_regime("lgpd").milestone("anpd-notice").period.unit == Unit.BUSINESS_DAYS


def test_hipaa_thresholds() -> None:
    hipaa = get_regime("hipaa")
    assert hipaa.milestone("hhs-notice").condition.holds(500) is True
    assert hipaa.milestone("hhs-notice").condition.holds(499) is False
    assert hipaa.milestone("media-notice").condition.holds(500) is False  # "more than 500 residents"
    assert hipaa.milestone("media-notice").condition.holds(501) is True
    assert hipaa.milestone("hhs-annual-log").condition.holds(None) is None


def test_unknown_regime_lists_the_valid_ones() -> None:
    with pytest.raises(BadInput, match="gdpr-33, gdpr-34, uk-gdpr, nis2, hipaa, sec-8k, lgpd"):
        get_regime("gdpr")
    with pytest.raises(BadInput, match="authority-notice"):
        get_regime("gdpr-33").milestone("nope")
