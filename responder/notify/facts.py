"""The facts a notice is drafted from: the finding, the scope step's output and the organisation.

Nothing is invented. A fact responder does not know is ``None`` and the draft prints it as "to be
completed", with a hint of where to look when the finding suggests one. Every string that came from
the finding or the scope is attacker-influenced: it is flattened to one line (so it cannot forge a
heading or a section of the notice) and passed to templates only as a variable, never as template text.
The scope step's output is read defensively: every field is optional and may be a count, a list or a
mapping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..clock import iso
from ..findings.model import Finding
from .scope import count, literal, names, read, readable
from .settings import Organisation

__all__ = ["TBC", "build", "count", "known", "literal", "measures_from_steps", "names", "tbc"]

TBC = "to be completed"
_COMPOSED = 4000  # a fact built from several flattened values (the nature) may be longer than one value


def known(value: Any) -> bool:
    """A fact is known when it is not None and not empty; zero is a known count."""
    return value is not None and value != "" and value != [] and value != {}


def tbc(value: Any, hint: str | None = None) -> str:
    """The fact as text, or the "to be completed" marker (with a hint of where to look)."""
    if not known(value):
        return f"[{TBC}{': ' + literal(hint) if hint else ''}]"
    if isinstance(value, list | tuple):
        return literal("; ".join(literal(v) for v in value), _COMPOSED)
    if isinstance(value, datetime):
        return iso(value) or ""
    return literal(value, _COMPOSED)


def measures_from_steps(steps: list[Any]) -> list[str]:
    """Containment steps that succeeded, as measures taken (GDPR Art. 33(3)(d)); evidence copies are not."""
    out = []
    for step in steps:
        if getattr(step, "state", None) == "succeeded" and getattr(step, "category", None) == "contain":
            out.append(literal(step.summary or f"{step.action} ({step.step_id})"))
    return out


def build(
    finding: Finding,
    scope: dict[str, Any] | None,
    org: Organisation,
    *,
    run_id: str,
    aware_at: datetime | None,
    received_at: datetime | None,
    measures_taken: list[str] | None = None,
    delay_reason: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every fact any template may ask for; unknown ones are None. ``extra`` lets a person add facts."""
    view = read(scope)
    res = finding.resource.model_dump()
    resource = ", ".join(
        f"{k}={literal(v)}" for k, v in res.items() if k not in ("kind", "role") and isinstance(v, str) and v
    )
    started = view.first_activity or finding.incident_start or finding.first_seen
    ended = view.last_activity or finding.last_seen
    nature_bits = [f"Security finding {literal(finding.type)}"]
    if finding.title:
        nature_bits.append(f"reported as: {literal(finding.title)}")
    if resource:
        nature_bits.append(f"affected {res.get('kind')}: {resource}")
    if started:
        nature_bits.append(f"activity from {tbc(started)}" + (f" to {tbc(ended)}" if ended else ""))
    if view.events is not None:
        nature_bits.append(f"{view.events} logged API events attributed to the credential")
    if view.api_calls:
        nature_bits.append(f"API calls include {', '.join(view.api_calls[:5])}")
    if view.buckets:
        nature_bits.append(f"data stores touched: {', '.join(view.buckets)}")
    if view.objects_read is not None:
        nature_bits.append(f"{view.objects_text()} objects read")
    if view.bytes_read:
        nature_bits.append(f"{view.bytes_read} bytes read")
    if view.secrets_read:
        nature_bits.append(f"{view.secrets_read} secrets read")
    if view.egress_bytes:
        nature_bits.append(f"{view.egress_bytes} bytes sent to flagged destinations")
    if view.persistence:
        nature_bits.append(f"persistence: {', '.join(view.persistence[:5])}")
    categories = None
    if view.categories:
        categories = (
            ", ".join(readable(c) for c in view.categories)
            + " (indicated by the scope from the names of what was read: confirm)"
        )
    iocs = [
        v for v in (finding.actor.ip, finding.actor.user_agent, finding.actor.domain, res.get("access_key_id")) if v
    ]
    iocs += [v for v in (*view.keys, *view.source_ips) if v not in iocs]
    contact = org.dpo_contact or org.controller_contact
    facts: dict[str, Any] = {
        "run_id": literal(run_id),
        "finding_id": literal(finding.id),
        "finding_type": literal(finding.type),
        "finding_title": literal(finding.title) if finding.title else None,
        "severity": f"{finding.severity_label.value} ({finding.severity:g})",
        "account_id": finding.account_id,
        "region": finding.region,
        "resource": resource or None,
        "source": finding.source.value,
        "controller": org.controller,
        "controller_contact": org.controller_contact,
        "dpo_contact": org.dpo_contact,
        "contact": contact,
        "lead_authority": org.lead_authority,
        "representative": org.representative,
        "csirt": org.csirt,
        "nis2_entity": org.nis2_entity,
        "hipaa_contact": org.hipaa_contact or contact,
        "encargado": org.encargado or contact,
        "aware_at": iso(aware_at),
        "received_at": iso(received_at),
        "started_at": tbc(started) if started else None,
        "ended_at": tbc(ended) if ended else None,
        "nature": "; ".join(nature_bits) + ".",
        "subject_categories": view.subject_categories or None,
        "subjects_approx": view.subjects,
        "individuals": view.subjects,
        "max_residents_one_state": view.max_residents_one_state,
        "record_categories": categories,
        "records_approx": view.records,
        "objects_read": view.objects_text(),
        "buckets": view.buckets or None,
        "egress_bytes": view.egress_bytes,
        "persistence": view.persistence or None,
        "consequences": None,
        "measures_taken": measures_taken or None,
        "measures_proposed": None,
        "measures": None,
        "malicious": None,
        "cross_border": None,
        "severity_impact": None,
        "iocs": [literal(v) for v in iocs] or None,
        "root_cause": None,
        "individual_steps": None,
        "security_measures": None,
        "material_impact": None,
        "delay_reason": literal(delay_reason) if delay_reason else None,
    }
    if measures_taken:
        facts["measures"] = "taken: " + "; ".join(measures_taken) + f"; further measures proposed: [{TBC}]"
    facts["what_happened"] = (
        f"{facts['nature']} Date of breach: {tbc(facts['started_at'])}. Date of discovery: {tbc(facts['aware_at'])}."
    )
    facts["nature_scope_timing"] = facts["what_happened"]
    for key, value in org.model_dump().items():
        facts.setdefault(key, literal(value) if value is not None else None)
    for key, value in (extra or {}).items():
        facts[key] = value if isinstance(value, int | float) else literal(value)
    return facts


HINTS = {
    "subject_categories": "who the data is about (customers, employees, patients, ...)",
    "subjects_approx": "count the data subjects in the records read",
    "record_categories": "what kinds of personal data the touched data stores hold",
    "records_approx": "count the records in the objects read",
    "contact": "set notify.organisation.dpo_contact in config.yaml",
    "consequences": "assess the likely consequences for the people concerned",
    "measures": "list measures taken and proposed, including mitigation for the people concerned",
    "malicious": "say whether unlawful or malicious acts are suspected (see the finding type)",
    "cross_border": "say whether the incident could have a cross-border impact",
    "severity_impact": "initial assessment of severity and impact",
    "iocs": "indicators of compromise from the scope report",
    "root_cause": "type of threat or root cause",
    "individual_steps": "what individuals should do to protect themselves",
    "hipaa_contact": "set notify.organisation.hipaa_contact (toll-free number, e-mail, website or address)",
    "security_measures": "technical and security measures protecting the data",
    "material_impact": "material impact on financial condition and results of operations",
}
