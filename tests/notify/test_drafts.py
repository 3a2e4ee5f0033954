from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from responder.notify import drafts
from responder.notify.facts import build
from responder.notify.regimes import REGIMES, get_regime
from responder.notify.settings import Organisation

from .conftest import CATEGORIES, HOSTILE, SCOPE, leaked_key

BERLIN = ZoneInfo("Europe/Berlin")
CLOCK = {"started_at": "2026-03-27T17:30:00Z", "starts_on": "awareness", "due": "2026-03-30T17:30:00Z"}


def _draft(regime_id: str, milestone_id: str, *, scope=SCOPE, title: str | None = None, now=None,
           org: Organisation | None = None, delay: str | None = None) -> drafts.Draft:
    finding = leaked_key(title) if title else leaked_key()
    facts = build(finding, scope, org or Organisation(controller="Example GmbH"), run_id="run-1",
                  aware_at=datetime(2026, 3, 27, 17, 30, tzinfo=UTC), received_at=None, delay_reason=delay)
    regime = get_regime(regime_id)
    return drafts.render(regime, regime.milestone(milestone_id), facts, CLOCK,
                         now=now or datetime(2026, 3, 27, 18, tzinfo=UTC), zone=BERLIN)


def _section(text: str, label: str) -> str:
    start = text.index(label)
    end = text.find("\n### ", start)
    return text[start: end if end != -1 else len(text)]


def test_every_art_33_3_item_is_present_or_to_be_completed() -> None:
    draft = _draft("gdpr-33", "authority-notice", scope={})
    for item in get_regime("gdpr-33").milestone("authority-notice").content:
        assert f"{item.label} ({item.citation})" in draft.text
        body = _section(draft.text, item.label)
        assert "to be completed" in body or item.fact == "nature", item.key
    full = _draft("gdpr-33", "authority-notice")
    assert CATEGORIES in _section(full.text, "Categories of personal data records")
    assert "[to be completed" in _section(full.text, "Approximate number of data subjects")
    assert full.to_be_completed < draft.to_be_completed


def test_hostile_finding_data_stays_literal() -> None:
    draft = _draft("gdpr-33", "authority-notice", title=HOSTILE)
    assert "{{ 7*7 }}" in draft.text and "49" not in draft.text
    assert "{% raw %}x{% endraw %}" in draft.text
    assert "\n## Reasons for the delay" not in draft.text  # the title cannot forge a section
    assert "\\| forged \\| cell \\|" in draft.text  # nor a table cell


def test_hostile_scope_cannot_start_a_heading() -> None:
    draft = _draft("gdpr-33", "authority-notice", scope={"data_categories": ["# Not a heading"]})
    assert "\n# Not a heading" not in draft.text and "\\# Not a heading" in draft.text


def test_late_draft_gets_reasons_for_delay() -> None:
    on_time = _draft("gdpr-33", "authority-notice")
    assert not on_time.late and "Reasons for the delay" not in on_time.text
    late = _draft("gdpr-33", "authority-notice", now=datetime(2026, 3, 31, 9, tzinfo=UTC))
    assert late.late
    section = late.text[late.text.index("## Reasons for the delay (GDPR Art. 33(1), second sentence)"):]
    assert "[to be completed" in section.split("##")[1]
    given = _draft("gdpr-33", "authority-notice", now=datetime(2026, 3, 31, 9, tzinfo=UTC), delay="scope ran late")
    assert "scope ran late" in given.text


def test_due_shown_in_the_organisations_zone_and_utc() -> None:
    text = _draft("gdpr-33", "authority-notice").text
    assert "2026-03-30 19:30 CEST (2026-03-30T17:30:00Z)" in text


@pytest.mark.parametrize(("regime_id", "milestone_id"),
                         [(r.id, m.id) for r in REGIMES.values() for m in r.milestones if m.content])
def test_every_template_renders_with_strict_undefined(regime_id: str, milestone_id: str) -> None:
    draft = _draft(regime_id, milestone_id, scope={})
    assert "DRAFT, not sent" in draft.text
    for item in get_regime(regime_id).milestone(milestone_id).content:
        assert item.citation in draft.text


def test_gdpr_34_lists_the_exemptions() -> None:
    text = _draft("gdpr-34", "data-subject-notice").text
    for key in ("34(3)(a)", "34(3)(b)", "34(3)(c)"):
        assert key in text
