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


class Plan(BaseModel):
    run_id: str
    playbook: str
    finding_id: str
    posture: str
    steps: list[PlannedStep]


class RunResult(BaseModel):
    run_id: str
    playbook: str
    finding_id: str
    status: str
    created: bool = True
    posture: str = "auto"
    waiting_for: list[str] = Field(default_factory=list)
    steps: list[dict[str, Any]] = Field(default_factory=list)
    milestones: dict[str, str] = Field(default_factory=dict)
    message: str | None = None

    @classmethod
    def from_records(
        cls, run: RunRecord, steps: list[StepRecord], *, created: bool = True, message: str | None = None
    ) -> RunResult:
        return cls(
            run_id=run.run_id,
            playbook=run.playbook_id,
            finding_id=run.finding_id,
            status=run.status.value,
            created=created,
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
