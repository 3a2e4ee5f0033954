"""United States: HIPAA breach notification and SEC Form 8-K Item 1.05."""

from __future__ import annotations

from datetime import time

from ..model import (
    Condition,
    ContentItem,
    Milestone,
    Period,
    Regime,
    StartEvent,
    Unit,
)

# --- US HIPAA --------------------------------------------------------------------------------------
_HIPAA_60 = "without unreasonable delay and in no case later than 60 calendar days after discovery of a breach"
_HIPAA_CONTENT = (
    ContentItem(
        key="164.404(c)(1)(A)",
        label="What happened, including the date of the breach and the date of discovery",
        citation="45 CFR 164.404(c)(1)(A)",
        fact="what_happened",
    ),
    ContentItem(
        key="164.404(c)(1)(B)",
        label="Types of unsecured protected health information involved",
        citation="45 CFR 164.404(c)(1)(B)",
        fact="record_categories",
    ),
    ContentItem(
        key="164.404(c)(1)(C)",
        label="Steps individuals should take to protect themselves",
        citation="45 CFR 164.404(c)(1)(C)",
        fact="individual_steps",
    ),
    ContentItem(
        key="164.404(c)(1)(D)",
        label="What the covered entity is doing to investigate, mitigate harm and protect against further breaches",
        citation="45 CFR 164.404(c)(1)(D)",
        fact="measures",
    ),
    ContentItem(
        key="164.404(c)(1)(E)",
        label="Contact procedures (toll-free number, e-mail, website or postal address)",
        citation="45 CFR 164.404(c)(1)(E)",
        fact="hipaa_contact",
    ),
)
HIPAA = Regime(
    id="hipaa",
    title="US HIPAA: breach notification for unsecured protected health information",
    law="HIPAA Breach Notification Rule, 45 CFR Part 164 Subpart D (164.400-414)",
    source="https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-D",
    applies_to="covered entities (business associates notify the covered entity, 45 CFR 164.410)",
    start="discovery of the breach: the first day it is known, or by exercising reasonable "
    "diligence would have "
    "been known, to the covered entity",
    start_citation="45 CFR 164.404(a)(2)",
    personal_data=True,
    milestones=(
        Milestone(
            id="individual-notice",
            title="Notice to affected individuals",
            recipient="affected individuals",
            starts_on=StartEvent.DISCOVERY,
            period=Period(amount=60, unit=Unit.CALENDAR_DAYS),
            standard=_HIPAA_60,
            citation="45 CFR 164.404(b)",
            template="hipaa-individual-notice.md.j2",
            content=_HIPAA_CONTENT,
        ),
        Milestone(
            id="hhs-notice",
            title="Notice to the Secretary of HHS (500 or more individuals)",
            recipient="Secretary of Health and Human Services (HHS OCR breach portal)",
            starts_on=StartEvent.DISCOVERY,
            period=Period(amount=60, unit=Unit.CALENDAR_DAYS),
            standard="contemporaneously with the individual notice, i.e. " + _HIPAA_60,
            citation="45 CFR 164.408(b)",
            condition=Condition(
                fact="individuals",
                op=">=",
                value=500,
                text="500 or more individuals",
                citation="45 CFR 164.408(b)",
            ),
            template="hipaa-individual-notice.md.j2",
            content=_HIPAA_CONTENT,
        ),
        Milestone(
            id="media-notice",
            title="Notice to prominent media outlets (more than 500 residents of a State)",
            recipient="prominent media outlets serving the State or jurisdiction",
            starts_on=StartEvent.DISCOVERY,
            period=Period(amount=60, unit=Unit.CALENDAR_DAYS),
            standard=_HIPAA_60,
            citation="45 CFR 164.406(a)-(b)",
            condition=Condition(
                fact="max_residents_one_state",
                op=">",
                value=500,
                text="more than 500 residents of a State or jurisdiction",
                citation="45 CFR 164.406(a)",
            ),
            template="hipaa-individual-notice.md.j2",
            content=_HIPAA_CONTENT,
        ),
        Milestone(
            id="hhs-annual-log",
            title="Annual notice to HHS of breaches under 500 individuals",
            recipient="Secretary of Health and Human Services (HHS OCR breach portal)",
            starts_on=StartEvent.DISCOVERY,
            period=Period(amount=60, unit=Unit.DAYS_AFTER_YEAR_END),
            standard="not later than 60 days after the end of each calendar year, for breaches of fewer than "
            "500 individuals discovered that year",
            citation="45 CFR 164.408(c)",
            condition=Condition(
                fact="individuals",
                op="<",
                value=500,
                text="fewer than 500 individuals",
                citation="45 CFR 164.408(c)",
            ),
        ),
    ),
    documentation_rule="Maintain documentation that all required notifications were made, or that the use or "
    "disclosure did not constitute a breach; keep it six years.",
    documentation_citation="45 CFR 164.414(b), 164.530(j)",
    notes=(
        "Calendar days are counted in the organisation's time zone; day 1 is the day after discovery.",
        "A law enforcement delay may apply (45 CFR 164.412).",
        "The year of the annual log is the calendar year of discovery in the organisation's time zone.",
    ),
)

# --- US SEC Form 8-K Item 1.05 -----------------------------------------------------------------------
SEC_8K = Regime(
    id="sec-8k",
    title="US SEC: Form 8-K Item 1.05, material cybersecurity incident",
    law="Securities Exchange Act of 1934; Form 8-K (17 CFR 249.308) Item 1.05",
    source="https://www.sec.gov/files/form8-k.pdf (General Instruction B.1, Item 1.05)",
    applies_to="registrants filing reports under the Exchange Act",
    start="the registrant determines that the cybersecurity incident is material (to be made "
    "without unreasonable "
    "delay after discovery)",
    start_citation="Form 8-K Item 1.05, Instruction 1; General Instruction B.1",
    personal_data=False,
    timezone="America/New_York",
    calendar="US",
    milestones=(
        Milestone(
            id="form-8k",
            title="Form 8-K, Item 1.05",
            recipient="U.S. Securities and Exchange Commission (EDGAR)",
            starts_on=StartEvent.MATERIALITY,
            period=Period(amount=4, unit=Unit.BUSINESS_DAYS, cutoff=time(17, 30)),
            standard="within four business days after the registrant determines the incident is material",
            citation="Form 8-K General Instruction B.1 and Item 1.05(a); business day: 17 CFR 232.11; "
            "filed that day if submitted by 5:30 p.m. Eastern: 17 CFR 232.13(a)(2)",
            template="sec-8k-item-1-05.md.j2",
            content=(
                ContentItem(
                    key="1.05(a)-nature-scope-timing",
                    label="Material aspects of the nature, scope and timing of the incident",
                    citation="Form 8-K Item 1.05(a)",
                    fact="nature_scope_timing",
                ),
                ContentItem(
                    key="1.05(a)-impact",
                    label="Material impact or reasonably likely material impact "
                    "on the registrant, including its financial condition and results of operations",
                    citation="Form 8-K Item 1.05(a)",
                    fact="material_impact",
                ),
            ),
        ),
    ),
    notes=(
        "A business day excludes Saturdays, Sundays and Federal holidays (17 CFR 232.11); "
        "an event on such a day "
        "starts the period on, and including, the next business day (General Instruction B.1).",
        "Information not determined or unavailable at filing is added by amendment within four business days "
        "after it is determined or becomes available (Item 1.05, Instruction 2).",
        "Disclosure may be delayed where the U.S. Attorney General determines it poses a substantial risk to "
        "national security or public safety (Item 1.05(c)).",
        "The clock starts only when a materiality determination is recorded: "
        "`responder aware RUN_ID --event materiality --at ...`.",
    ),
)
