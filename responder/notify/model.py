"""The shape of a notification regime: who is told, what starts the clock, by when, with what.

A regime is data, not code: every deadline and every content item carries the article, section or
rule it comes from, so a reviewer can check each one against its source and a lawyer can change one
without reading Python.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StartEvent(StrEnum):
    """What starts a clock. Each is recorded explicitly for a run (``responder aware --event``)."""

    AWARENESS = "awareness"  # the controller / entity became aware (GDPR Art. 33(1), NIS2 Art. 23(4))
    DISCOVERY = "discovery"  # HIPAA 45 CFR 164.404(a)(2): known, or would have been with reasonable diligence
    MATERIALITY = "materiality"  # SEC Form 8-K Item 1.05: the registrant determined the incident material
    SENT = "sent"  # an earlier milestone of the same regime was submitted (NIS2 final report)


class Unit(StrEnum):
    """How a period is counted; the rules are spelled out in :mod:`responder.notify.deadlines`."""

    HOURS = "hours"
    CALENDAR_DAYS = "calendar_days"
    BUSINESS_DAYS = "business_days"
    MONTHS = "months"
    DAYS_AFTER_YEAR_END = "days_after_year_end"


class Period(_Frozen):
    amount: int
    unit: Unit
    cutoff: time = time(23, 59, 59)  # for day-based periods: the last moment of the last day


class Condition(_Frozen):
    """When a milestone applies only above or below a count (HIPAA's 500 individuals)."""

    fact: str  # a key of the breach facts, e.g. "individuals"
    op: str  # ">=", ">", "<"
    value: int
    text: str
    citation: str

    def holds(self, known: int | None) -> bool | None:
        """True/False when the count is known; None when it is not (the milestone stays in view)."""
        if known is None:
            return None
        if self.op == ">=":
            return known >= self.value
        if self.op == ">":
            return known > self.value
        if self.op == "<":
            return known < self.value
        raise ValueError(f"unknown operator {self.op!r}")


class ContentItem(_Frozen):
    """One thing a notice must contain; ``fact`` names the draft fact that fills it."""

    key: str
    label: str
    citation: str
    fact: str


class Milestone(_Frozen):
    """One submission with its own clock: early warning, notification, final report, ..."""

    id: str
    title: str
    recipient: str
    starts_on: StartEvent
    after: str | None = None  # with SENT: the milestone whose submission starts this clock
    period: Period | None  # None: no fixed limit in the law ("without undue delay")
    standard: str  # the rule in its own words
    citation: str
    condition: Condition | None = None
    template: str | None = None
    content: tuple[ContentItem, ...] = ()


class Exemption(_Frozen):
    """A recorded reason why a notice is not required (GDPR Art. 34(3)(a)–(c))."""

    key: str
    text: str
    citation: str


class Regime(_Frozen):
    """A legal notification duty. ``timezone``/``calendar`` None: the organisation's."""

    id: str
    title: str
    law: str
    source: str
    applies_to: str
    start: str  # what starts the clock, in words
    start_citation: str
    personal_data: bool  # triggered by personal data being affected (decision support)
    milestones: tuple[Milestone, ...]
    timezone: str | None = None
    calendar: str | None = None
    late_rule: str | None = None
    late_citation: str | None = None
    phases_rule: str | None = None
    phases_citation: str | None = None
    documentation_rule: str | None = None
    documentation_citation: str | None = None
    exemptions: tuple[Exemption, ...] = ()
    notes: tuple[str, ...] = ()

    def milestone(self, milestone_id: str) -> Milestone:
        for milestone in self.milestones:
            if milestone.id == milestone_id:
                return milestone
        valid = ", ".join(m.id for m in self.milestones)
        from ..errors import BadInput

        raise BadInput(f"regime {self.id} has no milestone {milestone_id!r}; valid: {valid}")
