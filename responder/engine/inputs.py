"""Turn a step's ``with`` into its action's typed input, or say plainly why the step cannot run.

Three outcomes, each a different truth for the run's status:

* the arguments render and validate → the step runs;
* a required argument renders to nothing (the finding names no access key, an earlier step was
  skipped) → the step is *skipped* with that reason: nothing was wrong, there was nothing to act on;
* an argument cannot be rendered or is of the wrong type, or an earlier step it needs *failed* →
  the step *fails* with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..actions.base import Action
from ..errors import ActionFailed
from ..playbook import templating
from ..playbook.model import Step
from ..state.records import StepRecord, StepState


@dataclass(frozen=True)
class Absent:
    """A required argument the finding (or an earlier step) did not supply."""

    reason: str


def strings_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return [value] if isinstance(value, str) else []


def _is_nothing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "None"))


def _source_of(template: Any) -> str:
    """Where a template's value comes from, in words a responder understands."""
    for text in strings_in(template):
        for chain in templating.references(text):
            if chain[0] == "steps" and len(chain) > 1:
                return f"step {chain[1]!r} gave no"
    return "the finding names no"


def render(
    action: type[Action], step: Step, variables: dict[str, Any], records: dict[str, StepRecord]
) -> tuple[dict[str, Any], Any] | Absent:
    """The step's validated input (as a dict and as the action's model), or why it is absent.

    Raises ActionFailed when the arguments are wrong or a step they need failed.
    """
    try:
        rendered = templating.render(step.with_, variables)
    except ActionFailed:
        upstream = upstream_state(step, records)
        if upstream is not None:
            dep, state = upstream
            if state == StepState.SKIPPED or state == StepState.DENIED or state == StepState.REFUSED:
                return Absent(f"step {dep.step_id!r} was {state.value}" + (f": {dep.summary}" if dep.summary else ""))
            why = f": {dep.error}" if dep.error else ""
            raise ActionFailed(f"needs the output of step {dep.step_id!r}, which {state.value}{why}") from None
        raise
    for name, info in action.Input.model_fields.items():
        if info.is_required() and _is_nothing(rendered.get(name)):
            return Absent(f"{_source_of(step.with_.get(name))} {name.replace('_', ' ')}")
    try:
        model = action.Input.model_validate(rendered)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(with)"
        raise ActionFailed(
            f"argument {field}: {first['msg']} (rendered value: {str(first.get('input'))[:120]!r})"
        ) from None
    return model.model_dump(mode="json"), model


def literal(action: type[Action], step: Step) -> tuple[dict[str, Any], Any]:
    """An expanded step's arguments are data from logs: validated as they are, never rendered."""
    try:
        model = action.Input.model_validate(step.with_)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(with)"
        raise ActionFailed(f"argument {field}: {first['msg']}") from None
    return model.model_dump(mode="json"), model


def depends_on(step: Step) -> set[str]:
    """The earlier steps this one needs: those its ``with``/``when`` read, and those it ``needs``."""
    names = set(step.needs)
    for text in strings_in(step.with_) + ([step.when] if step.when else []):
        names.update(chain[1] for chain in templating.references(text) if len(chain) > 1 and chain[0] == "steps")
    return names


def upstream_state(step: Step, records: dict[str, StepRecord]) -> tuple[StepRecord, StepState] | None:
    """The first earlier step this one reads whose output is missing, with its state."""
    texts = strings_in(step.with_) + ([step.when] if step.when else [])
    for text in texts:
        for chain in templating.references(text):
            if len(chain) > 1 and chain[0] == "steps" and chain[1] in records:
                dep = records[chain[1]]
                if dep.state != StepState.SUCCEEDED:
                    return dep, dep.state
    return None
