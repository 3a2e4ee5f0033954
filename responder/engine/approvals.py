"""Approvals as state: a step that needs a person asks once, the run waits in the store, and the first
decision (a Slack click, ``responder approve``, or the timeout's declared default) wins, in whatever
process gets there first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..actions.base import Action, Change, StepContext
from ..clock import iso
from ..errors import ResponderError
from ..playbook.model import Step
from ..state.records import ApprovalRecord, ApprovalState, RunRecord, StepRecord, StepState

if TYPE_CHECKING:
    from .runner import Engine


def record_decision(
    store: Any,
    run_id: str,
    step_id: str,
    *,
    approved: bool,
    by: str,
    reason: str | None,
    via: str,
    at: datetime,
    event: str = "approval_decided",
) -> tuple[ApprovalRecord, bool]:
    """The one way a decision is recorded (CLI, Slack, timeout): the first wins, and it is audited.

    Returns the decision in force and whether this call made it.
    """
    decided, won = store.decide(run_id, step_id, approved=approved, by=by, reason=reason, at=at, via=via)
    store.audit(
        run_id, at, event, actor=f"{via}:{by}", step=step_id, decision=decided.state.value, applied=won, reason=reason
    )
    return decided, won


class Approvals:
    """The approval gate in front of a step, and the timeout rule."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def gate(
        self,
        run: RunRecord,
        step: Step,
        action: Action,
        ctx: StepContext,
        model: Any,
        inputs: dict[str, Any],
        rec: StepRecord,
    ) -> StepRecord | None:
        """None when the step may go ahead; otherwise the step's record (waiting or denied)."""
        run_id = run.run_id
        now = self.engine.clock.now()
        approval = self.engine.store.get_approval(run_id, step.id)
        if approval is None:
            change: Change | None
            try:
                change = self.engine.with_retry(step, action.plan, ctx, model)
            except ResponderError as exc:
                change = Change(will_change=True, summary=f"plan unavailable: {exc.message}")
            if change is not None and not change.will_change:
                return None  # nothing to change: nobody needs to be asked
            rule = step.approval
            approval = self.engine.store.request_approval(
                ApprovalRecord(
                    run_id=run_id,
                    step_id=step.id,
                    requested_at=iso(now) or "",
                    timeout_at=iso(now + timedelta(seconds=rule.timeout if rule else 3600)),
                    on_timeout=rule.on_timeout if rule else "deny",
                    escalate_to=list(rule.escalate_to) if rule else [],
                    allowed_users=list(rule.users) if rule else [],
                    allowed_groups=list(rule.groups) if rule else [],
                    plan=change.model_dump(mode="json") if change else {},
                )
            )
            self.notify(approval, self.engine.store.get_run(run_id) or run, change)
            self.engine.store.audit(
                run_id,
                now,
                "approval_requested",
                actor=self.engine.owner,
                step=step.id,
                summary=change.summary if change else None,
            )
        elif (
            approval.state == ApprovalState.PENDING and approval.timeout_at and approval.timeout_at <= (iso(now) or "")
        ):
            approval = self.on_timeout(approval, now)
        if approval.state == ApprovalState.APPROVED:
            return None
        if approval.state == ApprovalState.DENIED:
            self.engine.emit("step_finished", run_id, step.id, state="denied", summary=approval.reason)
            return self.engine.store.finish_step(
                run_id,
                step.id,
                owner=None,
                state=StepState.DENIED,
                now=now,
                current=rec,
                inputs=inputs,
                summary=f"denied by {approval.decided_by}" + (f": {approval.reason}" if approval.reason else ""),
            )
        self.engine.emit(
            "step_waiting", run_id, step.id, timeout_at=approval.timeout_at, summary=approval.plan.get("summary")
        )
        return self.engine.store.set_step(
            run_id,
            step.id,
            current=rec,
            state=StepState.WAITING,
            inputs=inputs,
            summary=f"waiting for approval: {approval.plan.get('summary', '')}".strip(),
        )

    def notify(self, approval: ApprovalRecord, run: RunRecord, change: Change | None) -> None:
        """Post (or re-post, on escalation) the prompt; a failed prompt never loses the request."""
        for notify in self.engine.notifiers:
            try:
                ref = notify(approval, run, change)
                if ref:
                    self.engine.store.update_approval(approval.run_id, approval.step_id, message=ref)
            except Exception as exc:
                self.engine.store.audit(
                    approval.run_id,
                    self.engine.clock.now(),
                    "approval_notify_failed",
                    actor=self.engine.owner,
                    step=approval.step_id,
                    error=str(exc)[:300],
                )

    def on_timeout(self, approval: ApprovalRecord, now: datetime) -> ApprovalRecord:
        if (
            approval.on_timeout == "escalate"
            and approval.escalate_to
            and approval.allowed_groups != approval.escalate_to
        ):
            timeout = (
                datetime.fromisoformat(approval.timeout_at.replace("Z", "+00:00"))  # type: ignore[union-attr]
                - datetime.fromisoformat(approval.requested_at.replace("Z", "+00:00"))
            )
            self.engine.store.update_approval(
                approval.run_id,
                approval.step_id,
                allowed_groups=approval.escalate_to,
                timeout_at=iso(now + timeout),
                on_timeout="deny",
            )
            self.engine.store.audit(
                approval.run_id,
                now,
                "approval_escalated",
                actor="timeout",
                step=approval.step_id,
                to=approval.escalate_to,
            )
            updated = self.engine.store.get_approval(approval.run_id, approval.step_id)
            assert updated is not None
            run = self.engine.store.get_run(approval.run_id)
            assert run is not None
            self.notify(updated, run, None)
            return updated
        decided, _ = record_decision(
            self.engine.store,
            approval.run_id,
            approval.step_id,
            approved=approval.on_timeout == "approve",
            by="timeout",
            reason=f"no answer by {approval.timeout_at}: default {approval.on_timeout}",
            at=now,
            via="timeout",
            event="approval_timed_out",
        )
        return decided
