"""A crash between an effect and its record, then resume and release: Kubernetes containment.

The shipped k8s-pod-compromise and eks-rbac-abuse playbooks run through the real Engine against the
Kubernetes API double over HTTP (IAM on moto over HTTP, real SQLite, a real evidence folder), cut after
the step under test. A proxy in front of the double forwards the step's write and, once the cluster has
applied it, crashes the run before the engine reads the answer: the run store is copied at that instant
(exactly what a SIGKILL there leaves — the step claimed with its "before" written ahead, not finished) and
from then on the cluster answers nothing, as it would a dead process. The store is put back, a fresh
engine resumes, and release must leave the pod, node and bindings as they were before the run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from responder.actions.k8s import POD_LABEL, QUARANTINE_LABEL
from responder.findings import load_file, parse_event
from responder.findings.model import Finding
from responder.k8s.access import SANDBOX_ENV
from responder.sandbox.k8s import KubeDouble, running_double
from tests.actions.test_records_before_services import (
    GUARDDUTY,
    Crash,
    crashed_engine,
    cut_after,
    released,
    resume_after_crash,
)
from tests.helpers import seed_irsa_role
from tests.k8s_double import CLUSTER, NAMESPACE, NODE, POD, POD_UID, fixture_event, seed_pod
from tests.throttle_proxy import AFTER, FORWARD, InterceptProxy


class KubeCrash(InterceptProxy):
    """Forwards to the double; after the ``nth`` write ``matches`` names is applied, the crash happens and the
    caller never reads the answer. Every later request is refused: nothing of that attempt goes on."""

    def __init__(self, target: str, crash: Crash, matches: Callable[[str], bool], nth: int = 1) -> None:
        self.crash, self.matches, self.nth, self.seen = crash, matches, nth, 0
        super().__init__(target, decide=self._verdict)

    def _verdict(self, label: str, body: bytes) -> str:
        with self.lock:
            if self.crash.fired:
                return "throttle"  # answered 400: the attempt that would have died stops here
            if self.matches(label):
                self.seen += 1
                if self.seen == self.nth:
                    return AFTER
            return FORWARD

    def strike_after(self) -> None:
        self.crash.now()


@pytest.fixture
def pod_cluster() -> Iterator[KubeDouble]:
    with running_double() as double:
        seed_pod(double)
        yield double


def _pod_finding() -> Finding:
    return parse_event(fixture_event("guardduty-eks-runtime-cryptominer.json"), "gd-eks")[0]


def _pod_world(kube: KubeDouble) -> dict[str, Any]:
    """What the pod playbook changes: the pod's labels, NetworkPolicies, the node, the IRSA role's policies."""
    return {
        "labels": dict(kube.state.pods[(NAMESPACE, POD)]["metadata"].get("labels") or {}),
        "policies": sorted(kube.state.network_policies),
        "unschedulable": bool(kube.state.nodes[NODE]["spec"].get("unschedulable")),
        "role_policies": boto3.client("iam").list_role_policies(RoleName="web-irsa")["PolicyNames"],
    }


@pytest.mark.parametrize(
    ("step_id", "write", "expected"),
    [
        ("label_pod", "k8s:PATCH pods", {"pod_uid": POD_UID, "labels": {QUARANTINE_LABEL: None, POD_LABEL: None}}),
        ("isolate_pod", "k8s:POST networkpolicies", {"policy": None}),
        ("cordon_node", "k8s:PATCH nodes", {"unschedulable": False}),
    ],
)
def test_pod_step_crashed_after_its_effect_is_released(
    pod_cluster: KubeDouble,
    moto_endpoint: str,
    responder_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    step_id: str,
    write: str,
    expected: dict[str, Any],
) -> None:
    seed_irsa_role()
    original = _pod_world(pod_cluster)
    loaded = cut_after("k8s-pod-compromise", step_id, tmp_path)
    crash = Crash(tmp_path)
    proxy = KubeCrash(pod_cluster.url, crash, lambda label: label == write)
    try:
        monkeypatch.setenv(SANDBOX_ENV, json.dumps({CLUSTER: {"host": proxy.url}}))
        first = crashed_engine(crash)
        run_id = first.run(loaded, _pod_finding()).run_id
    finally:
        proxy.close()
    assert crash.fired and _pod_world(pod_cluster) != original  # the effect happened; its record did not

    monkeypatch.setenv(SANDBOX_ENV, json.dumps({CLUSTER: {"host": pod_cluster.url}}))  # the cluster, as ever
    eng, step = resume_after_crash(crash, run_id, step_id, loaded)
    assert step["status"] == "succeeded" and step["changed"] is True, step
    assert step["before"] == expected
    assert set(released(eng, run_id).values()) == {"succeeded"}
    assert _pod_world(pod_cluster) == original
    assert (NAMESPACE, POD) in pod_cluster.state.pods  # kept for forensics throughout


# ---------------------------------------------------------------------------------------------
# EKS RBAC abuse: the offending bindings, deleted one at a time, kept whole for release
RBAC_FINDING = GUARDDUTY / "eks-rbac-abuse-anonymous-access-granted.json"
ANONYMOUS = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}


def _cluster_binding(name: str, role: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": {"team": "platform"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


@pytest.fixture
def rbac_cluster() -> Iterator[KubeDouble]:
    """An anonymous grant and admin for a default service account (both offending), and two that are not."""
    with running_double() as double:
        double.state.cluster_role_bindings.extend(
            [
                _cluster_binding("system:public-info-viewer", "system:public-info-viewer", [ANONYMOUS]),
                _cluster_binding("anonymous-view", "view", [ANONYMOUS]),
                _cluster_binding("ops-admins", "cluster-admin", [{"kind": "Group", "name": "ops"}]),
            ]
        )
        double.add_role_binding("default", "default-admin", "admin", "default", "default")
        yield double


def _bindings(kube: KubeDouble) -> dict[str, Any]:
    """Every binding as it can be compared: name → (role, subjects, labels)."""

    def view(b: dict[str, Any]) -> Any:
        return (b["roleRef"], b.get("subjects"), (b["metadata"].get("labels") or {}))

    cluster = {b["metadata"]["name"]: view(b) for b in kube.state.cluster_role_bindings}
    namespaced = {
        f"{ns}/{b['metadata']['name']}": view(b) for ns, items in kube.state.role_bindings.items() for b in items
    }
    return copy.deepcopy({**cluster, **namespaced})


@pytest.mark.parametrize("nth", [1, 2], ids=["between-the-deletes", "after-both-deletes"])
def test_binding_removal_crashed_recreates_every_binding(
    rbac_cluster: KubeDouble,
    moto_endpoint: str,
    responder_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    nth: int,
) -> None:
    original = _bindings(rbac_cluster)
    finding = load_file(RBAC_FINDING)[0]
    loaded = cut_after("eks-rbac-abuse", "remove_offending_bindings", tmp_path)
    crash = Crash(tmp_path)
    proxy = KubeCrash(rbac_cluster.url, crash, lambda label: label.startswith("k8s:DELETE "), nth=nth)
    try:
        monkeypatch.setenv(SANDBOX_ENV, json.dumps({"payments-eks": {"host": proxy.url}}))
        run_id = crashed_engine(crash).run(loaded, finding).run_id
    finally:
        proxy.close()
    left = _bindings(rbac_cluster)
    assert crash.fired and len(left) == len(original) - nth  # deleted before the crash: nth of the two

    monkeypatch.setenv(SANDBOX_ENV, json.dumps({"payments-eks": {"host": rbac_cluster.url}}))
    eng, step = resume_after_crash(crash, run_id, "remove_offending_bindings", loaded)
    assert step["changed"] is True, step
    kept = {item["ref"]["name"]: item["binding"] for item in step["before"]["bindings"]}
    assert sorted(kept) == ["anonymous-view", "default-admin"]  # both, whole, though one was gone at resume
    assert kept["anonymous-view"]["subjects"] == [ANONYMOUS] and kept["default-admin"]["roleRef"]["name"] == "admin"
    assert sorted(step["output"]["removed"]) == ["anonymous-view", "default-admin"]
    assert sorted(_bindings(rbac_cluster)) == ["ops-admins", "system:public-info-viewer"]
    assert set(released(eng, run_id).values()) == {"succeeded"}
    assert _bindings(rbac_cluster) == original
