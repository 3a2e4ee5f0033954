"""Evidence first, for every shipped playbook: no containment step runs before an evidence step, and no
containment step can abort the run ahead of evidence collection (DESIGN.md, "Evidence first")."""

from __future__ import annotations

import pytest

from responder.actions.base import Category
from responder.actions.registry import default_registry
from responder.app import load_shipped
from tests.helpers import ROOT

REGISTRY = default_registry()
SHIPPED = load_shipped(REGISTRY, [ROOT / "playbooks"])


@pytest.mark.parametrize("loaded", SHIPPED, ids=[p.playbook.id for p in SHIPPED])
def test_no_containment_before_evidence(loaded) -> None:
    steps = loaded.playbook.steps
    kinds = [REGISTRY.get(s.action).category for s in steps]
    assert Category.EVIDENCE in kinds, f"{loaded.playbook.id} collects no evidence"
    first_contain = next((i for i, k in enumerate(kinds) if k == Category.CONTAIN), len(kinds))
    late = [s.id for s, k in zip(steps[first_contain:], kinds[first_contain:], strict=True) if k == Category.EVIDENCE]
    assert not late, f"{loaded.playbook.id}: evidence step(s) {late} run after containment began"
    for step, kind in zip(steps, kinds, strict=True):
        if kind == Category.CONTAIN:
            assert step.on_failure != "abort" or not late, f"{step.id} could abort before evidence"
        if kind == Category.EVIDENCE:
            assert not step.approval, f"evidence step {step.id} must never wait for a person"


def test_my_playbooks_are_shipped() -> None:
    ids = {p.playbook.id for p in SHIPPED}
    assert {"ec2-instance-compromise", "iam-role-session-compromise", "s3-exposure"} <= ids
