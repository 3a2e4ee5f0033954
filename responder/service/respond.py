"""respond(): select playbooks, run or join, keep every finding version, triage the unanswered.

Rules that used to live twice (CLI and Lambda) live here once:

* **selection** — every playbook whose trigger matches; an archived/suppressed finding is matched as if
  it were active so the run is *recorded* as suppressed instead of vanishing;
* **triage** — a finding no playbook answers becomes a triage record (status ``triage``): the finding
  kept as evidence, each playbook's reason for declining in plain words, posted to Slack when
  configured; ``responder runs`` lists it;
* **versions** — each delivery of a finding joins its run and the new version is kept (store and locker);
* **retry after a fix** — a redelivered finding whose run failed resumes it (the engine does that);
  ``settle`` re-drives a run whose failures are all of a *retryable* class (throttling, a lost lease),
  decided by the error class recorded on the step, never by its name;
* **exit codes** — one table for every status;
* **incidents** — a finding whose run records an attack sequence starts one linked run per resource the
  sequence names, each through this same path (``responder.service.incident``).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any

from ..aws import parallel
from ..clock import iso
from ..engine.results import Plan, RunResult
from ..engine.runner import Engine, run_id_for
from ..errors import BadInput, Interrupted, StoreDamaged
from ..evidence.base import check_not_forgotten
from ..findings import guardduty
from ..findings.model import Finding
from ..playbook import match as matcher
from ..playbook.validate import LoadedPlaybook
from ..redact import redact
from ..state.records import RunRecord, RunStatus, StepState
from . import incident
from .incident import IncidentPlan, IncidentRunResult

log = logging.getLogger("responder")

TRIAGE = "triage"

#: exit code per run status: 0 done, 1 failed, 3 waiting for a person, 4 partial, 5 another worker has it
EXIT_BY_STATUS = {
    "succeeded": 0,
    "planned": 0,
    "suppressed": 0,
    "triage": 0,
    "unmatched": 0,
    "failed": 1,
    "pending": 1,
    "waiting": 3,
    "partial": 4,
    "running": 5,
    "interrupted": 130,
}
EXIT_ORDER = (1, 130, 4, 3, 5)  # the most serious status decides a batch's code


def exit_code(results: Iterable[RunResult]) -> int:
    codes = {_code(r) for r in results}
    return next((c for c in EXIT_ORDER if c in codes), 0)


def _code(result: RunResult) -> int:
    """A child run's failure does not fail its incident: the parent's summary names it (exit 4, partial)."""
    code = EXIT_BY_STATUS.get(result.status, 1)
    return 4 if code == 1 and getattr(result, "parent_run_id", None) else code


TriageNotifier = Callable[[RunRecord], Any]

#: an attack sequence's children started at once, at most (each child's own reads are pooled too)
CHILD_CONCURRENCY = 4

# A run's lease belongs to a worker (the engine's owner: host, process, nonce), so two threads of one
# process delivering the same finding would both hold it and both drive the run, repeating its effects.
# Within a process one thread drives a run at a time; another waits, then joins what the first left.
_DRIVING: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_DRIVING_GUARD = threading.Lock()


@contextmanager
def driving(run_id: str) -> Iterator[None]:
    """Hold this process's turn at driving ``run_id`` (other processes are kept out by the run's lease)."""
    with _DRIVING_GUARD:
        lock = _DRIVING.get(run_id)
        if lock is None:
            lock = _DRIVING[run_id] = threading.RLock()
    with lock:
        yield


class Responder:
    """The respond service: one engine, the loaded playbooks, and where triage goes."""

    def __init__(
        self,
        engine: Engine,
        playbooks: Sequence[LoadedPlaybook],
        *,
        triage_notifiers: Sequence[TriageNotifier] = (),
        via: str = "cli",
    ) -> None:
        self.engine = engine
        self.playbooks = list(playbooks)
        self.triage_notifiers = tuple(triage_notifiers)
        self.via = via

    # ------------------------------------------------------------------ selection
    def by_id(self, playbook_id: str) -> LoadedPlaybook:
        for item in self.playbooks:
            if item.playbook.id == playbook_id:
                return item
        known = ", ".join(p.playbook.id for p in self.playbooks)
        raise BadInput(f"no playbook with id {playbook_id!r}; known: {known}")

    def select(self, finding: Finding, playbook_id: str | None = None) -> list[LoadedPlaybook]:
        if playbook_id:
            return [self.by_id(playbook_id)]
        candidate = finding.model_copy(update={"archived": False}) if finding.archived else finding
        by_id = {p.playbook.id: p for p in self.playbooks}
        return [by_id[p.id] for p in matcher.matching([p.playbook for p in self.playbooks], candidate)]

    def declined(self, finding: Finding) -> dict[str, str]:
        """Each playbook's reason for not answering, in plain words."""
        out: dict[str, str] = {}
        for item in self.playbooks:
            result = matcher.evaluate(item.playbook, finding)
            if not result.matched:
                out[item.playbook.id] = result.reason or "its trigger does not match"
        return out

    # ------------------------------------------------------------------ respond
    def respond(
        self,
        findings: Iterable[Finding],
        *,
        playbook_id: str | None = None,
        dry_run: bool = False,
        received_at: datetime | None = None,
    ) -> list[RunResult]:
        results: list[RunResult] = []
        for finding in findings:
            results.extend(self.respond_one(finding, playbook_id=playbook_id, dry_run=dry_run, received_at=received_at))
        return results

    def respond_one(
        self,
        finding: Finding,
        *,
        playbook_id: str | None = None,
        dry_run: bool = False,
        received_at: datetime | None = None,
    ) -> list[RunResult]:
        """The runs answering the finding; a sequence's run is followed by its children's runs (linked)."""
        results = self._respond(finding, playbook_id=playbook_id, dry_run=dry_run, received_at=received_at)
        if dry_run:
            return results
        out: list[RunResult] = []
        for result in results:
            out.extend(self.with_children(result, finding, received_at))
        return out

    def _respond(
        self,
        finding: Finding,
        *,
        playbook_id: str | None = None,
        dry_run: bool = False,
        received_at: datetime | None = None,
        parent: tuple[str, str | None] | None = None,
    ) -> list[RunResult]:
        """Selection, then run or join each chosen playbook's run; triage when none answers.

        ``parent`` (run id, incident) links the runs to the incident run that started them.
        """
        chosen = self.select(finding, playbook_id)
        parent_run_id, incident_id = parent or (None, None)
        if not chosen:
            return [] if dry_run else [self.triage(finding, received_at, parent=parent)]
        results: list[RunResult] = []
        for loaded in chosen:
            if dry_run:
                results.append(self._dry_run(loaded, finding))
                continue
            # a store that lost this run must not start it again (containment repeated)
            check_not_forgotten(self.engine.store, self.engine.evidence, run_id_for(finding.id, loaded.playbook.id))
            with driving(run_id_for(finding.id, loaded.playbook.id)):
                result = self.engine.run(
                    loaded, finding, received_at=received_at, parent_run_id=parent_run_id, incident=incident_id
                )
            if not result.created:
                self.keep_version(result.run_id, finding)
            results.append(result)
        return results

    # ------------------------------------------------------------------ incidents (attack sequences)
    def plan(self, loaded: LoadedPlaybook, finding: Finding, *, dry_run: bool = False) -> Plan:
        """The engine's plan; for a sequence, also each child and the playbook(s) that would answer it."""
        plan = self.engine.plan(loaded, finding, dry_run=dry_run)
        if not incident.has_sequence_step(loaded.playbook):
            return plan
        rows = []
        for child in incident.split_sequence(finding).children:
            try:
                chosen = [p.playbook.id for p in self.select(guardduty.parse(child, "attack-sequence child"))]
            except BadInput:
                chosen = []
            playbooks = chosen or [TRIAGE]
            rows.append(incident.routing_row(child, playbooks, [run_id_for(str(child["id"]), p) for p in playbooks]))
        lines = [f"{r['resource_type']} {r['resource']} as {r['type']} → {', '.join(r['playbooks'])}" for r in rows]
        steps = [
            s.model_copy(
                update={"summary": f"{s.summary}; children: {'; '.join(lines) or 'none'}", "notes": [*s.notes, *lines]}
            )
            if s.action == incident.SEQUENCE_ACTION
            else s
            for s in plan.steps
        ]
        uid = incident.sequence_of(finding.raw).get("uid")
        return IncidentPlan(
            **plan.model_copy(update={"steps": steps}).model_dump(),
            incident=str(uid) if uid else None,
            children=rows,
        )

    def _dry_run(self, loaded: LoadedPlaybook, finding: Finding) -> RunResult:
        plan = self.plan(loaded, finding, dry_run=True)
        result = plan.as_result()
        if isinstance(plan, IncidentPlan):
            return IncidentRunResult(**result.model_dump(), incident=plan.incident, children=plan.children)
        return result

    def with_children(
        self, result: RunResult, finding: Finding, received_at: datetime | None = None
    ) -> list[RunResult]:
        """The parent's result (its summary naming each child and its status), then each child's result.

        Children start once the parent's sequence step has recorded them, whatever the parent's status;
        each goes through the respond path, is linked to the parent and audited on it. A child that fails,
        or cannot start, fails neither the parent nor the other children.
        """
        if not self._records_sequences(result.playbook):  # every other run pays no store call for this
            return [result]
        store = self.engine.store
        uid, children = incident.recorded_children(store, result.run_id, finding)
        if not children:
            return [result]
        links: list[dict[str, Any]] = []
        child_results: list[RunResult] = []

        def start(child: dict[str, Any]) -> tuple[Finding, list[RunResult]]:
            child_finding = guardduty.parse(child, f"child of {result.run_id}")
            return child_finding, self._respond(child_finding, received_at=received_at, parent=(result.run_id, uid))

        # Children start side by side (bounded): the second instance's isolation must not wait for the
        # first's scope queries and snapshot completion. Their records are written in order below.
        started = parallel.settle(
            {n: partial(start, child) for n, child in enumerate(children)}, workers=CHILD_CONCURRENCY
        )
        for n, child in enumerate(children):
            routing = incident.child_routing(child)
            try:
                child_finding, runs = started[n].get()
            except (Interrupted, StoreDamaged, KeyboardInterrupt):
                raise  # stopped, or a store that cannot be trusted: as for any run (resume; redelivery)
            except Exception as exc:  # one child never stops the incident: named in the parent's summary
                log.warning("child %s of %s could not start: %s", routing["finding_id"], result.run_id, exc)
                error = f"{type(exc).__name__}: {str(exc)[:300]}"
                store.audit(
                    result.run_id,
                    self.engine.clock.now(),
                    "child_run_failed",
                    actor=self.engine.owner,
                    finding_id=routing["finding_id"],
                    resource=routing["resource"],
                    error=error,
                )
                links.append({**routing, "run_id": None, "playbook": None, "status": "error", "error": error})
                continue
            for run in runs:
                incident.link_child(store, run.run_id, result.run_id, uid)
                if run.created:
                    store.audit(
                        result.run_id,
                        self.engine.clock.now(),
                        "child_run_started",
                        actor=self.engine.owner,
                        child_run_id=run.run_id,
                        playbook=run.playbook,
                        finding_id=child_finding.id,
                        finding_type=child_finding.type,
                        resource=routing["resource"],
                        typed_by=routing["typed_by"],
                    )
                links.append({**routing, "run_id": run.run_id, "playbook": run.playbook, "status": run.status})
                child_results.append(IncidentRunResult(**run.model_dump(), parent_run_id=result.run_id, incident=uid))
        incident.record_children(store, result.run_id, uid, links)
        said = incident.summary(uid, links)
        parent = IncidentRunResult(
            **result.model_dump(exclude={"message"}),
            incident=uid,
            children=links,
            message=f"{result.message}; {said}" if result.message else said,
        )
        return [parent, *child_results]

    def _records_sequences(self, playbook_id: str) -> bool:
        loaded = next((p for p in self.playbooks if p.playbook.id == playbook_id), None)
        return loaded is not None and incident.has_sequence_step(loaded.playbook)

    def resume(self, run_id: str, *, allow_changed: bool = False) -> RunResult:
        run = self.engine.store.get_run(run_id)
        if run is None:
            raise BadInput(f"no run {run_id}; `responder runs` lists runs")
        if run.status == RunStatus.TRIAGE:
            return RunResult.from_records(run, [], created=False, message="a triage record: no playbook to resume")
        try:
            loaded = self.by_id(run.playbook_id)
        except BadInput:
            raise BadInput(f"playbook {run.playbook_id} of run {run_id} is not among the loaded playbooks") from None
        with driving(run_id):
            result = self.engine.resume(run_id, loaded, allow_changed=allow_changed)
        if not self._records_sequences(loaded.playbook.id):
            return result
        # a sequence resumed (after an approval or a fix) starts the children it has not started yet
        return self.with_children(result, run.finding_model())[0]

    def settle(self, result: RunResult, *, attempts: int = 2, pause: Callable[[float], None] = time.sleep) -> RunResult:
        """Resume a run whose failures are all retryable (throttling, a lost lease), a few times.

        Unattended (Lambda) nobody would come back to it, and a redelivery may never come.
        """
        for attempt in range(attempts):
            if result.status not in ("failed", "partial") or not self.retryable(result.run_id):
                return result
            pause(min(0.2 * 2**attempt, 2.0))
            result = self.resume(result.run_id, allow_changed=True)
        return result

    def retryable(self, run_id: str) -> bool:
        failed = [s for s in self.engine.store.steps(run_id) if s.state == StepState.FAILED]
        return bool(failed) and all(s.retryable for s in failed)

    # ------------------------------------------------------------------ records beside runs
    def keep_version(self, run_id: str, finding: Finding) -> None:
        """Each delivered version goes to the run's evidence too: GuardDuty overwrites older details
        when it aggregates, so the update is the only copy of what it said before. The same bytes under
        the same name are a no-op in the locker."""
        data = finding.model_copy(update={"raw": redact(finding.raw)}).model_dump(mode="json")
        try:
            self.engine.evidence.put_json(
                run_id,
                f"finding-version-{finding.digest()[:16]}.json",
                data,
                collected_by=f"{self.via}:respond",
                at=self.engine.clock.now(),
            )
        except Exception as exc:  # the store holds the version already; the locker copy is a second record
            log.warning("could not keep finding version of %s: %s", run_id, exc)

    def triage(
        self, finding: Finding, received_at: datetime | None = None, parent: tuple[str, str | None] | None = None
    ) -> RunResult:
        """Keep a finding no playbook answers, with the reasons, for a person: never drop it silently."""
        engine = self.engine
        now = received_at or engine.clock.now()
        run_id = run_id_for(finding.id, TRIAGE)
        finding_json = finding.model_copy(update={"raw": redact(finding.raw)}).model_dump(mode="json")
        declined = self.declined(finding)
        check_not_forgotten(engine.store, engine.evidence, run_id)
        record = RunRecord(
            run_id=run_id,
            finding_id=finding.id,
            playbook_id=TRIAGE,
            playbook_digest="",
            status=RunStatus.TRIAGE,
            created_at=iso(now) or "",
            updated_at=iso(now) or "",
            finding=finding_json,
            account_id=finding.account_id,
            region=finding.region,
            finding_type=finding.type,
            severity=finding.severity,
            error="no playbook answers this finding",
            extra={"declined": declined},
            milestones={"first_seen": iso(finding.first_seen or finding.created_at) or "", "received": iso(now) or ""},
            parent_run_id=parent[0] if parent else None,
            incident=parent[1] if parent else None,
        )
        run, created = engine.store.claim_run(record)
        engine.store.add_finding_version(finding.id, finding.digest(), now, finding_json, [run_id])
        self.keep_version(run_id, finding)
        if created:
            engine.store.audit(run_id, now, "triage", actor=engine.owner, finding_id=finding.id, declined=declined)
            for notify in self.triage_notifiers:
                try:
                    notify(run)
                except Exception as exc:  # posting is a courtesy; the record is kept either way
                    log.warning("could not post triage of %s: %s", run_id, exc)
        message = "no playbook answers this finding: kept for triage (`responder match EVENT` says why)"
        return RunResult.from_records(run, [], created=created, message=message)
