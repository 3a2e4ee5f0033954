"""Plan: what each step would change, from read-only calls, writing nothing.

``responder plan`` and ``responder run --dry-run`` share this. A plan never touches the run store, the
evidence locker, notification clocks or the breach register: a dry run leaves nothing a real run
could join. Read-only enrichment (resolving a key's owner) is applied so later steps are planned with
real arguments; evidence, scope and notification actions only *preview* their outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..actions.base import Category, Change
from ..clock import iso
from ..config import Posture
from ..errors import ActionFailed, ResponderError
from ..findings.model import Finding
from ..playbook import templating
from ..playbook.validate import LoadedPlaybook
from ..state.records import RunRecord, StepRecord, StepState
from . import inputs as step_inputs
from .results import Plan, PlannedStep

if TYPE_CHECKING:
    from .runner import Engine

#: categories whose read-only actions a plan may simply apply (they write nothing anywhere)
APPLIED_IN_PLAN = frozenset({Category.ENRICH, Category.UTILITY})


def plan(engine: Engine, loaded: LoadedPlaybook, finding: Finding, *, dry_run: bool = False) -> Plan:
    from .runner import run_id_for

    playbook = loaded.playbook
    run_id = run_id_for(finding.id, playbook.id)
    posture = Posture.DRY_RUN if dry_run else engine.posture_for(loaded, finding)
    now = iso(engine.clock.now()) or ""
    inputs, absent = engine.render_run_inputs(loaded, finding)
    run = RunRecord(
        run_id=run_id,
        finding_id=finding.id,
        playbook_id=playbook.id,
        playbook_digest=loaded.digest,
        created_at=now,
        updated_at=now,
        finding=finding.model_dump(mode="json"),
        posture=posture.value,
        inputs=inputs,
    )
    planned: list[PlannedStep] = []
    predicted: dict[str, StepRecord] = {}
    for index, step in enumerate(playbook.steps):
        action_cls = engine.registry.get(step.action)
        action = action_cls()
        needs_approval = bool(step.approval) or (posture == Posture.APPROVAL and action_cls.mutates)
        variables = engine.context_vars(run, finding, predicted)
        base = {
            "id": step.id,
            "action": step.action,
            "category": action_cls.category.value,
            "mutates": action_cls.mutates,
            "needs_approval": needs_approval,
        }

        skip_record = StepRecord(
            run_id=run_id,
            step_id=step.id,
            index=index,
            action=step.action,
            category=action_cls.category.value,
            state=StepState.SKIPPED,
        )

        def skipped(reason: str, record: StepRecord = skip_record) -> None:
            predicted[record.step_id] = record.model_copy(update={"summary": reason})

        try:
            if step.when and not templating.evaluate(step.when, variables):
                planned.append(
                    PlannedStep(
                        **base, will_run=False, summary="skipped: condition is false", notes=[f"when: {step.when}"]
                    )
                )
                skipped("condition is false")
                continue
        except ActionFailed:
            upstream = step_inputs.upstream_state(step, predicted)
            if upstream is not None and upstream[1] == StepState.SKIPPED:
                reason = f"skipped: step {upstream[0].step_id!r} would be skipped"
                planned.append(PlannedStep(**base, will_run=False, summary=reason))
                skipped(reason)
                continue
            planned.append(
                PlannedStep(**base, will_run=True, summary="condition depends on earlier steps; decided at run time")
            )
            continue
        try:
            rendered = step_inputs.render(action_cls, step, variables, predicted)
        except ActionFailed as exc:
            upstream = step_inputs.upstream_state(step, predicted)
            if upstream is not None and upstream[1] == StepState.SKIPPED:
                reason = f"skipped: step {upstream[0].step_id!r} would be skipped"
                planned.append(PlannedStep(**base, will_run=False, summary=reason))
                skipped(reason)
            elif "steps" in str(exc):
                planned.append(
                    PlannedStep(
                        **base,
                        will_run=True,
                        summary="arguments depend on earlier steps' outputs; rendered at run time",
                    )
                )
            else:
                planned.append(PlannedStep(**base, will_run=False, summary="cannot render arguments", error=str(exc)))
            continue
        if isinstance(rendered, step_inputs.Absent):
            planned.append(PlannedStep(**base, will_run=False, summary=f"skipped: {rendered.reason}"))
            skipped(rendered.reason)
            continue
        step_args, model = rendered
        ctx = engine.step_context(run, finding, step.id, {k: v.output for k, v in predicted.items()}, dry_run=True)
        try:
            change: Change = engine.call(action.plan, ctx, model, timeout=step.timeout)
            applied = not action_cls.mutates and action_cls.category in APPLIED_IN_PLAN
            output = (
                engine.call(action.apply, ctx, model, timeout=step.timeout).output
                if applied
                else engine.call(action.preview, ctx, model, timeout=step.timeout)
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
                    inputs=step_args,
                    before=change.before,
                    after=change.after,
                    notes=change.notes,
                )
            )
        except ResponderError as exc:
            planned.append(PlannedStep(**base, will_run=True, summary="plan failed", inputs=step_args, error=str(exc)))
    queue = [(i, step, False) for i, step in enumerate(playbook.steps)]
    rendered_args = {p.id: p.inputs for p in planned if p.will_run and p.inputs}
    wave_of: dict[str, int] = {}
    position = wave_number = 0
    while position < len(queue):
        wave = engine._wave(queue, position, lambda step, _literal: rendered_args.get(step.id))
        wave_number += 1
        for _, step, _ in wave:
            wave_of[step.id] = wave_number
        position += len(wave)
    planned = [p.model_copy(update={"wave": wave_of.get(p.id, 0)}) for p in planned]
    notes = [f"input {name} absent: {why}" for name, why in absent.items()]
    return Plan(
        run_id=run_id, playbook=playbook.id, finding_id=finding.id, posture=posture.value, steps=planned, notes=notes
    )
