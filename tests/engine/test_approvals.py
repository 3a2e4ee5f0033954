"""Approvals pause a run durably; a decision resumes it exactly once; timeouts apply the declared default."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from responder.actions.registry import default_registry
from responder.clock import FixedClock
from responder.playbook.validate import validate_file
from tests.helpers import ROOT, engine, finding_of, key_status, sample_event, seed_user


def approval_playbook(tmp_path: Path, on_timeout: str = "deny"):
    text = (ROOT / "playbooks" / "iam-credential-compromise.yaml").read_text()
    text = text.replace("id: iam-credential-compromise", "id: iam-approval-test")
    text = text.replace(
        """  - id: deactivate_key
    action: aws.iam.deactivate_access_key
""",
        f"""  - id: deactivate_key
    action: aws.iam.deactivate_access_key
    approval:
      users: [U0SECLEAD]
      timeout: 30m
      on_timeout: {on_timeout}
""",
    )
    path = tmp_path / "approval.yaml"
    path.write_text(text)
    loaded, problems = validate_file(path, default_registry())
    assert loaded is not None, problems
    return loaded


def test_run_waits_then_resumes_once_after_approval(moto_endpoint: str, responder_home, tmp_path: Path) -> None:
    seed_user()
    playbook = approval_playbook(tmp_path)
    eng = engine()
    first = eng.run(playbook, finding_of(sample_event()))
    assert first.status == "waiting" and first.waiting_for == ["deactivate_key"]
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Active"
    steps = {s["id"]: s["status"] for s in first.steps}
    assert steps["capture_user"] == "succeeded"  # evidence ran before the pause
    approval = eng.store.get_approval(first.run_id, "deactivate_key")
    assert approval.plan["will_change"] is True and "deactivate key" in approval.plan["summary"]

    # two deciders race: exactly one decision is recorded
    results = []

    def decide(who: str) -> None:
        results.append(
            engine().store.decide(
                first.run_id, "deactivate_key", approved=True, by=who, reason="go", at=datetime.now(UTC), via="test"
            )[1]
        )

    threads = [threading.Thread(target=decide, args=(f"user{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]

    # two processes resume: the work happens once
    outcomes = []
    workers = [
        threading.Thread(target=lambda: outcomes.append(engine().resume(first.run_id, playbook))) for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    final = engine().store
    assert final.get_run(first.run_id).status == "succeeded"
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Inactive"
    applied = [
        a for a in final.audit_log(first.run_id) if a["event"] == "step_applied" and a["step"] == "deactivate_key"
    ]
    assert len(applied) == 1


def test_denied_step_is_recorded_and_the_run_goes_on(moto_endpoint: str, responder_home, tmp_path: Path) -> None:
    seed_user()
    playbook = approval_playbook(tmp_path)
    eng = engine()
    first = eng.run(playbook, finding_of(sample_event()))
    eng.store.decide(
        first.run_id,
        "deactivate_key",
        approved=False,
        by="alice",
        reason="prod key, rotate first",
        at=datetime.now(UTC),
        via="test",
    )
    result = eng.resume(first.run_id, playbook)
    steps = {s["id"]: s for s in result.steps}
    assert steps["deactivate_key"]["status"] == "denied"
    assert "alice" in steps["deactivate_key"]["summary"] and "rotate first" in steps["deactivate_key"]["summary"]
    assert steps["revoke_sessions"]["status"] == "succeeded"
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Active"


def test_timeout_applies_the_declared_default(moto_endpoint: str, responder_home, tmp_path: Path) -> None:
    seed_user()
    playbook = approval_playbook(tmp_path, on_timeout="approve")
    clock = FixedClock(datetime.now(UTC))
    first = engine(clock=clock).run(playbook, finding_of(sample_event()))
    assert first.status == "waiting"
    clock.advance(minutes=31)
    result = engine(clock=clock).resume(first.run_id, playbook)
    assert result.status == "succeeded"
    approval = engine().store.get_approval(first.run_id, "deactivate_key")
    assert approval.decided_by == "timeout" and approval.state == "approved"
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Inactive"


def test_posture_approval_asks_for_every_changing_step(moto_endpoint: str, responder_home, monkeypatch) -> None:
    from tests.helpers import shipped

    seed_user()
    monkeypatch.setenv("RESPONDER_POSTURE", "approval")
    result = engine().run(shipped(), finding_of(sample_event()))
    assert result.status == "waiting" and result.waiting_for == ["deactivate_key"]
    assert {s["id"]: s["status"] for s in result.steps}["capture_user"] == "succeeded"


def test_step_timeout_fails_the_step_and_not_the_evidence(moto_endpoint: str, responder_home, tmp_path) -> None:
    from responder.actions.base import Action, ActionInput, Category, Change, Outcome
    from responder.actions.registry import Registry

    class SlowContainment(Action[ActionInput]):
        """A containment step that hangs (a test plugin, registered like any action)."""

        name = "test.slow_containment"
        Input = ActionInput
        category = Category.CONTAIN
        mutates = True
        permissions = frozenset({"iam:GetUser"})

        def plan(self, ctx, inp) -> Change:
            return Change(will_change=True, summary="hang")

        def apply(self, ctx, inp) -> Outcome:
            time.sleep(3)
            return Outcome(changed=True, summary="too late")

    registry = Registry(extra={"test.slow_containment": SlowContainment})
    path = tmp_path / "slow.yaml"
    path.write_text("""id: slow
title: slow
triggers: [{sources: [guardduty]}]
steps:
  - id: record_finding
    action: evidence.record_finding
  - id: hang
    action: test.slow_containment
    timeout: 1s
    retry: {attempts: 1}
""")
    loaded, problems = validate_file(path, registry)
    assert loaded is not None, problems
    result = engine(registry=registry).run(loaded, finding_of(sample_event()))
    steps = {s["id"]: s for s in result.steps}
    assert steps["hang"]["status"] == "failed" and "timed out after 1s" in steps["hang"]["error"]
    assert steps["record_finding"]["status"] == "succeeded"
