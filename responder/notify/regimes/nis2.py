"""NIS2 Art. 23: reporting significant incidents to the CSIRT or competent authority."""

from __future__ import annotations

from ..model import (
    ContentItem,
    Milestone,
    Period,
    Regime,
    StartEvent,
    Unit,
)

# --- NIS2 ------------------------------------------------------------------------------------------
_NIS2_CSIRT = "CSIRT or competent authority (NIS2 Art. 23(1))"
NIS2 = Regime(
    id="nis2",
    title="NIS2: reporting of a significant incident",
    law="Directive (EU) 2022/2555 (NIS2), as transposed by the Member State",
    source="https://eur-lex.europa.eu/eli/dir/2022/2555/oj (Art. 23)",
    applies_to="essential and important entities (Art. 3) for significant incidents (Art. 23(3))",
    start="the entity becomes aware of the significant incident",
    start_citation="NIS2 Art. 23(4)(a) and (b)",
    personal_data=False,
    milestones=(
        Milestone(
            id="early-warning",
            title="Early warning",
            recipient=_NIS2_CSIRT,
            starts_on=StartEvent.AWARENESS,
            period=Period(amount=24, unit=Unit.HOURS),
            standard="without undue delay and in any event within 24 hours of becoming aware of the "
            "significant incident",
            citation="NIS2 Art. 23(4)(a)",
            template="nis2-early-warning.md.j2",
            content=(
                ContentItem(
                    key="23(4)(a)-malicious",
                    label="Whether the incident is suspected of being caused by unlawful or malicious acts",
                    citation="NIS2 Art. 23(4)(a)",
                    fact="malicious",
                ),
                ContentItem(
                    key="23(4)(a)-cross-border",
                    label="Whether it could have a cross-border impact",
                    citation="NIS2 Art. 23(4)(a)",
                    fact="cross_border",
                ),
            ),
        ),
        Milestone(
            id="incident-notification",
            title="Incident notification",
            recipient=_NIS2_CSIRT,
            starts_on=StartEvent.AWARENESS,
            period=Period(amount=72, unit=Unit.HOURS),
            standard="without undue delay and in any event within 72 hours of becoming aware of the "
            "significant incident",
            citation="NIS2 Art. 23(4)(b)",
            template="nis2-incident-notification.md.j2",
            content=(
                ContentItem(
                    key="23(4)(b)-update",
                    label="Update of the early warning (malicious act, cross-border impact)",
                    citation="NIS2 Art. 23(4)(b)",
                    fact="malicious",
                ),
                ContentItem(
                    key="23(4)(b)-assessment",
                    label="Initial assessment, including severity and impact",
                    citation="NIS2 Art. 23(4)(b)",
                    fact="severity_impact",
                ),
                ContentItem(
                    key="23(4)(b)-iocs",
                    label="Indicators of compromise, where available",
                    citation="NIS2 Art. 23(4)(b)",
                    fact="iocs",
                ),
            ),
        ),
        Milestone(
            id="final-report",
            title="Final report",
            recipient=_NIS2_CSIRT,
            starts_on=StartEvent.SENT,
            after="incident-notification",
            period=Period(amount=1, unit=Unit.MONTHS),
            standard="not later than one month after the submission of the incident notification",
            citation="NIS2 Art. 23(4)(d)",
            template="nis2-final-report.md.j2",
            content=(
                ContentItem(
                    key="23(4)(d)(i)",
                    label="Detailed description, including severity and impact",
                    citation="NIS2 Art. 23(4)(d)(i)",
                    fact="severity_impact",
                ),
                ContentItem(
                    key="23(4)(d)(ii)",
                    label="Type of threat or root cause that likely triggered it",
                    citation="NIS2 Art. 23(4)(d)(ii)",
                    fact="root_cause",
                ),
                ContentItem(
                    key="23(4)(d)(iii)",
                    label="Applied and ongoing mitigation measures",
                    citation="NIS2 Art. 23(4)(d)(iii)",
                    fact="measures",
                ),
                ContentItem(
                    key="23(4)(d)(iv)",
                    label="Cross-border impact, where applicable",
                    citation="NIS2 Art. 23(4)(d)(iv)",
                    fact="cross_border",
                ),
            ),
        ),
    ),
    notes=(
        "An intermediate report is due on request of the CSIRT or competent authority (Art. 23(4)(c)).",
        "If the incident is ongoing when the final report is due, a progress report is due then "
        "and the final "
        "report within one month of handling the incident (Art. 23(4)(e)).",
        "Trust service providers: incident notification within 24 hours (Art. 23(4)(b), second subparagraph).",
        "National transposition may add detail; check the Member State's law.",
        "The final report's clock starts when the incident notification is recorded as sent "
        "(`responder notify sent`); until then it is shown from the notification's latest due time.",
    ),
)
