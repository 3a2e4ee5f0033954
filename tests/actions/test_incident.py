"""Splitting an attack sequence into child findings: typing, GuardDuty's resource shape, hostile fields."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from responder.actions.incident import DEFAULT_TYPES, MAX_CHILDREN, child_routing, split_sequence
from responder.findings import guardduty, parse_event
from responder.findings.model import Finding
from tests.conftest import FIXTURES

GUARDDUTY = FIXTURES / "findings" / "guardduty"
SIGNALS = "attack-sequence-s3-ec2-signals.json"
NO_UIDS = "attack-sequence-iam-compromised-credentials.json"


def _event(name: str) -> dict[str, Any]:
    return json.loads((GUARDDUTY / name).read_text())


def _finding(event: dict[str, Any]) -> Finding:
    return parse_event(copy.deepcopy(event), "test")[0]


def _sequence(event: dict[str, Any]) -> dict[str, Any]:
    return event["detail"]["service"]["detection"]["sequence"]


def _by_resource_type(finding: Finding) -> dict[str, dict[str, Any]]:
    return {child_routing(c)["resource_type"]: c for c in split_sequence(finding).children}


def test_child_takes_the_most_severe_finding_signal_about_its_resource() -> None:
    """The bucket: signal-3 (Exfiltration:S3, 8) over signal-2 (Discovery:S3, 5); not the IAMUser finding
    (8.5) that also names it (not about a bucket), not the CloudTrail signal (9: not a finding)."""
    event = _event(SIGNALS)
    finding = _finding(event)
    children = _by_resource_type(finding)
    assert set(children) == {"S3_BUCKET", "EC2_INSTANCE"}
    bucket, instance = children["S3_BUCKET"], children["EC2_INSTANCE"]
    assert bucket["type"] == "Exfiltration:S3/MaliciousIPCaller"
    assert bucket["service"]["additionalInfo"]["typedBy"] == "signal:signal-3"
    assert bucket["service"]["additionalInfo"]["signalSeverity"] == 8
    assert bucket["service"]["eventFirstSeen"] == "2026-11-27T09:40:11.000Z"  # the signal's own window
    assert instance["type"] == "Backdoor:EC2/C&CActivity.B"
    for child in (bucket, instance):
        info = child["service"]["additionalInfo"]
        assert info["parentFindingId"] == finding.id
        assert info["attackSequence"] == _sequence(event)["uid"]
        assert child["severity"] == finding.severity  # the incident's rating
        assert child["accountId"] == finding.account_id


def test_children_parse_as_their_resource() -> None:
    children = _by_resource_type(_finding(_event(SIGNALS)))
    bucket = guardduty.parse(children["S3_BUCKET"], "child")
    assert bucket.resource.kind == "s3_bucket" and bucket.resource.bucket_name == "example-billing-exports"
    assert bucket.resource.owner and bucket.principal is None  # the actor stays with the parent
    instance = guardduty.parse(children["EC2_INSTANCE"], "child")
    assert instance.resource.kind == "ec2_instance" and instance.resource.instance_id == "i-0b1c2d3e4f5a60719"
    assert instance.resource.tags == {"Name": "billing-worker"}
    assert instance.resource.availability_zone == "us-east-1a"


def test_the_actor_gets_no_child_and_says_why() -> None:
    split = split_sequence(_finding(_event(SIGNALS)))
    assert [(u["type"], u["uid"]) for u in split.unanswered] == [("ACCESS_KEY", "AKIAIOSFODNN7EXAMPL2")]
    assert "contains it" in split.unanswered[0]["reason"]


def test_without_a_fitting_signal_each_resource_takes_its_default() -> None:
    """The published example's signals carry no resourceUids: every child takes its resource's default."""
    children = _by_resource_type(_finding(_event(NO_UIDS)))
    assert children["S3_BUCKET"]["type"] == DEFAULT_TYPES["S3_BUCKET"]
    assert children["EC2_INSTANCE"]["type"] == DEFAULT_TYPES["EC2_INSTANCE"]
    assert children["S3_BUCKET"]["service"]["additionalInfo"]["typedBy"] == "default:S3_BUCKET"


def test_ids_are_fixed_by_the_parent_and_the_resource() -> None:
    event = _event(SIGNALS)
    first = [c["id"] for c in split_sequence(_finding(event)).children]
    again = [c["id"] for c in split_sequence(_finding(event)).children]
    assert first == again and len(set(first)) == 2
    event["detail"]["id"] = "another-sequence-finding-id-00001"
    assert not set(first) & {c["id"] for c in split_sequence(_finding(event)).children}


def _with_resources(resources: list[dict[str, Any]], signals: list[dict[str, Any]] | None = None) -> Finding:
    event = _event(SIGNALS)
    event["detail"]["type"] = "AttackSequence:EKS/CompromisedCluster"
    _sequence(event)["resources"] = resources
    _sequence(event)["signals"] = signals or []
    return _finding(event)


CLUSTER = {
    "uid": "arn:aws:eks:us-east-1:123456789012:cluster/payments",
    "name": "payments",
    "resourceType": "EKS_CLUSTER",
    "data": {"eksCluster": {"vpcId": "vpc-0a1b2c3d", "status": "ACTIVE"}},
}
POD = {
    "uid": "6a0c2f9e-1b7d-4c3e-9f8a-0d1e2f3a4b5c",
    "name": "checkout-7d9f8c6b5-x2x7q",
    "resourceType": "KUBERNETES_WORKLOAD",
    "data": {"kubernetesWorkload": {"type": "PODS", "namespace": "shop", "containerUids": ["c1"]}},
}
TASK = {
    "uid": "arn:aws:ecs:us-east-1:123456789012:task/checkout/5f4e3d2c1b0a49687f6e5d4c3b2a1908",
    "name": "5f4e3d2c1b0a49687f6e5d4c3b2a1908",
    "resourceType": "ECS_TASK",
    "data": {"ecsTask": {"taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3"}},
}


def test_kubernetes_and_ecs_children_carry_their_cluster() -> None:
    signal = {
        "uid": "s1",
        "type": "FINDING",
        "name": "Execution:Kubernetes/ExecInKubeSystemPod",
        "severity": 5,
        "resourceUids": [POD["uid"], CLUSTER["uid"]],
    }
    children = _by_resource_type(_with_resources([CLUSTER, POD, TASK], [signal]))
    pod = guardduty.parse(children["KUBERNETES_WORKLOAD"], "child")
    assert children["KUBERNETES_WORKLOAD"]["type"] == "Execution:Kubernetes/ExecInKubeSystemPod"
    assert pod.resource.kind == "k8s_pod" and pod.resource.pod_name == POD["name"]
    assert pod.resource.namespace == "shop" and pod.resource.cluster_name == "payments"
    cluster = guardduty.parse(children["EKS_CLUSTER"], "child")
    assert cluster.resource.kind == "eks_cluster" and cluster.resource.cluster_name == "payments"
    assert cluster.type == "Execution:Kubernetes/ExecInKubeSystemPod"  # the same signal names the cluster
    task = guardduty.parse(children["ECS_TASK"], "child")
    assert task.type == DEFAULT_TYPES["ECS_TASK"]
    assert task.resource.kind == "ecs_task" and task.resource.task_arn == TASK["uid"]
    assert task.resource.cluster_name == "checkout"


@pytest.mark.parametrize(
    "resource",
    [
        {"uid": "arn:aws:ec2:us-east-1:123456789012:instance/i-0; rm -rf /", "resourceType": "EC2_INSTANCE"},
        {"uid": "arn:aws:s3:::Not A Bucket", "resourceType": "S3_BUCKET"},
        {"uid": "", "resourceType": "EKS_CLUSTER"},
        {"uid": "vpc-0a1b", "resourceType": "EC2_VPC"},
        {"uid": None, "resourceType": None},
        "not an object",
        None,
    ],
)
def test_hostile_or_unknown_resources_make_no_child(resource: Any) -> None:
    split = split_sequence(_with_resources([resource]))
    assert split.children == []
    if isinstance(resource, dict):
        assert len(split.unanswered) == 1 and split.unanswered[0]["reason"]


def test_missing_and_null_sequence_fields() -> None:
    event = _event(SIGNALS)
    event["detail"]["service"]["detection"] = {"sequence": None}
    split = split_sequence(_finding(event))
    assert split.children == [] and "no service.detection.sequence" in split.notes[0]
    event["detail"]["service"]["detection"] = {"sequence": {"resources": None, "signals": [None, 3, {"type": None}]}}
    assert split_sequence(_finding(event)).children == []


def test_an_object_folds_into_its_bucket_and_children_are_bounded() -> None:
    bucket = {"uid": "arn:aws:s3:::example-billing-exports", "resourceType": "S3_BUCKET"}
    obj = {
        "uid": "arn:aws:s3:::example-billing-exports/exports/q3.csv",
        "resourceType": "S3_OBJECT",
        "data": {"s3Object": {"key": "exports/q3.csv"}},
    }
    children = split_sequence(_with_resources([bucket, obj])).children
    assert len(children) == 1
    details = children[0]["resource"]["s3BucketDetails"][0]
    assert details["s3ObjectDetails"] == [{"key": "exports/q3.csv", "arn": obj["uid"]}]
    many = [{"uid": f"arn:aws:s3:::bucket-{n:03d}", "resourceType": "S3_BUCKET"} for n in range(MAX_CHILDREN + 5)]
    split = split_sequence(_with_resources(many))
    assert len(split.children) == MAX_CHILDREN and any(str(MAX_CHILDREN) in n for n in split.notes)


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


def test_pascal_case_getfindings_output_splits_the_same() -> None:
    """boto3's GetFindings answers in PascalCase: the same children, the same ids, the same shape."""
    event = _event(SIGNALS)
    camel = split_sequence(_finding(event)).children
    pascal = split_sequence(parse_event(_pascal(event["detail"]), "getfindings")[0]).children
    assert [child_routing(c) for c in pascal] == [child_routing(c) for c in camel]
    assert [c["schemaVersion"] for c in pascal] == ["2.0", "2.0"]
    assert [c["resource"] for c in pascal] == [c["resource"] for c in camel]


def test_a_sequence_relayed_through_security_hub_splits_the_same() -> None:
    """ASFF: ``Detection.Sequence`` (signals with ``ResourceIds``, times in epoch milliseconds) and the
    finding's ``Resources[]``: the same children, typed by the same signals, in GuardDuty's shape."""
    asff = parse_event(
        json.loads((FIXTURES / "findings" / "securityhub" / "asff-attack-sequence-s3-ec2-signals.json").read_text()),
        "asff",
    )[0]
    assert asff.source == "securityhub" and asff.type == "AttackSequence:S3/CompromisedData"
    native = {child_routing(c)["resource_type"]: c for c in split_sequence(_finding(_event(SIGNALS))).children}
    relayed = _by_resource_type(asff)
    assert set(relayed) == set(native)
    for rtype, child in relayed.items():
        assert child["type"] == native[rtype]["type"]
        assert child["service"]["additionalInfo"]["typedBy"] == native[rtype]["service"]["additionalInfo"]["typedBy"]
        assert child["service"]["eventFirstSeen"] == native[rtype]["service"]["eventFirstSeen"].replace(".000Z", "Z")
        parsed = guardduty.parse(child, "child")
        assert parsed.resource.kind == guardduty.parse(native[rtype], "child").resource.kind
    assert relayed["S3_BUCKET"]["resource"]["s3BucketDetails"][0]["owner"]["id"].startswith("c0ffee")
    assert [u["type"] for u in split_sequence(asff).unanswered] == ["ACCESS_KEY"]
