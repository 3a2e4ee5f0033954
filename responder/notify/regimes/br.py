"""Brazil: LGPD art. 48 with Resolução CD/ANPD nº 15/2024."""

from __future__ import annotations

from ..model import (
    ContentItem,
    Milestone,
    Period,
    Regime,
    StartEvent,
    Unit,
)

# --- Brazil LGPD -----------------------------------------------------------------------------------
_LGPD_CONTENT = (
    ContentItem(
        key="art.48§1(I)",
        label="Nature of the personal data affected",
        citation="LGPD art. 48 §1 I",
        fact="record_categories",
    ),
    ContentItem(
        key="art.48§1(II)",
        label="Information on the data subjects involved",
        citation="LGPD art. 48 §1 II",
        fact="subject_categories",
    ),
    ContentItem(
        key="art.48§1(III)",
        label="Technical and security measures used to protect the data",
        citation="LGPD art. 48 §1 III",
        fact="security_measures",
    ),
    ContentItem(
        key="art.48§1(IV)",
        label="Risks related to the incident",
        citation="LGPD art. 48 §1 IV",
        fact="consequences",
    ),
    ContentItem(
        key="art.48§1(VI)",
        label="Measures adopted or to be adopted to reverse or mitigate the effects",
        citation="LGPD art. 48 §1 VI",
        fact="measures",
    ),
)
LGPD = Regime(
    id="lgpd",
    title="Brazil LGPD: communication of a security incident to the ANPD and data subjects",
    law="Lei nº 13.709/2018 (LGPD) art. 48; Resolução CD/ANPD nº 15/2024 (Regulamento de Comunicação de "
    "Incidente de Segurança)",
    source="https://www.gov.br/anpd (Resolução CD/ANPD nº 15, de 24 de abril de 2024)",
    applies_to="controllers, for incidents that may cause relevant risk or damage to data subjects (LGPD art. 48)",
    start="the controller's knowledge that the security incident affected personal data",
    start_citation="Resolução CD/ANPD nº 15/2024, art. 6",
    personal_data=True,
    timezone="America/Sao_Paulo",
    calendar="BR",
    milestones=(
        Milestone(
            id="anpd-notice",
            title="Communication to the ANPD",
            recipient="Autoridade Nacional de Proteção de Dados (ANPD)",
            starts_on=StartEvent.AWARENESS,
            period=Period(amount=3, unit=Unit.BUSINESS_DAYS),
            standard="within three business days of the controller's knowledge that the incident affected "
            "personal data",
            citation="Resolução CD/ANPD nº 15/2024, art. 6; LGPD art. 48",
            template="lgpd-anpd-notice.md.j2",
            content=_LGPD_CONTENT,
        ),
        Milestone(
            id="data-subject-notice",
            title="Communication to the data subjects",
            recipient="the data subjects concerned",
            starts_on=StartEvent.AWARENESS,
            period=Period(amount=3, unit=Unit.BUSINESS_DAYS),
            standard="within three business days of the controller's knowledge that the incident affected "
            "personal data",
            citation="Resolução CD/ANPD nº 15/2024, art. 9; LGPD art. 48",
            content=_LGPD_CONTENT,
        ),
        Milestone(
            id="complementary-information",
            title="Complementary information to the ANPD",
            recipient="Autoridade Nacional de Proteção de Dados (ANPD)",
            starts_on=StartEvent.SENT,
            after="anpd-notice",
            period=Period(amount=20, unit=Unit.BUSINESS_DAYS),
            standard="information may be complemented, with reasons, within twenty business days of the communication",
            citation="Resolução CD/ANPD nº 15/2024, art. 6 §3",
        ),
    ),
    late_rule="When the communication was not immediate, state the reasons for the delay.",
    late_citation="LGPD art. 48 §1 V",
    documentation_rule="Keep a record of the security incident, including ones not communicated, "
    "for at least "
    "five years.",
    documentation_citation="Resolução CD/ANPD nº 15/2024, art. 10",
    notes=(
        "Business days exclude Saturdays, Sundays and national holidays (calendar BR, "
        "or a state such as BR-SP "
        "via notify.calendars.lgpd); counted in Brasília time.",
        "Small processing agents may have doubled deadlines (Resolução CD/ANPD nº 2/2022, art. 14): not applied "
        "here; check whether it applies to this communication.",
    ),
)
