"""GDPR Art. 33 and 34, and the UK GDPR: the EU's and the UK's personal data breach duties."""

from __future__ import annotations

from ..model import (
    ContentItem,
    Exemption,
    Milestone,
    Period,
    Regime,
    StartEvent,
    Unit,
)

# --- GDPR Art. 33(3): the content of a notification to the supervisory authority -------------------
_ART33_3 = (
    ContentItem(
        key="33(3)(a)-nature",
        label="Nature of the personal data breach",
        citation="GDPR Art. 33(3)(a)",
        fact="nature",
    ),
    ContentItem(
        key="33(3)(a)-subject-categories",
        label="Categories of data subjects concerned",
        citation="GDPR Art. 33(3)(a)",
        fact="subject_categories",
    ),
    ContentItem(
        key="33(3)(a)-subjects",
        label="Approximate number of data subjects concerned",
        citation="GDPR Art. 33(3)(a)",
        fact="subjects_approx",
    ),
    ContentItem(
        key="33(3)(a)-record-categories",
        label="Categories of personal data records concerned",
        citation="GDPR Art. 33(3)(a)",
        fact="record_categories",
    ),
    ContentItem(
        key="33(3)(a)-records",
        label="Approximate number of personal data records concerned",
        citation="GDPR Art. 33(3)(a)",
        fact="records_approx",
    ),
    ContentItem(
        key="33(3)(b)-contact",
        label="Name and contact details of the DPO or other contact point",
        citation="GDPR Art. 33(3)(b)",
        fact="contact",
    ),
    ContentItem(
        key="33(3)(c)-consequences",
        label="Likely consequences of the personal data breach",
        citation="GDPR Art. 33(3)(c)",
        fact="consequences",
    ),
    ContentItem(
        key="33(3)(d)-measures",
        label="Measures taken or proposed to address the breach, including "
        "measures to mitigate its possible adverse effects",
        citation="GDPR Art. 33(3)(d)",
        fact="measures",
    ),
)


def _subject_content(prefix: str) -> tuple[ContentItem, ...]:
    """Art. 34(2): plain-language nature plus the items of Art. 33(3)(b), (c) and (d)."""
    return (
        ContentItem(
            key="34(2)-nature",
            label="What happened, in clear and plain language",
            citation=f"{prefix} Art. 34(2)",
            fact="nature",
        ),
        ContentItem(
            key="34(2)-contact",
            label="Who to contact for more information (DPO or contact point)",
            citation=f"{prefix} Art. 34(2) with Art. 33(3)(b)",
            fact="contact",
        ),
        ContentItem(
            key="34(2)-consequences",
            label="Likely consequences",
            citation=f"{prefix} Art. 34(2) with Art. 33(3)(c)",
            fact="consequences",
        ),
        ContentItem(
            key="34(2)-measures",
            label="Measures taken or proposed, including what you can do",
            citation=f"{prefix} Art. 34(2) with Art. 33(3)(d)",
            fact="measures",
        ),
    )


_GDPR_72H = (
    "without undue delay and, where feasible, not later than 72 hours after having become aware of it, "
    "unless the breach is unlikely to result in a risk to the rights and freedoms of natural persons"
)
_ART34_1 = (
    "without undue delay, when the breach is likely to result in a high risk to the rights and freedoms "
    "of natural persons"
)
_ART34_3 = (
    Exemption(
        key="34(3)(a)",
        citation="GDPR Art. 34(3)(a)",
        text="appropriate technical and organisational protection measures were applied to the affected "
        "data, in particular ones that render it unintelligible to anyone not authorised (e.g. encryption)",
    ),
    Exemption(
        key="34(3)(b)",
        citation="GDPR Art. 34(3)(b)",
        text="subsequent measures ensure that the high risk is no longer likely to materialise",
    ),
    Exemption(
        key="34(3)(c)",
        citation="GDPR Art. 34(3)(c)",
        text="it would involve disproportionate effort; a public communication or similar equally effective "
        "measure informs the data subjects instead",
    ),
)
_LATE_33 = "Where the notification is not made within 72 hours, it shall be accompanied by reasons for the delay."
_PHASES_33 = (
    "Where, and in so far as, it is not possible to provide the information at the same time, it may be "
    "provided in phases without undue further delay."
)
_DOC_33 = (
    "Document any personal data breach, notified or not: the facts relating to it, its effects and the "
    "remedial action taken, so the supervisory authority can verify compliance."
)

GDPR_33 = Regime(
    id="gdpr-33",
    title="GDPR: notification of a personal data breach to the supervisory authority",
    law="Regulation (EU) 2016/679 (General Data Protection Regulation)",
    source="https://eur-lex.europa.eu/eli/reg/2016/679/oj (Art. 33)",
    applies_to="controllers of personal data in the EU/EEA (Art. 3)",
    start="the controller becomes aware of the personal data breach",
    start_citation="GDPR Art. 33(1)",
    personal_data=True,
    milestones=(
        Milestone(
            id="authority-notice",
            title="Notification to the supervisory authority",
            recipient="lead supervisory authority (Art. 55, Art. 56(1))",
            starts_on=StartEvent.AWARENESS,
            period=Period(amount=72, unit=Unit.HOURS),
            standard=_GDPR_72H,
            citation="GDPR Art. 33(1)",
            template="gdpr-33-authority-notice.md.j2",
            content=_ART33_3,
        ),
    ),
    late_rule=_LATE_33,
    late_citation="GDPR Art. 33(1), second sentence",
    phases_rule=_PHASES_33,
    phases_citation="GDPR Art. 33(4)",
    documentation_rule=_DOC_33,
    documentation_citation="GDPR Art. 33(5)",
    notes=(
        "A processor notifies the controller without undue delay after becoming aware (Art. 33(2)).",
        "Periods are counted as elapsed hours from the moment of awareness; Regulation 1182/71 Art. 3 would "
        "start the period at the next full hour, so the deadline shown is never later than the law's.",
    ),
)

GDPR_34 = Regime(
    id="gdpr-34",
    title="GDPR: communication of a personal data breach to the data subjects",
    law="Regulation (EU) 2016/679 (General Data Protection Regulation)",
    source="https://eur-lex.europa.eu/eli/reg/2016/679/oj (Art. 34)",
    applies_to="controllers, when the breach is likely to result in a high risk to natural persons",
    start="the controller becomes aware of a breach likely to result in a high risk",
    start_citation="GDPR Art. 34(1)",
    personal_data=True,
    milestones=(
        Milestone(
            id="data-subject-notice",
            title="Communication to the data subjects",
            recipient="the data subjects concerned",
            starts_on=StartEvent.AWARENESS,
            period=None,
            standard=_ART34_1,
            citation="GDPR Art. 34(1)",
            template="gdpr-34-data-subject-notice.md.j2",
            content=_subject_content("GDPR"),
        ),
    ),
    exemptions=_ART34_3,
    documentation_rule=_DOC_33,
    documentation_citation="GDPR Art. 33(5)",
    notes=(
        "Art. 34 sets no fixed number of hours: responder shows 'without undue delay', never an invented due time.",
        "The supervisory authority may require the communication, or decide an Art. 34(3) condition is met "
        "(Art. 34(4)).",
    ),
)

UK_GDPR = Regime(
    id="uk-gdpr",
    title="UK GDPR: breach notification to the Information Commissioner and data subjects",
    law="UK GDPR (Regulation (EU) 2016/679 as retained and amended) with the Data Protection Act 2018",
    source="https://www.legislation.gov.uk/eur/2016/679/article/33 and /article/34",
    applies_to="controllers within the territorial scope of the UK GDPR (Art. 3)",
    start="the controller becomes aware of the personal data breach",
    start_citation="UK GDPR Art. 33(1)",
    personal_data=True,
    milestones=(
        Milestone(
            id="ico-notice",
            title="Notification to the Information Commissioner (ICO)",
            recipient="Information Commissioner's Office",
            starts_on=StartEvent.AWARENESS,
            period=Period(amount=72, unit=Unit.HOURS),
            standard=_GDPR_72H,
            citation="UK GDPR Art. 33(1)",
            template="uk-gdpr-ico-notice.md.j2",
            content=tuple(item.model_copy(update={"citation": "UK " + item.citation}) for item in _ART33_3),
        ),
        Milestone(
            id="data-subject-notice",
            title="Communication to the data subjects",
            recipient="the data subjects concerned",
            starts_on=StartEvent.AWARENESS,
            period=None,
            standard=_ART34_1,
            citation="UK GDPR Art. 34(1)",
            template="gdpr-34-data-subject-notice.md.j2",
            content=_subject_content("UK GDPR"),
        ),
    ),
    late_rule=_LATE_33,
    late_citation="UK GDPR Art. 33(1), second sentence",
    phases_rule=_PHASES_33,
    phases_citation="UK GDPR Art. 33(4)",
    documentation_rule=_DOC_33,
    documentation_citation="UK GDPR Art. 33(5)",
    exemptions=tuple(e.model_copy(update={"citation": "UK " + e.citation}) for e in _ART34_3),
)
