"""The k8s-identity-compromise playbook through the real Engine: the Kubernetes API double over HTTP and
IAM on moto over HTTP. The composed finding (tests/fixtures/findings, SOURCES.md) names an IAM role mapped
by EKS (its sessions are revoked); the same finding from a service account removes that account's own
bindings after a person approves, and release recreates them."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import boto3
import pytest

from responder.engine.release import release
from responder.findings import load_file, parse_event
from responder.k8s.access import SANDBOX_ENV
from responder.sandbox.k8s import KubeDouble, running_double
from responder.service.decide import decide
from tests.conftest import FIXTURES
from tests.helpers import engine, shipped

FINDING = FIXTURES / "findings" / "guardduty" / "k8s-identity-compromise-tor-caller.json"
PLAYBOOK = "k8s-identity-compromise"


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeDouble]:
    with running_double() as double:
        double.add_role_binding("payments", "ci-reader", "view", "payments", "ci", cluster=True)
        double.add_role_binding("payments", "web-edit", "edit", "payments", "web")
        monkeypatch.setenv(SANDBOX_ENV, json.dumps({"payments-eks": {"host": double.url}}))
        yield double


def test_iam_role_behind_the_identity_has_its_sessions_revoked(
    kube: KubeDouble, moto_endpoint: str, responder_home
) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(
        RoleName="payments-deployer",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    run = engine().run(shipped(PLAYBOOK), load_file(FINDING)[0])
    steps = {s["id"]: s for s in run.steps}
    assert run.status in ("succeeded", "partial"), [(s["id"], s["error"]) for s in run.steps]
    assert steps["resolve_identity"]["output"]["kind"] == "iam_role"
    assert steps["revoke_role_sessions"]["status"] == "succeeded"
    assert "responder-revoke-sessions" in iam.list_role_policies(RoleName="payments-deployer")["PolicyNames"]
    assert steps["remove_identity_bindings"]["status"] == "skipped"


def test_service_account_bindings_removed_after_approval(kube: KubeDouble, moto_endpoint: str, responder_home) -> None:
    event = json.loads(FINDING.read_text())
    user = event["detail"]["resource"]["kubernetesDetails"]["kubernetesUserDetails"]
    user.update(
        {
            "username": "system:serviceaccount:payments:web",
            "uid": "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:payments"],
        }
    )
    finding = parse_event(copy.deepcopy(event), "sa")[0]
    eng = engine()
    run = eng.run(shipped(PLAYBOOK), finding)
    steps = {s["id"]: s for s in run.steps}
    assert run.status == "waiting" and steps["remove_identity_bindings"]["status"] == "waiting"
    assert [o["name"] for o in steps["capture_bindings"]["output"]["offending"]] == ["web-edit"]
    decide(
        eng,
        run.run_id,
        "remove_identity_bindings",
        approved=True,
        by="tester",
        reason="token used from Tor",
        via="test",
    )
    run = eng.resume(run.run_id, shipped(PLAYBOOK))
    assert run.status in ("succeeded", "partial"), [(s["id"], s["error"]) for s in run.steps]
    assert kube.state.role_bindings["payments"] == []
    assert [b["metadata"]["name"] for b in kube.state.cluster_role_bindings] == ["ci-reader"]
    release(eng, run.run_id)
    assert [b["metadata"]["name"] for b in kube.state.role_bindings["payments"]] == ["web-edit"]
