"""What the run store keeps: runs, steps, approvals, finding versions and audit entries."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    """What a run's status promises (and the CLI's exit code for it).

    ``succeeded`` (0) every step did its job; ``partial`` (4) evidence and containment succeeded but a
    later step (scope, notify, tag) failed or a safety rule refused a step: the reason is named;
    ``failed`` (1) an evidence or containment step failed; ``waiting`` (3) for a person;
    ``interrupted`` (130) SIGINT/SIGTERM, resumable; ``planned`` (0) dry-run posture; ``suppressed`` (0)
    archived finding, recorded; ``triage`` (0) no playbook answers the finding: kept for a person.
    """

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # for a person (approval)
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    PLANNED = "planned"  # dry-run posture: only the plan was made
    SUPPRESSED = "suppressed"  # archived/suppressed finding: recorded, not run
    TRIAGE = "triage"  # no playbook answers: the finding is kept with the reasons, for a person

    @property
    def finished(self) -> bool:
        return self in (
            RunStatus.SUCCEEDED,
            RunStatus.PARTIAL,
            RunStatus.FAILED,
            RunStatus.PLANNED,
            RunStatus.SUPPRESSED,
            RunStatus.TRIAGE,
        )

    @property
    def resumable(self) -> bool:
        """A redelivered finding picks these up again (retry after a fix; a run just claimed by a worker that
        has not started it yet); ``resume`` also retries ``partial``. The run's lease decides who drives it."""
        return self in (RunStatus.FAILED, RunStatus.INTERRUPTED, RunStatus.RUNNING, RunStatus.PENDING)


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"
    DENIED = "denied"
    PLANNED = "planned"
    RELEASED = "released"
    REFUSED = "refused"  # a safety rule said no; a person must act
    KEPT = "kept"  # release kept this containment on purpose (a safeguard)

    @property
    def done(self) -> bool:
        return self in (
            StepState.SUCCEEDED,
            StepState.FAILED,
            StepState.SKIPPED,
            StepState.DENIED,
            StepState.PLANNED,
            StepState.RELEASED,
            StepState.REFUSED,
            StepState.KEPT,
        )

    @property
    def retry_on_resume(self) -> bool:
        """``resume`` after a fix re-runs these (actions are idempotent)."""
        return self in (StepState.FAILED, StepState.REFUSED, StepState.KEPT)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: int = 0


class RunRecord(_Record):
    run_id: str
    finding_id: str
    playbook_id: str
    playbook_digest: str
    playbook_path: str | None = None
    status: RunStatus = RunStatus.PENDING
    posture: str = "auto"
    created_at: str
    updated_at: str
    finding: dict[str, Any]
    account_id: str | None = None
    region: str | None = None
    finding_type: str | None = None
    severity: float = 0.0
    versions: int = 1
    owner: str | None = None
    lease_until: str | None = None
    error: str | None = None
    milestones: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    # One incident, several runs (an attack sequence and the run of each resource it names): a child run
    # names the run that started it; parent and children carry the incident's id (the sequence's uid).
    parent_run_id: str | None = None
    incident: str | None = None

    def finding_model(self) -> Any:
        from ..findings.model import Finding

        return Finding.model_validate(self.finding)


class StepRecord(_Record):
    run_id: str
    step_id: str
    index: int = 0
    action: str
    category: str
    state: StepState = StepState.PENDING
    attempts: int = 0
    retries: int = 0
    inputs: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    changed: bool = False
    summary: str | None = None
    notes: list[str] = Field(default_factory=list)
    error: str | None = None
    error_type: str | None = None
    retryable: bool = False  # the error's class says a later attempt may succeed unchanged
    pending_before: dict[str, Any] | None = None  # write-ahead "before" of the first attempt
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: float | None = None
    owner: str | None = None
    lease_until: str | None = None
    released: dict[str, Any] | None = None


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class ApprovalRecord(_Record):
    run_id: str
    step_id: str
    state: ApprovalState = ApprovalState.PENDING
    requested_at: str
    timeout_at: str | None = None
    on_timeout: str = "deny"
    escalate_to: list[str] = Field(default_factory=list)
    allowed_users: list[str] = Field(default_factory=list)
    allowed_groups: list[str] = Field(default_factory=list)
    plan: dict[str, Any] = Field(default_factory=dict)
    decided_by: str | None = None
    decided_at: str | None = None
    reason: str | None = None
    via: str | None = None
    message: dict[str, Any] = Field(default_factory=dict)


class FindingVersion(BaseModel):
    finding_id: str
    digest: str
    received_at: str
    run_ids: list[str] = Field(default_factory=list)
    finding: dict[str, Any]
