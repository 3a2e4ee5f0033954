"""One incident, several resources: GuardDuty Extended Threat Detection's attack sequences.

An ``AttackSequence:*`` finding correlates many signals (other findings, API calls) across several
resources and actors into one finding. ``record_sequence`` keeps the sequence as evidence and splits it
into what each resource's own playbook needs: one **child finding** per resource, in GuardDuty's finding
shape (the resource block the finding parser reads), linked to the sequence by
``service.additionalInfo.attackSequence`` (the sequence's uid) and ``parentFindingId``. The action only
records the children (evidence and output); the respond service (``responder.service``) starts one run
per child, linked to this run. Reading only; changes nothing in the account.

How a child is typed (the type decides which playbook answers it):

1. the most severe ``FINDING`` signal whose ``resourceUids`` name the resource *and* whose type is about
   that kind of resource (an S3 finding for a bucket, an EC2 or Runtime finding for an instance, ...): the
   finding GuardDuty itself raised about that resource;
2. otherwise the default of :data:`DEFAULT_TYPES` for the resource's ``resourceType`` — a real GuardDuty
   type chosen because it reaches that resource's playbook and claims the least (the table says why).

The child's ``additionalInfo.typedBy`` says which (``signal:<uid>`` or ``default:<resourceType>``). Its
severity is the sequence's: the resource is part of an incident GuardDuty rated High or Critical, whatever
the rating of one signal alone (kept as ``signalSeverity``). Actors (IAM users, roles, access keys) get no
child: the parent run contains them. Every field of the sequence may be missing, null or hostile: names and
ids that no AWS API would accept make no child (the reason is recorded).
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..findings.fields import dict_of, list_of, number, pick, text
from ..findings.roles import family
from .base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext

MAX_CHILDREN = 50

#: ResourceV2 ``resourceType`` → the child's type when no finding signal names the resource.
#: Each reaches the playbook for that resource and claims no more than the sequence does:
#:
#: - ``S3_BUCKET``, ``S3_OBJECT`` → ``Exfiltration:S3/AnomalousBehavior`` (s3-exposure): GuardDuty's
#:   sequences over buckets are data compromise; this is its own "unusual access to the bucket's data" type,
#:   and its playbook captures the bucket and blocks public access only where the bucket is really public.
#: - ``EC2_INSTANCE``, ``ECS_TASK``, ``KUBERNETES_WORKLOAD`` → ``Execution:Runtime/SuspiciousCommand``
#:   (ec2-instance-compromise, ecs-task-compromise, k8s-pod-compromise): one type for "a workload ran
#:   something it should not", routed by the resource the child names (the Runtime family's primary is the
#:   pod, the task or the instance, whichever is there). A deployment-level workload names no pod: its
#:   child goes to triage, as a deployment-level finding would.
#: - ``EKS_CLUSTER`` → ``PrivilegeEscalation:Kubernetes/AnomalousBehavior.RoleBindingCreated``
#:   (eks-rbac-abuse): a compromised cluster is checked for the grants an attacker leaves (anonymous access,
#:   cluster-admin to default service accounts); only bindings the check names are removed, releasably.
DEFAULT_TYPES: dict[str, str] = {
    "S3_BUCKET": "Exfiltration:S3/AnomalousBehavior",
    "S3_OBJECT": "Exfiltration:S3/AnomalousBehavior",
    "EC2_INSTANCE": "Execution:Runtime/SuspiciousCommand",
    "ECS_TASK": "Execution:Runtime/SuspiciousCommand",
    "KUBERNETES_WORKLOAD": "Execution:Runtime/SuspiciousCommand",
    "EKS_CLUSTER": "PrivilegeEscalation:Kubernetes/AnomalousBehavior.RoleBindingCreated",
}
#: the finding-type families (``Threat:Family/Name``) a signal may have to type a child of this resource
SIGNAL_FAMILIES: dict[str, frozenset[str]] = {
    "S3_BUCKET": frozenset({"S3"}),
    "S3_OBJECT": frozenset({"S3"}),
    "EC2_INSTANCE": frozenset({"EC2", "Runtime"}),
    "ECS_TASK": frozenset({"Runtime", "ECS", "Container"}),
    "KUBERNETES_WORKLOAD": frozenset({"Kubernetes", "Runtime", "EKS", "Container"}),
    "EKS_CLUSTER": frozenset({"Kubernetes", "EKS"}),
}
#: resources the sequence names that get no child, and why
ACTOR_TYPES = frozenset({"ACCESS_KEY", "IAM_USER", "IAM_ROLE", "IAM_INSTANCE_PROFILE"})

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_:]{0,252}$")
_TASK_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task/(?P<cluster>[A-Za-z0-9\-_]+)/[A-Za-z0-9]+$")


@dataclass
class Split:
    """An attack sequence split by resource: the child findings, the resources without one, and notes."""

    children: list[dict[str, Any]] = field(default_factory=list)
    unanswered: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


#: Security Hub (ASFF) resource types → GuardDuty's ResourceV2 types. A sequence relayed through Security Hub
#: names its resources in the finding's ``Resources[]`` (the signals' ``ResourceIds`` are their ``Id``s).
ASFF_TYPES: dict[str, str] = {
    "AwsS3Bucket": "S3_BUCKET",
    "AwsS3Object": "S3_OBJECT",
    "AwsEc2Instance": "EC2_INSTANCE",
    "AwsEksCluster": "EKS_CLUSTER",
    "AwsEcsTask": "ECS_TASK",
    "AwsEcsCluster": "ECS_CLUSTER",
    "AwsIamAccessKey": "ACCESS_KEY",
    "AwsIamUser": "IAM_USER",
    "AwsIamRole": "IAM_ROLE",
    "Container": "CONTAINER",
    "AwsEc2NetworkInterface": "EC2_NETWORK_INTERFACE",
    "AwsEc2Vpc": "EC2_VPC",
}


def sequence_of(raw: Any) -> dict[str, Any]:
    """The attack sequence in GuardDuty's shape: ``service.detection.sequence`` of a GuardDuty finding
    (camelCase or PascalCase), or an ASFF finding's ``Detection.Sequence`` with its ``Resources[]``; else {}."""
    raw = dict_of(raw)
    found = dict_of(pick(dict_of(pick(raw, "service")), "detection", "sequence"))
    if found:
        return found
    asff = dict_of(pick(raw, "Detection", "Sequence"))
    return _from_asff(raw, asff) if asff else {}


def _when(value: Any) -> str | None:
    """ASFF's signal times are numbers (epoch milliseconds, or seconds); GuardDuty's are ISO text."""
    seconds = number(value)
    if seconds is None or (isinstance(value, str) and not value.strip().isdigit()):
        return text(value)
    seconds = seconds / 1000 if seconds > 1e11 else seconds
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _asff_data(rtype: str, details: dict[str, Any]) -> dict[str, Any]:
    """The few ``Details`` a child carries, as ResourceV2's ``data`` names them."""
    if rtype == "AwsEc2Instance":
        return {"ec2Instance": {"instanceType": text(pick(details, "AwsEc2Instance", "Type"))}}
    if rtype == "AwsS3Bucket":
        bucket = dict_of(pick(details, "AwsS3Bucket"))
        return {"s3Bucket": {"ownerId": text(pick(bucket, "OwnerId")), "createdAt": text(pick(bucket, "CreatedAt"))}}
    return {}


def _from_asff(raw: dict[str, Any], sequence: dict[str, Any]) -> dict[str, Any]:
    resources = []
    for res in map(dict_of, list_of(pick(raw, "Resources"))):
        rtype = text(pick(res, "Type")) or ""
        details = dict_of(pick(res, "Details"))
        tags = [{"key": k, "value": text(v) or ""} for k, v in dict_of(pick(res, "Tags")).items()]
        resources.append(
            {
                "uid": text(pick(res, "Id")),
                "name": text(pick(details, "AwsEksCluster", "Name")),
                "resourceType": ASFF_TYPES.get(rtype, rtype),
                "region": text(pick(res, "Region")),
                "tags": tags,
                "data": _asff_data(rtype, details),
            }
        )
    signals = [
        {
            "uid": text(pick(signal, "Id")),
            "type": text(pick(signal, "Type")),
            "name": text(pick(signal, "Name")) or text(pick(signal, "Title")),
            "severity": pick(signal, "Severity"),
            "firstSeenAt": _when(pick(signal, "FirstSeenAt")),
            "lastSeenAt": _when(pick(signal, "LastSeenAt")),
            "resourceUids": list_of(pick(signal, "ResourceIds")),
            "actorIds": list_of(pick(signal, "ActorIds")),
        }
        for signal in map(dict_of, list_of(pick(sequence, "Signals")))
    ]
    return {
        "uid": text(pick(sequence, "Uid")),
        "description": text(pick(raw, "Description")),
        "actors": list_of(pick(sequence, "Actors")),
        "resources": resources,
        "signals": signals,
        "sequenceIndicators": list_of(pick(sequence, "SequenceIndicators")),
    }


def _strings(value: Any) -> list[str]:
    return [t for t in (text(v) for v in list_of(value)) if t]


def _tags(resource: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for tag in map(dict_of, list_of(pick(resource, "tags"))):
        key = text(pick(tag, "key"))
        if key:
            out.append({"key": key[:128], "value": (text(pick(tag, "value")) or "")[:256]})
    return out


def _bucket_of(uid: str) -> str | None:
    """``arn:aws:s3:::bucket[/key]`` or ``bucket[/key]`` → ``bucket``."""
    tail = uid.split(":::", 1)[1] if ":::" in uid else uid
    name = tail.split("/", 1)[0]
    return name if _BUCKET.match(name) else None


def _only(resources: list[dict[str, Any]], rtype: str) -> dict[str, Any]:
    """The one resource of that type in the sequence (a pod's cluster, a task's cluster), or {}."""
    found = [r for r in resources if (text(pick(r, "resourceType")) or "").upper() == rtype]
    return found[0] if len(found) == 1 else {}


def _block(rtype: str, res: dict[str, Any], everything: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | str:
    """The child's GuardDuty ``resource`` block and its target key, or the reason there is none."""
    uid = text(pick(res, "uid")) or ""
    name = text(pick(res, "name")) or ""
    data = dict_of(pick(res, "data"))
    if rtype in ("S3_BUCKET", "S3_OBJECT"):
        bucket = _bucket_of(name) if rtype == "S3_BUCKET" and name else None
        bucket = bucket or _bucket_of(uid)
        if not bucket:
            return f"no valid bucket name in {uid[:80]!r}"
        details: dict[str, Any] = {"name": bucket, "arn": f"arn:aws:s3:::{bucket}", "type": "Destination"}
        s3 = dict_of(pick(data, "s3Bucket"))
        if text(pick(s3, "ownerId")):
            details["owner"] = {"id": text(pick(s3, "ownerId"))}
        if text(pick(s3, "createdAt")):
            details["createdAt"] = text(pick(s3, "createdAt"))
        if rtype == "S3_BUCKET" and _tags(res):
            details["tags"] = _tags(res)
        key = text(pick(data, "s3Object", "key"))
        if rtype == "S3_OBJECT" and key:
            details["s3ObjectDetails"] = [{"key": key, "arn": uid}]
        return f"s3_bucket:{bucket}", {"resourceType": "S3Bucket", "s3BucketDetails": [details]}
    if rtype == "EC2_INSTANCE":
        instance_id = uid.rsplit("/", 1)[-1] if uid else name
        if not _INSTANCE_ID.match(instance_id or ""):
            return f"no valid instance id in {uid[:80]!r}"
        ec2 = dict_of(pick(data, "ec2Instance"))
        inst: dict[str, Any] = {"instanceId": instance_id, "tags": _tags(res)}
        for key in ("availabilityZone", "instanceType", "platform"):
            if text(pick(ec2, key)):
                inst[key] = text(pick(ec2, key))
        if text(pick(ec2, "instanceState")):
            inst["instanceState"] = text(pick(ec2, "instanceState"))
        if text(pick(ec2, "iamInstanceProfile", "arn")):
            inst["iamInstanceProfile"] = {"arn": text(pick(ec2, "iamInstanceProfile", "arn"))}
        return f"ec2_instance:{instance_id}", {"resourceType": "Instance", "instanceDetails": inst}
    if rtype == "EKS_CLUSTER":
        cluster = name or uid.rsplit("/", 1)[-1]
        if not _NAME.match(cluster):
            return f"no valid cluster name in {uid[:80]!r}"
        eks = dict_of(pick(data, "eksCluster"))
        details = {"name": cluster, "arn": text(pick(eks, "arn")) or (uid if uid.startswith("arn:") else None)}
        for key in ("vpcId", "status", "createdAt"):
            if text(pick(eks, key)):
                details[key] = text(pick(eks, key))
        return f"eks_cluster:{cluster}", {"resourceType": "EKSCluster", "eksClusterDetails": details}
    if rtype == "KUBERNETES_WORKLOAD":
        workload = dict_of(pick(data, "kubernetesWorkload"))
        kind = (text(pick(workload, "type")) or "").lower()
        namespace = text(pick(workload, "namespace")) or "default"
        if not _NAME.match(name) or not _NAME.match(namespace):
            return f"no valid workload name or namespace in {uid[:80]!r}"
        cluster = _only(everything, "EKS_CLUSTER")
        cluster_name = text(pick(cluster, "name")) or (text(pick(cluster, "uid")) or "").rsplit("/", 1)[-1] or None
        block: dict[str, Any] = {
            "resourceType": "EKSCluster",
            "kubernetesDetails": {
                "kubernetesWorkloadDetails": {"name": name, "type": kind, "uid": uid, "namespace": namespace}
            },
        }
        if cluster_name:
            cluster_uid = text(pick(cluster, "uid")) or ""
            block["eksClusterDetails"] = {
                "name": cluster_name,
                "arn": cluster_uid if cluster_uid.startswith("arn:") else None,
            }
        return f"k8s_workload:{cluster_name}/{namespace}/{kind}/{name}", block
    if rtype == "ECS_TASK":
        match = _TASK_ARN.match(uid)
        cluster_res = _only(everything, "ECS_CLUSTER")
        cluster = match.group("cluster") if match else text(pick(cluster_res, "name"))
        if not uid.startswith("arn:") or not cluster:
            return f"no task ARN naming its cluster in {uid[:80]!r}"
        task = dict_of(pick(data, "ecsTask"))
        details = {"arn": uid}
        if text(pick(task, "taskDefinitionArn")):
            details["definitionArn"] = text(pick(task, "taskDefinitionArn"))
        if text(pick(task, "launchType")):
            details["launchType"] = text(pick(task, "launchType"))
        cluster_arn = uid.split(":task/", 1)[0] + f":cluster/{cluster}"
        return f"ecs_task:{uid}", {
            "resourceType": "ECSCluster",
            "ecsClusterDetails": {"name": cluster, "arn": cluster_arn, "taskDetails": details},
        }
    if rtype in ACTOR_TYPES:
        return "the actor: the sequence's own run contains it"
    return f"no playbook acts on a {rtype or 'resource without a type'}: kept in the sequence record"


def _signals(sequence: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict_of(s) for s in list_of(pick(sequence, "signals"))]


def _typing(rtype: str, uids: set[str], signals: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    """(type, typed_by, signal) for a resource: its most severe fitting FINDING signal, else the default."""
    fits = SIGNAL_FAMILIES.get(rtype, frozenset())
    best: tuple[float, dict[str, Any]] | None = None
    for signal in signals:
        name = text(pick(signal, "name")) or ""
        if (text(pick(signal, "type")) or "").upper() != "FINDING" or name.startswith("AttackSequence:"):
            continue
        if family(name) not in fits or not uids & set(_strings(pick(signal, "resourceUids"))):
            continue
        severity = number(pick(signal, "severity"), 0.0) or 0.0
        if best is None or severity > best[0]:
            best = (severity, signal)
    if best is not None:
        signal = best[1]
        return text(pick(signal, "name")) or "", f"signal:{text(pick(signal, 'uid')) or '?'}", signal
    return DEFAULT_TYPES[rtype], f"default:{rtype}", {}


def split_sequence(finding: Any) -> Split:
    """The child findings of an attack-sequence finding: one per resource a playbook can answer."""
    raw = dict_of(finding.raw)
    sequence = sequence_of(raw)
    out = Split()
    if not sequence:
        out.notes.append("the finding carries no service.detection.sequence: only the finding itself is recorded")
        return out
    uid = text(pick(sequence, "uid")) or finding.id
    resources = [dict_of(r) for r in list_of(pick(sequence, "resources"))]
    signals = _signals(sequence)
    targets: dict[str, tuple[str, set[str], dict[str, Any], dict[str, Any]]] = {}
    for res in resources:
        rtype = (text(pick(res, "resourceType")) or "").upper()
        res_uid = text(pick(res, "uid")) or ""
        made = _block(rtype, res, resources)
        if isinstance(made, str):
            out.unanswered.append({"type": rtype or None, "uid": res_uid[:300] or None, "reason": made})
            continue
        key, block = made
        if key in targets:  # an object of a bucket already named: the bucket's child carries it
            kept = targets[key]
            kept[1].add(res_uid)
            extra = block["s3BucketDetails"][0].get("s3ObjectDetails") if rtype == "S3_OBJECT" else None
            if extra:
                kept[2]["s3BucketDetails"][0].setdefault("s3ObjectDetails", []).extend(extra)
            continue
        if len(targets) >= MAX_CHILDREN:
            out.notes.append(f"more than {MAX_CHILDREN} resources: children made for the first {MAX_CHILDREN}")
            break
        targets[key] = (rtype, {res_uid} - {""}, block, res)
    for n, (key, (rtype, uids, block, res)) in enumerate(targets.items()):
        out.children.append(_child(finding, raw, uid, key, rtype, uids, block, res, signals, n, len(targets)))
    return out


def _child(
    finding: Any,
    raw: dict[str, Any],
    sequence_uid: str,
    key: str,
    rtype: str,
    uids: set[str],
    block: dict[str, Any],
    res: dict[str, Any],
    signals: list[dict[str, Any]],
    index: int,
    total: int,
) -> dict[str, Any]:
    """One child finding in GuardDuty's shape; its id is fixed by the parent's id and the resource."""
    ftype, typed_by, signal = _typing(rtype, uids, signals)
    service = dict_of(pick(raw, "service"))
    digest = hashlib.sha256(f"{finding.id}\x00{key}".encode()).hexdigest()[:32]
    child = {k: copy.deepcopy(pick(raw, k)) for k in ("createdAt", "updatedAt")}
    child.update(schemaVersion="2.0", partition=finding.partition)  # GuardDuty's shape, whatever carried the parent
    label = key.split(":", 1)[1]
    child.update(
        {
            "id": digest,
            "accountId": text(pick(res, "accountId")) or finding.account_id,
            "region": text(pick(res, "region")) or finding.region,
            "type": ftype,
            "severity": finding.severity,
            "resource": block,
            "title": f"{ftype} on {rtype.lower()} {label}: part {index + 1} of {total} of {finding.type}",
            "description": (
                f"Child of attack sequence {sequence_uid}: typed by "
                + (f"GuardDuty finding signal {typed_by[7:]}" if signal else f"responder's default for {rtype}")
            ),
            "service": {
                "serviceName": "guardduty",
                "detectorId": text(pick(service, "detectorId")),
                "resourceRole": "TARGET",
                "eventFirstSeen": text(pick(signal, "firstSeenAt")) or _iso(finding.first_seen),
                "eventLastSeen": text(pick(signal, "lastSeenAt")) or _iso(finding.last_seen),
                "count": 1,
                "archived": False,
                "additionalInfo": {
                    "attackSequence": sequence_uid,
                    "parentFindingId": finding.id,
                    "parentType": finding.type,
                    "resourceType": rtype,
                    "resourceUids": sorted(uids),
                    "typedBy": typed_by,
                    "signalSeverity": number(pick(signal, "severity")) if signal else None,
                },
            },
        }
    )
    return child


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when else None


def child_routing(child: dict[str, Any]) -> dict[str, Any]:
    """The short form of a child the service, the plan and ``runs`` show: id, type, resource, how typed."""
    info = dict_of(pick(dict_of(child.get("service")), "additionalInfo"))
    return {
        "finding_id": child.get("id"),
        "type": child.get("type"),
        "resource_type": info.get("resourceType"),
        "resource": (info.get("resourceUids") or [None])[0],
        "typed_by": info.get("typedBy"),
    }


class RecordSequenceInput(ActionInput):
    """No arguments: the finding is the sequence."""


class RecordSequenceOutput(ActionOutput):
    sequence_uid: str | None = None
    description: str | None = None
    signals: list[dict[str, Any]] = []
    actors: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    children: list[dict[str, Any]] = []
    unanswered: list[dict[str, Any]] = []
    artifact: str = ""


def _signal_rows(sequence: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "uid": text(pick(s, "uid")),
            "type": text(pick(s, "type")),
            "name": text(pick(s, "name")),
            "severity": number(pick(s, "severity")),
            "first_seen": text(pick(s, "firstSeenAt")),
            "last_seen": text(pick(s, "lastSeenAt")),
            "resource_uids": _strings(pick(s, "resourceUids")),
            "actor_ids": _strings(pick(s, "actorIds")),
        }
        for s in _signals(sequence)
    ]


def _actor_rows(sequence: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for actor in map(dict_of, list_of(pick(sequence, "actors"))):
        user = dict_of(pick(actor, "user"))
        rows.append(
            {
                "id": text(pick(actor, "id")),
                "name": text(pick(user, "name")),
                "type": text(pick(user, "type")),
                "credential": text(pick(user, "credentialUid")),
            }
        )
    return rows


class RecordSequence(Action[RecordSequenceInput]):
    """Record an attack sequence's signals, actors and resources, and one linked child finding per resource."""

    name = "incident.record_sequence"
    Input = RecordSequenceInput
    Output = RecordSequenceOutput
    category = Category.EVIDENCE
    touches_account = False  # reads the finding, writes the evidence locker: nothing in the account

    def plan(self, ctx: StepContext, inp: RecordSequenceInput) -> Change:
        split = split_sequence(ctx.finding)
        lines = [
            f"child {n + 1}: {r['resource_type']} {r['resource']} as {r['type']} ({r['typed_by']})"
            for n, r in enumerate(map(child_routing, split.children))
        ]
        lines += [f"no child for {u['type']} {u['uid']}: {u['reason']}" for u in split.unanswered]
        return Change(
            will_change=False,
            summary=f"record the attack sequence; {len(split.children)} child finding(s), each run by its playbook",
            notes=lines + split.notes,
        )

    def preview(self, ctx: StepContext, inp: RecordSequenceInput) -> dict[str, Any]:
        split = split_sequence(ctx.finding)
        return {"children": split.children, "unanswered": split.unanswered}

    def apply(self, ctx: StepContext, inp: RecordSequenceInput) -> Outcome:
        sequence = sequence_of(ctx.finding.raw)
        uid = text(pick(sequence, "uid")) or ctx.finding.id
        split = split_sequence(ctx.finding)
        named = [
            {
                "type": text(pick(r, "resourceType")),
                "uid": text(pick(r, "uid")),
                "name": text(pick(r, "name")),
                "region": text(pick(r, "region")),
            }
            for r in map(dict_of, list_of(pick(sequence, "resources")))
        ]
        record = {
            "sequence_uid": uid,
            "description": text(pick(sequence, "description")),
            "signals": _signal_rows(sequence),
            "actors": _actor_rows(sequence),
            "resources": named,
            "indicators": list_of(pick(sequence, "sequenceIndicators")),
            "children": split.children,
            "unanswered": split.unanswered,
        }
        artifact = ctx.evidence.put_json(
            ctx.run_id,
            f"{ctx.step_id}/attack-sequence.json",
            record,
            collected_by=f"responder:{self.name}",
            at=ctx.now,
            details={"step": ctx.step_id, "sequence": uid},
        )
        out = RecordSequenceOutput(
            sequence_uid=uid,
            description=record["description"],
            signals=record["signals"],
            actors=record["actors"],
            resources=named,
            children=split.children,
            unanswered=split.unanswered,
            artifact=artifact.name,
        )
        return Outcome(
            changed=False,
            summary=f"attack sequence {uid}: {len(record['signals'])} signal(s), {len(record['actors'])} "
            f"actor(s), {len(named)} resource(s), {len(split.children)} child finding(s)",
            output=out.model_dump(),
            artifacts=[artifact.as_dict()],
            notes=split.notes + [f"no child for {u['type']} {u['uid']}: {u['reason']}" for u in split.unanswered],
        )
