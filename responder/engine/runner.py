"""The engine: run and resume a playbook for a finding, durably and exactly once.

Write-ahead: a step is recorded ``running`` before its effect and ``succeeded``/``failed`` after it,
with inputs, output, before/after state, error and timing. A crashed run resumes from its record;
actions read before they write, so a step found ``running`` runs again safely. The run id is
deterministic (finding id + playbook id): duplicate deliveries and updated findings join the run.

Store calls are counted: the engine holds the run's records in memory and writes each change as one
conditional write against the version it holds (a stale copy costs one lost write and a re-read), so
a step costs three store calls (claim, finish, audit) and the run a small constant.

The engine knows steps, actions and state only. AWS, Slack and the law reach it through the
``connectors``, ``error_translators`` and ``approval_notifiers`` its caller passes in. Which
playbooks answer a finding, triage and retries across deliveries are the service's job
(``responder.service``), so every way in shares them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..actions.base import Action, Category, Connectors, Outcome, StepContext
from ..actions.registry import Registry
from ..clock import Clock, SystemClock, iso
from ..config import Posture, Settings
from ..errors import (
    ActionFailed,
    Interrupted,
    PlaybookChanged,
    Refused,
    ResponderError,
    StepClaimed,
    TargetChanged,
    step_context,
)
from ..findings.model import Finding
from ..playbook import templating
from ..playbook.model import Step
from ..playbook.validate import LoadedPlaybook
from ..redact import redact
from ..state.base import RunStore
from ..state.records import ApprovalRecord, RunRecord, RunStatus, StepRecord, StepState
from . import graph
from . import inputs as step_inputs
from .approvals import Approvals
from .events import EngineEvent, Observer, no_observer
from .owner import is_stale, new_owner
from .results import Plan, RunResult

ErrorTranslator = Callable[[BaseException], ResponderError | None]
ApprovalNotifier = Callable[[ApprovalRecord, RunRecord, Any], dict[str, Any] | None]

#: a failure of these categories means the incident is not contained: the run is ``failed``
CRITICAL_CATEGORIES = frozenset({Category.EVIDENCE.value, Category.CONTAIN.value})


def _step_retryable(exc: BaseException) -> bool:
    """Transient faults the call layer did not already retry (e.g. Kubernetes 429s); never twice."""
    from ..errors import RetriesExhausted, Transient

    return isinstance(exc, Transient) and not isinstance(exc, RetriesExhausted)


def run_id_for(finding_id: str, playbook_id: str) -> str:
    """Deterministic: every delivery of a finding to a playbook lands on the same run."""
    digest = hashlib.sha256(f"{finding_id}\x00{playbook_id}".encode()).hexdigest()
    return f"run-{digest[:20]}"


def final_status(steps: Sequence[StepRecord], *, waiting: bool) -> tuple[RunStatus, str | None]:
    """The one rule for a run's status, and the reason when it is not plain success."""
    if waiting:
        return RunStatus.WAITING, None
    failed = [s for s in steps if s.state == StepState.FAILED]
    critical = [s for s in failed if s.category in CRITICAL_CATEGORIES]
    if critical:
        return RunStatus.FAILED, "; ".join(f"{s.step_id}: {s.error}" for s in critical)
    refused = [s for s in steps if s.state == StepState.REFUSED]
    if failed or refused:
        reasons = [f"{s.step_id} failed: {s.error}" for s in failed]
        reasons += [f"{s.step_id} refused: {s.error} — a person must act" for s in refused]
        return RunStatus.PARTIAL, "; ".join(reasons)
    if any(s.state == StepState.PLANNED for s in steps):  # dry-run posture: changes were only planned
        return RunStatus.PLANNED, None
    return RunStatus.SUCCEEDED, None


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
        self.approvals = Approvals(self)

    # ------------------------------------------------------------------ helpers
    def emit(self, kind: str, run_id: str, step_id: str | None = None, **data: Any) -> None:
        try:
            self.observer(EngineEvent(kind, run_id, step_id, data))
        except Exception:  # an observer must never break a response
            pass

    _emit = emit

    def translate(self, exc: BaseException) -> ResponderError:
        if isinstance(exc, ResponderError):
            return exc
        for translate in self.translators:
            out = translate(exc)
            if out is not None:
                return out
        return ActionFailed(f"{type(exc).__name__}: {exc}")

    def posture_for(self, loaded: LoadedPlaybook, finding: Finding) -> Posture:
        configured = self.settings.posture.for_run(finding.account_id, loaded.playbook.id)
        if loaded.playbook.posture and loaded.playbook.id not in self.settings.posture.playbooks:
            # a playbook may be stricter than the organisation, never looser
            order = [Posture.AUTO, Posture.APPROVAL, Posture.DRY_RUN]
            return max(configured, loaded.playbook.posture, key=order.index)
        return configured

    def context_vars(self, run: RunRecord, finding: Finding, steps: dict[str, StepRecord]) -> dict[str, Any]:
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

    def step_context(
        self, run: RunRecord, finding: Finding, step_id: str, outputs: dict[str, dict[str, Any]], dry_run: bool = False
    ) -> StepContext:
        def log(message: str) -> None:
            self.emit("log", run.run_id, step_id, message=message)

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

    _step_context = step_context

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float) -> Any:
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
            raise self.translate(box["error"]) from box["error"]
        return box.get("value")

    _call = call

    def with_retry(self, step: Step, fn: Callable[..., Any], *args: Any, counter: list[int] | None = None) -> Any:
        """Retry throttling and transient errors only: bounded, exponential backoff with full jitter."""

        def before_sleep(state: Any) -> None:
            if counter is not None:
                counter[0] += 1
            error = state.outcome.exception() if state.outcome else None
            self.emit("log", step.id, step.id, message=f"retrying after: {error}")

        retrying = Retrying(
            stop=stop_after_attempt(step.retry.attempts),
            wait=wait_random_exponential(multiplier=step.retry.backoff, max=step.retry.max_backoff),
            retry=retry_if_exception(_step_retryable),
            reraise=True,
            sleep=self._sleep,
            before_sleep=before_sleep,
        )
        return retrying(self.call, fn, *args, timeout=step.timeout)

    def render_run_inputs(self, loaded: LoadedPlaybook, finding: Finding) -> tuple[dict[str, Any], dict[str, str]]:
        """The playbook's inputs from the finding; an input the finding cannot supply is None, with why.

        A console-login finding names no access key: ``access_key_id`` is then absent, and the steps
        that need it are skipped with that reason instead of the whole run failing.
        """
        variables = {"finding": finding.model_dump(mode="json"), "inputs": {}, "steps": {}, "run": {}, "config": {}}
        out: dict[str, Any] = {}
        absent: dict[str, str] = {}
        for name, template in loaded.playbook.inputs.items():
            try:
                out[name] = templating.render(template, {**variables, "inputs": out})
            except ActionFailed as exc:
                out[name] = None
                absent[name] = exc.message
        return out, absent

    # ------------------------------------------------------------------ plan
    def plan(self, loaded: LoadedPlaybook, finding: Finding, *, dry_run: bool = False) -> Plan:
        """Render every step and call only read APIs: what each step would change. Writes nothing."""
        from .planning import plan

        return plan(self, loaded, finding, dry_run=dry_run)

    # ------------------------------------------------------------------ run
    def run(
        self,
        loaded: LoadedPlaybook,
        finding: Finding,
        *,
        dry_run: bool = False,
        received_at: datetime | None = None,
        parent_run_id: str | None = None,
        incident: str | None = None,
    ) -> RunResult:
        """Start (or join) the run of this playbook for this finding and drive it as far as it can go.

        ``dry_run`` only plans: it writes nothing a real run could join (no run, no clock, no register).
        ``parent_run_id``/``incident`` link a child run to the run that started it, written with the run
        itself so no crash can leave a child unlinked.
        """
        if dry_run:
            return self.plan(loaded, finding, dry_run=True).as_result()
        playbook = loaded.playbook
        now = received_at or self.clock.now()
        run_id = run_id_for(finding.id, playbook.id)
        posture = self.posture_for(loaded, finding)
        finding_json = finding.model_copy(update={"raw": redact(finding.raw)}).model_dump(mode="json")
        inputs, absent = self.render_run_inputs(loaded, finding)
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
            inputs=inputs,  # written with the run itself: no process can join a run without its inputs
            parent_run_id=parent_run_id,
            incident=incident,
            extra={"absent_inputs": absent} if absent else {},
            milestones={"first_seen": iso(finding.first_seen or finding.created_at) or "", "received": iso(now) or ""},
        )
        if finding.archived:
            record.status = RunStatus.SUPPRESSED
        run, created = self.store.claim_run(record)
        new_version = self.store.add_finding_version(finding.id, finding.digest(), now, finding_json, [run_id])
        if created:
            self.store.audit(
                run_id,
                now,
                "suppressed" if finding.archived else "run_created",
                actor=self.owner,
                playbook=playbook.id,
                digest=loaded.digest,
                finding_id=finding.id,
                posture=posture.value,
            )
            if finding.archived:
                return RunResult.from_records(run, [], created=True, message="finding is archived: recorded, not run")
            self.emit("run_started", run_id, playbook=playbook.id, finding=finding.summary())
            return self._drive(run, loaded, created=True)
        if new_version:
            newer = (finding.updated_at or now).isoformat() >= (run.finding_model().updated_at or now).isoformat()
            changes: dict[str, Any] = {"versions": run.versions + 1, "updated_at": iso(now)}
            if newer:
                changes["finding"] = finding_json
            run = self.store.update_run(run_id, current=run, **changes)
        self.store.audit(
            run_id,
            now,
            "finding_updated" if new_version else "finding_redelivered",
            actor=self.owner,
            digest=finding.digest(),
        )
        self.emit("run_joined", run_id, status=run.status.value, updated=new_version)
        if run.status.resumable:
            if run.status not in (RunStatus.RUNNING, RunStatus.PENDING):
                # retry after a fix: the cause of the failure may be gone; actions are idempotent
                self.store.audit(
                    run_id, now, "run_retried", actor=self.owner, why="finding delivered again", status=run.status.value
                )
            return self._drive(run, loaded, created=False)
        return RunResult.from_records(
            run, self.store.steps(run_id), created=False, message="joined the existing run: nothing repeated"
        )

    def resume(self, run_id: str, loaded: LoadedPlaybook, *, allow_changed: bool = False) -> RunResult:
        """Continue a run; failed and refused steps run again (retry after fixing the cause)."""
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
            run = self.store.update_run(run_id, current=run, playbook_digest=loaded.digest)
        if run.status in (RunStatus.SUPPRESSED, RunStatus.TRIAGE):
            return RunResult.from_records(run, [], created=False, message=f"run is {run.status.value}: nothing to run")
        if run.status.finished or run.status == RunStatus.INTERRUPTED:
            self.store.audit(
                run_id, self.clock.now(), "run_retried", actor=self.owner, why="resume", status=run.status.value
            )
        return self._drive(run, loaded, created=False)

    # ------------------------------------------------------------------ the step loop
    def _drive(self, run: RunRecord, loaded: LoadedPlaybook, *, created: bool) -> RunResult:
        run_id = run.run_id
        now = self.clock.now()
        if not self.store.acquire_run(run_id, self.owner, now, self.lease, is_stale, current=run):
            current = self.store.get_run(run_id) or run
            if current.status == RunStatus.PENDING:  # claimed, being started by the lease holder
                current = current.model_copy(update={"status": RunStatus.RUNNING})
            return RunResult.from_records(
                current,
                self.store.steps(run_id),
                created=created,
                joined=True,
                message="joined a run another worker is executing; it will finish it (`responder runs "
                f"{run_id}` shows it)",
            )
        run = self.store.get_run(run_id) or run
        records: dict[str, StepRecord] = {}
        try:
            return self._loop(run, loaded, records, created=created)
        except KeyboardInterrupt:
            run = self.store.update_run(
                run_id,
                status=RunStatus.INTERRUPTED.value,
                updated_at=iso(self.clock.now()),
                error="interrupted (SIGINT/SIGTERM)",
            )
            self.store.audit(run_id, self.clock.now(), "run_interrupted", actor=self.owner)
            self.emit("run_finished", run_id, status=RunStatus.INTERRUPTED.value)
            raise Interrupted(
                f"run {run_id} interrupted; nothing is lost and a step in progress runs again safely",
                hint=f"`responder resume {run_id}` continues it",
            ) from None
        finally:
            self.store.release_run(run_id, self.owner)

    def _loop(
        self, run: RunRecord, loaded: LoadedPlaybook, records: dict[str, StepRecord], *, created: bool
    ) -> RunResult:
        run_id = run.run_id
        finding = run.finding_model()
        posture = Posture(run.posture)
        if run.status != RunStatus.RUNNING:
            run = self.store.update_run(run_id, current=run, status=RunStatus.RUNNING.value, error=None)
        stored = {s.step_id: s for s in self.store.steps(run_id)}
        lease_renew_at = time.monotonic() + self.lease.total_seconds() / 2
        aborted: str | None = None
        waiting = False
        queue: list[tuple[int, Step, bool]] = [(i, step, False) for i, step in enumerate(loaded.playbook.steps)]
        for parent, specs in (run.extra.get("expanded") or {}).items():
            self._insert_expanded(queue, parent, specs)
        position = 0
        while position < len(queue):
            wave = self._wave(queue, position, self._args_of(run, finding, records))
            position += len(wave)
            todo: list[tuple[Step, type[Action], StepRecord, bool]] = []
            for index, step, literal in wave:
                action_cls = self.registry.get(step.action)
                rec = stored.get(step.id) or StepRecord(
                    run_id=run_id, step_id=step.id, index=index, action=step.action, category=action_cls.category.value
                )
                records[step.id] = rec
                rerun = rec.state.retry_on_resume or (rec.state == StepState.PLANNED and posture != Posture.DRY_RUN)
                if not aborted and (not rec.state.done or rerun):
                    todo.append((step, action_cls, rec, literal))
            if not todo:
                continue
            if time.monotonic() > lease_renew_at:  # long runs keep their lease; short ones never pay for it
                self.store.acquire_run(run_id, self.owner, self.clock.now(), self.lease, is_stale)
                lease_renew_at = time.monotonic() + self.lease.total_seconds() / 2
            done = self._run_wave(run, finding, posture, records, todo)
            for (step, action_cls, _, _), rec in zip(todo, done, strict=True):
                records[step.id] = rec
                if action_cls.expands and rec.state == StepState.SUCCEEDED and rec.output.get("steps"):
                    specs = list(rec.output["steps"])
                    expanded = {**(run.extra.get("expanded") or {}), step.id: specs}
                    self.store.update_run(run_id, extra={"expanded": expanded})
                    run.extra["expanded"] = expanded
                    self._insert_expanded(queue, step.id, specs)
                    self.store.audit(
                        run_id,
                        self.clock.now(),
                        "steps_expanded",
                        actor=self.owner,
                        step=step.id,
                        added=[s.get("id") for s in specs],
                    )
                if rec.state == StepState.WAITING:
                    waiting = True
                if rec.state == StepState.FAILED and (step.on_failure or "continue") == "abort":
                    aborted = step.id
            if waiting:
                break
        return self._finish(run, records, aborted=aborted, waiting=waiting, created=created)

    # ------------------------------------------------------------------ steps as a graph
    def _wave(
        self, queue: list[tuple[int, Step, bool]], position: int, args_of: graph.ArgsOf | None = None
    ) -> list[tuple[int, Step, bool]]:
        """The steps from ``position`` that may run at once (``responder.engine.graph``)."""
        return graph.wave(self.registry, queue, position, args_of)

    def _args_of(self, run: RunRecord, finding: Finding, records: dict[str, StepRecord]) -> graph.ArgsOf:
        """Render a step's arguments from what is known now, for the graph's resource rule; None if unknown."""

        def args_of(step: Step, literal: bool) -> dict[str, Any] | None:
            action_cls = self.registry.get(step.action)
            try:
                if literal:
                    return step_inputs.literal(action_cls, step)[0]
                variables = self.context_vars(run, finding, records)
                if step.when and not templating.evaluate(step.when, variables):
                    return None
                rendered = step_inputs.render(action_cls, step, variables, records)
            except ResponderError:
                return None
            return None if isinstance(rendered, step_inputs.Absent) else rendered[0]

        return args_of

    def _run_wave(
        self,
        run: RunRecord,
        finding: Finding,
        posture: Posture,
        records: dict[str, StepRecord],
        todo: list[tuple[Step, type[Action], StepRecord, bool]],
    ) -> list[StepRecord]:
        """Run the wave's steps, at once when there are several; each is recorded write-ahead as always."""

        def one(item: tuple[Step, type[Action], StepRecord, bool]) -> StepRecord:
            step, action_cls, rec, literal = item
            with step_context(run.run_id, step.id):
                return self._run_step(run, finding, step, action_cls, posture, records, rec, literal=literal)

        if len(todo) == 1:
            return [one(todo[0])]
        results: list[Any] = [None] * len(todo)

        def work(n: int) -> None:
            try:
                results[n] = one(todo[n])
            except BaseException as exc:  # surfaced in the caller's thread below
                results[n] = exc

        threads = [
            threading.Thread(target=work, args=(n,), daemon=True, name="responder-wave") for n in range(len(todo))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    def _insert_expanded(self, queue: list[tuple[int, Step, bool]], parent: str, specs: list[dict[str, Any]]) -> None:
        """Append a step's expansion to the run; arguments stay data (``literal``), never templates.

        At the end, not after the step: an expanded step that waits for a person (a trust policy lock)
        must not hold up the playbook's own later steps (the notification drafts and their clocks).
        """
        at = next((n for n, (_, step, _) in enumerate(queue) if step.id == parent), None)
        if at is None:
            return
        known = {step.id for _, step, _ in queue}
        base = 100 + 100 * queue[at][0]
        added = []
        for n, spec in enumerate(specs, start=1):
            fields = {k: spec[k] for k in ("id", "action", "with", "description", "approval") if spec.get(k)}
            try:
                step = Step.model_validate(fields)
                self.registry.get(step.action)
            except Exception as exc:  # a malformed expansion is reported, never run
                self.emit("log", "", parent, message=f"expanded step {spec.get('id')!r} ignored: {exc}")
                continue
            if step.id not in known:
                added.append((base + n, step, True))
        queue.extend(added)

    def _run_step(
        self,
        run: RunRecord,
        finding: Finding,
        step: Step,
        action_cls: type[Action],
        posture: Posture,
        records: dict[str, StepRecord],
        rec: StepRecord,
        *,
        literal: bool = False,
    ) -> StepRecord:
        run_id = run.run_id
        now = self.clock.now()
        if action_cls.category != Category.EVIDENCE and "evidence_secured" not in run.milestones:
            self.store.mark_milestone(run_id, "evidence_secured", now)
            run.milestones["evidence_secured"] = iso(now) or ""
        variables = self.context_vars(run, finding, records)
        try:
            if step.when and not templating.evaluate(step.when, variables):
                return self._skip(run_id, step, rec, "skipped: condition is false", [f"when: {step.when}"])
            rendered = (
                step_inputs.literal(action_cls, step)
                if literal
                else step_inputs.render(action_cls, step, variables, records)
            )
        except ActionFailed as exc:
            upstream = step_inputs.upstream_state(step, records)
            if upstream is not None and upstream[1] in (StepState.SKIPPED, StepState.DENIED, StepState.REFUSED):
                return self._skip(run_id, step, rec, f"skipped: step {upstream[0].step_id!r} was {upstream[1].value}")
            self.emit("step_finished", run_id, step.id, state="failed", error=exc.message)
            return self.store.finish_step(
                run_id,
                step.id,
                owner=None,
                state=StepState.FAILED,
                now=now,
                current=rec,
                error=exc.message,
                error_type=type(exc).__name__,
                retryable=exc.retryable,
            )
        if isinstance(rendered, step_inputs.Absent):
            return self._skip(run_id, step, rec, f"skipped: {rendered.reason}")
        inputs, model = rendered
        action = action_cls()
        ctx = self.step_context(run, finding, step.id, {sid: r.output for sid, r in records.items()})
        mutating = action_cls.mutates and action_cls.category != Category.EVIDENCE

        if mutating and posture == Posture.DRY_RUN:
            return self._plan_only(run_id, step, action, ctx, model, inputs, rec)
        if step.approval or (mutating and posture == Posture.APPROVAL):
            decision = self.approvals.gate(run, step, action, ctx, model, inputs, rec)
            if decision is not None:
                return decision

        stored = rec if rec.version else None
        lease = timedelta(seconds=step.timeout * step.retry.attempts + 60)

        def claim(pending_before: dict[str, Any] | None = None) -> StepRecord | None:
            return self.store.begin_step(
                run_id,
                step.id,
                owner=self.owner,
                inputs=inputs,
                now=self.clock.now(),
                lease=lease,
                is_stale=is_stale,
                current=stored,
                template=None if stored else rec,
                pending_before=pending_before,
            )

        # An action that writes its "before" ahead (records_before) is claimed at that moment, in the same
        # write: the write-ahead record still precedes the effect, and the step costs one store call less.
        deferred = action_cls.records_before
        held: list[StepRecord | None] = [None]
        if not deferred:
            held[0] = claim()
            if held[0] is None:
                current = self.store.get_step(run_id, step.id)
                assert current is not None
                return current
        crashed_before = (held[0] or rec).pending_before  # from an attempt that never recorded its end
        self.emit("step_started", run_id, step.id, action=step.action, attempt=(held[0] or rec).attempts + deferred)

        def record_before(before: dict[str, Any]) -> None:
            if held[0] is None:
                held[0] = claim(pending_before=before)
                if held[0] is None:
                    raise StepClaimed(f"step {step.id} is held by another worker")
            elif held[0].pending_before is None:
                held[0] = self.store.set_step(run_id, step.id, current=held[0], pending_before=before)

        ctx.record_before = record_before
        ctx.written_ahead = dict(crashed_before or {})
        started = time.perf_counter()
        retries = [0]
        try:
            outcome: Outcome = self.with_retry(step, action.apply, ctx, model, counter=retries)
        except StepClaimed:
            return self.store.get_step(run_id, step.id) or rec
        except ResponderError as exc:
            if literal and isinstance(exc, TargetChanged):  # the attacker's leftover is gone: nothing to contain
                return self._skip(run_id, step, held[0] or rec, f"skipped: {exc.message}")
            return self._failed(run_id, step, held[0] or rec, exc, started, retries[0])
        claimed = held[0] or rec
        # an action that writes its "before" ahead but found nothing to change was never claimed: its one
        # attempt is recorded here, with its inputs, in the finishing write
        unclaimed = {"attempts": rec.attempts + 1, "inputs": inputs, "started_at": iso(now)} if held[0] is None else {}
        if crashed_before is not None and not outcome.changed and crashed_before != outcome.after:
            # the effect is ours, from the attempt that crashed before recording it: keep its "before"
            outcome = outcome.model_copy(
                update={
                    "changed": True,
                    "before": crashed_before,
                    "notes": [*outcome.notes, "applied by an earlier attempt that stopped before recording it"],
                }
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
        done = self.store.finish_step(
            run_id,
            step.id,
            owner=self.owner,
            state=StepState.SUCCEEDED,
            now=self.clock.now(),
            current=claimed,
            output=outcome.output,
            before=outcome.before,
            after=outcome.after,
            changed=outcome.changed,
            summary=outcome.summary,
            notes=outcome.notes,
            duration_ms=round(elapsed, 2),
            retries=retries[0],
            pending_before=None,
            **unclaimed,
        )
        if action_cls.category == Category.CONTAIN:
            run.milestones["contained"] = done.finished_at or ""
        self.emit(
            "step_finished",
            run_id,
            step.id,
            state="succeeded",
            changed=outcome.changed,
            summary=outcome.summary,
            notes=outcome.notes,
        )
        return done

    def _failed(
        self, run_id: str, step: Step, claimed: StepRecord, exc: ResponderError, started: float, retries: int
    ) -> StepRecord:
        """Record a failure, or a refusal by a safety rule (not a failure: a person must act)."""
        elapsed = (time.perf_counter() - started) * 1000
        message = str(exc.message) + (f" — {exc.hint}" if exc.hint else "")
        state = StepState.REFUSED if isinstance(exc, Refused) else StepState.FAILED
        self.store.audit(
            run_id,
            self.clock.now(),
            f"step_{state.value}",
            actor=self.owner,
            step=step.id,
            action=step.action,
            error=message,
            error_type=type(exc).__name__,
        )
        self.emit("step_finished", run_id, step.id, state=state.value, error=message)
        return self.store.finish_step(
            run_id,
            step.id,
            owner=self.owner,
            state=state,
            now=self.clock.now(),
            current=claimed,
            error=message,
            error_type=type(exc).__name__,
            retryable=exc.retryable,
            duration_ms=round(elapsed, 2),
            retries=retries,
        )

    def _skip(
        self, run_id: str, step: Step, rec: StepRecord, summary: str, notes: list[str] | None = None
    ) -> StepRecord:
        self.emit("step_skipped", run_id, step.id, reason=summary)
        return self.store.finish_step(
            run_id,
            step.id,
            owner=None,
            state=StepState.SKIPPED,
            now=self.clock.now(),
            current=rec,
            summary=summary,
            notes=notes or [],
            error=None,
            error_type=None,
        )

    def _plan_only(
        self,
        run_id: str,
        step: Step,
        action: Action,
        ctx: StepContext,
        model: Any,
        inputs: dict[str, Any],
        rec: StepRecord,
    ) -> StepRecord:
        try:
            change = self.with_retry(step, action.plan, ctx, model)
        except ResponderError as exc:
            return self.store.finish_step(
                run_id,
                step.id,
                owner=None,
                state=StepState.FAILED,
                now=self.clock.now(),
                current=rec,
                inputs=inputs,
                error=exc.message,
                error_type=type(exc).__name__,
                retryable=exc.retryable,
            )
        self.emit("step_finished", run_id, step.id, state="planned", summary=change.summary)
        return self.store.finish_step(
            run_id,
            step.id,
            owner=None,
            state=StepState.PLANNED,
            now=self.clock.now(),
            current=rec,
            inputs=inputs,
            summary=f"planned (dry-run): {change.summary}",
            before=change.before,
            after=change.after,
            notes=change.notes,
        )

    def _finish(
        self, run: RunRecord, records: dict[str, StepRecord], *, aborted: str | None, waiting: bool, created: bool
    ) -> RunResult:
        now = self.clock.now()
        steps = sorted(records.values(), key=lambda s: s.index)
        status, reason = final_status(steps, waiting=waiting)
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
        error = f"aborted at step {aborted}" if aborted else reason
        run = self.store.update_run(
            run.run_id, status=status.value, updated_at=iso(now), milestones=milestones, error=error
        )
        self.store.audit(run.run_id, now, "run_" + status.value, actor=self.owner, reason=reason)
        self.emit("run_finished", run.run_id, status=status.value, reason=reason)
        return RunResult.from_records(run, steps, created=created, message=reason)

    # kept for callers that reach the approval helpers through the engine
    def _on_timeout(self, approval: ApprovalRecord, now: datetime) -> ApprovalRecord:
        return self.approvals.on_timeout(approval, now)

    def _notify_approvers(self, approval: ApprovalRecord, run: RunRecord, change: Any) -> None:
        self.approvals.notify(approval, run, change)
