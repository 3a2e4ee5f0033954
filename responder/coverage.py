"""Which shipped playbook answers each documented GuardDuty finding type, and why the others are notify-only.

The list of types is data (``responder/data/guardduty_finding_types.txt``, with its sources): active
types by section, retired ones marked, and a written reason for each type no playbook should answer
automatically. For each type, responder builds the GuardDuty findings that type is *published* as — the
resource blocks GuardDuty fills for it (an S3 finding names the acting key and the bucket; a Runtime
finding comes from an instance, a pod or an ECS task) — at severity 8, parses them with the real
GuardDuty adapter (so normalisation is exercised, not assumed) and lets the real trigger matcher decide.
The matching trigger's severity floor is reported too, so "answered from 4.0" and "answered only when
High" read differently.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from typing import Any

from .findings import guardduty
from .findings.model import Finding
from .playbook.match import evaluate
from .playbook.model import Playbook

PROBE_SEVERITY = 8.0
ACCOUNT = "123456789012"
REASONS_SECTION = "notify-only"
SOURCE = "responder/data/guardduty_finding_types.txt (GuardDuty User Guide, finding types)"


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
    reason: str | None = None
    retired: bool = False
    shapes: list[str] = field(default_factory=list)

    @property
    def notify_only(self) -> bool:
        return not self.answers

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "section": self.section,
            "retired": self.retired,
            "notify_only": self.notify_only,
            "reason": self.reason if self.notify_only else None,
            "probed_as": self.shapes,
            "answered_by": [a.__dict__ for a in self.answers],
        }


# ------------------------------------------------------------------------------------------ the data file
@dataclass(frozen=True)
class TypeList:
    active: list[tuple[str, str]]
    retired: list[tuple[str, str]]
    reasons: list[tuple[str, str]]  # (glob, reason), first match wins


@lru_cache(maxsize=1)
def type_list() -> TypeList:
    text = (resources.files("responder") / "data" / "guardduty_finding_types.txt").read_text(encoding="utf-8")
    section = ""
    active: list[tuple[str, str]] = []
    retired: list[tuple[str, str]] = []
    reasons: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section == REASONS_SECTION:
            glob, _, reason = line.partition(" = ")
            if glob and reason:
                reasons.append((glob.strip(), reason.strip()))
            continue
        name, _, marker = line.partition(" ")
        (retired if marker.strip() == "retired" else active).append((section, name))
    return TypeList(active=active, retired=retired, reasons=reasons)


def documented_types() -> list[tuple[str, str]]:
    """(section, type) pairs of the active types, in file order."""
    return list(type_list().active)


def reason_for(finding_type: str) -> str | None:
    return next((reason for glob, reason in type_list().reasons if fnmatchcase(finding_type, glob)), None)


# ------------------------------------------------------------------------------------------ probes
_INSTANCE = {
    "instanceId": "i-0123456789abcdef0",
    "instanceType": "t3.large",
    "availabilityZone": "us-east-1a",
    "networkInterfaces": [
        {
            "networkInterfaceId": "eni-0123456789abcdef0",
            "vpcId": "vpc-0123456789abcdef0",
            "subnetId": "subnet-0123456789abcdef0",
            "privateIpAddress": "10.0.1.10",
            "securityGroups": [{"groupId": "sg-0123456789abcdef0", "groupName": "web"}],
        }
    ],
}
_USER_KEY = {
    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
    "principalId": "AIDAEXAMPLECOVERAGE1",
    "userName": "coverage",
    "userType": "IAMUser",
}
_ROLE_SESSION = {
    "accessKeyId": "ASIAEXAMPLESESSION01",
    "principalId": "AROAEXAMPLECOVERAGE1:i-0123456789abcdef0",
    "userName": "coverage-role",
    "userType": "AssumedRole",
}
_ROOT = {"accessKeyId": "ASIAEXAMPLEROOTSESS1", "principalId": ACCOUNT, "userName": "Root", "userType": "Root"}
_BUCKET = [{"name": "coverage-bucket", "arn": "arn:aws:s3:::coverage-bucket", "type": "Destination"}]
_EKS = {
    "name": "coverage",
    "arn": f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/coverage",
    "vpcId": "vpc-0123456789abcdef0",
}
_POD = {
    "name": "web-1",
    "namespace": "default",
    "type": "pods",
    "uid": "0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
    "containers": [{"name": "web", "image": "nginx:1.27"}],
    "serviceAccountName": "default",
}
_K8S_USER = {"username": "system:serviceaccount:default:web", "groups": ["system:serviceaccounts"]}
_ECS = {
    "name": "coverage",
    "arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/coverage",
    "status": "ACTIVE",
    "taskDetails": {
        "arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/coverage/0a1b2c3d4e5f40718293a4b5c6d7e8f9",
        "definitionArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/api:1",
        "launchType": "FARGATE",
        "containers": [{"name": "api", "image": "api:1"}],
    },
}
_CONTAINER = {"containerRuntime": "containerd", "id": "0f" * 32, "name": "api", "image": "api:1"}
_LAMBDA = {
    "functionName": "coverage-fn",
    "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:coverage-fn",
    "role": f"arn:aws:iam::{ACCOUNT}:role/coverage-fn-role",
    "functionVersion": "$LATEST",
}
_RDS = {
    "dbInstanceIdentifier": "coverage-db",
    "engine": "postgres",
    "dbInstanceArn": f"arn:aws:rds:us-east-1:{ACCOUNT}:db:coverage-db",
}
_RDS_USER = {"user": "app", "application": "psql", "database": "app", "ssl": "true", "authMethod": "PASSWORD"}
_WORKLOAD_WORDS = ("Workload", "Exec", "Container", "Pod", "MaliciousFile", "SuspiciousFile")


def _shapes(section: str, finding_type: str) -> list[tuple[str, dict[str, Any]]]:
    """(label, GuardDuty ``resource`` block) for every shape GuardDuty publishes this type in."""
    family = finding_type.split(":", 1)[-1].split("/", 1)[0]
    ec2, user, role = (
        {"instanceDetails": _INSTANCE},
        {"accessKeyDetails": _USER_KEY},
        {"accessKeyDetails": _ROLE_SESSION},
    )
    if section == "malware-protection-backup":
        return [("EBSSnapshot", {"resourceType": "EBSSnapshot"})]
    if section == "custom-detection-rules":
        target = {"EC2": ec2, "RDS": {"rdsDbInstanceDetails": _RDS}}.get(family, {})
        return [
            ("AccessKey+IAMUser", {"resourceType": "AccessKey", **user, **target}),
            ("AccessKey+AssumedRole", {"resourceType": "AccessKey", **role, **target}),
        ]
    if family == "EC2" and section in ("ec2", "malware-protection"):
        shapes = [("Instance", {"resourceType": "Instance", **ec2})]
        if section == "ec2":  # the sample generator publishes EC2 findings with the key beside the instance too
            shapes.append(("AccessKey+Instance", {"resourceType": "AccessKey", **role, **ec2}))
        return shapes
    if family in ("IAMUser", "IAM"):
        if "Root" in finding_type:
            return [("AccessKey(Root)", {"resourceType": "AccessKey", "accessKeyDetails": _ROOT})]
        return [
            ("AccessKey+IAMUser", {"resourceType": "AccessKey", **user}),
            ("AccessKey+AssumedRole", {"resourceType": "AccessKey", **role}),
        ]
    if family == "S3":
        if finding_type.startswith("Object:"):
            objects = [{**_BUCKET[0], "s3ObjectDetails": [{"key": "uploads/a.exe", "versionId": "v1"}]}]
            return [("S3Object", {"resourceType": "S3Object", "s3BucketDetails": objects})]
        return [
            ("AccessKey+IAMUser+S3Bucket", {"resourceType": "AccessKey", **user, "s3BucketDetails": _BUCKET}),
            ("AccessKey+AssumedRole+S3Bucket", {"resourceType": "AccessKey", **role, "s3BucketDetails": _BUCKET}),
        ]
    if family == "Kubernetes":
        kube: dict[str, Any] = {"kubernetesUserDetails": _K8S_USER}
        if any(word in finding_type for word in _WORKLOAD_WORDS):
            kube["kubernetesWorkloadDetails"] = _POD
        return [("EKSCluster", {"resourceType": "EKSCluster", "eksClusterDetails": _EKS, "kubernetesDetails": kube})]
    if family in ("Runtime", "ECS", "Container") or section == "runtime":
        eks = {
            "resourceType": "EKSCluster",
            "eksClusterDetails": _EKS,
            "kubernetesDetails": {"kubernetesWorkloadDetails": _POD},
        }
        ecs = {"resourceType": "ECSCluster", "ecsClusterDetails": _ECS, "containerDetails": _CONTAINER}
        if family == "ECS":
            return [("ECSCluster", ecs)]
        if family == "Container":
            return [("Container", {"resourceType": "Container", "containerDetails": _CONTAINER})]
        return [("Instance", {"resourceType": "Instance", **ec2}), ("EKSCluster", eks), ("ECSCluster", ecs)]
    if family == "Lambda":
        return [("Lambda", {"resourceType": "Lambda", "lambdaDetails": _LAMBDA})]
    if family == "RDS":
        return [
            (
                "RDSDBInstance",
                {"resourceType": "RDSDBInstance", "rdsDbInstanceDetails": _RDS, "rdsDbUserDetails": _RDS_USER},
            )
        ]
    if finding_type.startswith("AttackSequence:"):
        return _sequence_shape(family)
    return [(family, {"resourceType": family})]


def _sequence_shape(family: str) -> list[tuple[str, dict[str, Any]]]:
    blocks = {
        "IAM": {"resourceType": "AccessKey", "accessKeyDetails": _USER_KEY},
        "S3": {"resourceType": "AccessKey", "accessKeyDetails": _USER_KEY, "s3BucketDetails": _BUCKET},
        "EKS": {"resourceType": "EKSCluster", "eksClusterDetails": _EKS},
        "ECS": {"resourceType": "ECSCluster", "ecsClusterDetails": _ECS},
        "EC2": {"resourceType": "Instance", "instanceDetails": _INSTANCE},
    }
    block = blocks.get(family, {"resourceType": family})
    return [(str(block["resourceType"]), block)]


def probe(finding_type: str, resource: dict[str, Any], severity: float = PROBE_SEVERITY) -> dict[str, Any]:
    """A GuardDuty finding (GetFindings/EventBridge ``detail`` shape) of this type naming these resources."""
    fid = f"coverage{abs(hash((finding_type, repr(sorted(resource))))) % 10**12:012d}"
    return {
        "schemaVersion": "2.0",
        "accountId": ACCOUNT,
        "region": "us-east-1",
        "partition": "aws",
        "id": fid,
        "arn": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/coverage/finding/{fid}",
        "type": finding_type,
        "resource": copy.deepcopy(resource),
        "severity": severity,
        "service": {
            "serviceName": "guardduty",
            "detectorId": "coverage",
            "archived": False,
            "count": 1,
            "resourceRole": "TARGET",
            "additionalInfo": {"sample": True},
        },
        "createdAt": "2026-12-01T00:00:00.000Z",
        "updatedAt": "2026-12-01T00:00:00.000Z",
        "title": f"coverage probe for {finding_type}",
    }


def probes(section: str, finding_type: str) -> list[tuple[str, Finding]]:
    return [
        (label, guardduty.parse(probe(finding_type, block), "coverage"))
        for label, block in _shapes(section, finding_type)
    ]


# ------------------------------------------------------------------------------------------ coverage
def coverage(
    playbooks: list[Playbook], types: list[tuple[str, str]] | None = None, *, include_retired: bool = False
) -> list[TypeCoverage]:
    listed = type_list()
    chosen = list(types) if types is not None else list(listed.active)
    retired = {t for _, t in listed.retired}
    if include_retired and types is None:
        chosen += listed.retired
    rows = []
    for section, finding_type in chosen:
        row = TypeCoverage(type=finding_type, section=section, retired=finding_type in retired)
        for label, finding in probes(section, finding_type):
            row.shapes.append(label)
            data = finding.model_dump(mode="json")
            for playbook in playbooks:
                result = evaluate(playbook, finding, data)
                if result.matched and result.trigger_index is not None:
                    floor = playbook.triggers[result.trigger_index].min_severity
                    answer = Answer(playbook.id, finding.resource.kind, floor)
                    if answer not in row.answers:
                        row.answers.append(answer)
        row.reason = reason_for(finding_type) if row.notify_only else None
        rows.append(row)
    return rows


def summary(rows: list[TypeCoverage]) -> dict[str, Any]:
    live = [r for r in rows if not r.retired]
    by_section: dict[str, dict[str, int]] = {}
    for row in live:
        counts = by_section.setdefault(row.section, {"types": 0, "answered": 0, "notify_only": 0})
        counts["types"] += 1
        counts["notify_only" if row.notify_only else "answered"] += 1
    answered = sum(not r.notify_only for r in live)
    return {
        "types": len(live),
        "answered": answered,
        "notify_only": len(live) - answered,
        "notify_only_with_reason": sum(r.notify_only and bool(r.reason) for r in live),
        "unexplained": sorted(r.type for r in live if r.notify_only and not r.reason),
        "answered_percent": round(100.0 * answered / len(live), 1) if live else 0.0,
        "retired": len(type_list().retired),
        "by_section": by_section,
        "probe_severity": PROBE_SEVERITY,
        "source": SOURCE,
    }
