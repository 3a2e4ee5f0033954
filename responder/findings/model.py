"""The normalised Finding every adapter produces and every playbook matches on.

Every field comes from an attacker-influenced event: the model holds it as data only.
Templates see it as variables, SQL sees it as bound parameters, Slack sees it escaped.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Source(StrEnum):
    GUARDDUTY = "guardduty"
    SECURITYHUB = "securityhub"
    SECRETS = "secrets"
    SIEM = "siem"


class SeverityLabel(StrEnum):
    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def severity_label(score: float) -> SeverityLabel:
    """GuardDuty's bands (Low 1-3.9, Medium 4-6.9, High 7-8.9, Critical 9-10)."""
    if score >= 9:
        return SeverityLabel.CRITICAL
    if score >= 7:
        return SeverityLabel.HIGH
    if score >= 4:
        return SeverityLabel.MEDIUM
    if score >= 1:
        return SeverityLabel.LOW
    return SeverityLabel.INFORMATIONAL


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Actor(_Data):
    """Who acted, as far as the source knows."""

    ip: str | None = None
    asn: str | None = None
    asn_org: str | None = None
    isp: str | None = None
    country: str | None = None
    city: str | None = None
    user_agent: str | None = None
    domain: str | None = None
    port: int | None = None


class AccessKey(_Data):
    """A long-term (AKIA) key of an IAM user or the root user."""

    kind: Literal["access_key"] = "access_key"
    access_key_id: str | None = None
    user_name: str | None = None
    user_type: str | None = None
    principal_id: str | None = None


class IamUser(_Data):
    kind: Literal["iam_user"] = "iam_user"
    user_name: str | None = None
    arn: str | None = None


class RoleSession(_Data):
    """Temporary credentials (ASIA) of an assumed role: deactivation cannot touch them."""

    kind: Literal["role_session"] = "role_session"
    role_name: str | None = None
    role_arn: str | None = None
    session_name: str | None = None
    access_key_id: str | None = None
    principal_id: str | None = None


class Instance(_Data):
    kind: Literal["ec2_instance"] = "ec2_instance"
    instance_id: str | None = None
    image_id: str | None = None
    instance_type: str | None = None
    availability_zone: str | None = None
    vpc_id: str | None = None
    subnet_id: str | None = None
    network_interface_ids: tuple[str, ...] = ()
    private_ips: tuple[str, ...] = ()
    public_ips: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    instance_profile_arn: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class Pod(_Data):
    """A Kubernetes workload on EKS (or any cluster a SIEM reports)."""

    kind: Literal["k8s_pod"] = "k8s_pod"
    cluster_name: str | None = None
    cluster_arn: str | None = None
    namespace: str | None = None
    pod_name: str | None = None
    pod_uid: str | None = None
    workload_kind: str | None = None
    workload_name: str | None = None
    service_account: str | None = None
    node_name: str | None = None
    containers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()


class Cluster(_Data):
    kind: Literal["eks_cluster"] = "eks_cluster"
    cluster_name: str | None = None
    cluster_arn: str | None = None
    vpc_id: str | None = None


class Bucket(_Data):
    kind: Literal["s3_bucket"] = "s3_bucket"
    bucket_name: str | None = None
    arn: str | None = None
    owner: str | None = None
    object_keys: tuple[str, ...] = ()


class Other(_Data):
    """A resource kind responder does not model yet: the raw event keeps the details."""

    kind: Literal["other"] = "other"
    resource_type: str | None = None
    resource_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


Resource = Annotated[
    AccessKey | IamUser | RoleSession | Instance | Pod | Cluster | Bucket | Other,
    Field(discriminator="kind"),
]
RESOURCE_KINDS = (
    "access_key",
    "iam_user",
    "role_session",
    "ec2_instance",
    "k8s_pod",
    "eks_cluster",
    "s3_bucket",
    "other",
)


class Finding(BaseModel):
    """One security event, normalised. ``raw`` is the event as received (secrets redacted)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    source: Source
    product: str | None = None
    type: str
    title: str | None = None
    description: str | None = None
    severity: float = 0.0
    severity_label: SeverityLabel = SeverityLabel.INFORMATIONAL
    account_id: str | None = None
    region: str | None = None
    partition: str = "aws"
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    incident_start: datetime | None = None
    count: int = 1
    archived: bool = False
    resource: Resource = Field(default_factory=Other)
    resources: tuple[Resource, ...] = ()
    actor: Actor = Field(default_factory=Actor)
    fields: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict)
    origin: str = "event"

    def first(self, kind: str) -> Any | None:
        """The first resource of a kind, primary resource first."""
        for res in (self.resource, *self.resources):
            if res.kind == kind:
                return res
        return None

    def digest(self) -> str:
        """SHA-256 of the raw event: tells two deliveries of a finding apart."""
        body = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(body.encode()).hexdigest()

    def summary(self) -> str:
        res = self.resource
        ident = next((v for k, v in res.model_dump().items() if k != "kind" and isinstance(v, str) and v), "")
        return f"{self.type} ({self.severity_label.value} {self.severity:g}) on {res.kind} {ident}".strip()
