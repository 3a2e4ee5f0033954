"""The engine: plan, run and resume a playbook for a finding, durably and exactly once.

Write-ahead: a step is recorded ``running`` before its effect and ``succeeded``/``failed`` after it,
with inputs, output, before/after state, error and timing. A crashed run resumes from its record;
actions read before they write, so a step found ``running`` runs again safely. The run id is
deterministic (finding id + playbook id): duplicate deliveries and updated findings join the run.

The engine knows steps, actions and state only. AWS, Slack and the law reach it through the
``connectors``, ``error_translators`` and ``approval_notifiers`` its caller passes in.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..actions.base import Action, Category, Change, Connectors, Outcome, StepContext
from ..actions.registry import Registry
from ..clock import Clock, SystemClock, iso
from ..config import Posture, Settings
from ..errors import (
    ActionFailed,
    PlaybookChanged,
    ResponderError,
    RetriesExhausted,
    StepClaimed,
    Transient,
    step_context,
)
from ..findings.model import Finding
from ..playbook.model import Step
from ..playbook.validate import LoadedPlaybook
from ..redact import redact
from ..state.base import RunStore
from ..state.records import ApprovalRecord, ApprovalState, RunRecord, RunStatus, StepRecord, StepState
from . import templating
from .events import EngineEvent, Observer, no_observer
from .owner import is_stale, new_owner
from .results import Plan, PlannedStep, RunResult

ErrorTranslator = Callable[[BaseException], ResponderError | None]
ApprovalNotifier = Callable[[ApprovalRecord, RunRecord, Change | None], dict[str, Any] | None]


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _step_retryable(exc: BaseException) -> bool:
    """Transient faults the call layer did not already retry (e.g. Kubernetes 429s); never twice."""
    return isinstance(exc, Transient) and not isinstance(exc, RetriesExhausted)


def run_id_for(finding_id: str, playbook_id: str) -> str:
    """Deterministic: every delivery of a finding to a playbook lands on the same run."""
    digest = hashlib.sha256(f"{finding_id}\x00{playbook_id}".encode()).hexdigest()
    return f"run-{digest[:20]}"


class Engine:
    def __init__(
        self,
        *,
        store: RunStore,
        registry: Registry,
        connectors: Connectors,
        evidence: Any,
        settings: Settings,
        clock: Clock | None = None,
        observer: Observer = no_observer,
        error_translators: Sequence[ErrorTranslator] = (),
        approval_notifiers: Sequence[ApprovalNotifier] = (),
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=15),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.registry = registry
        self.connectors = connectors
        self.evidence = evidence
        self.settings = settings
        self.clock = clock or SystemClock()
        self.observer = observer
        self.translators = tuple(error_translators)
        self.notifiers = tuple(approval_notifiers)
        self.owner = owner or new_owner()
        self.lease = lease
        self._sleep = sleep

    # ------------------------------------------------------------------ helpers
    def _emit(self, kind: str, run_id: str, step_id: str | None = None, **data: Any) -> None:
        try:
            self.observer(EngineEvent(kind, run_id, step_id, data))
        except Exception:  # an observer must never break a response
            pass

    def _translate(self, exc: BaseException) -> ResponderError:
        if isinstance(exc, ResponderError):
            return exc
        for translate in self.translators:
            out = translate(exc)
            if out is not None:
                return out
        return ActionFailed(f"{type(exc).__name__}: {exc}")

    def _posture(self, loaded: LoadedPlaybook, finding: Finding, dry_run: bool) -> Posture:
        if dry_run:
            return Posture.DRY_RUN
        configured = self.settings.posture.for_run(finding.account_id, loaded.playbook.id)
        if loaded.playbook.posture and loaded.playbook.id not in self.settings.posture.playbooks:
            # a playbook may be stricter than the organisation, never looser
            order = [Posture.AUTO, Posture.APPROVAL, Posture.DRY_RUN]
            return max(configured, loaded.playbook.posture, key=order.index)
        return configured

    def _context_vars(self, run: RunRecord, finding: Finding, steps: dict[str, StepRecord]) -> dict[str, Any]:
        return {
            "finding": finding.model_dump(mode="json"),
            "inputs": run.inputs,
            "steps": {
                sid: {
                    "output": s.output,
                    "state": s.state.value,
                    "changed": s.changed,
                    "summary": s.summary,
                    "error": s.error,
                    "before": s.before,
                    "after": s.after,
                }
                for sid, s in steps.items()
            },
            "run": {
                "id": run.run_id,
                "playbook": run.playbook_id,
                "posture": run.posture,
                "created_at": run.created_at,
            },
            "config": {},
        }

    def _step_context(
        self, run: RunRecord, finding: Finding, step_id: str, outputs: dict[str, dict[str, Any]], dry_run: bool = False
    ) -> StepContext:
        def log(message: str) -> None:
            self._emit("log", run.run_id, step_id, message=message)

        return StepContext(
            run_id=run.run_id,
            step_id=step_id,
            playbook_id=run.playbook_id,
            finding=finding,
            clock=self.clock,
            evidence=self.evidence,
            settings=self.settings,
            connectors=self.connectors,
            outputs=outputs,
            log=log,
            dry_run=dry_run,
            store=self.store,
        )

    def _call(self, fn: Callable[..., Any], *args: Any, timeout: float) -> Any:
        """Run ``fn`` with a deadline; errors come back translated into responder's tree."""
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn(*args)
            except BaseException as exc:
                box["error"] = exc

        worker = threading.Thread(target=target, daemon=True, name="responder-step")
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise ActionFailed(
                f"timed out after {timeout:g}s; its effect is unknown, and resume re-runs it "
                "safely (actions read before they write)"
            )
        if "error" in box:
            raise self._translate(box["error"]) from box["error"]
        return box.get("value")

    def _with_retry(self, step: Step, fn: Callable[..., Any], *args: Any, counter: list[int] | None = None) -> Any:
        """Retry throttling and transient errors only: bounded, exponential backoff with full jitter."""

        def before_sleep(state: Any) -> None:
            if counter is not None:
                counter[0] += 1
            error = state.outcome.exception() if state.outcome else None
            self._emit("log", step.id, step.id, message=f"retrying after: {error}")

        retrying = Retrying(
            stop=stop_after_attempt(step.retry.attempts),
            wait=wait_random_exponential(multiplier=step.retry.backoff, max=step.retry.max_backoff),
            retry=retry_if_exception(_step_retryable),
            reraise=True,
            sleep=self._sleep,
            before_sleep=before_sleep,
        )
        return retrying(self._call, fn, *args, timeout=step.timeout)

    def _render_inputs(self, action: type[Action], step: Step, variables: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        rendered = templating.render(step.with_, variables)
        try:
            model = action.Input.model_validate(rendered)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(with)"
            raise ActionFailed(
                f"argument {field}: {first['msg']} (rendered value: {str(first.get('input'))[:120]!r})"
            ) from None
        return model.model_dump(mode="json"), model

    # ------------------------------------------------------------------ plan
    def plan(self, loaded: LoadedPlaybook, finding: Finding, *, dry_run: bool = False) -> Plan:
        """Render every step and call only read APIs: what each step would change."""
        playbook = loaded.playbook
        run_id = run_id_for(finding.id, playbook.id)
        posture = self._posture(loaded, finding, dry_run)
        now = iso(self.clock.now()) or ""
        run = RunRecord(
            run_id=run_id,
            finding_id=finding.id,
            playbook_id=playbook.id,
            playbook_digest=loaded.digest,
            created_at=now,
            updated_at=now,
            finding=finding.model_dump(mode="json"),
            posture=posture.value,
        )
        try:
            run.inputs = self._render_run_inputs(loaded, finding)
        except ActionFailed as exc:
            return Plan(
                run_id=run_id,
                playbook=playbook.id,
                finding_id=finding.id,
                posture=posture.value,
                steps=[
                    PlannedStep(
                        id="(inputs)",
                        action="-",
                        category="-",
                        mutates=False,
                        will_run=False,
                        summary="inputs could not be rendered",
                        error=str(exc),
                    )
                ],
            )
        planned: list[PlannedStep] = []
        predicted: dict[str, StepRecord] = {}
        for index, step in enumerate(playbook.steps):
            action_cls = self.registry.get(step.action)
            action = action_cls()
            needs_approval = bool(step.approval) or (posture == Posture.APPROVAL and action_cls.mutates)
            variables = self._context_vars(run, finding, predicted)
            base = {
                "id": step.id,
                "action": step.action,
                "category": action_cls.category.value,
                "mutates": action_cls.mutates,
                "needs_approval": needs_approval,
            }
            try:
                if step.when and not templating.evaluate(step.when, variables):
                    planned.append(
                        PlannedStep(
                            **base, will_run=False, summary="skipped: condition is false", notes=[f"when: {step.when}"]
                        )
                    )
                    continue
            except ActionFailed:
                planned.append(
                    PlannedStep(
                        **base, will_run=True, summary="condition depends on earlier steps; decided at run time"
                    )
                )
                continue
            try:
                inputs, model = self._render_inputs(action_cls, step, variables)
            except ActionFailed as exc:
                if "steps" in str(exc):
                    planned.append(
                        PlannedStep(
                            **base,
                            will_run=True,
                            summary="arguments depend on earlier steps' outputs; rendered at run time",
                        )
                    )
                else:
                    planned.append(
                        PlannedStep(**base, will_run=False, summary="cannot render arguments", error=str(exc))
                    )
                continue
            ctx = self._step_context(run, finding, step.id, {k: v.output for k, v in predicted.items()}, dry_run=True)
            try:
                change: Change = self._call(action.plan, ctx, model, timeout=step.timeout)
                read_only = not action_cls.mutates and action_cls.category != Category.EVIDENCE
                output = (
                    self._call(action.apply, ctx, model, timeout=step.timeout).output
                    if read_only
                    else self._call(action.preview, ctx, model, timeout=step.timeout)
                )
                predicted[step.id] = StepRecord(
                    run_id=run_id,
                    step_id=step.id,
                    index=index,
                    action=step.action,
                    category=action_cls.category.value,
                    state=StepState.SUCCEEDED,
                    output=output or {},
                )
                planned.append(
                    PlannedStep(
                        **base,
                        will_run=True,
                        will_change=change.will_change,
                        summary=change.summary,
                        inputs=inputs,
                        before=change.before,
                        after=change.after,
                        notes=change.notes,
                    )
                )
            except ResponderError as exc:
                planned.append(PlannedStep(**base, will_run=True, summary="plan failed", inputs=inputs, error=str(exc)))
        return Plan(run_id=run_id, playbook=playbook.id, finding_id=finding.id, posture=posture.value, steps=planned)

    def _render_run_inputs(self, loaded: LoadedPlaybook, finding: Finding) -> dict[str, Any]:
        variables = {"finding": finding.model_dump(mode="json"), "inputs": {}, "steps": {}, "run": {}, "config": {}}
        out: dict[str, Any] = {}
        for name, template in loaded.playbook.inputs.items():
            try:
                out[name] = templating.render(template, {**variables, "inputs": out})
            except ActionFailed as exc:
                raise ActionFailed(f"input {name!r}: {exc.message}") from None
        return out

    # ------------------------------------------------------------------ run
    def run(
        self, loaded: LoadedPlaybook, finding: Finding, *, dry_run: bool = False, received_at: datetime | None = None
    ) -> RunResult:
        """Start (or join) the run of this playbook for this finding and drive it as far as it can go."""
        playbook = loaded.playbook
        now = received_at or self.clock.now()
        run_id = run_id_for(finding.id, playbook.id)
        posture = self._posture(loaded, finding, dry_run)
        finding_json = finding.model_copy(update={"raw": redact(finding.raw)}).model_dump(mode="json")
        record = RunRecord(
            run_id=run_id,
            finding_id=finding.id,
            playbook_id=playbook.id,
            playbook_digest=loaded.digest,
            playbook_path=loaded.path,
            created_at=iso(now) or "",
            updated_at=iso(now) or "",
            finding=finding_json,
            account_id=finding.account_id,
            region=finding.region,
            finding_type=finding.type,
            severity=finding.severity,
            posture=posture.value,
            milestones={"first_seen": iso(finding.first_seen or finding.created_at) or "", "received": iso(now) or ""},
        )
        run, created = self.store.claim_run(record)
        new_version = self.store.add_finding_version(finding.id, finding.digest(), now, finding_json, [run_id])
        if created:
            self.store.audit(
                run_id,
                now,
                "run_created",
                actor=self.owner,
                playbook=playbook.id,
                digest=loaded.digest,
                finding_id=finding.id,
                posture=posture.value,
            )
            self._emit("run_started", run_id, playbook=playbook.id, finding=finding.summary())
        else:
            if new_version:
                newer = (finding.updated_at or now).isoformat() >= (run.finding_model().updated_at or now).isoformat()
                changes: dict[str, Any] = {"versions": run.versions + 1, "updated_at": iso(now)}
                if newer:
                    changes["finding"] = finding_json
                run = self.store.update_run(run_id, **changes)
            self.store.audit(
                run_id,
                now,
                "finding_redelivered" if not new_version else "finding_updated",
                actor=self.owner,
                digest=finding.digest(),
            )
            self._emit("run_joined", run_id, status=run.status.value, updated=new_version)
            if run.status.finished or run.status == RunStatus.WAITING:
                return RunResult.from_records(
                    run, self.store.steps(run_id), created=False, message="joined the existing run: nothing repeated"
                )
        if created and finding.archived:
            run = self.store.update_run(run_id, status=RunStatus.SUPPRESSED.value)
            self.store.audit(run_id, now, "suppressed", actor=self.owner, reason="finding archived/suppressed")
            return RunResult.from_records(run, [], created=True, message="finding is archived: recorded, not run")
        if created:
            try:
                inputs = self._render_run_inputs(loaded, finding)
            except ActionFailed as exc:
                run = self.store.update_run(run_id, status=RunStatus.FAILED.value, error=exc.message)
                return RunResult.from_records(run, [], message=exc.message)
            self.store.update_run(run_id, inputs=inputs)
        return self._drive(run_id, loaded, created=created)

    def resume(self, run_id: str, loaded: LoadedPlaybook, *, allow_changed: bool = False) -> RunResult:
        run = self.store.get_run(run_id)
        if run is None:
            raise StepClaimed(f"no run {run_id}")
        if run.playbook_digest != loaded.digest and not allow_changed:
            raise PlaybookChanged(
                f"run {run_id} was started with a different version of playbook {run.playbook_id} "
                f"(digest {run.playbook_digest[:12]}, now {loaded.digest[:12]})",
                hint="review the change; `responder resume --allow-changed` resumes with the new playbook",
            )
        if run.playbook_digest != loaded.digest:
            self.store.audit(
                run_id,
                self.clock.now(),
                "playbook_changed",
                actor=self.owner,
                old=run.playbook_digest,
                new=loaded.digest,
            )
            self.store.update_run(run_id, playbook_digest=loaded.digest)
        return self._drive(run_id, loaded, created=False)

    # ------------------------------------------------------------------ the step loop
    def _drive(self, run_id: str, loaded: LoadedPlaybook, *, created: bool) -> RunResult:
        now = self.clock.now()
        if not self.store.acquire_run(run_id, self.owner, now, self.lease, is_stale):
            run = self.store.get_run(run_id)
            assert run is not None
            return RunResult.from_records(
                run,
                self.store.steps(run_id),
                created=created,
                message="another process is running this run; it will finish it",
            )
        try:
            return self._loop(run_id, loaded, created=created)
        finally:
            self.store.release_run(run_id, self.owner)

    def _loop(self, run_id: str, loaded: LoadedPlaybook, *, created: bool) -> RunResult:
        playbook = loaded.playbook
        run = self.store.get_run(run_id)
        assert run is not None
        finding = run.finding_model()
        posture = Posture(run.posture)
        if run.status != RunStatus.RUNNING:
            run = self.store.update_run(run_id, status=RunStatus.RUNNING.value, error=None)
        records = {s.step_id: s for s in self.store.steps(run_id)}
        aborted: str | None = None
        waiting = False
        for index, step in enumerate(playbook.steps):
            action_cls = self.registry.get(step.action)
            rec = records.get(step.id) or self.store.ensure_step(
                StepRecord(
                    run_id=run_id, step_id=step.id, index=index, action=step.action, category=action_cls.category.value
                )
            )
            records[step.id] = rec
            if aborted:
                continue
            if rec.state.done and rec.state != StepState.FAILED:
                continue
            if rec.state == StepState.FAILED and rec.finished_at and not self._retry_failed(rec):
                continue
            self.store.acquire_run(run_id, self.owner, self.clock.now(), self.lease, is_stale)
            with step_context(run_id, step.id):
                rec = self._run_step(run, finding, step, action_cls, posture, records)
            records[step.id] = rec
            if rec.state == StepState.WAITING:
                waiting = True
                break
            if rec.state == StepState.FAILED and (step.on_failure or "continue") == "abort":
                aborted = step.id
        return self._finish(run_id, aborted=aborted, waiting=waiting, created=created)

    def _retry_failed(self, rec: StepRecord) -> bool:
        """A failed step is retried on resume only if it failed for a passing reason."""
        passing = rec.error_type in ("Transient", "RetriesExhausted", "StepClaimed")
        return passing or (rec.error or "").startswith("needs the output of step")

    def _run_step(
        self,
        run: RunRecord,
        finding: Finding,
        step: Step,
        action_cls: type[Action],
        posture: Posture,
        records: dict[str, StepRecord],
    ) -> StepRecord:
        run_id = run.run_id
        variables = self._context_vars(run, finding, records)
        now = self.clock.now()
        if action_cls.category != Category.EVIDENCE:
            self.store.mark_milestone(run_id, "evidence_secured", now)
        try:
            if step.when and not templating.evaluate(step.when, variables):
                self._emit("step_skipped", run_id, step.id, reason="condition is false")
                return self.store.finish_step(
                    run_id,
                    step.id,
                    owner=None,
                    state=StepState.SKIPPED,
                    now=now,
                    summary="skipped: condition is false",
                    notes=[f"when: {step.when}"],
                )
            inputs, model = self._render_inputs(action_cls, step, variables)
        except ActionFailed as exc:
            message = self._dependency_message(step, records) or exc.message
            self._emit("step_finished", run_id, step.id, state="failed", error=message)
            return self.store.finish_step(
                run_id,
                step.id,
                owner=None,
                state=StepState.FAILED,
                now=now,
                error=message,
                error_type=type(exc).__name__,
            )
        action = action_cls()
        outputs = {sid: r.output for sid, r in records.items()}
        ctx = self._step_context(run, finding, step.id, outputs)
        mutating = action_cls.mutates and action_cls.category != Category.EVIDENCE

        if mutating and posture == Posture.DRY_RUN:
            return self._plan_only(run_id, step, action, ctx, model, inputs)
        if step.approval or (mutating and posture == Posture.APPROVAL):
            decision = self._approval_gate(run, step, action, ctx, model, inputs)
            if decision is not None:
                return decision

        claimed = self.store.begin_step(
            run_id,
            step.id,
            owner=self.owner,
            inputs=inputs,
            now=now,
            lease=timedelta(seconds=step.timeout * step.retry.attempts + 60),
            is_stale=is_stale,
        )
        if claimed is None:
            current = self.store.get_step(run_id, step.id)
            assert current is not None
            return current
        self._emit("step_started", run_id, step.id, action=step.action, attempt=claimed.attempts)
        started = time.perf_counter()
        retries = [0]
        try:
            outcome: Outcome = self._with_retry(step, action.apply, ctx, model, counter=retries)
        except ResponderError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            message = str(exc.message) + (f" — {exc.hint}" if exc.hint else "")
            self.store.audit(
                run_id,
                self.clock.now(),
                "step_failed",
                actor=self.owner,
                step=step.id,
                action=step.action,
                error=message,
                error_type=type(exc).__name__,
            )
            self._emit("step_finished", run_id, step.id, state="failed", error=message)
            return self.store.finish_step(
                run_id,
                step.id,
                owner=self.owner,
                state=StepState.FAILED,
                now=self.clock.now(),
                error=message,
                error_type=type(exc).__name__,
                duration_ms=round(elapsed, 2),
                retries=retries[0],
            )
        elapsed = (time.perf_counter() - started) * 1000
        self.store.audit(
            run_id,
            self.clock.now(),
            "step_applied",
            actor=self.owner,
            step=step.id,
            action=step.action,
            changed=outcome.changed,
            before=outcome.before,
            after=outcome.after,
            summary=outcome.summary,
        )
        rec = self.store.finish_step(
            run_id,
            step.id,
            owner=self.owner,
            state=StepState.SUCCEEDED,
            now=self.clock.now(),
            output=outcome.output,
            before=outcome.before,
            after=outcome.after,
            changed=outcome.changed,
            summary=outcome.summary,
            notes=outcome.notes,
            duration_ms=round(elapsed, 2),
            retries=retries[0],
        )
        self._emit(
            "step_finished",
            run_id,
            step.id,
            state="succeeded",
            changed=outcome.changed,
            summary=outcome.summary,
            notes=outcome.notes,
        )
        return rec

    @staticmethod
    def _dependency_message(step: Step, records: dict[str, StepRecord]) -> str | None:
        """Name the earlier step whose missing output this step needed."""
        texts = [v for v in _strings(step.with_)] + ([step.when] if step.when else [])
        for text in texts:
            for chain in templating.references(text):
                if len(chain) > 1 and chain[0] == "steps" and chain[1] in records:
                    dep = records[chain[1]]
                    if dep.state != StepState.SUCCEEDED:
                        return f"needs the output of step {dep.step_id!r}, which {dep.state.value}" + (
                            f": {dep.error}" if dep.error else ""
                        )
        return None

    def _plan_only(
        self, run_id: str, step: Step, action: Action, ctx: StepContext, model: Any, inputs: dict[str, Any]
    ) -> StepRecord:
        try:
            change: Change = self._with_retry(step, action.plan, ctx, model)
        except ResponderError as exc:
            return self.store.finish_step(
                run_id,
                step.id,
                owner=None,
                state=StepState.FAILED,
                now=self.clock.now(),
                inputs=inputs,
                error=exc.message,
                error_type=type(exc).__name__,
            )
        self._emit("step_finished", run_id, step.id, state="planned", summary=change.summary)
        return self.store.finish_step(
            run_id,
            step.id,
            owner=None,
            state=StepState.PLANNED,
            now=self.clock.now(),
            inputs=inputs,
            summary=f"planned (dry-run): {change.summary}",
            before=change.before,
            after=change.after,
            notes=change.notes,
        )

    def _approval_gate(
        self,
        run: RunRecord,
        step: Step,
        action: Action,
        ctx: StepContext,
        model: Any,
        inputs: dict[str, Any],
    ) -> StepRecord | None:
        """None when the step may go ahead; otherwise the step's record (waiting or denied)."""
        run_id = run.run_id
        now = self.clock.now()
        approval = self.store.get_approval(run_id, step.id)
        if approval is None:
            change: Change | None
            try:
                change = self._with_retry(step, action.plan, ctx, model)
            except ResponderError as exc:
                change = Change(will_change=True, summary=f"plan unavailable: {exc.message}")
            if change is not None and not change.will_change:
                return None  # nothing to change: nobody needs to be asked
            rule = step.approval
            approval = self.store.request_approval(
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
            self._notify_approvers(approval, self.store.get_run(run_id) or run, change)
            self.store.audit(
                run_id,
                now,
                "approval_requested",
                actor=self.owner,
                step=step.id,
                summary=change.summary if change else None,
            )
        elif (
            approval.state == ApprovalState.PENDING and approval.timeout_at and approval.timeout_at <= (iso(now) or "")
        ):
            approval = self._on_timeout(approval, now)
        if approval.state == ApprovalState.APPROVED:
            return None
        if approval.state == ApprovalState.DENIED:
            self._emit("step_finished", run_id, step.id, state="denied", summary=approval.reason)
            return self.store.finish_step(
                run_id,
                step.id,
                owner=None,
                state=StepState.DENIED,
                now=now,
                inputs=inputs,
                summary=f"denied by {approval.decided_by}" + (f": {approval.reason}" if approval.reason else ""),
            )
        self._emit(
            "step_waiting", run_id, step.id, timeout_at=approval.timeout_at, summary=approval.plan.get("summary")
        )
        return self.store.set_step(
            run_id,
            step.id,
            state=StepState.WAITING,
            inputs=inputs,
            summary=f"waiting for approval: {approval.plan.get('summary', '')}".strip(),
        )

    def _notify_approvers(self, approval: ApprovalRecord, run: RunRecord, change: Change | None) -> None:
        """Post (or re-post, on escalation) the prompt; a failed prompt never loses the request."""
        for notify in self.notifiers:
            try:
                ref = notify(approval, run, change)
                if ref:
                    self.store.update_approval(approval.run_id, approval.step_id, message=ref)
            except Exception as exc:
                self.store.audit(
                    approval.run_id,
                    self.clock.now(),
                    "approval_notify_failed",
                    actor=self.owner,
                    step=approval.step_id,
                    error=str(exc)[:300],
                )

    def _on_timeout(self, approval: ApprovalRecord, now: datetime) -> ApprovalRecord:
        if (
            approval.on_timeout == "escalate"
            and approval.escalate_to
            and approval.allowed_groups != approval.escalate_to
        ):
            timeout = (
                datetime.fromisoformat(approval.timeout_at.replace("Z", "+00:00"))  # type: ignore[union-attr]
                - datetime.fromisoformat(approval.requested_at.replace("Z", "+00:00"))
            )
            self.store.update_approval(
                approval.run_id,
                approval.step_id,
                allowed_groups=approval.escalate_to,
                timeout_at=iso(now + timeout),
                on_timeout="deny",
            )
            self.store.audit(
                approval.run_id,
                now,
                "approval_escalated",
                actor="timeout",
                step=approval.step_id,
                to=approval.escalate_to,
            )
            updated = self.store.get_approval(approval.run_id, approval.step_id)
            assert updated is not None
            run = self.store.get_run(approval.run_id)
            assert run is not None
            self._notify_approvers(updated, run, None)
            return updated
        decided, _ = self.store.decide(
            approval.run_id,
            approval.step_id,
            approved=approval.on_timeout == "approve",
            by="timeout",
            reason=f"no answer by {approval.timeout_at}: default {approval.on_timeout}",
            at=now,
            via="timeout",
        )
        self.store.audit(
            approval.run_id,
            now,
            "approval_timed_out",
            actor="timeout",
            step=approval.step_id,
            decision=decided.state.value,
        )
        return decided

    def _finish(self, run_id: str, *, aborted: str | None, waiting: bool, created: bool) -> RunResult:
        now = self.clock.now()
        steps = self.store.steps(run_id)
        if waiting:
            status = RunStatus.WAITING
        elif any(s.state == StepState.FAILED for s in steps):
            status = RunStatus.FAILED
        elif any(s.state == StepState.PLANNED for s in steps):  # dry-run posture: changes were only planned
            status = RunStatus.PLANNED
        else:
            status = RunStatus.SUCCEEDED
        milestones: dict[str, str] = {}
        for category, name in (("contain", "contained"), ("scope", "scoped"), ("notify", "drafted")):
            done = [
                s.finished_at
                for s in steps
                if s.category == category and s.state == StepState.SUCCEEDED and s.finished_at
            ]
            if done:
                milestones[name] = max(done)
        if status.finished:
            milestones["finished"] = iso(now) or ""
        run = self.store.update_run(
            run_id,
            status=status.value,
            updated_at=iso(now),
            milestones=milestones,
            error=f"aborted at step {aborted}" if aborted else None,
        )
        self.store.audit(run_id, now, "run_" + status.value, actor=self.owner)
        self._emit("run_finished", run_id, status=status.value)
        return RunResult.from_records(run, steps, created=created)
