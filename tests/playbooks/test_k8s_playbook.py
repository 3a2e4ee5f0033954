"""The k8s-pod-compromise playbook end to end through the real Engine (``responder.app.build_engine``):
responder's Kubernetes client over HTTP to the local API double, IAM on the moto server over HTTP,
real SQLite and a real evidence folder. Findings: ``tests/fixtures/k8s/`` (sources in its SOURCES.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import boto3
import pytest
import yaml

from responder.actions.base import Category
from responder.actions.k8s import ENFORCEMENT_NOTE, POD_LABEL, QUARANTINE_LABEL, _matches
from responder.actions.registry import default_registry
from responder.engine.release import release
from responder.findings import parse_event
from responder.findings.model import Finding
from tests.helpers import engine, seed_irsa_role, shipped
from tests.k8s_double import (
    NAMESPACE,
    NODE,
    POD,
    POD_UID,
    KubeDouble,
    eks_kubeconfig,
    fixture_event,
    install_fake_aws_cli,
    running_double,
    seed_pod,
    serve_seeded,
)

PLAYBOOK = "k8s-pod-compromise"
POLICY = (NAMESPACE, f"responder-isolate-{POD_UID}")


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeDouble]:
    yield from serve_seeded(monkeypatch)


def gd_finding() -> Finding:
    return parse_event(fixture_event("guardduty-eks-runtime-cryptominer.json"), "gd-eks")[0]


def falco_finding() -> Finding:
    return parse_event(fixture_event("falco-miner-pool-connection.json"), "falco")[0]


def role_policies() -> list[str]:
    return boto3.client("iam", region_name="us-east-1").list_role_policies(RoleName="web-irsa")["PolicyNames"]


def states(result) -> dict[str, str]:
    return {s["id"]: s["status"] for s in result.steps}


def pods_selected(kube: KubeDouble) -> list[str]:
    policy = kube.state.network_policies[POLICY]
    return [
        name
        for (ns, name), pod in kube.state.pods.items()
        if ns == NAMESPACE and _matches(policy["spec"]["podSelector"], pod["metadata"].get("labels") or {})
    ]


def assert_all_but_scope_succeeded(result) -> None:
    """The scope step reads CloudTrail, which these tests do not seed (and moto has no LookupEvents): it is
    recorded ``refused`` with the reason and the run ``partial``; every other step succeeded."""
    got = states(result)
    scope = got.pop("scope")
    assert set(got.values()) == {"succeeded"}, result.steps
    assert scope in ("succeeded", "refused"), result.steps
    assert result.status == ("succeeded" if scope == "succeeded" else "partial")


def assert_isolated(kube: KubeDouble) -> None:
    policy = kube.state.network_policies[POLICY]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert not policy["spec"].get("ingress") and not policy["spec"].get("egress")
    assert pods_selected(kube) == [POD]


def assert_no_pod_deleted(kube: KubeDouble) -> None:
    assert (NAMESPACE, POD) in kube.state.pods
    assert not [r for r in kube.state.requests if r["method"] == "DELETE" and "/pods/" in r["path"]]


def test_playbook_puts_evidence_before_containment() -> None:
    loaded = shipped(PLAYBOOK)
    registry = default_registry()
    categories = [registry.get(s.action).category for s in loaded.playbook.steps]
    first_contain = categories.index(Category.CONTAIN)
    assert all(c != Category.EVIDENCE for c in categories[first_contain:])
    assert Category.EVIDENCE in categories[:first_contain]
    assert all(s.on_failure != "abort" for s in loaded.playbook.steps)


def test_guardduty_eks_runtime_finding_end_to_end_and_release(
    moto_endpoint: str, responder_home, kube: KubeDouble
) -> None:
    seed_irsa_role()
    eng = engine()
    result = eng.run(shipped(PLAYBOOK), gd_finding())
    assert_all_but_scope_succeeded(result)
    assert set(states(result)) == {
        "record_finding",
        "capture_pod",
        "capture_irsa_role",
        "label_pod",
        "isolate_pod",
        "revoke_irsa_sessions",
        "cordon_node",
        "scope",
    }
    assert_isolated(kube)
    labels = kube.state.pods[(NAMESPACE, POD)]["metadata"]["labels"]
    assert labels[QUARANTINE_LABEL] == "true" and labels[POD_LABEL] == POD_UID and labels["app"] == "web"
    assert "responder-revoke-sessions" in role_policies()
    assert kube.state.nodes[NODE]["spec"]["unschedulable"] is True
    isolate = next(s for s in result.steps if s["id"] == "isolate_pod")
    assert ENFORCEMENT_NOTE in isolate["notes"]  # said in the run output
    locker = eng.evidence
    names = {a.name for a in locker.artifacts(result.run_id)}
    assert f"capture_pod/{NAMESPACE}/{POD}/logs/app.previous.log" in names
    assert "capture_irsa_role/iam-role-web-irsa.json" in names
    assert locker.verify(result.run_id).intact
    # evidence taken before containment: the captured pod carries no quarantine label yet
    captured = json.loads(locker.read(result.run_id, f"capture_pod/{NAMESPACE}/{POD}/pod.json"))
    assert QUARANTINE_LABEL not in captured["metadata"]["labels"]

    again = eng.run(shipped(PLAYBOOK), gd_finding())  # a redelivery repeats nothing
    assert again.run_id == result.run_id and len(kube.requests_of("POST")) == 1

    released = release(eng, result.run_id)
    rel = {s["id"]: s["status"] for s in released.steps if s["id"].startswith("release:")}
    assert rel == {
        f"release:{s}": "succeeded" for s in ("cordon_node", "revoke_irsa_sessions", "isolate_pod", "label_pod")
    }
    assert kube.state.network_policies == {}
    assert kube.state.pods[(NAMESPACE, POD)]["metadata"]["labels"] == {"app": "web", "pod-template-hash": "7d4b9c8f6"}
    assert kube.state.nodes[NODE]["spec"]["unschedulable"] is False
    assert "responder-revoke-sessions" not in role_policies()
    assert_no_pod_deleted(kube)


def test_release_refused_after_the_policy_was_changed_by_hand(
    moto_endpoint: str, responder_home, kube: KubeDouble
) -> None:
    seed_irsa_role()
    eng = engine()
    result = eng.run(shipped(PLAYBOOK), gd_finding())
    kube.state.network_policies[POLICY]["spec"]["egress"] = [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]
    released = release(eng, result.run_id, step_id="isolate_pod")
    [step] = [s for s in released.steps if s["id"] == "release:isolate_pod"]
    assert step["status"] == "failed" and "spec.egress" in step["error"]
    assert POLICY in kube.state.network_policies  # nothing deleted
    forced = release(eng, result.run_id, step_id="isolate_pod", force=True)
    assert next(s for s in forced.steps if s["id"] == "release:isolate_pod")["status"] == "succeeded"
    assert POLICY not in kube.state.network_policies
    assert_no_pod_deleted(kube)


def test_the_operators_kubeconfig_exported_as_KUBECONFIG(
    moto_endpoint: str, responder_home, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No cluster configured for responder: the kubeconfig ``aws eks update-kubeconfig`` wrote (ARN-named
    context, ``aws eks get-token`` exec plugin) is found through KUBECONFIG and the playbook runs through it."""
    monkeypatch.delenv("RESPONDER_K8S_CLUSTERS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    install_fake_aws_cli(tmp_path / "bin", token="k8s-aws-v1.operator")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AWS_LOG", str(tmp_path / "aws.log"))
    with running_double(token="k8s-aws-v1.operator") as kube:
        seed_pod(kube)
        config = tmp_path / "kube" / "eks.yaml"
        config.parent.mkdir()
        config.write_text(yaml.safe_dump(eks_kubeconfig(kube.url)))
        monkeypatch.setenv("KUBECONFIG", str(config))
        seed_irsa_role()
        result = engine().run(shipped(PLAYBOOK), gd_finding())
        got = states(result)
        assert got["capture_pod"] == got["label_pod"] == got["isolate_pod"] == got["cordon_node"] == "succeeded"
        assert_isolated(kube)
        assert {r["authorization"] for r in kube.state.requests} == {"Bearer k8s-aws-v1.operator"}
        assert len((tmp_path / "aws.log").read_text().splitlines()) == 1  # one token for the whole run
        assert_no_pod_deleted(kube)


def test_falco_event_through_the_siem_adapter(moto_endpoint: str, responder_home, kube: KubeDouble) -> None:
    seed_irsa_role()
    eng = engine()
    finding = falco_finding()
    assert finding.resource.cluster_name is None  # Falco does not know it: the one configured cluster is used
    result = eng.run(shipped(PLAYBOOK), finding)
    assert_all_but_scope_succeeded(result)
    assert_isolated(kube)
    assert "responder-revoke-sessions" in role_policies()


def test_failing_containment_does_not_stop_evidence(moto_endpoint: str, responder_home, kube: KubeDouble) -> None:
    seed_irsa_role()
    kube.fail("PATCH", r"/pods/", 403, times=10)
    kube.fail("POST", r"/networkpolicies$", 403, times=10)
    eng = engine()
    result = eng.run(shipped(PLAYBOOK), gd_finding())
    got = states(result)
    assert got["capture_pod"] == got["capture_irsa_role"] == got["record_finding"] == "succeeded"
    assert got["label_pod"] == "failed"  # RBAC refused the patch
    assert got["isolate_pod"] == "refused"  # a policy on labels the pod lacks would select nothing
    assert got["revoke_irsa_sessions"] == "succeeded"  # the other containment still tried
    label = next(s for s in result.steps if s["id"] == "label_pod")
    assert "responder lacks patch" in label["error"] or "Kubernetes API refused" in label["error"]
    assert eng.evidence.verify(result.run_id).intact
    assert_no_pod_deleted(kube)


def test_plan_reads_only(moto_endpoint: str, responder_home, kube: KubeDouble) -> None:
    seed_irsa_role()
    plan = engine().plan(shipped(PLAYBOOK), gd_finding())
    by_id = {s.id: s for s in plan.steps}
    assert by_id["label_pod"].will_change and by_id["isolate_pod"].will_change
    assert ENFORCEMENT_NOTE in by_id["isolate_pod"].notes
    assert {r["method"] for r in kube.state.requests} == {"GET"}


@pytest.mark.parametrize("change", [{"type": "Policy:Kubernetes/AdminAccessToDefaultServiceAccount"}, {"severity": 2}])
def test_configuration_and_low_findings_do_not_trigger(change: dict) -> None:
    from responder.playbook.match import evaluate

    event = fixture_event("guardduty-eks-runtime-cryptominer.json")
    event["detail"].update(change)
    finding = parse_event(event, "gd")[0]
    assert not evaluate(shipped(PLAYBOOK).playbook, finding).matched
