"""Kubernetes pod actions on real parts: responder's client over HTTP to the local API double,
a real evidence folder, real Finding objects from the fixtures' GuardDuty event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from responder.actions.base import StepContext
from responder.actions.k8s import (
    ENFORCEMENT_NOTE,
    POD_LABEL,
    QUARANTINE_LABEL,
    CapturePod,
    CordonNode,
    IsolatePod,
    LabelPod,
    NodeRef,
    PodRef,
    _matches,
)
from responder.app import build_connectors
from responder.clock import FixedClock
from responder.config import load_settings
from responder.errors import Refused, TargetChanged
from responder.evidence.local import LocalLocker
from responder.findings import parse_event
from responder.findings.model import Finding
from tests.k8s_double import NAMESPACE, NODE, POD, POD_UID, KubeDouble, fixture_event, serve_seeded

REF = PodRef(pod_name=POD, namespace=NAMESPACE, pod_uid=POD_UID)


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeDouble]:
    yield from serve_seeded(monkeypatch)


def finding() -> Finding:
    return parse_event(fixture_event("guardduty-eks-runtime-cryptominer.json"), "fixture")[0]


def context(tmp_path: Path, step_id: str = "step") -> StepContext:
    settings = load_settings()
    return StepContext(
        run_id="run-k8s-1",
        step_id=step_id,
        playbook_id="k8s-pod-compromise",
        finding=finding(),
        clock=FixedClock(datetime(2026, 11, 20, 9, 30, tzinfo=UTC)),
        evidence=LocalLocker(tmp_path / "evidence"),
        settings=settings,
        connectors=build_connectors(settings),
    )


def pod_labels(kube: KubeDouble, name: str = POD) -> dict[str, str]:
    return dict(kube.state.pods[(NAMESPACE, name)]["metadata"]["labels"])


def test_capture_pod_preserves_spec_logs_events_node_and_permissions(kube: KubeDouble, tmp_path: Path) -> None:
    ctx = context(tmp_path, "capture_pod")
    outcome = CapturePod().apply(ctx, REF)
    out = outcome.output
    assert out["pod_uid"] == POD_UID and out["node_name"] == NODE
    assert out["node_instance_id"] == "i-0abcd1234ef567890"
    assert out["irsa_role_arn"] == "arn:aws:iam::123456789012:role/payments/web-irsa"
    assert out["irsa_role_name"] == "web-irsa"
    assert out["owner_kind"] == "ReplicaSet" and out["containers"] == ["app", "envoy"]
    assert sorted(out["bindings"]) == ["ClusterRoleBinding/web-node-proxy", "RoleBinding/web-reader"]
    base = f"capture_pod/{NAMESPACE}/{POD}"
    names = set(out["artifacts"])
    assert {
        f"{base}/{n}"
        for n in (
            "pod.json",
            "logs/app.log",
            "logs/app.previous.log",
            "logs/envoy.log",
            "events.json",
            "node.json",
            "serviceaccount.json",
            "rbac-bindings.json",
            "networkpolicies.json",
        )
    } == names
    locker: LocalLocker = ctx.evidence  # type: ignore[assignment]
    assert b"OOMKilled" in locker.read(ctx.run_id, f"{base}/logs/app.previous.log")
    assert json.loads(locker.read(ctx.run_id, f"{base}/pod.json"))["metadata"]["uid"] == POD_UID
    events = json.loads(locker.read(ctx.run_id, f"{base}/events.json"))
    assert [e["involvedObject"]["name"] for e in events["items"]] == [POD]
    assert any("no previous log for container envoy" in n for n in outcome.notes)
    assert locker.verify(ctx.run_id).intact
    assert {r["method"] for r in kube.state.requests} == {"GET"}  # evidence changes nothing
    assert outcome.changed is False


def test_capture_pod_keeps_going_when_a_piece_is_refused(kube: KubeDouble, tmp_path: Path) -> None:
    kube.fail("GET", r"/pods/.*/log$", 403, times=10)
    kube.fail("GET", r"/clusterrolebindings$", 403)
    outcome = CapturePod().apply(context(tmp_path), REF)
    assert not any("/logs/" in a for a in outcome.output["artifacts"])
    assert any(a.endswith("node.json") for a in outcome.output["artifacts"])
    assert any("log of app" in g for g in outcome.output["gaps"])
    assert any("cluster role bindings" in g for g in outcome.output["gaps"])
    assert any(n.startswith("not captured:") for n in outcome.notes)


def test_capture_pod_notes_a_replaced_pod(kube: KubeDouble, tmp_path: Path) -> None:
    ref = PodRef(pod_name=POD, namespace=NAMESPACE, pod_uid="00000000-0000-0000-0000-000000000000")
    outcome = CapturePod().apply(context(tmp_path), ref)
    assert any("replaced since the finding" in n for n in outcome.notes)


@pytest.mark.parametrize("name", ["../../etc", "web_1", "", "a" * 300, "Web"])
def test_finding_data_is_validated_as_kubernetes_names(name: str) -> None:
    with pytest.raises(ValidationError):
        PodRef(pod_name=name, namespace=NAMESPACE)
    with pytest.raises(ValidationError):
        PodRef(pod_name="web", namespace=name or "Bad/ns")
    with pytest.raises(ValidationError):
        NodeRef(node_name=name or "Bad node")
    with pytest.raises(ValidationError):
        PodRef(pod_name="web", cluster="prod eks; rm -rf /")
    assert PodRef(pod_name="web", cluster="arn:aws:eks:us-east-1:123456789012:cluster/prod-eks").cluster


def test_label_pod_adds_never_changes_and_release_removes(kube: KubeDouble, tmp_path: Path) -> None:
    ctx, action = context(tmp_path), LabelPod()
    before = pod_labels(kube)
    assert action.plan(ctx, REF).will_change
    applied = action.apply(ctx, REF)
    assert applied.changed
    labels = pod_labels(kube)
    assert labels[QUARANTINE_LABEL] == "true" and labels[POD_LABEL] == POD_UID
    assert {k: labels[k] for k in before} == before  # the ReplicaSet's selector labels are untouched
    assert not action.apply(ctx, REF).changed  # idempotent
    patches = kube.requests_of("PATCH", "/pods/")
    assert len(patches) == 1 and set(patches[0]["body"]["metadata"]["labels"]) == {QUARANTINE_LABEL, POD_LABEL}
    released = action.undo(ctx, REF, applied)
    assert released.changed and pod_labels(kube) == before


def test_label_pod_refuses_to_overwrite_a_label_it_did_not_set(kube: KubeDouble, tmp_path: Path) -> None:
    kube.state.pods[(NAMESPACE, POD)]["metadata"]["labels"][QUARANTINE_LABEL] = "false"
    with pytest.raises(Refused, match="will not change a label"):
        LabelPod().apply(context(tmp_path), REF)
    assert not kube.requests_of("PATCH")


def test_label_release_refused_after_drift_naming_the_label(kube: KubeDouble, tmp_path: Path) -> None:
    ctx, action = context(tmp_path), LabelPod()
    applied = action.apply(ctx, REF)
    kube.state.pods[(NAMESPACE, POD)]["metadata"]["labels"][QUARANTINE_LABEL] = "released-by-hand"
    with pytest.raises(TargetChanged, match=f"label {QUARANTINE_LABEL} is 'released-by-hand'"):
        action.undo(ctx, REF, applied)
    forced = action.undo(ctx, REF, applied, force=True)
    assert any("forced over" in n for n in forced.notes)
    assert QUARANTINE_LABEL not in pod_labels(kube)


def selected_pods(kube: KubeDouble, policy: dict) -> list[str]:
    selector = policy["spec"]["podSelector"]
    return [
        name
        for (ns, name), pod in kube.state.pods.items()
        if ns == policy["metadata"]["namespace"] and _matches(selector, pod["metadata"].get("labels") or {})
    ]


def test_isolate_pod_denies_both_directions_for_exactly_that_pod(kube: KubeDouble, tmp_path: Path) -> None:
    ctx = context(tmp_path)
    with pytest.raises(Refused, match=r"run k8s\.label_pod first"):
        IsolatePod().apply(ctx, REF)
    LabelPod().apply(ctx, REF)
    applied = IsolatePod().apply(ctx, REF)
    assert applied.changed and ENFORCEMENT_NOTE in applied.notes
    assert applied.output["enforcement_note"] == ENFORCEMENT_NOTE
    [(key, policy)] = kube.state.network_policies.items()
    assert key == (NAMESPACE, f"responder-isolate-{POD_UID}")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]  # no rule: nothing allowed
    assert selected_pods(kube, policy) == [POD]  # not its sibling from the same ReplicaSet
    again = IsolatePod().apply(ctx, REF)  # found before created
    assert not again.changed and len(kube.requests_of("POST")) == 1
    IsolatePod().undo(ctx, REF, applied)
    assert kube.state.network_policies == {}


def test_isolate_pod_warns_that_an_existing_allow_policy_still_applies(kube: KubeDouble, tmp_path: Path) -> None:
    kube.add_network_policy(
        NAMESPACE,
        {
            "metadata": {"name": "web-allow-lb"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16"}}]}],
            },
        },
    )
    ctx = context(tmp_path)
    LabelPod().apply(ctx, REF)
    applied = IsolatePod().apply(ctx, REF)
    assert applied.output["also_selected_by"] == ["web-allow-lb"]
    assert any("NetworkPolicies add up: web-allow-lb" in n and "ingress" in n for n in applied.notes)


def test_isolate_pod_says_a_host_network_pod_is_not_covered(kube: KubeDouble, tmp_path: Path) -> None:
    kube.state.pods[(NAMESPACE, POD)]["spec"]["hostNetwork"] = True
    ctx = context(tmp_path)
    LabelPod().apply(ctx, REF)
    applied = IsolatePod().apply(ctx, REF)
    assert any("NetworkPolicies do not apply" in n and NODE in n for n in applied.notes)


def test_isolate_release_refused_after_the_policy_was_edited(kube: KubeDouble, tmp_path: Path) -> None:
    ctx = context(tmp_path)
    LabelPod().apply(ctx, REF)
    applied = IsolatePod().apply(ctx, REF)
    policy = kube.state.network_policies[(NAMESPACE, f"responder-isolate-{POD_UID}")]
    policy["spec"]["egress"] = [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]
    with pytest.raises(TargetChanged, match=r"spec\.egress"):
        IsolatePod().undo(ctx, REF, applied)
    assert kube.state.network_policies  # nothing deleted
    IsolatePod().undo(ctx, REF, applied, force=True)
    assert not kube.state.network_policies


def test_isolate_refuses_a_foreign_policy_under_its_name(kube: KubeDouble, tmp_path: Path) -> None:
    ctx = context(tmp_path)
    LabelPod().apply(ctx, REF)
    kube.add_network_policy(
        NAMESPACE,
        {"metadata": {"name": f"responder-isolate-{POD_UID}"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
    )
    with pytest.raises(Refused, match="exists but differs"):
        IsolatePod().apply(ctx, REF)


def test_cordon_node_and_release(kube: KubeDouble, tmp_path: Path) -> None:
    ctx, ref = context(tmp_path), NodeRef(node_name=NODE)
    applied = CordonNode().apply(ctx, ref)
    assert applied.changed and kube.state.nodes[NODE]["spec"]["unschedulable"] is True
    assert not CordonNode().apply(ctx, ref).changed
    kube.state.nodes[NODE]["spec"]["unschedulable"] = False
    with pytest.raises(TargetChanged, match="schedulable"):
        CordonNode().undo(ctx, ref, applied)
    kube.state.nodes[NODE]["spec"]["unschedulable"] = True
    CordonNode().undo(ctx, ref, applied)
    assert kube.state.nodes[NODE]["spec"]["unschedulable"] is False


def test_missing_pod_is_target_changed(kube: KubeDouble, tmp_path: Path) -> None:
    from responder.k8s.errors import translate

    with pytest.raises(Exception) as caught:
        LabelPod().apply(context(tmp_path), PodRef(pod_name="gone-pod", namespace=NAMESPACE))
    assert isinstance(translate(caught.value), TargetChanged)


def test_no_action_ever_deletes_a_pod(kube: KubeDouble, tmp_path: Path) -> None:
    ctx = context(tmp_path)
    done = [(action, action.apply(ctx, REF)) for action in (CapturePod(), LabelPod(), IsolatePod())]
    for action, applied in reversed(done):
        if action.reversible:
            action.undo(ctx, REF, applied)
    assert (NAMESPACE, POD) in kube.state.pods
    assert not [r for r in kube.state.requests if r["method"] == "DELETE" and "/pods/" in r["path"]]


def test_logs_are_kept_byte_for_byte(kube: KubeDouble, tmp_path: Path) -> None:
    raw = "caf\xe9 \x1b[31mred\x1b[0m \x00 end\n"
    kube.state.logs[(NAMESPACE, POD, "envoy", False)] = raw
    ctx = context(tmp_path, "cap")
    CapturePod().apply(ctx, REF)
    assert ctx.evidence.read(ctx.run_id, f"cap/{NAMESPACE}/{POD}/logs/envoy.log") == raw.encode()


def _label_after_capture(kube: KubeDouble, tmp_path: Path, change_pod: bool) -> tuple[StepContext, dict]:
    capture = CapturePod().apply(context(tmp_path, "capture_pod"), REF)
    if change_pod:  # someone relabels the pod between the capture and the label
        with kube.lock:
            pod = kube.state.pods[(NAMESPACE, POD)]
            pod["metadata"]["labels"]["deployed-by"] = "ci"
            pod["metadata"]["resourceVersion"] = kube._bump()
    ctx = context(tmp_path, "label_pod")
    ctx.outputs = {"capture_pod": capture.output}
    return ctx, capture.output


def test_label_reuses_the_capture_read_with_its_version_as_precondition(kube: KubeDouble, tmp_path: Path) -> None:
    """Time to contain: the capture read the pod a moment ago; the label does not ask again (issue 20)."""
    ctx, captured = _label_after_capture(kube, tmp_path, change_pod=False)
    reads = len(kube.requests_of("GET", f"/pods/{POD}"))
    outcome = LabelPod().apply(ctx, REF)
    assert outcome.changed and QUARANTINE_LABEL in pod_labels(kube)
    assert len(kube.requests_of("GET", f"/pods/{POD}")) == reads  # no second read before the change
    patch = kube.requests_of("PATCH", f"/pods/{POD}")[-1]["body"]
    assert patch["metadata"]["resourceVersion"] == captured["resource_version"]
    assert "resourceVersion" not in pod_labels(kube)


def test_label_reads_again_when_the_pod_changed_since_capture(kube: KubeDouble, tmp_path: Path) -> None:
    ctx, _ = _label_after_capture(kube, tmp_path, change_pod=True)
    outcome = LabelPod().apply(ctx, REF)
    labels = pod_labels(kube)
    assert outcome.changed and QUARANTINE_LABEL in labels and labels["deployed-by"] == "ci"  # nothing lost
    patches = kube.requests_of("PATCH", f"/pods/{POD}")
    assert len(patches) == 2 and "resourceVersion" not in patches[1]["body"]["metadata"]  # 409, then as it is now
