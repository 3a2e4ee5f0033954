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
* **exit codes** — one table for every status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from ..clock import iso
from ..engine.results import RunResult
from ..engine.runner import Engine, run_id_for
from ..errors import BadInput
from ..evidence.base import check_not_forgotten
from ..findings.model import Finding
from ..playbook import match as matcher
from ..playbook.validate import LoadedPlaybook
from ..redact import redact
from ..state.records import RunRecord, RunStatus, StepState

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
    codes = {EXIT_BY_STATUS.get(r.status, 1) for r in results}
    return next((c for c in EXIT_ORDER if c in codes), 0)


TriageNotifier = Callable[[RunRecord], Any]


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
        chosen = self.select(finding, playbook_id)
        if not chosen:
            return [] if dry_run else [self.triage(finding, received_at)]
        results = []
        for loaded in chosen:
            if not dry_run:  # a store that lost this run must not start it again (containment repeated)
                check_not_forgotten(self.engine.store, self.engine.evidence, run_id_for(finding.id, loaded.playbook.id))
            result = self.engine.run(loaded, finding, dry_run=dry_run, received_at=received_at)
            if not dry_run and not result.created:
                self.keep_version(result.run_id, finding)
            results.append(result)
        return results

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
        return self.engine.resume(run_id, loaded, allow_changed=allow_changed)

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

    def triage(self, finding: Finding, received_at: datetime | None = None) -> RunResult:
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
