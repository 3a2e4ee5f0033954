"""Every resource a GuardDuty finding names, each with its role (actor or target), and the primary one.

Where GuardDuty puts them: ``accessKeyDetails`` (the principal: an IAM user's key or a role session),
``kubernetesDetails.kubernetesUserDetails`` (the Kubernetes user or service account), ``instanceDetails``,
``eksClusterDetails``, pods in ``kubernetesDetails.kubernetesWorkloadDetails`` *and* in the audit log's
``kubernetesApiCallAction`` (``requestUri`` ``/api/v1/namespaces/NS/pods/NAME/exec``, or ``resource`` +
``resourceName``), ``s3BucketDetails``, ``containerDetails``, ``ecsClusterDetails.taskDetails``,
``lambdaDetails``, ``rdsDbInstanceDetails`` / ``rdsLimitlessDbDetails`` (+ ``rdsDbUserDetails``),
``ebsVolumeDetails.scannedVolumeDetails``, and Extended Threat Detection's ``service.detection.sequence``
(``actors[]``, ``resources[]``). The primary is chosen by the finding type (:mod:`.roles`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from .fields import dict_of, list_of, pick, text
from .model import (
    Bucket,
    Cluster,
    Container,
    DbInstance,
    EbsVolume,
    EcsCluster,
    EcsTask,
    Instance,
    K8sUser,
    LambdaFunction,
    Other,
    Pod,
)
from .roles import credential_principal, dedupe, split_primary


def resources_of(ftype: str, block: dict[str, Any], service: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    """Every resource the finding names, each with its role; the primary one chosen by the finding type."""
    rtype = text(pick(block, "resourceType")) or ""
    found: list[Any] = []

    key = dict_of(pick(block, "accessKeyDetails"))
    if key:
        found.append(
            credential_principal(
                finding_type=ftype,
                access_key_id=text(pick(key, "accessKeyId")),
                principal_id=text(pick(key, "principalId")),
                user_name=text(pick(key, "userName")),
                user_type=text(pick(key, "userType")),
            )
        )

    kube = dict_of(pick(block, "kubernetesDetails"))
    k8s_user = _k8s_user(dict_of(pick(kube, "kubernetesUserDetails")))
    if k8s_user is not None:
        found.append(k8s_user)

    inst = dict_of(pick(block, "instanceDetails"))
    if inst and text(pick(inst, "instanceId")):
        found.append(_instance(inst))

    eks = dict_of(pick(block, "eksClusterDetails"))
    found.extend(_pods(kube, eks, service))
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
        if not bucket:
            continue
        objects = [text(pick(o, "key")) for o in list_of(pick(bucket, "s3ObjectDetails"))]
        found.append(
            Bucket(
                bucket_name=text(pick(bucket, "name")) or _bucket_of_arn(text(pick(bucket, "arn"))),
                arn=text(pick(bucket, "arn")),
                owner=text(pick(bucket, "owner", "id")),
                object_keys=tuple(k for k in objects if k),
            )
        )

    found.extend(_containers_and_tasks(block))
    found.extend(_other_targets(block))
    found.extend(_sequence_resources(ftype, service))

    found = dedupe(found)
    if not found:
        found.append(Other(resource_type=rtype or None, details={}))
    return split_primary(ftype, found, rtype)


def _bucket_of_arn(arn: str | None) -> str | None:
    return arn.split(":::", 1)[1].split("/", 1)[0] or None if arn and ":::" in arn else None


_SERVICE_ACCOUNT = re.compile(r"^system:serviceaccount:(?P<ns>[^:]+):(?P<name>[^:]+)$")


def _k8s_user(details: dict[str, Any]) -> K8sUser | None:
    """The Kubernetes identity of an audit-log finding (a user, or a service account split into its parts)."""
    username = text(pick(details, "username"))
    if not details or not (username or text(pick(details, "uid"))):
        return None
    account = _SERVICE_ACCOUNT.match(username or "")
    impersonated = dict_of(pick(details, "impersonatedUser"))
    return K8sUser(
        username=username,
        uid=text(pick(details, "uid")),
        groups=tuple(t for t in (text(g) for g in list_of(pick(details, "groups"))) if t),
        session_names=tuple(t for t in (text(g) for g in list_of(pick(details, "sessionName"))) if t),
        service_account_namespace=account.group("ns") if account else None,
        service_account_name=account.group("name") if account else None,
        impersonated_user=text(pick(impersonated, "username")),
    )


# /api/v1/namespaces/NS/pods/NAME[/exec|/attach|/portforward|/log|...][?query]
_POD_URI = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/?#]+)/pods/(?P<name>[^/?#]+)(?:[/?#].*)?$")


def _pods(kube: dict[str, Any], eks: dict[str, Any], service: dict[str, Any]) -> list[Pod]:
    """Pods wherever GuardDuty names them: the workload details, and the audit log's API call (request URI,
    or resource + resourceName + namespace)."""
    cluster_name, cluster_arn = text(pick(eks, "name")), text(pick(eks, "arn"))
    out: list[Pod] = []
    workload = dict_of(pick(kube, "kubernetesWorkloadDetails"))
    if workload:
        containers = [dict_of(c) for c in list_of(pick(workload, "containers"))]
        wtype = (text(pick(workload, "type")) or "").lower()
        is_pod = wtype in ("pods", "pod", "")
        out.append(
            Pod(
                cluster_name=cluster_name,
                cluster_arn=cluster_arn,
                namespace=text(pick(workload, "namespace")),
                pod_name=text(pick(workload, "name")) if is_pod else None,
                pod_uid=text(pick(workload, "uid")) if is_pod else None,
                workload_kind=text(pick(workload, "type")),
                workload_name=text(pick(workload, "name")),
                service_account=text(pick(workload, "serviceAccountName")),
                containers=tuple(t for t in (text(pick(c, "name")) for c in containers) if t),
                images=tuple(t for t in (text(pick(c, "image")) for c in containers) if t),
            )
        )
    call = dict_of(pick(service, "action", "kubernetesApiCallAction"))
    namespace = name = None
    match = _POD_URI.match(text(pick(call, "requestUri")) or "")
    if match:
        namespace, name = unquote(match.group("ns")), unquote(match.group("name"))
    elif (text(pick(call, "resource")) or "").lower() == "pods" and text(pick(call, "resourceName")):
        namespace, name = text(pick(call, "namespace")), text(pick(call, "resourceName"))
    if name and not any(p.pod_name == name and p.namespace in (namespace, None) for p in out):
        out.append(Pod(cluster_name=cluster_name, cluster_arn=cluster_arn, namespace=namespace, pod_name=name))
    return out


def _containers_and_tasks(block: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    container = dict_of(pick(block, "containerDetails"))
    if container and (text(pick(container, "id")) or text(pick(container, "name"))):
        out.append(
            Container(
                container_id=text(pick(container, "id")),
                name=text(pick(container, "name")),
                image=text(pick(container, "image")),
                runtime=text(pick(container, "containerRuntime")),
            )
        )
    ecs = dict_of(pick(block, "ecsClusterDetails"))
    if ecs:
        task = dict_of(pick(ecs, "taskDetails"))
        containers = [dict_of(c) for c in list_of(pick(task, "containers"))]
        if task:
            out.append(
                EcsTask(
                    cluster_name=text(pick(ecs, "name")),
                    cluster_arn=text(pick(ecs, "arn")),
                    task_arn=text(pick(task, "arn")),
                    task_definition_arn=text(pick(task, "definitionArn")),
                    launch_type=text(pick(task, "launchType")),
                    containers=tuple(t for t in (text(pick(c, "name")) for c in containers) if t),
                    images=tuple(t for t in (text(pick(c, "image")) for c in containers) if t),
                )
            )
        out.append(EcsCluster(cluster_name=text(pick(ecs, "name")), cluster_arn=text(pick(ecs, "arn"))))
    return out


def _other_targets(block: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    fn = dict_of(pick(block, "lambdaDetails"))
    if fn:
        out.append(
            LambdaFunction(
                function_name=text(pick(fn, "functionName")),
                function_arn=text(pick(fn, "functionArn")),
                function_version=text(pick(fn, "functionVersion")),
                execution_role_arn=text(pick(fn, "role")),
            )
        )
    db_user = text(pick(block, "rdsDbUserDetails", "user"))
    for key, id_key, arn_key in (
        ("rdsDbInstanceDetails", "dbInstanceIdentifier", "dbInstanceArn"),
        ("rdsLimitlessDbDetails", "dbShardGroupIdentifier", "dbShardGroupArn"),
    ):
        db = dict_of(pick(block, key))
        if db:
            out.append(
                DbInstance(
                    db_instance_identifier=text(pick(db, id_key)),
                    db_cluster_identifier=text(pick(db, "dbClusterIdentifier")),
                    arn=text(pick(db, arn_key)),
                    engine=text(pick(db, "engine")),
                    db_user=db_user,
                )
            )
    volumes = dict_of(pick(block, "ebsVolumeDetails"))
    for volume in list_of(pick(volumes, "scannedVolumeDetails")):
        volume = dict_of(volume)
        arn = text(pick(volume, "volumeArn"))
        if volume:
            out.append(
                EbsVolume(
                    volume_arn=arn,
                    volume_id=arn.rsplit("/", 1)[-1] if arn and "/" in arn else None,
                    device_name=text(pick(volume, "deviceName")),
                    snapshot_arn=text(pick(volume, "snapshotArn")),
                )
            )
    return out


def _tail(resource: dict[str, Any]) -> str | None:
    uid = text(pick(resource, "uid")) or ""
    return uid.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or None


def _v2_resource(res: dict[str, Any]) -> Any | None:
    """One resource of an Extended Threat Detection sequence (``ResourceV2``), or None for kinds not modelled."""
    rtype = (text(pick(res, "resourceType")) or "").upper()
    uid, name, data = text(pick(res, "uid")), text(pick(res, "name")), dict_of(pick(res, "data"))
    arn = uid if (uid or "").startswith("arn:") else None
    if rtype == "EC2_INSTANCE":
        return Instance(instance_id=_tail(res))
    if rtype == "S3_BUCKET":
        return Bucket(bucket_name=name or _bucket_of_arn(uid) or uid, arn=arn)
    if rtype == "EKS_CLUSTER":
        return Cluster(cluster_name=name or _tail(res), cluster_arn=arn)
    if rtype == "ECS_CLUSTER":
        return EcsCluster(cluster_name=name or _tail(res), cluster_arn=arn)
    if rtype == "ECS_TASK":
        return EcsTask(task_arn=uid)
    if rtype == "CONTAINER":
        return Container(container_id=uid, name=name, image=text(pick(data, "container", "image")))
    if rtype == "KUBERNETES_WORKLOAD":
        workload = dict_of(pick(data, "kubernetesWorkload"))
        kind = text(pick(workload, "type"))
        is_pod = (kind or "").upper() == "PODS"
        return Pod(
            namespace=text(pick(workload, "namespace")),
            pod_name=name if is_pod else None,
            workload_kind=kind,
            workload_name=name,
        )
    return None


def _sequence_resources(ftype: str, service: dict[str, Any]) -> list[Any]:
    sequence = dict_of(pick(service, "detection", "sequence"))
    out: list[Any] = []
    for actor in list_of(pick(sequence, "actors")):
        user = dict_of(pick(actor, "user"))
        if user:
            out.append(
                credential_principal(
                    finding_type=ftype,
                    access_key_id=text(pick(user, "credentialUid")),
                    principal_id=text(pick(user, "uid")),
                    user_name=text(pick(user, "name")),
                    user_type=text(pick(user, "type")),
                )
            )
    for resource in list_of(pick(sequence, "resources")):
        built = _v2_resource(dict_of(resource))
        if built is not None:
            out.append(built)
    return out


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
