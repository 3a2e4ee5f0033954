"""Release: undo containment once the incident is over, checking first that nobody changed it since.

Each reversible step that changed something is undone in reverse order, from the ``before`` state its
record kept. The undo is itself a recorded step (``release:<step>``), written ahead like any other, so a
release that crashes resumes, and a release that finds drift refuses and names the difference unless
forced (then the difference is recorded). Release needs the run's records, not its playbook: it works
even after the playbook changed or was removed.

All-or-nothing: every step release would undo is first checked for drift against read-only clients
(``readonly.py``); if any drifted, nothing is changed and every drifted step is named. ``--step`` and
``--force`` release partially on purpose. A safeguard that keeps containment on purpose (a leaked key
stays inactive without ``--reenable-keys``) is recorded ``kept``, not ``failed``.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from ..actions.base import Outcome
from ..errors import BadInput, Kept, ResponderError, TargetChanged
from ..state.records import StepRecord, StepState
from .owner import is_stale
from .readonly import ReadOnlyConnectors, WouldChange
from .results import RunResult
from .runner import Engine

RELEASE_PREFIX = "release:"
RELEASE_INDEX = 10_000


def release(
    engine: Engine,
    run_id: str,
    *,
    step_id: str | None = None,
    force: bool = False,
    options: dict[str, Any] | None = None,
) -> RunResult:
    store = engine.store
    run = store.get_run(run_id)
    if run is None:
        raise BadInput(f"no run {run_id}; `responder runs` lists runs")
    finding = run.finding_model()
    records = store.steps(run_id)
    by_id = {r.step_id: r for r in records}
    candidates = [
        r
        for r in records
        if not r.step_id.startswith(RELEASE_PREFIX)
        and r.category == "contain"  # evidence, scope and drafts are records, not containment
        and r.state == StepState.SUCCEEDED
        and r.changed
    ]
    if step_id:
        if step_id not in by_id:
            raise BadInput(f"run {run_id} has no step {step_id!r}")
        candidates = [r for r in candidates if r.step_id == step_id]
        if not candidates:
            raise BadInput(
                f"step {step_id!r} changed nothing that could be released (state "
                f"{by_id[step_id].state.value}, changed={by_id[step_id].changed})"
            )
    candidates = [c for c in candidates if not c.released]
    if not store.acquire_run(run_id, engine.owner, engine.clock.now(), engine.lease, is_stale):
        raise BadInput(f"run {run_id} is being worked on by another process; try again when it is done")
    message = None
    try:
        drifted = {} if (force or step_id) else _drift(engine, run, finding, candidates, options or {})
        if drifted:
            store.audit(
                run_id, engine.clock.now(), "release_refused", actor=engine.owner, kind="drift", drifted=drifted
            )
            message = "release refused, nothing changed: " + "; ".join(f"{k}: {v}" for k, v in drifted.items())
        else:
            for rec in sorted(candidates, key=lambda r: r.index, reverse=True):
                _release_step(engine, run, finding, rec, force=force, options=options or {})
    finally:
        store.release_run(run_id, engine.owner)
    run = store.get_run(run_id)
    assert run is not None
    return RunResult.from_records(run, store.steps(run_id), created=False, message=message)


def _drift(
    engine: Engine, run: Any, finding: Any, candidates: list[StepRecord], options: dict[str, Any]
) -> dict[str, str]:
    """Every candidate's undo, run against read-only clients: the steps whose target drifted, and how."""
    connectors = ReadOnlyConnectors(engine.connectors)
    drifted: dict[str, str] = {}
    for rec in candidates:
        action_cls = engine.registry.get(rec.action)
        if not action_cls.reversible:
            continue
        ctx = engine.step_context(run, finding, f"{RELEASE_PREFIX}{rec.step_id}", {})
        ctx.connectors = connectors
        applied = Outcome(
            changed=True, summary=rec.summary or "", before=rec.before, after=rec.after, output=rec.output
        )
        try:
            action_cls().undo(ctx, action_cls.Input.model_validate(rec.inputs), applied, force=False, options=options)
        except WouldChange:
            continue  # reached its first write: the drift check passed
        except Kept:
            continue  # kept on purpose; recorded as such when released
        except TargetChanged as exc:
            drifted[rec.step_id] = exc.message
        except Exception as exc:  # a check that cannot run is not drift; the real release reports it
            engine.emit("log", run.run_id, rec.step_id, message=f"drift check could not run: {exc}")
    return drifted


def _release_step(
    engine: Engine,
    run: Any,
    finding: Any,
    rec: StepRecord,
    *,
    force: bool,
    options: dict[str, Any],
) -> None:
    store = engine.store
    rid = f"{RELEASE_PREFIX}{rec.step_id}"
    existing = store.get_step(run.run_id, rid)
    if existing and existing.state == StepState.SUCCEEDED:
        return
    action_cls = engine.registry.get(rec.action)
    store.ensure_step(
        StepRecord(
            run_id=run.run_id, step_id=rid, index=RELEASE_INDEX + rec.index, action=rec.action, category="release"
        )
    )
    if not action_cls.reversible:
        store.finish_step(
            run.run_id,
            rid,
            owner=None,
            state=StepState.SKIPPED,
            now=engine.clock.now(),
            summary=f"{rec.action} cannot be undone automatically: {rec.summary}",
            notes=list(rec.notes),
        )
        return
    now = engine.clock.now()
    claimed = store.begin_step(
        run.run_id, rid, owner=engine.owner, inputs=rec.inputs, now=now, lease=timedelta(minutes=10), is_stale=is_stale
    )
    if claimed is None:
        return
    ctx = engine.step_context(run, finding, rid, {})
    action = action_cls()
    model = action_cls.Input.model_validate(rec.inputs)
    applied = Outcome(changed=True, summary=rec.summary or "", before=rec.before, after=rec.after, output=rec.output)
    engine.emit("step_started", run.run_id, rid, action=f"undo {rec.action}", attempt=claimed.attempts)
    started = time.perf_counter()
    try:
        outcome = engine.call(lambda: action.undo(ctx, model, applied, force=force, options=options), timeout=300)
    except Kept as exc:
        store.audit(
            run.run_id, engine.clock.now(), "release_kept", actor=engine.owner, step=rec.step_id, reason=exc.message
        )
        store.finish_step(
            run.run_id,
            rid,
            owner=engine.owner,
            state=StepState.KEPT,
            now=engine.clock.now(),
            summary=f"kept: {exc.message}",
        )
        engine.emit("step_finished", run.run_id, rid, state="kept", summary=exc.message)
        return
    except ResponderError as exc:
        kind = "drift" if isinstance(exc, TargetChanged) else type(exc).__name__
        store.audit(
            run.run_id,
            engine.clock.now(),
            "release_refused",
            actor=engine.owner,
            step=rec.step_id,
            reason=exc.message,
            kind=kind,
        )
        store.finish_step(
            run.run_id,
            rid,
            owner=engine.owner,
            state=StepState.FAILED,
            now=engine.clock.now(),
            error=exc.message,
            error_type=type(exc).__name__,
        )
        engine.emit("step_finished", run.run_id, rid, state="failed", error=exc.message)
        return
    store.audit(
        run.run_id,
        engine.clock.now(),
        "released",
        actor=engine.owner,
        step=rec.step_id,
        forced=force,
        before=outcome.before,
        after=outcome.after,
        summary=outcome.summary,
    )
    store.finish_step(
        run.run_id,
        rid,
        owner=engine.owner,
        state=StepState.SUCCEEDED,
        now=engine.clock.now(),
        before=outcome.before,
        after=outcome.after,
        changed=outcome.changed,
        summary=outcome.summary,
        notes=outcome.notes + (["forced: differences recorded"] if force else []),
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    store.set_step(
        run.run_id, rec.step_id, released={"at": engine.clock.now().isoformat(), "by": engine.owner, "forced": force}
    )
    engine.emit("step_finished", run.run_id, rid, state="succeeded", changed=outcome.changed, summary=outcome.summary)
