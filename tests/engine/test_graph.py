"""Steps as a graph: evidence and read-only enrichment that do not read each other run as one wave;
containment stays one step at a time; `needs` orders what references alone would not."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from responder.actions.registry import default_registry
from responder.engine import graph
from responder.errors import PlaybookInvalid
from responder.playbook.validate import load_playbooks
from responder.state.records import StepState
from tests.helpers import engine, finding_of, key_status, sample_event, seed_user, shipped

BODY = """id: graph
title: graph
runbook: runbooks/iam-credential-compromise.md
triggers:
  - types: ["*"]
steps:
  - id: record_finding
    action: evidence.record_finding
  - id: capture_user
    action: aws.iam.capture_principal
    with: {{user_name: ci-deploy}}
  - id: resolve_key
    action: aws.iam.resolve_access_key
    with: {{access_key_id: AKIA2E0A8F3B244C9986}}
{extra}
  - id: deactivate_key
    action: aws.iam.deactivate_access_key
    with:
      access_key_id: AKIA2E0A8F3B244C9986
      user_name: "{{{{ steps.resolve_key.output.user_name }}}}"
"""


def _load(tmp_path: Path, extra: str = ""):
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "iam-credential-compromise.md").write_text("x\n")
    (tmp_path / "playbooks" / "graph.yaml").write_text(BODY.format(extra=extra))
    return load_playbooks([tmp_path / "playbooks"], default_registry())[0]


def test_independent_evidence_is_one_wave_and_containment_waits(moto_endpoint: str, responder_home, tmp_path) -> None:
    seed_user()
    eng = engine()
    loaded = _load(tmp_path)
    plan = eng.plan(loaded, finding_of(sample_event()))
    waves = {s.id: s.wave for s in plan.steps}
    assert waves["record_finding"] == waves["capture_user"] == waves["resolve_key"] == 1
    assert waves["deactivate_key"] == 2
    result = eng.run(loaded, finding_of(sample_event()))
    assert result.status == "succeeded" and key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Inactive"
    steps = {s.step_id: s for s in eng.store.steps(result.run_id)}
    assert steps["deactivate_key"].started_at >= max(steps[s].finished_at for s in ("capture_user", "resolve_key"))


def test_needs_orders_and_is_validated(moto_endpoint: str, responder_home, tmp_path) -> None:
    extra = (
        "  - id: second_capture\n    action: aws.iam.capture_principal\n    needs: [capture_user]\n"
        "    with: {user_name: ci-deploy}"
    )
    loaded = _load(tmp_path, extra)
    waves = {s.id: s.wave for s in engine().plan(loaded, finding_of(sample_event())).steps}
    assert waves["second_capture"] > waves["capture_user"]
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(PlaybookInvalid, match="needs"):
        _load(bad, extra.replace("[capture_user]", "[nowhere]"))


def test_shipped_ec2_capture_and_snapshot_share_a_wave(moto_endpoint: str, responder_home) -> None:
    loaded = shipped("ec2-instance-compromise")
    queue = [(i, s, False) for i, s in enumerate(loaded.playbook.steps)]
    first = [s.id for _, s, _ in engine()._wave(queue, 0)]
    assert {"capture_instance", "snapshot_volumes"} <= set(first)


# ---------------------------------------------------------------------------------------------------------------
# containment of one resource beside evidence of another (issue 20)
BESIDE = """id: beside
title: beside
runbook: runbooks/iam-credential-compromise.md
triggers:
  - types: ["*"]
steps:
  - id: resolve_key
    action: aws.iam.resolve_access_key
    with: {{access_key_id: AKIA2E0A8F3B244C9986}}
{middle}
  - id: deactivate_key
    action: aws.iam.deactivate_access_key
    with:
      access_key_id: AKIA2E0A8F3B244C9986
      user_name: "{{{{ steps.resolve_key.output.user_name }}}}"
"""
CAPTURE_OTHER = (
    "  - id: capture_other\n    action: aws.iam.capture_principal\n    needs: [resolve_key]\n"
    "    with: {user_name: build-bot}"
)
CAPTURE_OWNER = (
    "  - id: capture_owner\n    action: aws.iam.capture_principal\n"
    '    with: {user_name: "{{ steps.resolve_key.output.user_name }}"}'
)


def _load_beside(tmp_path: Path, middle: str):
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "iam-credential-compromise.md").write_text("x\n")
    (tmp_path / "playbooks" / "beside.yaml").write_text(BESIDE.format(middle=middle))
    return load_playbooks([tmp_path / "playbooks"], default_registry())[0]


def test_containment_starts_beside_evidence_of_another_resource(moto_endpoint: str, responder_home, tmp_path) -> None:
    seed_user()
    boto3.client("iam").create_user(UserName="build-bot")
    loaded = _load_beside(tmp_path, CAPTURE_OTHER)
    eng = engine()
    waves = {s.id: s.wave for s in eng.plan(loaded, finding_of(sample_event())).steps}
    assert waves["deactivate_key"] == waves["capture_other"] == 2  # another user's evidence does not hold it up
    result = eng.run(loaded, finding_of(sample_event()))
    assert result.status == "succeeded" and key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Inactive"
    steps = {s.step_id: s for s in eng.store.steps(result.run_id)}
    assert steps["capture_other"].state == steps["deactivate_key"].state == StepState.SUCCEEDED
    assert steps["deactivate_key"].changed and steps["deactivate_key"].before["status"] == "Active"


def test_containment_waits_for_evidence_of_the_same_resource(moto_endpoint: str, responder_home, tmp_path) -> None:
    seed_user()
    boto3.client("iam").create_user(UserName="build-bot")
    loaded = _load_beside(tmp_path, CAPTURE_OWNER + "\n" + CAPTURE_OTHER)
    eng = engine()
    waves = {s.id: s.wave for s in eng.plan(loaded, finding_of(sample_event())).steps}
    assert waves["capture_owner"] == waves["capture_other"] == 2
    assert waves["deactivate_key"] == 3  # the key's owner is being captured: its evidence comes first
    result = eng.run(loaded, finding_of(sample_event()))
    steps = {s.step_id: s for s in eng.store.steps(result.run_id)}
    assert steps["deactivate_key"].started_at >= steps["capture_owner"].finished_at
    captured = json.loads(eng.evidence.read(result.run_id, "capture_owner/iam-user-ci-deploy.json"))
    assert captured["access_keys"][0]["Status"] == "Active"  # evidence before the change of the same user


def _queue(playbook_id: str) -> list:
    return [(i, s, False) for i, s in enumerate(shipped(playbook_id).playbook.steps)]


def test_unknown_or_unnamed_arguments_count_as_the_same_resource() -> None:
    registry = default_registry()
    queue = _queue("k8s-pod-compromise")
    at = next(n for n, (_, s, _) in enumerate(queue) if s.id == "capture_irsa_role")
    known = {
        "capture_irsa_role": {"role_name": "web-irsa"},
        "label_pod": {"namespace": "payments", "pod_name": "web-1"},
    }
    ids = [s.id for _, s, _ in graph.wave(registry, queue, at, lambda s, _l: known.get(s.id))]
    assert ids == ["capture_irsa_role", "label_pod"]  # the pod's label does not wait for the role's policies
    unknown = {"label_pod": known["label_pod"]}  # the role's name not known yet: in doubt, wait
    assert [s.id for _, s, _ in graph.wave(registry, queue, at, lambda s, _l: unknown.get(s.id))] == [
        "capture_irsa_role"
    ]
    shared = {**known, "capture_irsa_role": {"role_name": "arn:aws:iam::1:role/x/web-1"}}  # an ARN's tail counts
    assert [s.id for _, s, _ in graph.wave(registry, queue, at, lambda s, _l: shared.get(s.id))] == [
        "capture_irsa_role"
    ]
    assert [s.id for _, s, _ in graph.wave(registry, queue, at)] == ["capture_irsa_role"]  # no arguments, no join


def test_shipped_ec2_protection_waits_for_its_own_instance_evidence() -> None:
    registry = default_registry()
    queue = _queue("ec2-instance-compromise")
    args = {
        "capture_instance": {"instance_id": "i-0abc"},
        "snapshot_volumes": {"instance_id": "i-0abc", "wait": False},
        "protect_instance": {"instance_id": "i-0abc"},
    }
    ids = [s.id for _, s, _ in graph.wave(registry, queue, 0, lambda s, _l: args.get(s.id))]
    assert "protect_instance" not in ids and {"capture_instance", "snapshot_volumes"} <= set(ids)
    assert graph.identities({"role_arn": "arn:aws:iam::1:role/app/web", "region": "aws"}) == {
        "arn:aws:iam::1:role/app/web",
        "web",
        "role/app/web",
    }
