"""Which resource a finding is about, and what a principal really is: rules shared by every adapter.

A GuardDuty finding names several resources at once (the key that acted *and* the bucket it read,
the instance *and* its exfiltrated role session, the cluster *and* the pod). ``resourceType`` names only
one of them, and not always the one the finding type is about: S3 findings are published with
``resourceType: AccessKey`` beside ``s3BucketDetails``. So the primary resource is chosen from the
*type*: ``Threat:Family/Name`` → the kinds that family is about, in order of preference.

Principals are classified by what they are, not by the label a sample carries: an assumed-role
principal (``AROA…:session`` principal id, an ``assumed-role`` ARN, ``userType: AssumedRole``) is a role
session, and ``InstanceCredentialExfiltration`` is by definition an instance role's session.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .model import AccessKey, RoleSession

# The resource part of a finding type ("S3" in "Policy:S3/BucketBlockPublicAccessDisabled") → the kinds
# that family is about, most specific first. "principal" means the finding's actor resource.
_FAMILY_PRIMARY: dict[str, tuple[str, ...]] = {
    "S3": ("s3_bucket",),
    "EC2": ("ec2_instance", "ebs_volume"),
    "IAMUser": ("principal",),
    "IAM": ("principal",),
    "Kubernetes": ("k8s_pod", "eks_cluster", "ec2_instance"),
    "EKS": ("k8s_pod", "eks_cluster"),
    "Runtime": ("k8s_pod", "ecs_task", "eks_cluster", "ecs_cluster", "ec2_instance", "container"),
    "ECS": ("ecs_task", "ecs_cluster", "container"),
    "Container": ("container", "k8s_pod", "ecs_task", "ec2_instance"),
    "Lambda": ("lambda_function",),
    "RDS": ("rds_instance",),
}
# GuardDuty's resourceType → kinds, used only when the type's family names nothing we recognise.
_RESOURCE_TYPE_PRIMARY: dict[str, tuple[str, ...]] = {
    "AccessKey": ("principal",),
    "Instance": ("ec2_instance",),
    "S3Bucket": ("s3_bucket",),
    "S3Object": ("s3_bucket",),
    "EKSCluster": ("k8s_pod", "eks_cluster"),
    "KubernetesCluster": ("k8s_pod", "eks_cluster"),
    "ECSCluster": ("ecs_task", "ecs_cluster"),
    "Container": ("container",),
    "Lambda": ("lambda_function",),
    "RDSDBInstance": ("rds_instance",),
    "RDSLimitlessDB": ("rds_instance",),
}
# A finding about a principal is about its credentials first: they are what a response contains.
_PRINCIPAL_ORDER = ("role_session", "access_key", "iam_user", "k8s_user")
_TYPE = re.compile(r"(?:^|/)(?:\[[^\]]*\])?\s*[A-Za-z0-9]+:([A-Za-z0-9]+)[/-]")
_ASSUMED_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:sts::\d{12}:assumed-role/(?P<role>[^/]+)/(?P<session>.+)$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:.*/)?(?P<role>[^/]+)$")


def family(finding_type: str) -> str | None:
    """``Execution:Kubernetes/ExecInKubeSystemPod`` → ``Kubernetes`` (also ``[beta]`` and ASFF's ``-`` form)."""
    match = _TYPE.search(finding_type or "")
    return match.group(1) if match else None


def is_instance_credential_exfiltration(finding_type: str) -> bool:
    return "IAMUser/InstanceCredentialExfiltration" in (finding_type or "") or "IAMUser-InstanceCredential" in (
        finding_type or ""
    )


def _usable(res: Any, kind: str) -> bool:
    """A pod counts as the primary only when it is named: a deployment-level workload is not a pod."""
    if res.kind != kind:
        return False
    if kind == "k8s_pod":
        return bool(res.pod_name)
    return True


def choose_primary(finding_type: str, found: list[Any], resource_type: str | None = None) -> Any:
    """The resource the finding type is about; else what ``resourceType`` says; else the most specific one."""
    by_type = _FAMILY_PRIMARY.get(family(finding_type) or "", ())
    by_resource_type = _RESOURCE_TYPE_PRIMARY.get(resource_type or "", ())
    for preference in (by_type, by_resource_type):
        for kind in preference:
            for candidate in _PRINCIPAL_ORDER if kind == "principal" else (kind,):
                for res in found:
                    if _usable(res, candidate):
                        return res
    for res in found:  # nothing preferred: the first thing we recognised, targets before actors
        if res.kind != "other" and res.role == "target" and _usable(res, res.kind):
            return res
    for res in found:
        if res.kind != "other":
            return res
    return found[0]


def split_primary(finding_type: str, found: list[Any], resource_type: str | None = None) -> tuple[Any, tuple[Any, ...]]:
    primary = choose_primary(finding_type, found, resource_type)
    return primary, tuple(r for r in found if r is not primary)


def parse_principal_arn(arn: str | None) -> tuple[str | None, str | None]:
    """``arn:aws:sts::…:assumed-role/ROLE/SESSION`` → (ROLE, SESSION); ``…:role/path/ROLE`` → (ROLE, None)."""
    if not arn:
        return None, None
    match = _ASSUMED_ROLE_ARN.match(arn)
    if match:
        return match.group("role"), match.group("session")
    match = _ROLE_ARN.match(arn)
    if match:
        return match.group("role"), None
    return None, None


def credential_principal(
    *,
    finding_type: str,
    access_key_id: str | None,
    principal_id: str | None,
    user_name: str | None,
    user_type: str | None,
    arn: str | None = None,
    role_arn: str | None = None,
) -> AccessKey | RoleSession:
    """An access key's owner as what it is: an IAM user's (or root's) key, or a role session.

    A role session is recognised by any of: ``userType: AssumedRole``; an ``AROA…`` principal id (role
    ids start so; the session name follows the colon); an ``assumed-role`` ARN; an ASIA key not said to
    belong to a user; or the finding type (instance credentials are always an instance role's session).
    """
    key = access_key_id or ""
    pid = principal_id or ""
    role_from_arn, session_from_arn = parse_principal_arn(arn or user_name)
    is_session = (
        user_type == "AssumedRole"
        or pid.startswith("AROA")
        or role_from_arn is not None
        or is_instance_credential_exfiltration(finding_type)
        or (key.startswith("ASIA") and user_type not in ("IAMUser", "Root", "FederatedUser"))
    )
    if not is_session:
        return AccessKey(
            access_key_id=access_key_id, user_name=user_name, user_type=user_type, principal_id=principal_id
        )
    session = session_from_arn or (pid.split(":", 1)[1] if ":" in pid else None)
    role_name = role_from_arn or parse_principal_arn(role_arn)[0]
    if not role_name and user_name and not user_name.startswith("arn:") and not re.fullmatch(r"\d{12}", user_name):
        role_name = user_name
    return RoleSession(
        role_name=role_name,
        role_arn=role_arn,
        session_name=session or None,
        access_key_id=access_key_id,
        principal_id=principal_id,
    )


# What identifies a resource of each kind: two mentions with the same identity are one resource.
_IDENTITY = {
    "access_key": "access_key_id",
    "role_session": "principal_id",
    "iam_user": "user_name",
    "k8s_user": "username",
    "ec2_instance": "instance_id",
    "s3_bucket": "bucket_name",
    "eks_cluster": "cluster_name",
    "ecs_cluster": "cluster_name",
    "ecs_task": "task_arn",
    "container": "container_id",
    "lambda_function": "function_name",
    "rds_instance": "db_instance_identifier",
    "ebs_volume": "volume_arn",
}


def _identity(res: Any) -> tuple[str, str] | None:
    if res.kind == "k8s_pod":
        return (res.kind, f"{res.namespace}/{res.pod_name}") if res.pod_name else None
    value = getattr(res, _IDENTITY.get(res.kind, ""), None)
    return (res.kind, str(value)) if value else None


def dedupe(found: Iterable[Any]) -> list[Any]:
    """One entry per resource: a resource named twice (the bucket in ``s3BucketDetails`` and again in an
    attack sequence) keeps its first, usually richer, mention."""
    out: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for res in found:
        identity = _identity(res)
        if res in out or (identity is not None and identity in seen):
            continue
        if identity is not None:
            seen.add(identity)
        out.append(res)
    return out
