"""AWS Security Finding Format (ASFF) → Finding: raw, in ``GetFindings`` lists, or inside
``Security Hub Findings - Imported`` / ``- Custom Action`` EventBridge events.

GuardDuty findings relayed through Security Hub keep their GuardDuty type: ASFF writes it as the last
``Types`` segment with ``/`` turned into ``-`` (``TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce``).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import FindingInvalid
from .fields import dict_of, list_of, number, pick, text, timestamp
from .model import (
    Actor,
    Bucket,
    Cluster,
    Container,
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

_LABEL_SCORE = {"INFORMATIONAL": 0.0, "LOW": 2.0, "MEDIUM": 5.0, "HIGH": 8.0, "CRITICAL": 9.5}
_GD_TYPE = re.compile(r"^([A-Za-z0-9]+):([A-Za-z0-9]+)-(.+)$")


def looks_like(obj: dict[str, Any]) -> bool:
    return isinstance(obj, dict) and (
        "ProductArn" in obj or ("AwsAccountId" in obj and "Types" in obj) or "GeneratorId" in obj
    )


def product_name(obj: dict[str, Any]) -> str | None:
    name = text(obj.get("ProductName"))
    if name:
        return name
    arn = text(obj.get("ProductArn")) or ""
    tail = arn.rsplit("/", 1)[-1] if "/" in arn else ""
    return {
        "guardduty": "GuardDuty",
        "securityhub": "Security Hub",
        "inspector": "Inspector",
        "macie": "Macie",
        "access-analyzer": "IAM Access Analyzer",
    }.get(tail, tail or None)


def _type(obj: dict[str, Any], product: str | None) -> str | None:
    types = [t for t in (text(x) for x in list_of(obj.get("Types"))) if t]
    if product == "GuardDuty":
        for candidate in types:
            match = _GD_TYPE.match(candidate.rsplit("/", 1)[-1])
            if match:
                return f"{match.group(1)}:{match.group(2)}/{match.group(3)}"
        fields = dict_of(obj.get("ProductFields"))
        for key in ("aws/guardduty/service/type", "type"):
            if text(fields.get(key)):
                return text(fields.get(key))
    if types:
        return types[0]
    return text(obj.get("GeneratorId")) or text(obj.get("Title"))


def _score(obj: dict[str, Any]) -> float:
    sev = dict_of(obj.get("Severity"))
    label = (text(sev.get("Label")) or "").upper()
    original = number(sev.get("Original"))
    product = number(sev.get("Product"))
    normalized = number(sev.get("Normalized"))
    if product_name(obj) == "GuardDuty" and (original or product) is not None:
        return max(0.0, min(10.0, float(original if original is not None else product)))  # type: ignore[arg-type]
    if label in _LABEL_SCORE:
        return _LABEL_SCORE[label]
    if normalized is not None:
        return max(0.0, min(10.0, normalized / 10.0))
    return 0.0


def parse(obj: Any, event: str, prefix: str = "") -> Finding:
    where = f"{prefix}." if prefix else ""
    if not isinstance(obj, dict):
        raise FindingInvalid(event, prefix or "(root)", "expected an ASFF finding object")
    finding_id = text(obj.get("Id"))
    if not finding_id:
        raise FindingInvalid(event, f"{where}Id", "missing: an ASFF finding needs its Id")
    product = product_name(obj)
    ftype = _type(obj, product)
    if not ftype:
        raise FindingInvalid(event, f"{where}Types", "missing: an ASFF finding needs Types (or GeneratorId)")
    resources_raw = list_of(obj.get("Resources"))
    parsed = [_resource(dict_of(r), ftype) for r in resources_raw if isinstance(r, dict)]
    parsed = dedupe(r for r in parsed if r is not None) or [Other(resource_type=None)]
    primary, rest = split_primary(ftype, parsed)
    region = text(obj.get("Region")) or next(
        (text(dict_of(r).get("Region")) for r in resources_raw if text(dict_of(r).get("Region"))), None
    )
    if not region:
        arn = text(obj.get("ProductArn")) or ""
        parts = arn.split(":")
        region = parts[3] if len(parts) > 3 and parts[3] else None
    score = _score(obj)
    workflow = (text(pick(obj, "Workflow", "Status")) or text(obj.get("WorkflowState")) or "").upper()
    archived = (text(obj.get("RecordState")) or "").upper() == "ARCHIVED" or workflow == "SUPPRESSED"
    pf = dict_of(obj.get("ProductFields"))
    first = timestamp(obj.get("FirstObservedAt"))
    return Finding(
        id=finding_id,
        source=Source.SECURITYHUB,
        product=product,
        type=ftype,
        title=text(obj.get("Title")),
        description=text(obj.get("Description")),
        severity=score,
        severity_label=severity_label(score),
        account_id=text(obj.get("AwsAccountId")),
        region=region,
        partition=next(
            (text(dict_of(r).get("Partition")) for r in resources_raw if text(dict_of(r).get("Partition"))), None
        )
        or "aws",
        first_seen=first,
        last_seen=timestamp(obj.get("LastObservedAt")),
        created_at=timestamp(obj.get("CreatedAt")),
        updated_at=timestamp(obj.get("UpdatedAt")) or timestamp(obj.get("updatedAt")),
        incident_start=first or timestamp(obj.get("CreatedAt")),
        count=int(number(pf.get("aws/guardduty/service/count") or pf.get("count"), 1) or 1),
        archived=archived,
        resource=primary,
        resources=rest,
        actor=_actor(obj),
        fields={
            "product": product,
            "generator_id": text(obj.get("GeneratorId")),
            "types": [t for t in (text(x) for x in list_of(obj.get("Types"))) if t],
            "workflow_status": workflow or None,
            "record_state": text(obj.get("RecordState")),
            "compliance_status": text(pick(obj, "Compliance", "Status")),
            "resource_types": [text(dict_of(r).get("Type")) for r in resources_raw],
            "product_fields": {k: v for k, v in pf.items() if isinstance(v, str)},
        },
        raw=obj,
    )


def _arn_tail(value: str | None) -> str | None:
    if not value:
        return None
    tail = value.rsplit(":", 1)[-1]
    return tail.rsplit("/", 1)[-1] if "/" in tail else tail


def _resource(res: dict[str, Any], finding_type: str) -> Any:
    """One ASFF ``Resources[]`` entry → a resource with its role (principals act, everything else is acted on)."""
    rtype = text(res.get("Type")) or ""
    rid = text(res.get("Id"))
    details = dict_of(res.get("Details"))
    if rtype == "AwsIamAccessKey":
        d = dict_of(details.get("AwsIamAccessKey"))
        key_id = text(d.get("AccessKeyId"))
        if not key_id and rid and re.match(r"^(AKIA|ASIA)[A-Z0-9]+$", rid.rsplit(":", 1)[-1]):
            key_id = rid.rsplit(":", 1)[-1]
        issuer = dict_of(dict_of(d.get("SessionContext")).get("SessionIssuer"))
        return credential_principal(
            finding_type=finding_type,
            access_key_id=key_id,
            principal_id=text(d.get("PrincipalId")),
            user_name=text(d.get("PrincipalName")) or text(d.get("UserName")) or text(issuer.get("UserName")),
            user_type=text(d.get("PrincipalType")) or text(d.get("UserType")),
            role_arn=text(issuer.get("Arn")) if text(issuer.get("Type")) == "Role" else None,
        )
    if rtype == "AwsIamUser":
        d = dict_of(details.get("AwsIamUser"))
        return IamUser(user_name=text(d.get("UserName")) or _arn_tail(rid), arn=rid)
    if rtype == "AwsIamRole":
        d = dict_of(details.get("AwsIamRole"))
        return RoleSession(role_name=text(d.get("RoleName")) or _arn_tail(rid), role_arn=rid)
    if rtype == "AwsEc2Instance":
        d = dict_of(details.get("AwsEc2Instance"))
        return Instance(
            instance_id=_arn_tail(rid),
            image_id=text(d.get("ImageId")),
            instance_type=text(d.get("Type")),
            vpc_id=text(d.get("VpcId")),
            subnet_id=text(d.get("SubnetId")),
            private_ips=tuple(t for t in (text(x) for x in list_of(d.get("IpV4Addresses"))) if t),
            network_interface_ids=tuple(
                t
                for t in (text(dict_of(n).get("NetworkInterfaceId")) for n in list_of(d.get("NetworkInterfaces")))
                if t
            ),
            instance_profile_arn=text(d.get("IamInstanceProfileArn")),
            tags={str(k): str(v) for k, v in dict_of(res.get("Tags")).items()},
        )
    if rtype == "AwsS3Bucket":
        d = dict_of(details.get("AwsS3Bucket"))
        name = rid.split(":::", 1)[1] if rid and ":::" in rid else rid
        return Bucket(
            bucket_name=name, arn=rid if rid and rid.startswith("arn:") else None, owner=text(d.get("OwnerId"))
        )
    if rtype == "AwsS3Object":
        name = rid.split(":::", 1)[1] if rid and ":::" in rid else rid
        bucket, _, key = (name or "").partition("/")
        return Bucket(bucket_name=bucket or None, object_keys=(key,) if key else ())
    if rtype == "AwsEksCluster":
        d = dict_of(details.get("AwsEksCluster"))
        return Cluster(cluster_name=text(d.get("Name")) or _arn_tail(rid), cluster_arn=rid)
    if rtype == "AwsEcsCluster":
        d = dict_of(details.get("AwsEcsCluster"))
        return EcsCluster(cluster_name=text(d.get("ClusterName")) or _arn_tail(rid), cluster_arn=rid)
    if rtype == "AwsEcsTask":
        d = dict_of(details.get("AwsEcsTask"))
        return EcsTask(
            cluster_arn=text(d.get("ClusterArn")), task_arn=rid, task_definition_arn=text(d.get("TaskDefinitionArn"))
        )
    if rtype == "Container":
        d = dict_of(details.get("Container"))
        return Container(
            container_id=rid,
            name=text(d.get("Name")),
            image=text(d.get("ImageName")) or text(d.get("ImageId")),
        )
    if rtype == "AwsLambdaFunction":
        d = dict_of(details.get("AwsLambdaFunction"))
        return LambdaFunction(
            function_name=text(d.get("FunctionName")) or _arn_tail(rid),
            function_arn=rid,
            function_version=text(d.get("Version")),
            execution_role_arn=text(d.get("Role")),
        )
    if rtype == "AwsRdsDbInstance":
        d = dict_of(details.get("AwsRdsDbInstance"))
        return DbInstance(
            db_instance_identifier=text(d.get("DbInstanceIdentifier")) or _arn_tail(rid),
            db_cluster_identifier=text(d.get("DbClusterIdentifier")),
            arn=rid,
            engine=text(d.get("Engine")),
        )
    if rtype == "AwsEc2Volume":
        return EbsVolume(volume_arn=rid, volume_id=_arn_tail(rid))
    if not rtype and not rid:
        return None
    return Other(resource_type=rtype or None, resource_id=rid, details=details)


def _actor(obj: dict[str, Any]) -> Actor:
    net = dict_of(obj.get("Network"))
    action = dict_of(obj.get("Action"))
    api = dict_of(action.get("AwsApiCallAction"))
    remote = dict_of(api.get("RemoteIpDetails")) or dict_of(
        dict_of(action.get("NetworkConnectionAction")).get("RemoteIpDetails")
    )
    pf = dict_of(obj.get("ProductFields"))

    def pf_get(*suffixes: str) -> str | None:
        for key, value in pf.items():
            if any(key.endswith(s) for s in suffixes):
                return text(value)
        return None

    org = dict_of(remote.get("Organization"))
    return Actor(
        ip=text(remote.get("IpAddressV4"))
        or text(net.get("SourceIpV4"))
        or text(net.get("SourceIpV6"))
        or pf_get("remoteIpDetails/ipAddressV4"),
        asn=text(org.get("Asn")) or pf_get("organization/asn"),
        asn_org=text(org.get("AsnOrg")) or pf_get("organization/asnOrg"),
        isp=text(org.get("InternetProvider")) or pf_get("organization/isp"),
        country=text(dict_of(remote.get("Country")).get("CountryName")) or pf_get("country/countryName"),
        city=text(dict_of(remote.get("City")).get("CityName")) or pf_get("city/cityName"),
        domain=text(net.get("SourceDomain")),
        port=int(number(net.get("SourcePort"))) if number(net.get("SourcePort")) is not None else None,
    )
