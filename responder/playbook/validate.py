"""Check a playbook completely and report every problem as ``path:line: field: message``.

Checks, in order: YAML syntax and duplicate keys; the model (fields, types, triggers); per step the
action exists, its ``with`` fits that action's input model (unknown, missing and mistyped arguments);
template and ``when`` syntax; references to undefined inputs, unknown finding fields and to outputs of
steps that do not run earlier or do not declare that output; evidence steps before containment.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..actions.base import Category
from ..actions.registry import Registry
from ..errors import PlaybookInvalid, Problem
from ..findings.model import RESOURCE_KINDS, Finding
from . import templating
from .loader import Source, discover, dotted, load_source
from .model import Playbook

_FINDING_FIELDS = set(Finding.model_fields) | set(Finding.model_computed_fields)
_STEP_VIEW = {"output", "state", "changed", "summary", "error", "before", "after"}


@dataclass(frozen=True)
class LoadedPlaybook:
    playbook: Playbook
    path: str
    digest: str


def _problem(source: Source, loc: tuple[Any, ...], message: str) -> Problem:
    return Problem(source.path, source.line_of(loc), dotted(loc) or "(root)", message)


def validate_source(source: Source, registry: Registry) -> tuple[Playbook | None, list[Problem]]:
    problems: list[Problem] = []
    data = source.data
    if not isinstance(data, dict):
        return None, problems
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            loc = tuple("with" if p == "with_" else p for p in loc)
            if data.get("trigger") is not None and loc and loc[0] == "triggers":
                loc = ("trigger", *loc[2:])
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown field"
            elif err["type"] == "missing":
                message = "required field is missing"
            problems.append(_problem(source, loc, message))
        return None, problems

    _check_triggers_and_inputs(source, data, playbook, problems)
    seen: dict[str, int] = {}
    first_contain: str | None = None
    outputs_of: dict[str, set[str] | None] = {}
    for index, step in enumerate(playbook.steps):
        base = ("steps", index)
        if step.id in seen:
            problems.append(
                _problem(source, (*base, "id"), f"duplicate step id {step.id!r} (also step {seen[step.id]})")
            )
        seen[step.id] = index
        for n, need in enumerate(step.needs):
            if need not in seen or need == step.id:
                later = any(s.id == need for s in playbook.steps)
                why = (
                    f"step {need!r} runs later: a step can only wait for earlier ones"
                    if later
                    else (f"undefined step {need!r}")
                )
                problems.append(_problem(source, (*base, "needs", n), why))
        if step.action not in registry:
            close = difflib.get_close_matches(step.action, registry.names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; `responder schema` lists the actions"
            problems.append(_problem(source, (*base, "action"), f"unknown action {step.action!r}{hint}"))
            outputs_of[step.id] = None
            _check_templates(source, playbook, step, index, outputs_of, problems)
            continue
        action = registry.get(step.action)
        outputs_of_self = (
            None
            if action.Output.model_config.get("extra") == "allow" and not action.Output.model_fields
            else set(action.Output.model_fields)
        )
        _check_arguments(source, step.with_, action.Input, (*base, "with"), problems)
        _check_templates(source, playbook, step, index, outputs_of, problems)
        outputs_of[step.id] = outputs_of_self
        if action.category == Category.CONTAIN and first_contain is None:
            first_contain = step.id
        if action.category == Category.EVIDENCE and first_contain is not None:
            problems.append(
                _problem(
                    source,
                    (*base, "action"),
                    f"evidence step after containment step {first_contain!r}: capture evidence "
                    "before anything changes (move this step up)",
                )
            )
    return (playbook if not problems else None), problems


def _finding_path_problem(chain: tuple[str, ...]) -> str | None:
    """A dotted path into the finding (a trigger's ``match`` key, or a template's ``finding.…``)."""
    if not chain or chain[0] not in _FINDING_FIELDS:
        return f"finding has no field {chain[0] if chain else ''!r}"
    if len(chain) > 1 and chain[0] == "target" and chain[1] not in (*RESOURCE_KINDS, "get"):
        return f"finding.target has no kind {chain[1]!r}; kinds: {', '.join(RESOURCE_KINDS)}"
    return None


def _check_triggers_and_inputs(
    source: Source, data: dict[str, Any], playbook: Playbook, problems: list[Problem]
) -> None:
    """A misspelt match path never matches and a misspelt input renders nothing: both are said here."""
    for index, trigger in enumerate(playbook.triggers):
        base: tuple[Any, ...] = ("trigger",) if "trigger" in data and "triggers" not in data else ("triggers", index)
        for path in trigger.match:
            message = _finding_path_problem(tuple(path.split(".")))
            if message:
                problems.append(_problem(source, (*base, "match", path), f"match path {path!r}: {message}"))
    for name, value in playbook.inputs.items():
        for loc, text in _strings(value, ("inputs", name)):
            if not templating.is_template(text):
                continue
            error = templating.check_syntax(text)
            if error:
                problems.append(_problem(source, loc, error))
                continue
            for chain in templating.references(text):
                if chain[0] == "finding" and len(chain) > 1:
                    message = _finding_path_problem(chain[1:])
                elif chain[0] == "steps":
                    message = "inputs are rendered before any step runs: read step outputs in a step's `with`"
                else:
                    message = None
                if message:
                    problems.append(_problem(source, loc, message))


def _check_arguments(
    source: Source, args: dict[str, Any], model: type, loc: tuple[Any, ...], problems: list[Problem]
) -> None:
    fields = model.model_fields  # type: ignore[attr-defined]
    for name, value in args.items():
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; arguments: {', '.join(fields) or 'none'}"
            problems.append(_problem(source, (*loc, name), f"unknown argument{hint}"))
            continue
        if _has_template(value):
            continue
        try:
            TypeAdapter(fields[name].annotation).validate_python(value)
        except ValidationError as exc:
            problems.append(_problem(source, (*loc, name), f"wrong argument: {exc.errors()[0]['msg']}"))
        except Exception:  # annotation not usable standalone (forward refs): leave it to run time
            pass
    for name, info in fields.items():
        if info.is_required() and name not in args:
            problems.append(_problem(source, loc if args else loc[:-1], f"missing required argument {name!r}"))


def _has_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return templating.is_template(value)


def _strings(value: Any, loc: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _strings(v, (*loc, k))]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _strings(v, (*loc, i))]
    return [(loc, value)] if isinstance(value, str) else []


def _check_templates(
    source: Source,
    playbook: Playbook,
    step: Any,
    index: int,
    outputs_of: dict[str, set[str] | None],
    problems: list[Problem],
) -> None:
    base = ("steps", index)
    candidates = _strings(step.with_, (*base, "with"))
    items: list[tuple[tuple[Any, ...], str, bool]] = [(loc, text, False) for loc, text in candidates]
    if step.when:
        items.append(((*base, "when"), step.when, templating.single_expression(step.when) is None))
    for loc, text, is_expression in items:
        if not is_expression and not templating.is_template(text):
            continue
        error = templating.check_syntax(text, expression=is_expression)
        if error:
            problems.append(_problem(source, loc, error))
            continue
        for chain in templating.references(text, expression=is_expression):
            message = _reference_problem(chain, playbook, step.id, outputs_of)
            if message:
                problems.append(_problem(source, loc, message))


def _reference_problem(
    chain: tuple[str, ...], playbook: Playbook, step_id: str, outputs_of: dict[str, set[str] | None]
) -> str | None:
    root = chain[0]
    if root == "inputs" and len(chain) > 1 and chain[1] not in playbook.inputs:
        return f"undefined input {chain[1]!r}; declared inputs: {', '.join(playbook.inputs) or 'none'}"
    if root == "finding" and len(chain) > 1:
        return _finding_path_problem(chain[1:])
    if root == "steps" and len(chain) > 1:
        ref = chain[1]
        if ref == step_id:
            return f"step {ref!r} cannot read its own output"
        if ref not in outputs_of:
            later = any(s.id == ref for s in playbook.steps)
            return f"step {ref!r} runs later, its output is not available here" if later else f"undefined step {ref!r}"
        if len(chain) > 2 and chain[2] not in _STEP_VIEW:
            return f"steps.{ref}.{chain[2]}: use steps.{ref}.output.<field> (or state, changed, summary)"
        declared = outputs_of[ref]
        if len(chain) > 3 and chain[2] == "output" and declared is not None and chain[3] not in declared:
            return f"step {ref!r} has no output {chain[3]!r}; it outputs: {', '.join(sorted(declared)) or 'nothing'}"
    return None


def validate_file(
    path: str | Path, registry: Registry, text: str | None = None
) -> tuple[LoadedPlaybook | None, list[Problem]]:
    source, problems = load_source(path, text)
    if problems:
        return None, problems
    playbook, problems = validate_source(source, registry)
    if playbook is None:
        return None, problems
    if playbook.runbook:
        roots = (Path(path).resolve().parent.parent, Path.cwd(), Path(__file__).resolve().parents[2])
        if not any((root / playbook.runbook).is_file() for root in roots):
            return None, [
                _problem(
                    source, ("runbook",), f"no runbook at {playbook.runbook} (relative to the folder above playbooks/)"
                )
            ]
    return LoadedPlaybook(playbook, source.path, source.digest), []


def load_playbooks(paths: list[str | Path], registry: Registry) -> list[LoadedPlaybook]:
    """Load and validate every playbook; any problem anywhere raises PlaybookInvalid listing all."""
    loaded: list[LoadedPlaybook] = []
    problems: list[Problem] = []
    ids: dict[str, str] = {}
    for path in discover(paths):
        item, found = validate_file(path, registry)
        problems.extend(found)
        if item is not None:
            if item.playbook.id in ids:
                problems.append(
                    Problem(
                        item.path, 1, "id", f"playbook id {item.playbook.id!r} also used by {ids[item.playbook.id]}"
                    )
                )
            ids[item.playbook.id] = item.path
            loaded.append(item)
    if problems:
        raise PlaybookInvalid(problems)
    return loaded
