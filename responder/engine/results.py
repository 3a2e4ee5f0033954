"""Results the engine returns: the plan, and the run with its steps (the ``--json`` shapes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..state.records import RunRecord, StepRecord


class PlannedStep(BaseModel):
    id: str
    action: str
    category: str
    mutates: bool
    will_run: bool
    will_change: bool | None = None
    needs_approval: bool = False
    summary: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    error: str | None = None
    #: steps of one wave run beside each other: evidence, read-only enrichment, and at most one
    #: containment step about other resources than that evidence (``responder.engine.graph``)
    wave: int = 0


class Plan(BaseModel):
    run_id: str
    playbook: str
    finding_id: str
    posture: str
    steps: list[PlannedStep]
    notes: list[str] = Field(default_factory=list)

    def as_result(self) -> RunResult:
        """A dry run's answer in the run's shape: nothing was changed or recorded."""
        steps = [
            {
                "id": s.id,
                "action": s.action,
                "category": s.category,
                "status": ("planned" if s.will_run else "skipped") if not s.error else "failed",
                "changed": False,
                "will_change": s.will_change,
                "needs_approval": s.needs_approval,
                "summary": s.summary,
                "error": s.error,
                "inputs": s.inputs,
                "before": s.before,
                "after": s.after,
                "notes": s.notes,
            }
            for s in self.steps
        ]
        return RunResult(
            run_id=self.run_id,
            playbook=self.playbook,
            finding_id=self.finding_id,
            status="planned",
            created=False,
            dry_run=True,
            posture="dry-run",
            steps=steps,
            message="dry run: nothing was changed or recorded; `responder run` without --dry-run acts",
        )


class RunResult(BaseModel):
    run_id: str
    playbook: str
    finding_id: str
    status: str
    created: bool = True
    joined: bool = False  # another worker is executing this run: this delivery only joined it
    dry_run: bool = False
    posture: str = "auto"
    waiting_for: list[str] = Field(default_factory=list)
    steps: list[dict[str, Any]] = Field(default_factory=list)
    milestones: dict[str, str] = Field(default_factory=dict)
    message: str | None = None

    @classmethod
    def from_records(
        cls,
        run: RunRecord,
        steps: list[StepRecord],
        *,
        created: bool = True,
        message: str | None = None,
        joined: bool = False,
    ) -> RunResult:
        return cls(
            run_id=run.run_id,
            playbook=run.playbook_id,
            finding_id=run.finding_id,
            status=run.status.value,
            created=created,
            joined=joined,
            posture=run.posture,
            waiting_for=[s.step_id for s in steps if s.state == "waiting"],
            steps=[
                {
                    "id": s.step_id,
                    "action": s.action,
                    "category": s.category,
                    "status": s.state.value,
                    "changed": s.changed,
                    "summary": s.summary,
                    "error": s.error,
                    "retryable": s.retryable,
                    "attempts": s.attempts,
                    "retries": s.retries,
                    "duration_ms": s.duration_ms,
                    "output": s.output,
                    "before": s.before,
                    "after": s.after,
                    "notes": s.notes,
                }
                for s in steps
            ],
            milestones=run.milestones,
            message=message,
        )
