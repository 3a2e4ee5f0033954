"""GuardDuty findings in the shapes GuardDuty publishes them: every resource named, with its role, the
primary resource chosen by the finding type, and the shipped playbook that answers.

Fixtures: tests/fixtures/findings/guardduty (EventBridge events, camelCase), basis in the SOURCES.md
there. Each is also read as ``GetFindings`` returns it through boto3 or the AWS CLI (PascalCase member
names, ``additionalInfo`` as ``{"Value": <JSON text>, "Type": "default"}``) and as a bare finding.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from responder.actions.registry import default_registry
from responder.findings import parse_event
from responder.findings.model import Finding
from responder.findings.roles import family
from responder.playbook.match import matching
from responder.playbook.model import Playbook
from responder.playbook.validate import load_playbooks
from tests.conftest import FIXTURES
from tests.helpers import ROOT

GUARDDUTY = FIXTURES / "findings" / "guardduty"

# fixture → (primary kind, a field of the primary and its value, the playbook that answers or None)
EXPECTED: dict[str, tuple[str, tuple[str, str], str | None]] = {
    "iam-user-key-maliciousipcaller": (
        "access_key",
        ("access_key_id", "AKIAIOSFODNN7EXAMPLE"),
        "iam-credential-compromise",
    ),
    "iam-anomalous-user": ("access_key", ("user_name", "ci-deploy"), "iam-credential-compromise"),
    "iam-anomalous-role-session": ("role_session", ("session_name", "build-7781"), "iam-role-session-compromise"),
    "iam-instance-credential-exfiltration": (
        "role_session",
        ("session_name", "i-0a1b2c3d4e5f60718"),
        "iam-role-session-compromise",
    ),
    "s3-block-public-access-disabled-low": ("s3_bucket", ("bucket_name", "example-analytics-exports"), "s3-exposure"),
    "s3-exfiltration-maliciousipcaller": ("s3_bucket", ("bucket_name", "example-analytics-exports"), "s3-exposure"),
    "ec2-backdoor-cc": ("ec2_instance", ("instance_id", "i-0a1b2c3d4e5f60718"), "ec2-instance-compromise"),
    "ec2-bitcointool-accesskey-shape": (
        "ec2_instance",
        ("instance_id", "i-0a1b2c3d4e5f60718"),
        "ec2-instance-compromise",
    ),
    "ec2-malware-maliciousfile": ("ec2_instance", ("instance_id", "i-0a1b2c3d4e5f60718"), "ec2-instance-compromise"),
    "k8s-exec-kube-system-pod-workload": ("k8s_pod", ("pod_name", "aws-node-x7k2p"), "k8s-pod-compromise"),
    "k8s-exec-kube-system-pod-request-uri": ("k8s_pod", ("pod_name", "coredns-5d78c9869d-4xk2p"), "k8s-pod-compromise"),
    "k8s-privileged-deployment": ("eks_cluster", ("cluster_name", "prod-eks"), None),
    "runtime-eks-pod": ("k8s_pod", ("pod_name", "web-7f9c6d5b8-2xkq9"), "k8s-pod-compromise"),
    "runtime-ec2-host": ("ec2_instance", ("instance_id", "i-0a1b2c3d4e5f60718"), "ec2-instance-compromise"),
    "runtime-ecs-task": ("ecs_task", ("launch_type", "FARGATE"), None),
    "lambda-cc-activity": ("lambda_function", ("function_name", "thumbnailer"), None),
    "rds-anomalous-login": ("rds_instance", ("db_instance_identifier", "orders-db-1"), None),
    "attack-sequence-s3": ("s3_bucket", ("bucket_name", "example-analytics-exports"), None),
}


# The playbooks this normalisation was written for; playbooks for other families are tested by their owners.
CORE = (
    "ec2-instance-compromise",
    "iam-credential-compromise",
    "iam-role-session-compromise",
    "k8s-pod-compromise",
    "s3-exposure",
)


@cache
def shipped_playbooks() -> list[Playbook]:
    files = [ROOT / "playbooks" / f"{name}.yaml" for name in CORE]
    return [p.playbook for p in load_playbooks(files, default_registry())]


def event(name: str) -> dict[str, Any]:
    return json.loads((GUARDDUTY / f"{name}.json").read_text())


def pascal(value: Any) -> Any:
    """A camelCase GuardDuty finding as boto3/the AWS CLI print ``GetFindings``: member names capitalised,
    ``additionalInfo`` as its JSON text."""
    if isinstance(value, list):
        return [pascal(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {key[:1].upper() + key[1:]: pascal(item) for key, item in value.items()}


def getfindings(name: str) -> dict[str, Any]:
    return {"Findings": [pascal(copy.deepcopy(event(name)["detail"]))]}


SHAPES = {
    "eventbridge": event,
    "getfindings-pascalcase": getfindings,
    "getfindings-camelcase": lambda name: {"findings": [event(name)["detail"]]},
    "bare": lambda name: event(name)["detail"],
    "sns": lambda name: {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(event(name))}}]},
}


FAMILY_KINDS = {
    "S3": {"s3_bucket"},
    "EC2": {"ec2_instance"},
    "IAMUser": {"access_key", "role_session", "iam_user"},
    "Kubernetes": {"k8s_pod", "eks_cluster"},
    "Runtime": {"k8s_pod", "ecs_task", "eks_cluster", "ecs_cluster", "ec2_instance"},
    "Lambda": {"lambda_function"},
    "RDS": {"rds_instance"},
}


@pytest.mark.parametrize("path", sorted(GUARDDUTY.glob("*.json")), ids=lambda p: p.stem)
def test_every_fixture_in_the_folder_names_its_primary_by_type(path: Path) -> None:
    """Fixtures other playbooks' tests put here too: each resource has a role, the primary follows the type."""
    for finding in parse_event(json.loads(path.read_text()), path.name):
        assert all(r.role in ("actor", "target") for r in finding.all_resources())
        expected = FAMILY_KINDS.get(family(finding.type) or "", set())
        if expected & set(finding.resource_kinds):  # a finding naming only a key is about that key
            assert finding.resource.kind in expected, (finding.type, finding.resource_kinds)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_primary_resource_and_answering_playbook(name: str, shape: str) -> None:
    kind, (field, value), playbook = EXPECTED[name]
    findings = parse_event(SHAPES[shape](name), f"{name}.json")
    assert len(findings) == 1
    finding = findings[0]
    assert finding.resource.kind == kind, finding.resource_kinds
    assert getattr(finding.resource, field) == value
    answered = [p.id for p in matching(shipped_playbooks(), finding)]
    assert answered == ([playbook] if playbook else [])


def _one(name: str) -> Finding:
    return parse_event(event(name), f"{name}.json")[0]


def test_s3_finding_names_the_bucket_as_target_and_the_key_as_actor() -> None:
    finding = _one("s3-exfiltration-maliciousipcaller")
    assert finding.raw["resource"]["resourceType"] == "AccessKey"  # as GuardDuty publishes it
    assert finding.principal is not None and finding.principal.access_key_id == "AKIAIOSFODNN7EXAMPLE"
    assert finding.principal.role == "actor"
    assert [t.kind for t in finding.targets] == ["s3_bucket"]
    data = finding.model_dump(mode="json")  # what templates see
    assert data["target"]["s3_bucket"]["bucket_name"] == "example-analytics-exports"
    assert data["principal"]["user_name"] == "ci-deploy"
    assert data["resource_kinds"] == ["s3_bucket", "access_key"]


def test_instance_credentials_are_a_role_session_whatever_user_type_says() -> None:
    finding = _one("iam-instance-credential-exfiltration")
    assert finding.raw["resource"]["accessKeyDetails"]["userType"] == "IAMUser"
    session = finding.resource
    assert (session.kind, session.role_name, session.session_name) == (
        "role_session",
        "web-app-role",
        "i-0a1b2c3d4e5f60718",
    )
    assert finding.target["ec2_instance"].instance_id == "i-0a1b2c3d4e5f60718"


def test_an_exfiltrated_instance_credential_without_a_session_name_is_still_a_role_session() -> None:
    doc = event("iam-instance-credential-exfiltration")
    doc["detail"]["resource"]["accessKeyDetails"].update(principalId="AIDAEXAMPLE", accessKeyId="AKIAIOSFODNN7EXAMPLE")
    finding = parse_event(doc, "e.json")[0]
    assert finding.resource.kind == "role_session" and finding.resource.role_name == "web-app-role"
    assert [p.id for p in matching(shipped_playbooks(), finding)] == ["iam-role-session-compromise"]


@pytest.mark.parametrize(
    "details",
    [
        {"userType": "AssumedRole", "principalId": "AROAEXAMPLE:alice", "userName": "admin-role"},
        {"userType": "IAMUser", "principalId": "AROAEXAMPLE:alice", "userName": "admin-role"},  # label is wrong
        {"userType": "Role", "principalId": "x", "userName": "arn:aws:sts::123456789012:assumed-role/admin-role/alice"},
    ],
)
def test_assumed_role_principals_are_role_sessions(details: dict[str, str]) -> None:
    doc = event("iam-anomalous-user")
    doc["detail"]["resource"]["accessKeyDetails"] = {"accessKeyId": "ASIAEXAMPLE0000000001", **details}
    finding = parse_event(doc, "e.json")[0]
    assert (finding.resource.kind, finding.resource.role_name, finding.resource.session_name) == (
        "role_session",
        "admin-role",
        "alice",
    )
    assert [p.id for p in matching(shipped_playbooks(), finding)] == ["iam-role-session-compromise"]


def test_root_keys_are_not_answered_by_the_leaked_key_playbook() -> None:
    doc = event("iam-anomalous-user")
    doc["detail"]["resource"]["accessKeyDetails"].update(userType="Root", userName="Root")
    finding = parse_event(doc, "e.json")[0]
    assert finding.resource.kind == "access_key"
    assert matching(shipped_playbooks(), finding) == []


def test_kubernetes_user_and_pod_from_the_audit_log_only() -> None:
    finding = _one("k8s-exec-kube-system-pod-request-uri")
    pod = finding.resource
    assert (pod.namespace, pod.pod_name, pod.cluster_name) == ("kube-system", "coredns-5d78c9869d-4xk2p", "prod-eks")
    user = finding.principal
    assert user is not None and user.kind == "k8s_user"
    assert (user.service_account_namespace, user.service_account_name) == ("kube-system", "attacker-sa")
    assert finding.target["eks_cluster"].cluster_name == "prod-eks"


def test_pod_named_by_resource_and_resource_name_when_the_uri_is_absent() -> None:
    doc = event("k8s-exec-kube-system-pod-request-uri")
    call = doc["detail"]["service"]["action"]["kubernetesApiCallAction"]
    call["requestUri"] = None
    finding = parse_event(doc, "e.json")[0]
    assert (finding.resource.kind, finding.resource.pod_name) == ("k8s_pod", "coredns-5d78c9869d-4xk2p")


def test_workload_and_uri_naming_the_same_pod_make_one_resource() -> None:
    finding = _one("k8s-exec-kube-system-pod-workload")
    pods = [r for r in finding.all_resources() if r.kind == "k8s_pod"]
    assert len(pods) == 1 and pods[0].containers == ("aws-node",)


def test_runtime_pod_finding_keeps_its_node_but_does_not_isolate_it() -> None:
    finding = _one("runtime-eks-pod")
    assert finding.resource.kind == "k8s_pod"
    assert finding.target["ec2_instance"].instance_id == "i-0b2c3d4e5f6071829"  # the node is named...
    assert "ec2-instance-compromise" not in [p.id for p in matching(shipped_playbooks(), finding)]  # ...not contained
    assert finding.target["container"].name == "web"


def test_ecs_lambda_rds_and_volumes_are_typed_targets() -> None:
    task = _one("runtime-ecs-task").resource
    assert (task.cluster_name, task.containers, task.images) == (
        "payments",
        ("api",),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/api:3.1",),
    )
    fn = _one("lambda-cc-activity").resource
    assert fn.execution_role_arn == "arn:aws:iam::123456789012:role/thumbnailer-exec"
    db = _one("rds-anomalous-login").resource
    assert (db.db_cluster_identifier, db.db_user) == ("orders", "app_admin")
    volume = _one("ec2-malware-maliciousfile").target["ebs_volume"]
    assert volume.volume_id == "vol-0a1b2c3d4e5f60718"


def test_attack_sequence_actor_and_resources() -> None:
    finding = _one("attack-sequence-s3")
    assert finding.resource_kinds == ("s3_bucket", "access_key")  # the bucket named twice is one resource
    assert finding.principal.access_key_id == "AKIAIOSFODNN7EXAMPLE"


def test_a_stored_finding_reads_back_with_its_derived_views() -> None:
    finding = _one("runtime-eks-pod")
    stored = json.loads(json.dumps(finding.model_dump(mode="json")))
    assert Finding.model_validate(stored) == finding


def test_resources_of_another_shape_are_ignored_not_fatal() -> None:
    doc = event("runtime-eks-pod")
    resource = doc["detail"]["resource"]
    resource["kubernetesDetails"] = {"kubernetesWorkloadDetails": ["not", "an", "object"]}
    resource["ecsClusterDetails"] = "nope"
    resource["s3BucketDetails"] = [None, 3, {"name": "b"}]
    resource["ebsVolumeDetails"] = {"scannedVolumeDetails": [None]}
    doc["detail"]["service"]["action"] = {"kubernetesApiCallAction": {"requestUri": 42}}
    finding = parse_event(doc, "odd.json")[0]
    assert finding.target["s3_bucket"].bucket_name == "b"


def test_characters_no_aws_api_can_carry_are_replaced_in_normalised_fields_only() -> None:
    doc = event("iam-anomalous-user")
    doc["detail"]["resource"]["accessKeyDetails"]["userName"] = "ci-\x01deploy"
    doc["detail"]["title"] = "title \x0b with a vertical tab"
    finding = parse_event(doc, "ctl.json")[0]
    assert finding.resource.user_name == "ci-\ufffddeploy"
    assert finding.title == "title \ufffd with a vertical tab"
    assert finding.raw["resource"]["accessKeyDetails"]["userName"] == "ci-\x01deploy"  # evidence as received
