"""Which shipped playbook answers each documented GuardDuty finding type, and which are notify-only.

The list of types is data (``responder/data/guardduty_finding_types.txt``, with its source). For each
type, a synthetic GuardDuty finding is built with every resource kind that type plausibly carries and
a High severity (8.0), and the real trigger matcher decides; the matching trigger's severity floor is
reported too, so "answered from 4.0" and "answered only when High" read differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .findings.model import (
    AccessKey,
    Bucket,
    Cluster,
    Finding,
    Instance,
    Other,
    Pod,
    RoleSession,
    Source,
    severity_label,
)
from .playbook.match import evaluate
from .playbook.model import Playbook

PROBE_SEVERITY = 8.0
# The resource part of a type ("EC2" in "Backdoor:EC2/...") → resources such a finding names.
_KINDS: dict[str, tuple[Any, ...]] = {
    "EC2": (Instance(instance_id="i-0123456789abcdef0", vpc_id="vpc-0123456789abcdef0"),),
    "IAMUser": (AccessKey(access_key_id="AKIAEXAMPLEEXAMPLE00", user_name="coverage", user_type="IAMUser"),
                RoleSession(role_name="coverage", session_name="i-0123456789abcdef0",
                            access_key_id="ASIAEXAMPLEEXAMPLE00", principal_id="AROAEXAMPLE:i-0123456789abcdef0")),
    "IAM": (AccessKey(access_key_id="AKIAEXAMPLEEXAMPLE00", user_name="coverage", user_type="IAMUser"),
            RoleSession(role_name="coverage", session_name="s", access_key_id="ASIAEXAMPLEEXAMPLE00")),
    "S3": (Bucket(bucket_name="coverage-bucket", arn="arn:aws:s3:::coverage-bucket"),),
    "Kubernetes": (Pod(cluster_name="coverage", namespace="default", pod_name="web-1"),
                   Cluster(cluster_name="coverage")),
    "EKS": (Cluster(cluster_name="coverage"),),
    "Runtime": (Instance(instance_id="i-0123456789abcdef0"), Pod(cluster_name="coverage", namespace="default",
                                                                  pod_name="web-1")),
}


@dataclass(frozen=True)
class Answer:
    playbook: str
    resource_kind: str
    min_severity: float


@dataclass
class TypeCoverage:
    type: str
    section: str
    answers: list[Answer] = field(default_factory=list)

    @property
    def notify_only(self) -> bool:
        return not self.answers

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "section": self.section, "notify_only": self.notify_only,
                "answered_by": [a.__dict__ for a in self.answers]}


def documented_types() -> list[tuple[str, str]]:
    """(section, type) pairs from the data file, in file order."""
    text = (resources.files("responder") / "data" / "guardduty_finding_types.txt").read_text(encoding="utf-8")
    section = ""
    out: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        out.append((section, line))
    return out


def _resources_for(finding_type: str) -> tuple[Any, ...]:
    family = finding_type.split(":", 1)[-1].split("/", 1)[0]
    return _KINDS.get(family, (Other(resource_type=family),))


def synthetic(finding_type: str, resource: Any, severity: float = PROBE_SEVERITY) -> Finding:
    return Finding(id=f"coverage:{finding_type}:{resource.kind}", source=Source.GUARDDUTY, product="GuardDuty",
                   type=finding_type, severity=severity, severity_label=severity_label(severity),
                   account_id="123456789012", region="us-east-1", resource=resource)


def coverage(playbooks: list[Playbook], types: list[tuple[str, str]] | None = None) -> list[TypeCoverage]:
    rows = []
    for section, finding_type in types if types is not None else documented_types():
        row = TypeCoverage(type=finding_type, section=section)
        for resource in _resources_for(finding_type):
            finding = synthetic(finding_type, resource)
            for playbook in playbooks:
                result = evaluate(playbook, finding)
                if result.matched and result.trigger_index is not None:
                    floor = playbook.triggers[result.trigger_index].min_severity
                    row.answers.append(Answer(playbook.id, resource.kind, floor))
        rows.append(row)
    return rows


def summary(rows: list[TypeCoverage]) -> dict[str, Any]:
    by_section: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = by_section.setdefault(row.section, {"types": 0, "answered": 0, "notify_only": 0})
        counts["types"] += 1
        counts["notify_only" if row.notify_only else "answered"] += 1
    return {"types": len(rows), "answered": sum(not r.notify_only for r in rows),
            "notify_only": sum(r.notify_only for r in rows), "by_section": by_section,
            "probe_severity": PROBE_SEVERITY,
            "source": "responder/data/guardduty_finding_types.txt (GuardDuty User Guide, finding types)"}
