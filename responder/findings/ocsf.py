"""OCSF findings (``Findings Imported V2`` from the newer Security Hub, OCSF 1.x Detection Finding).

Times are epoch milliseconds (``*_time``) or ISO (``*_time_dt``). Resources carry ``type`` (e.g.
``AWS::EC2::Instance``, ``AwsEc2Instance``) and ``uid`` (often an ARN).
"""

from __future__ import annotations

from typing import Any

from ..errors import FindingInvalid
from .fields import dict_of, list_of, number, text, timestamp
from .model import (
    Actor,
    Bucket,
    Cluster,
    DbInstance,
    EbsVolume,
    EcsCluster,
    EcsTask,
    Finding,
    IamUser,
    Instance,
    LambdaFunction,
    Other,
    RoleSession,
    Source,
    severity_label,
)
from .roles import credential_principal, dedupe, split_primary

_SEVERITY = {1: 1.0, 2: 3.0, 3: 5.0, 4: 8.0, 5: 9.5, 6: 10.0}


def _time(obj: dict[str, Any], name: str) -> Any:
    return timestamp(obj.get(f"{name}_dt")) or timestamp(obj.get(name))


def parse(detail: dict[str, Any], event: str, prefix: str = "") -> list[Finding] | Finding:  # type: ignore[override]
    items = detail.get("findings")
    if isinstance(items, list):
        return [_one(dict_of(item), event, f"{prefix}.findings[{i}]") for i, item in enumerate(items)]  # type: ignore[return-value]
    return _one(detail, event, prefix)


def _arn_tail(value: str | None) -> str | None:
    if not value:
        return None
    tail = value.rsplit(":", 1)[-1]
    return tail.rsplit("/", 1)[-1]


def _resource(res: dict[str, Any], finding_type: str) -> Any:
    """One OCSF ``resources[]`` entry (``type`` as ``AWS::EC2::Instance`` or ``AwsEc2Instance``) → a resource."""
    rtype = (text(res.get("type")) or "").replace("::", "").lower()
    uid = text(res.get("uid"))
    name = text(res.get("name"))
    arn = uid if (uid or "").startswith("arn:") else None
    if "ec2instance" in rtype:
        return Instance(instance_id=_arn_tail(uid) or name)
    if "s3bucket" in rtype:
        return Bucket(bucket_name=name or (uid.split(":::", 1)[-1] if uid else None), arn=uid)
    if "iamaccesskey" in rtype:
        return credential_principal(
            finding_type=finding_type,
            access_key_id=name or _arn_tail(uid),
            principal_id=None,
            user_name=None,
            user_type=None,
        )
    if "iamuser" in rtype:
        return IamUser(user_name=name or _arn_tail(uid), arn=uid)
    if "iamrole" in rtype:
        return RoleSession(role_name=name or _arn_tail(uid), role_arn=uid)
    if "ekscluster" in rtype:
        return Cluster(cluster_name=name or _arn_tail(uid), cluster_arn=arn)
    if "ecscluster" in rtype:
        return EcsCluster(cluster_name=name or _arn_tail(uid), cluster_arn=arn)
    if "ecstask" in rtype:
        return EcsTask(task_arn=uid)
    if "lambdafunction" in rtype:
        return LambdaFunction(function_name=name or _arn_tail(uid), function_arn=arn)
    if "rdsdbinstance" in rtype:
        return DbInstance(db_instance_identifier=name or _arn_tail(uid), arn=arn)
    if "ec2volume" in rtype:
        return EbsVolume(volume_arn=arn, volume_id=name or _arn_tail(uid))
    if not rtype and not uid:
        return None
    return Other(resource_type=text(res.get("type")), resource_id=uid or name, details=res)


def _principal(obj: dict[str, Any], finding_type: str) -> Any | None:
    """OCSF's ``actor.user`` (name, uid, type, credential_uid): the principal that acted."""
    user = dict_of(dict_of(obj.get("actor")).get("user"))
    if not user:
        return None
    kind = text(user.get("type")) or ""
    uid = text(user.get("uid"))
    name = text(user.get("name"))
    if kind == "IAMUser" and not text(user.get("credential_uid")):
        return IamUser(user_name=name, arn=uid if (uid or "").startswith("arn:") else None)
    return credential_principal(
        finding_type=finding_type,
        access_key_id=text(user.get("credential_uid")),
        principal_id=uid if not (uid or "").startswith("arn:") else None,
        user_name=name,
        user_type=kind or None,
        arn=uid if (uid or "").startswith("arn:") else None,
    )


def _one(obj: dict[str, Any], event: str, prefix: str) -> Finding:
    info = dict_of(obj.get("finding_info"))
    uid = text(info.get("uid")) or text(dict_of(obj.get("metadata")).get("uid"))
    if not uid:
        raise FindingInvalid(event, f"{prefix}.finding_info.uid", "missing: an OCSF finding needs its uid")
    types = [t for t in (text(x) for x in list_of(info.get("types"))) if t]
    ftype = types[0] if types else text(info.get("title")) or text(obj.get("class_name"))
    if not ftype:
        raise FindingInvalid(event, f"{prefix}.finding_info.types", "missing: no type or title")
    sev_id = number(obj.get("severity_id"))
    score = _SEVERITY.get(int(sev_id), 0.0) if sev_id is not None else 0.0
    cloud = dict_of(obj.get("cloud"))
    found = [_resource(dict_of(x), ftype) for x in list_of(obj.get("resources"))]
    found.append(_principal(obj, ftype))
    resources = dedupe(r for r in found if r is not None) or [Other()]
    primary, rest = split_primary(ftype, resources)
    evidence = dict_of(next(iter(list_of(obj.get("evidences"))), {}))
    src = dict_of(evidence.get("src_endpoint")) or dict_of(obj.get("src_endpoint"))
    product = dict_of(dict_of(obj.get("metadata")).get("product"))
    first = _time(info, "first_seen_time") or _time(obj, "time")
    status = (text(obj.get("status")) or "").lower()
    return Finding(
        id=uid,
        source=Source.SECURITYHUB,
        product=text(product.get("name")),
        type=ftype,
        title=text(info.get("title")),
        description=text(info.get("desc")),
        severity=score,
        severity_label=severity_label(score),
        account_id=text(dict_of(cloud.get("account")).get("uid")),
        region=text(cloud.get("region")),
        first_seen=first,
        last_seen=_time(info, "last_seen_time"),
        created_at=_time(info, "created_time"),
        updated_at=_time(info, "modified_time"),
        incident_start=first,
        archived=status in ("suppressed", "archived", "resolved"),
        resource=primary,
        resources=rest,
        actor=Actor(ip=text(src.get("ip")), domain=text(src.get("domain"))),
        fields={"class_uid": obj.get("class_uid"), "status": text(obj.get("status")), "types": types},
        raw=obj,
    )
