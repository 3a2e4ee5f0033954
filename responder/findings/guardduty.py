"""GuardDuty findings (EventBridge ``detail``, ``GetFindings`` items, camelCase or PascalCase) → Finding.

Covers every resource family GuardDuty reports: access keys (IAM users, root, assumed roles),
EC2 instances, S3 buckets and objects, EKS clusters and Kubernetes workloads, Runtime (EKS, ECS, EC2),
Lambda, RDS, EBS/Malware Protection. Anything else is kept as an ``Other`` resource with the raw event.
"""

from __future__ import annotations

from typing import Any

from ..errors import FindingInvalid
from .fields import dict_of, list_of, number, pick, text, timestamp
from .model import (
    AccessKey,
    Actor,
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

_ACTION_KEYS = (
    "awsApiCallAction",
    "networkConnectionAction",
    "kubernetesApiCallAction",
    "rdsLoginAttemptAction",
    "dnsRequestAction",
    "portProbeAction",
    "kubernetesPermissionCheckedAction",
    "kubernetesRoleBindingDetails",
)


def looks_like(obj: dict[str, Any]) -> bool:
    """A GuardDuty finding has a type, a resource and a service block, and schemaVersion 2.x."""
    schema = text(pick(obj, "schemaVersion")) or ""
    has_core = pick(obj, "type") is not None and (pick(obj, "service") is not None or pick(obj, "resource") is not None)
    arn = text(pick(obj, "arn")) or ""
    return has_core and (schema.startswith("2") or ":guardduty:" in arn or pick(obj, "service") is not None)


def parse(obj: Any, event: str, prefix: str = "") -> Finding:
    if not isinstance(obj, dict):
        raise FindingInvalid(event, prefix or "(root)", "expected a GuardDuty finding object")
    where = f"{prefix}." if prefix else ""
    finding_id = text(pick(obj, "id"))
    if not finding_id:
        raise FindingInvalid(event, f"{where}id", "missing: a GuardDuty finding needs its id")
    ftype = text(pick(obj, "type"))
    if not ftype:
        raise FindingInvalid(event, f"{where}type", "missing: a GuardDuty finding needs its type")
    raw_sev = pick(obj, "severity")
    score = number(raw_sev)
    if raw_sev is not None and score is None:
        raise FindingInvalid(event, f"{where}severity", f"not a number: {str(raw_sev)[:40]!r}")
    score = max(0.0, min(10.0, score or 0.0))

    resource_block = dict_of(pick(obj, "resource"))
    service = dict_of(pick(obj, "service"))
    primary, resources = _resources(resource_block)
    additional = dict_of(pick(service, "additionalInfo"))
    if isinstance(pick(additional, "value"), str):  # PascalCase exports carry additionalInfo as JSON text
        import json

        try:
            additional = dict_of(json.loads(pick(additional, "value")))
        except ValueError:
            additional = {}

    actor = _actor(service, additional)
    action = dict_of(pick(service, "action"))
    api_action = dict_of(pick(action, "awsApiCallAction"))
    fields = {
        "resource_type": text(pick(resource_block, "resourceType")),
        "action_type": text(pick(action, "actionType")),
        "api": text(pick(api_action, "api")),
        "service_name": text(pick(api_action, "serviceName")),
        "caller_type": text(pick(api_action, "callerType")),
        "resource_role": text(pick(service, "resourceRole")),
        "feature_name": text(pick(service, "featureName")),
        "detector_id": text(pick(service, "detectorId")),
        "sample": bool(pick(additional, "sample", default=False)),
        "threat_names": [
            t
            for t in (
                text(pick(x, "name"))
                for x in list_of(
                    pick(service, "ebsVolumeScanDetails", "scanDetections", "threatDetectedByName", "threatNames")
                )
            )
            if t
        ],
    }
    return Finding(
        id=finding_id,
        source=Source.GUARDDUTY,
        product="GuardDuty",
        type=ftype,
        title=text(pick(obj, "title")),
        description=text(pick(obj, "description")),
        severity=score,
        severity_label=severity_label(score),
        account_id=text(pick(obj, "accountId")),
        region=text(pick(obj, "region")),
        partition=text(pick(obj, "partition")) or "aws",
        first_seen=timestamp(pick(service, "eventFirstSeen")),
        last_seen=timestamp(pick(service, "eventLastSeen")),
        created_at=timestamp(pick(obj, "createdAt")),
        updated_at=timestamp(pick(obj, "updatedAt")),
        incident_start=timestamp(pick(service, "eventFirstSeen")) or timestamp(pick(obj, "createdAt")),
        count=int(number(pick(service, "count"), 1) or 1),
        archived=bool(pick(service, "archived", default=False)),
        resource=primary,
        resources=tuple(resources),
        actor=actor,
        fields=fields,
        raw=obj,
    )


def _resources(block: dict[str, Any]) -> tuple[Any, list[Any]]:
    rtype = text(pick(block, "resourceType")) or ""
    found: list[Any] = []

    key = dict_of(pick(block, "accessKeyDetails"))
    if key:
        user_type = text(pick(key, "userType"))
        key_id = text(pick(key, "accessKeyId"))
        principal_id = text(pick(key, "principalId"))
        if user_type == "AssumedRole" or ((key_id or "").startswith("ASIA") and user_type not in ("IAMUser", "Root")):
            session = principal_id.split(":", 1)[1] if principal_id and ":" in principal_id else None
            found.append(
                RoleSession(
                    role_name=text(pick(key, "userName")),
                    session_name=session,
                    access_key_id=key_id,
                    principal_id=principal_id,
                )
            )
        else:
            found.append(
                AccessKey(
                    access_key_id=key_id,
                    user_name=text(pick(key, "userName")),
                    user_type=user_type,
                    principal_id=principal_id,
                )
            )

    inst = dict_of(pick(block, "instanceDetails"))
    if inst and text(pick(inst, "instanceId")):
        found.append(_instance(inst))

    kube = dict_of(pick(block, "kubernetesDetails"))
    eks = dict_of(pick(block, "eksClusterDetails"))
    workload = dict_of(pick(kube, "kubernetesWorkloadDetails"))
    if workload:
        containers = [dict_of(c) for c in list_of(pick(workload, "containers"))]
        wtype = (text(pick(workload, "type")) or "").lower()
        found.append(
            Pod(
                cluster_name=text(pick(eks, "name")),
                cluster_arn=text(pick(eks, "arn")),
                namespace=text(pick(workload, "namespace")),
                pod_name=text(pick(workload, "name")) if wtype in ("pods", "pod", "") else None,
                pod_uid=text(pick(workload, "uid")) if wtype in ("pods", "pod", "") else None,
                workload_kind=text(pick(workload, "type")),
                workload_name=text(pick(workload, "name")),
                service_account=text(pick(workload, "serviceAccountName")),
                containers=tuple(t for t in (text(pick(c, "name")) for c in containers) if t),
                images=tuple(t for t in (text(pick(c, "image")) for c in containers) if t),
            )
        )
    if eks:
        found.append(
            Cluster(
                cluster_name=text(pick(eks, "name")),
                cluster_arn=text(pick(eks, "arn")),
                vpc_id=text(pick(eks, "vpcId")),
            )
        )

    for bucket in list_of(pick(block, "s3BucketDetails")):
        bucket = dict_of(bucket)
        objects = [text(pick(o, "key")) for o in list_of(pick(bucket, "s3ObjectDetails"))]
        found.append(
            Bucket(
                bucket_name=text(pick(bucket, "name")),
                arn=text(pick(bucket, "arn")),
                owner=text(pick(bucket, "owner", "id")),
                object_keys=tuple(k for k in objects if k),
            )
        )

    for label, detail_key, id_key in (
        ("Lambda", "lambdaDetails", "functionName"),
        ("RDSDBInstance", "rdsDbInstanceDetails", "dbInstanceIdentifier"),
        ("RDSLimitlessDB", "rdsLimitlessDbDetails", "dbShardGroupIdentifier"),
        ("ECSCluster", "ecsClusterDetails", "name"),
        ("Container", "containerDetails", "id"),
        ("EBSVolume", "ebsVolumeDetails", "volumeArn"),
    ):
        detail = pick(block, detail_key)
        if isinstance(detail, dict) and detail:
            found.append(Other(resource_type=label, resource_id=text(pick(detail, id_key)), details=detail))

    if not found:
        found.append(Other(resource_type=rtype or None, details={}))

    primary = _primary(rtype, found)
    rest = [r for r in found if r is not primary]
    return primary, rest


_PRIMARY_BY_TYPE = {
    "AccessKey": ("access_key", "role_session"),
    "Instance": ("ec2_instance",),
    "S3Bucket": ("s3_bucket",),
    "S3Object": ("s3_bucket",),
    "EKSCluster": ("k8s_pod", "eks_cluster"),
    "KubernetesCluster": ("k8s_pod", "eks_cluster"),
}


def _primary(rtype: str, found: list[Any]) -> Any:
    for kind in _PRIMARY_BY_TYPE.get(rtype, ()):
        for res in found:
            if res.kind == kind:
                return res
    for res in found:  # an unknown resourceType: the most specific thing we recognised
        if res.kind != "other" or res.resource_type == rtype:
            return res
    return found[0]


def _instance(inst: dict[str, Any]) -> Instance:
    enis = [dict_of(e) for e in list_of(pick(inst, "networkInterfaces"))]
    private: list[str] = []
    public: list[str] = []
    groups: list[str] = []
    for eni in enis:
        for ip in [
            pick(eni, "privateIpAddress"),
            *(pick(p, "privateIpAddress") for p in list_of(pick(eni, "privateIpAddresses"))),
        ]:
            if text(ip) and text(ip) not in private:
                private.append(text(ip))  # type: ignore[arg-type]
        if text(pick(eni, "publicIp")):
            public.append(text(pick(eni, "publicIp")))  # type: ignore[arg-type]
        for group in list_of(pick(eni, "securityGroups")):
            gid = text(pick(group, "groupId"))
            if gid and gid not in groups:
                groups.append(gid)
    tags = {}
    for tag in list_of(pick(inst, "tags")):
        k = text(pick(tag, "key"))
        if k:
            tags[k] = text(pick(tag, "value")) or ""
    first = enis[0] if enis else {}
    return Instance(
        instance_id=text(pick(inst, "instanceId")),
        image_id=text(pick(inst, "imageId")),
        instance_type=text(pick(inst, "instanceType")),
        availability_zone=text(pick(inst, "availabilityZone")),
        vpc_id=text(pick(first, "vpcId")),
        subnet_id=text(pick(first, "subnetId")),
        network_interface_ids=tuple(t for t in (text(pick(e, "networkInterfaceId")) for e in enis) if t),
        private_ips=tuple(private),
        public_ips=tuple(public),
        security_group_ids=tuple(groups),
        instance_profile_arn=text(pick(inst, "iamInstanceProfile", "arn")),
        tags=tags,
    )


def _actor(service: dict[str, Any], additional: dict[str, Any]) -> Actor:
    action = dict_of(pick(service, "action"))
    remote: dict[str, Any] = {}
    user_agent = None
    domain = None
    port = None
    for key in _ACTION_KEYS:
        block = dict_of(pick(action, key))
        if not block:
            continue
        remote = remote or dict_of(pick(block, "remoteIpDetails"))
        if not remote and key == "portProbeAction":
            details = list_of(pick(block, "portProbeDetails"))
            if details:
                remote = dict_of(pick(details[0], "remoteIpDetails"))
                port = number(pick(details[0], "localPortDetails", "port"))
        if not remote and key == "kubernetesApiCallAction":
            ips = list_of(pick(block, "sourceIPs")) or list_of(pick(block, "sourceIps"))
            if ips:
                remote = {"ipAddressV4": ips[0]}
        user_agent = user_agent or text(pick(block, "userAgent"))
        domain = domain or text(pick(block, "domainDetails", "domain")) or text(pick(block, "domain"))
        port = port or number(pick(block, "remotePortDetails", "port"))
    user_agent = user_agent or text(pick(additional, "userAgent", "fullUserAgent"))
    org = dict_of(pick(remote, "organization"))
    asn = pick(org, "asn")
    return Actor(
        ip=text(pick(remote, "ipAddressV4")) or text(pick(remote, "ipAddressV6")),
        asn=text(asn),
        asn_org=text(pick(org, "asnOrg")),
        isp=text(pick(org, "isp")),
        country=text(pick(remote, "country", "countryName")),
        city=text(pick(remote, "city", "cityName")),
        user_agent=user_agent,
        domain=domain,
        port=int(port) if port is not None else None,
    )
