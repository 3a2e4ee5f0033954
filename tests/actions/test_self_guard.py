"""Responder never contains the instance, pod or node it runs on.

EC2: moto over HTTP, responder's credentials an assumed-role session named after the instance — exactly
what an instance profile hands out — and the instance seeded from a GuardDuty finding
(tests/fixtures/guardduty/ec2-bitcointool-bare.json, basis in SOURCES.md there). Kubernetes: the
in-cluster environment the downward API gives a pod, against the local Kubernetes API double.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from responder.actions.aws.ec2 import (
    DeregisterFromTargetGroups,
    DetachFromAutoscaling,
    DetachInstanceProfile,
    InstanceInput,
    IsolateInstance,
)
from responder.actions.base import Connectors, StepContext
from responder.actions.self_guard import own_instance_id, own_node, own_pod, refuse_own_node, refuse_own_pod
from responder.aws.sessions import AwsAccess
from responder.clock import SystemClock
from responder.config import load_settings
from responder.errors import Refused
from responder.evidence.local import LocalLocker
from responder.findings import load_file
from responder.sandbox import Sandbox
from responder.sandbox.resources import describe_instance, seed_resources
from tests.conftest import FIXTURES

CANARY = FIXTURES / "guardduty" / "ec2-bitcointool-bare.json"
INSTANCE = "i-0c3a5e7f9b1d24680"  # the finding's instance, given to the emulated instance


def _as_instance_profile(monkeypatch: pytest.MonkeyPatch, session_name: str) -> None:
    """Switch the process to an assumed-role session named ``session_name`` (as EC2 names profile sessions)."""
    iam = boto3.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="responder-host", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    creds = boto3.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName=session_name)["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])


def _ctx(moto_endpoint: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, session_name: str) -> StepContext:
    finding = load_file(CANARY)[0]
    box = Sandbox(endpoint=moto_endpoint, account_id="123456789012", region="us-east-1")
    seed_resources(box, finding)
    _as_instance_profile(monkeypatch, session_name)
    return StepContext(
        run_id="run-self",
        step_id="step",
        playbook_id="pb",
        finding=finding,
        clock=SystemClock(),
        evidence=LocalLocker(tmp_path / "ev"),
        settings=load_settings(),
        connectors=Connectors(aws=AwsAccess(load_settings().aws)),
    )


def _state() -> dict[str, Any]:
    return describe_instance(boto3.client("ec2"), boto3.client("autoscaling"), boto3.client("elbv2"), INSTANCE)


@pytest.mark.parametrize(
    "action", [IsolateInstance, DetachInstanceProfile, DetachFromAutoscaling, DeregisterFromTargetGroups]
)
def test_own_instance_is_never_contained(
    moto_endpoint: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, action: type
) -> None:
    ctx = _ctx(moto_endpoint, tmp_path, monkeypatch, session_name=INSTANCE)
    assert ctx.identity()["Arn"].endswith(f":assumed-role/responder-host/{INSTANCE}")
    before = _state()
    for call in (action().plan, action().apply):
        with pytest.raises(Refused) as refused:
            call(ctx, InstanceInput(instance_id=INSTANCE))
        assert INSTANCE in refused.value.message and "responder runs on" in refused.value.message
        assert "by hand" in (refused.value.hint or "")
    assert _state() == before  # nothing changed: the profile is still attached, the groups as they were


def test_another_instance_is_contained_as_usual(
    moto_endpoint: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _ctx(moto_endpoint, tmp_path, monkeypatch, session_name="i-0aaaaaaaaaaaaaaaa")
    out = DetachInstanceProfile().apply(ctx, InstanceInput(instance_id=INSTANCE))
    assert out.changed and not _state()["instance_profile"]


def test_own_instance_id_is_read_from_the_session_name_only() -> None:
    assert own_instance_id({"Arn": "arn:aws:sts::1:assumed-role/web/i-0c3a5e7f9b1d24680"}) == "i-0c3a5e7f9b1d24680"
    assert own_instance_id({"Arn": "arn:aws:sts::1:assumed-role/web/botocore-session-1"}) is None
    assert own_instance_id({"Arn": "arn:aws:iam::1:user/i-0c3a5e7f9b1d24680"}) is None
    assert own_instance_id({}) is None


IN_CLUSTER = {
    "KUBERNETES_SERVICE_HOST": "10.0.0.1",
    "POD_NAME": "responder-7d9f",
    "POD_NAMESPACE": "security",
    "NODE_NAME": "ip-10-0-1-23.ec2.internal",
    "POD_UID": "uid-responder",
}


def test_own_pod_and_node_from_the_in_cluster_environment() -> None:
    assert own_pod(IN_CLUSTER) == ("security", "responder-7d9f")
    assert own_node(IN_CLUSTER) == "ip-10-0-1-23.ec2.internal"
    assert own_pod({"HOSTNAME": "responder-7d9f", "POD_NAMESPACE": "security"}) is None  # not in a cluster
    hostname_only = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "responder-7d9f", "POD_NAMESPACE": "security"}
    assert own_pod(hostname_only) == ("security", "responder-7d9f")
    with pytest.raises(Refused, match="the pod responder runs in"):
        refuse_own_pod("security", "responder-7d9f", "isolate", uid="uid-responder", env=IN_CLUSTER)
    refuse_own_pod("security", "responder-7d9f", "isolate", uid="uid-of-a-namesake", env=IN_CLUSTER)  # other cluster
    refuse_own_pod("payments", "web-1", "isolate", env=IN_CLUSTER)
    with pytest.raises(Refused, match="node responder's pod runs on"):
        refuse_own_node("ip-10-0-1-23.ec2.internal", "cordon", env=IN_CLUSTER)
    refuse_own_node("ip-10-0-9-9.ec2.internal", "cordon", env=IN_CLUSTER)


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.k8s_double import serve_seeded

    yield from serve_seeded(monkeypatch)


def test_own_pod_and_node_are_never_contained_through_the_api(
    kube: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from responder.actions.k8s import CordonNode, IsolatePod, LabelPod, NodeRef, PodRef
    from responder.app import build_connectors
    from responder.clock import FixedClock
    from responder.findings import parse_event
    from tests.k8s_double import NAMESPACE, NODE, POD, POD_UID, fixture_event

    for key, value in {
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "POD_NAME": POD,
        "POD_NAMESPACE": NAMESPACE,
        "POD_UID": POD_UID,
        "NODE_NAME": NODE,
    }.items():
        monkeypatch.setenv(key, value)  # responder itself runs in the very pod the finding names
    settings = load_settings()
    finding = parse_event(fixture_event("guardduty-eks-runtime-cryptominer.json"), "fixture")[0]
    ctx = StepContext(
        run_id="run-self-k8s",
        step_id="step",
        playbook_id="k8s-pod-compromise",
        finding=finding,
        clock=FixedClock(datetime(2026, 11, 20, 9, 30, tzinfo=UTC)),
        evidence=LocalLocker(tmp_path / "evidence"),
        settings=settings,
        connectors=build_connectors(settings),
    )
    ref = PodRef(pod_name=POD, namespace=NAMESPACE, pod_uid=POD_UID)
    labels = dict(kube.state.pods[(NAMESPACE, POD)]["metadata"]["labels"])
    for action in (LabelPod(), IsolatePod()):
        for call in (action.plan, action.apply):
            with pytest.raises(Refused, match="the pod responder runs in"):
                call(ctx, ref)
    for call in (CordonNode().plan, CordonNode().apply):
        with pytest.raises(Refused, match="node responder's pod runs on"):
            call(ctx, NodeRef(node_name=NODE))
    assert dict(kube.state.pods[(NAMESPACE, POD)]["metadata"]["labels"]) == labels
    assert kube.state.network_policies == {}
    assert not (kube.state.nodes[NODE].get("spec") or {}).get("unschedulable")
