"""The Kubernetes drill: a finding about a pod gets a seeded API double next to the AWS emulator, and the
shipped playbook runs against both through the real engine (as ``responder run --sandbox`` will)."""

from __future__ import annotations

from pathlib import Path

from responder.app import build_engine
from responder.cli.core import sandbox_settings
from responder.config import load_settings
from responder.engine.release import release
from responder.findings import parse_event
from responder.sandbox import start_sandbox
from responder.sandbox.k8s import describe_k8s, k8s_sandbox
from tests.helpers import shipped
from tests.k8s_double import fixture_event
from tests.playbooks.test_k8s_playbook import assert_all_but_scope_succeeded


def test_drill_on_a_guardduty_eks_finding(responder_home: Path, tmp_path: Path) -> None:
    finding = parse_event(fixture_event("guardduty-eks-runtime-cryptominer.json"), "gd")[0]
    with start_sandbox(finding) as box, k8s_sandbox(box, finding) as double:
        assert double is not None and box.seeded["kubernetes"]["cluster"] == "prod-eks"
        before = describe_k8s(box, finding)
        settings = sandbox_settings(load_settings(), tmp_path / "sandbox")
        engine = build_engine(settings, sleep=lambda _s: None)
        result = engine.run(shipped("k8s-pod-compromise"), finding)
        assert_all_but_scope_succeeded(result)  # the drill seeds no CloudTrail for a pod finding
        after = describe_k8s(box, finding)
        assert before[0]["network_policies"] == [] and after[0]["network_policies"]
        assert after[0]["labels"]["responder.io/quarantine"] == "true" and after[0]["pod_exists"]
        release(engine, result.run_id)
        assert describe_k8s(box, finding) == before
        assert engine.evidence.verify(result.run_id).intact


def test_hostile_names_in_a_finding_do_not_reach_the_double(responder_home: Path) -> None:
    event = fixture_event("falco-miner-pool-connection.json")
    event["output_fields"]["k8s.pod.name"] = "../../etc/passwd"
    event["output_fields"]["k8s.ns.name"] = "kube-system; rm -rf /"
    finding = parse_event(event, "falco")[0]
    with start_sandbox(finding) as box, k8s_sandbox(box, finding) as double:
        assert double is not None
        assert list(double.state.pods) == [("default", "compromised-pod")]
