"""The eks-rbac-abuse playbook through the real Engine against the Kubernetes API double over HTTP:
the anonymous grant the composed finding names (tests/fixtures/findings, SOURCES.md) is found among the
cluster's bindings, deleted, and recreated exactly by release; Kubernetes' own system: bindings stay."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from responder.engine.release import release
from responder.findings import load_file
from responder.k8s.access import SANDBOX_ENV
from responder.sandbox.k8s import KubeDouble, running_double
from tests.conftest import FIXTURES
from tests.helpers import engine, shipped

FINDING = FIXTURES / "findings" / "guardduty" / "eks-rbac-abuse-anonymous-access-granted.json"


def _binding(name: str, role: str, subjects: list[dict[str, str]]) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "uid": f"uid-{name}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeDouble]:
    with running_double() as double:
        anonymous = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}
        double.state.cluster_role_bindings.extend(
            [
                _binding("system:public-info-viewer", "system:public-info-viewer", [anonymous]),
                _binding("anonymous-view", "view", [anonymous]),
                _binding("ops-admins", "cluster-admin", [{"kind": "Group", "name": "ops"}]),
            ]
        )
        double.add_role_binding("default", "default-admin", "admin", "default", "default")
        monkeypatch.setenv(SANDBOX_ENV, json.dumps({"payments-eks": {"host": double.url}}))
        yield double


def _names(double: KubeDouble) -> list[str]:
    return sorted(b["metadata"]["name"] for b in double.state.cluster_role_bindings)


def test_anonymous_binding_removed_then_recreated(kube: KubeDouble, moto_endpoint: str, responder_home) -> None:
    finding = load_file(FINDING)[0]
    eng = engine()
    run = eng.run(shipped("eks-rbac-abuse"), finding)
    steps = {s["id"]: s for s in run.steps}
    assert run.status == "succeeded", [(s["id"], s["error"]) for s in run.steps]
    offending = steps["capture_bindings"]["output"]["offending"]
    assert {o["name"] for o in offending} == {"anonymous-view", "default-admin"}
    assert _names(kube) == ["ops-admins", "system:public-info-viewer"]
    assert kube.state.role_bindings["default"] == []
    release(eng, run.run_id)
    assert _names(kube) == ["anonymous-view", "ops-admins", "system:public-info-viewer"]
    assert [b["metadata"]["name"] for b in kube.state.role_bindings["default"]] == ["default-admin"]
