"""Which playbooks answer a finding: type globs, severity, source, resource kind, account/region lists,
and field matchers over the normalised finding (``resource.user_type``, ``fields.action_type``, ``raw.…``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from ..findings.model import Finding
from .model import AllowDeny, Playbook, Trigger

_MISSING = object()


def _get(data: Any, path: str) -> Any:
    cur = data
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def _value_matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, list):
        return any(_value_matches(actual, e) for e in expected)
    if actual is _MISSING:
        return expected is None
    if isinstance(actual, list):
        return any(_value_matches(a, expected) for a in actual)
    if isinstance(expected, str) and isinstance(actual, str):
        return fnmatchcase(actual, expected) if any(c in expected for c in "*?[") else actual == expected
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    return bool(actual == expected)


def _allowed(value: str | None, rule: AllowDeny) -> bool:
    if value is not None and any(fnmatchcase(value, d) for d in rule.deny):
        return False
    if rule.allow:
        return value is not None and any(fnmatchcase(value, a) for a in rule.allow)
    return True


def _type_names(finding: Finding) -> list[str]:
    """GuardDuty prefixes preview types (``[beta]Exfiltration:S3/...``); match with and without it."""
    names = [finding.type]
    if finding.type.startswith("[") and "]" in finding.type:
        names.append(finding.type.split("]", 1)[1])
    return names


def why_not(trigger: Trigger, finding: Finding, data: dict[str, Any] | None = None) -> str | None:
    """None when the trigger matches, else the first reason it does not (for ``responder match``)."""
    if finding.archived and not trigger.include_archived:
        return "finding is archived/suppressed"
    if trigger.sources and finding.source not in trigger.sources:
        return f"source {finding.source.value} not in {[s.value for s in trigger.sources]}"
    names = _type_names(finding)
    if trigger.types and not any(fnmatchcase(n, g) for n in names for g in trigger.types):
        return f"type {finding.type} matches none of {trigger.types}"
    if any(fnmatchcase(n, g) for n in names for g in trigger.exclude_types):
        return f"type {finding.type} is excluded"
    if finding.severity < trigger.min_severity:
        return f"severity {finding.severity:g} below {trigger.min_severity:g}"
    if trigger.resource_kinds and finding.resource.kind not in trigger.resource_kinds:
        return f"resource kind {finding.resource.kind} not in {trigger.resource_kinds}"
    if trigger.products and not any(fnmatchcase(finding.product or "", p) for p in trigger.products):
        return f"product {finding.product} not in {trigger.products}"
    if not _allowed(finding.account_id, trigger.accounts):
        return f"account {finding.account_id} not allowed"
    if not _allowed(finding.region, trigger.regions):
        return f"region {finding.region} not allowed"
    if trigger.match:
        data = data if data is not None else finding.model_dump(mode="json")
        for path, expected in trigger.match.items():
            if not _value_matches(_get(data, path), expected):
                return f"{path} does not match {expected!r}"
    return None


@dataclass(frozen=True)
class MatchResult:
    playbook: Playbook
    matched: bool
    trigger_index: int | None
    reason: str | None


def evaluate(playbook: Playbook, finding: Finding) -> MatchResult:
    data = finding.model_dump(mode="json")
    reasons = []
    for index, trigger in enumerate(playbook.triggers):
        reason = why_not(trigger, finding, data)
        if reason is None:
            return MatchResult(playbook, True, index, None)
        reasons.append(reason)
    return MatchResult(playbook, False, None, "; ".join(reasons))


def matching(playbooks: list[Playbook], finding: Finding) -> list[Playbook]:
    return [p for p in playbooks if evaluate(p, finding).matched]
