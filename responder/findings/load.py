"""Turn any raw event or file into Findings: the one entry point every way in uses.

Recognises, by shape rather than by file name: EventBridge envelopes (GuardDuty Finding, Security Hub
Findings - Imported / Custom Action / legacy, OCSF Findings Imported V2, GuardDuty Malware Protection scan
results, custom SIEM buses), SNS-wrapped events, GuardDuty ``GetFindings`` and ``{"Findings": [...]}``
files, JSON arrays, JSON Lines, bare GuardDuty/ASFF findings, gitleaks and trufflehog reports, Falco.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import FindingInvalid
from . import guardduty, secrets, securityhub, siem
from .fields import dict_of, list_of, text
from .limits import MAX_EVENT_BYTES, MAX_FINDINGS, check_count, check_structure, decode_json
from .model import Finding


def load_file(path: str | Path) -> list[Finding]:
    """Read a JSON or JSON Lines file; every error names the file and the field."""
    p = Path(path)
    name = str(path)
    if not p.is_file():
        raise FindingInvalid(name, "(file)", "no such file")
    if p.stat().st_size > MAX_EVENT_BYTES:
        raise FindingInvalid(name, "(file)", f"larger than the limit of {MAX_EVENT_BYTES} bytes (MAX_EVENT_BYTES)")
    try:
        body = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FindingInvalid(name, "(file)", f"not UTF-8 text: {exc.reason}") from None
    return load_text(body, name)


def load_text(body: str, name: str = "event") -> list[Finding]:
    """Decode a JSON document or JSON Lines, held to the limits in :mod:`.limits`, and parse it."""
    stripped = body.strip()
    if not stripped:
        raise FindingInvalid(name, "(root)", "empty: expected a JSON event")
    try:
        data: Any = decode_json(stripped, name, check=False)
    except json.JSONDecodeError as exc:
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        if len(lines) > 1 and all(ln.lstrip().startswith("{") for ln in lines):
            check_count(len(lines), name)
            data = []
            for number, line in enumerate(lines, start=1):
                try:
                    data.append(decode_json(line, name, f"line {number}", check=False))
                except json.JSONDecodeError as line_exc:
                    raise FindingInvalid(
                        name, f"line {number}", f"invalid JSON: {line_exc.msg} (column {line_exc.colno})"
                    ) from None
        else:
            raise FindingInvalid(
                name,
                f"line {exc.lineno} column {exc.colno}",
                f"invalid JSON: {exc.msg} (truncated or malformed event?)",
            ) from None
    return parse_event(data, name)


def parse_event(data: Any, name: str = "event") -> list[Finding]:
    """Parse one decoded event (any supported shape) into one or more Findings.

    The batch size is checked first (cheap, so an oversized batch is refused at once), then depth, number
    size and Unicode in one linear pass, then each finding is parsed."""
    check_count(_count(data), name)
    check_structure(data, name)
    findings = _dispatch(data, name, "")
    if not findings:
        raise FindingInvalid(name, "(root)", "holds no findings")
    check_count(len(findings), name)  # wrappers nested deeper than _count looks still count
    return findings


def _count(data: Any, depth: int = 0) -> int:
    """How many findings an event holds, from its wrappers alone (no finding is parsed)."""
    if depth > 4:
        return len(data) if isinstance(data, list) else 1
    if isinstance(data, list):
        if len(data) > MAX_FINDINGS:
            return len(data)
        return sum(_count(item, depth + 1) for item in data)
    if not isinstance(data, dict):
        return 1
    for key in ("Findings", "findings"):
        if isinstance(data.get(key), list):
            return _count(data[key], depth + 1)
    detail = data.get("detail")
    if isinstance(detail, dict) and isinstance(detail.get("findings"), list):
        return len(detail["findings"])
    records = data.get("Records")
    if isinstance(records, list):
        return max(1, len(records))
    return 1


def _dispatch(data: Any, name: str, prefix: str) -> list[Finding]:
    where = f"{prefix}." if prefix else ""
    if isinstance(data, list):
        out: list[Finding] = []
        for index, item in enumerate(data):
            out.extend(_dispatch(item, name, f"{prefix}[{index}]"))
        return out
    if not isinstance(data, dict):
        raise FindingInvalid(name, prefix or "(root)", f"expected a JSON object, found {type(data).__name__}")

    records = data.get("Records")
    if isinstance(records, list) and records and isinstance(dict_of(records[0]).get("Sns"), dict):
        messages: list[tuple[str, Any]] = []
        for index, record in enumerate(records):
            message = dict_of(dict_of(record).get("Sns")).get("Message")
            field = f"{where}Records[{index}].Sns.Message"
            if not isinstance(message, str):
                raise FindingInvalid(name, field, "missing: expected the event as JSON text")
            try:
                messages.append((field, decode_json(message, name, field)))
            except json.JSONDecodeError as exc:
                raise FindingInvalid(name, field, f"invalid JSON: {exc.msg}") from None
        check_count(sum(_count(inner) for _, inner in messages), name, f"{where}Records")  # all messages together
        out = []
        for field, inner in messages:
            out.extend(_dispatch(inner, name, field))
        return out

    if "detail-type" in data or ("detail" in data and "source" in data):
        return _envelope(data, name, prefix)

    if isinstance(data.get("Findings"), list) or isinstance(data.get("findings"), list):
        items = data.get("Findings") if isinstance(data.get("Findings"), list) else data.get("findings")
        key = "Findings" if isinstance(data.get("Findings"), list) else "findings"
        return _dispatch(items, name, f"{where}{key}")

    if securityhub.looks_like(data):
        return [securityhub.parse(data, name, prefix)]
    if secrets.looks_like_gitleaks(data):
        return [secrets.parse_gitleaks(data, name, prefix)]
    if secrets.looks_like_trufflehog(data):
        return [secrets.parse_trufflehog(data, name, prefix)]
    if siem.looks_like_falco(data):
        return [siem.parse_falco(data, name, prefix)]
    if siem.looks_like_generic(data):
        return [siem.parse_generic(data, name, prefix)]
    if guardduty.looks_like(data):
        return [guardduty.parse(data, name, prefix)]
    keys = ", ".join(sorted(str(k) for k in data)[:8])
    raise FindingInvalid(
        name,
        prefix or "(root)",
        f"not a recognised finding (keys: {keys}); expected a GuardDuty, Security Hub "
        "(ASFF/OCSF), gitleaks, trufflehog, Falco or responder SIEM event",
    )


def _envelope(data: dict[str, Any], name: str, prefix: str) -> list[Finding]:
    where = f"{prefix}." if prefix else ""
    kind = text(data.get("detail-type")) or ""
    detail = data.get("detail")
    if not isinstance(detail, dict):
        raise FindingInvalid(name, f"{where}detail", "missing or not an object in this EventBridge event")
    if kind == "GuardDuty Finding":
        return [guardduty.parse(detail, name, f"{where}detail")]
    if kind.startswith("Security Hub Findings"):
        findings = detail.get("findings")
        if not isinstance(findings, list):
            raise FindingInvalid(name, f"{where}detail.findings", "missing: expected a list of ASFF findings")
        if not findings:
            raise FindingInvalid(name, f"{where}detail.findings", "empty list")
        return [securityhub.parse(f, name, f"{where}detail.findings[{i}]") for i, f in enumerate(findings)]
    if kind == "Findings Imported V2" or "finding_info" in detail:
        from . import ocsf

        parsed = ocsf.parse(detail, name, f"{where}detail")
        return parsed if isinstance(parsed, list) else [parsed]
    if kind.startswith("GuardDuty Malware Protection"):
        from . import malware

        return [malware.parse(data, name, prefix)]
    # A custom SIEM bus: the detail is itself a finding in one of the known shapes.
    return _dispatch(detail, name, f"{where}detail")


def summarise(findings: list[Finding]) -> list[dict[str, Any]]:
    return [
        {
            "id": f.id,
            "source": f.source.value,
            "type": f.type,
            "severity": f.severity,
            "account_id": f.account_id,
            "region": f.region,
            "resource": f.resource.kind,
        }
        for f in findings
    ]


__all__ = ["list_of", "load_file", "load_text", "parse_event", "summarise"]
