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

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator


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


Role = Literal["actor", "target"]
"""A resource's part in the finding: the *actor* did it (a key, user, role session, Kubernetes user), the
*target* had it done to it (a bucket, instance, pod, cluster, database, function, task)."""


class Actor(_Data):
    """Where the activity came from, as far as the source knows (network origin, not the principal:
    the principal is ``Finding.principal``)."""

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
    role: Role = "actor"
    access_key_id: str | None = None
    user_name: str | None = None
    user_type: str | None = None
    principal_id: str | None = None


class IamUser(_Data):
    kind: Literal["iam_user"] = "iam_user"
    role: Role = "actor"
    user_name: str | None = None
    arn: str | None = None


class RoleSession(_Data):
    """Temporary credentials (ASIA) of an assumed role: deactivation cannot touch them."""

    kind: Literal["role_session"] = "role_session"
    role: Role = "actor"
    role_name: str | None = None
    role_arn: str | None = None
    session_name: str | None = None
    access_key_id: str | None = None
    principal_id: str | None = None


class K8sUser(_Data):
    """The Kubernetes identity that made an API call: a user, or a service account
    (``system:serviceaccount:NAMESPACE:NAME``, split into its parts)."""

    kind: Literal["k8s_user"] = "k8s_user"
    role: Role = "actor"
    username: str | None = None
    uid: str | None = None
    groups: tuple[str, ...] = ()
    session_names: tuple[str, ...] = ()
    service_account_namespace: str | None = None
    service_account_name: str | None = None
    impersonated_user: str | None = None


class Instance(_Data):
    kind: Literal["ec2_instance"] = "ec2_instance"
    role: Role = "target"
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
    role: Role = "target"
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
    role: Role = "target"
    cluster_name: str | None = None
    cluster_arn: str | None = None
    vpc_id: str | None = None


class Bucket(_Data):
    kind: Literal["s3_bucket"] = "s3_bucket"
    role: Role = "target"
    bucket_name: str | None = None
    arn: str | None = None
    owner: str | None = None
    object_keys: tuple[str, ...] = ()


class Container(_Data):
    """One container (GuardDuty ``containerDetails``, Runtime Monitoring and Malware Protection)."""

    kind: Literal["container"] = "container"
    role: Role = "target"
    container_id: str | None = None
    name: str | None = None
    image: str | None = None
    runtime: str | None = None


class EcsTask(_Data):
    """An ECS task (``ecsClusterDetails.taskDetails``), with its cluster."""

    kind: Literal["ecs_task"] = "ecs_task"
    role: Role = "target"
    cluster_name: str | None = None
    cluster_arn: str | None = None
    task_arn: str | None = None
    task_definition_arn: str | None = None
    launch_type: str | None = None
    containers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()


class EcsCluster(_Data):
    kind: Literal["ecs_cluster"] = "ecs_cluster"
    role: Role = "target"
    cluster_name: str | None = None
    cluster_arn: str | None = None


class LambdaFunction(_Data):
    kind: Literal["lambda_function"] = "lambda_function"
    role: Role = "target"
    function_name: str | None = None
    function_arn: str | None = None
    function_version: str | None = None
    execution_role_arn: str | None = None


class DbInstance(_Data):
    """An RDS / Aurora database instance (``rdsDbInstanceDetails``, ``rdsLimitlessDbDetails``) and the
    database user the login attempt named (``rdsDbUserDetails``)."""

    kind: Literal["rds_instance"] = "rds_instance"
    role: Role = "target"
    db_instance_identifier: str | None = None
    db_cluster_identifier: str | None = None
    arn: str | None = None
    engine: str | None = None
    db_user: str | None = None


class EbsVolume(_Data):
    """A volume (or snapshot) Malware Protection scanned."""

    kind: Literal["ebs_volume"] = "ebs_volume"
    role: Role = "target"
    volume_arn: str | None = None
    volume_id: str | None = None
    device_name: str | None = None
    snapshot_arn: str | None = None


class Other(_Data):
    """A resource kind responder does not model yet: the raw event keeps the details."""

    kind: Literal["other"] = "other"
    role: Role = "target"
    resource_type: str | None = None
    resource_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


Resource = Annotated[
    AccessKey
    | IamUser
    | RoleSession
    | K8sUser
    | Instance
    | Pod
    | Cluster
    | Bucket
    | Container
    | EcsTask
    | EcsCluster
    | LambdaFunction
    | DbInstance
    | EbsVolume
    | Other,
    Field(discriminator="kind"),
]
PRINCIPAL_KINDS = ("access_key", "iam_user", "role_session", "k8s_user")
RESOURCE_KINDS = (
    *PRINCIPAL_KINDS,
    "ec2_instance",
    "k8s_pod",
    "eks_cluster",
    "s3_bucket",
    "container",
    "ecs_task",
    "ecs_cluster",
    "lambda_function",
    "rds_instance",
    "ebs_volume",
    "other",
)
# Views computed from ``resource`` + ``resources`` for templates (they are in ``model_dump``); a stored
# finding carries them, and reading it back drops them before validation.
DERIVED_FIELDS = ("principal", "targets", "target", "resource_kinds")


class Finding(BaseModel):
    """One security event, normalised. ``raw`` is the event as received (secrets redacted).

    ``resource`` is the primary resource, the one the finding *type* is about (a bucket for ``…:S3/…``,
    an instance for ``…:EC2/…``, the pod or else the cluster for ``…:Kubernetes/…``, the principal for
    ``…:IAMUser/…``); ``resources`` holds every other resource the finding names. Each carries its
    ``role`` (actor or target). Templates and trigger matchers also see the derived views:

    - ``principal``: the actor resource (key, IAM user, role session, Kubernetes user) or None;
    - ``targets``: every target resource, primary first;
    - ``target``: kind → the first target of that kind (``finding.target.s3_bucket.bucket_name``);
    - ``resource_kinds``: the kind of every resource named, primary first.
    """

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

    @model_validator(mode="before")
    @classmethod
    def _drop_derived(cls, data: Any) -> Any:
        """A stored finding (``model_dump``) carries the derived views: they are recomputed, not read."""
        if isinstance(data, dict) and any(k in data for k in DERIVED_FIELDS):
            data = {k: v for k, v in data.items() if k not in DERIVED_FIELDS}
        return data

    def all_resources(self) -> tuple[Any, ...]:
        """Every resource the finding names, primary first."""
        return (self.resource, *self.resources)

    def first(self, kind: str) -> Any | None:
        """The first resource of a kind (any role), primary resource first."""
        for res in self.all_resources():
            if res.kind == kind:
                return res
        return None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def principal(self) -> Resource | None:
        """Who acted: the primary resource when it is an actor (findings about a principal), else the first
        actor named; None when the finding names nobody."""
        return next((r for r in self.all_resources() if r.role == "actor"), None)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def targets(self) -> tuple[Resource, ...]:
        return tuple(r for r in self.all_resources() if r.role == "target")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def target(self) -> dict[str, Resource]:
        """Kind → the first target of that kind; ``finding.target.get("k8s_pod")`` when it may be absent."""
        out: dict[str, Any] = {}
        for res in self.targets:
            out.setdefault(res.kind, res)
        return out

    @computed_field  # type: ignore[prop-decorator]
    @property
    def resource_kinds(self) -> tuple[str, ...]:
        kinds: list[str] = []
        for res in self.all_resources():
            if res.kind not in kinds:
                kinds.append(res.kind)
        return tuple(kinds)

    def digest(self) -> str:
        """SHA-256 of the raw event: tells two deliveries of a finding apart."""
        body = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(body.encode()).hexdigest()

    def summary(self) -> str:
        res = self.resource
        ident = next(
            (v for k, v in res.model_dump().items() if k not in ("kind", "role") and isinstance(v, str) and v), ""
        )
        return f"{self.type} ({self.severity_label.value} {self.severity:g}) on {res.kind} {ident}".strip()
