"""Steps as a graph: evidence and read-only enrichment that do not read each other run as one wave;
containment stays one step at a time; `needs` orders what references alone would not."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.actions.registry import default_registry
from responder.errors import PlaybookInvalid
from responder.playbook.validate import load_playbooks
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
