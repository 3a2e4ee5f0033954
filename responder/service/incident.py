"""One incident, several runs: the resources of a GuardDuty attack sequence, each answered by its own playbook.

The sequence's run records one child finding per resource (``incident.record_sequence``); the respond
service then starts each child's run through the same respond path as any finding (selection, posture,
finding versions, triage for a child no playbook answers) and links it to the parent run:

* the child run's record names its parent (``parent_run_id``) and the incident (``incident``: the
  sequence's uid); the parent's record lists its children (``extra.children``) and carries the incident;
* the parent's audit trail gets ``child_run_started`` (or ``child_run_failed`` when a child could not even
  start), so the trail of the incident is read from one run;
* ids are deterministic (the child's finding id from the parent's id and the resource; the run id from
  that and the playbook), so a redelivered sequence joins the same parent run and the same child runs;
* a child that fails does not fail the parent, nor stop the other children: the parent's summary names
  every child with its status.

This module holds the pieces; :class:`~responder.service.respond.Responder` calls them after the parent
run returns (whatever its status: the sequence step is evidence, recorded before anything waits).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..actions.incident import MAX_CHILDREN, child_routing, sequence_of, split_sequence
from ..engine.results import Plan, RunResult
from ..findings.fields import text
from ..findings.model import Finding
from ..state.base import RunStore
from ..state.records import RunRecord, StepState

SEQUENCE_ACTION = "incident.record_sequence"
__all__ = ["MAX_CHILDREN", "SEQUENCE_ACTION", "child_routing", "sequence_of", "split_sequence"]


class IncidentRunResult(RunResult):
    """A run of an incident: a child names its parent; a parent lists its children and their statuses."""

    parent_run_id: str | None = None
    incident: str | None = None
    children: list[dict[str, Any]] = Field(default_factory=list)


class IncidentPlan(Plan):
    """The plan of a sequence: its own steps, and each child with the playbook(s) that would answer it."""

    incident: str | None = None
    children: list[dict[str, Any]] = Field(default_factory=list)


def has_sequence_step(playbook: Any) -> bool:
    return any(step.action == SEQUENCE_ACTION for step in playbook.steps)


def recorded_children(store: RunStore, run_id: str, finding: Finding) -> tuple[str | None, list[dict[str, Any]]]:
    """The incident id and the child findings of a run whose sequence step succeeded; else (None, []).

    The step's output is what was recorded as evidence. A later version of the sequence may name more
    resources (GuardDuty grows a sequence as it sees more): those children are added from the version
    delivered now; the engine does not record a finished step twice.
    """
    step = next(
        (s for s in store.steps(run_id) if s.action == SEQUENCE_ACTION and s.state == StepState.SUCCEEDED), None
    )
    if step is None:
        return None, []
    children = [c for c in step.output.get("children") or [] if isinstance(c, dict) and c.get("id")]
    known = {c["id"] for c in children}
    children += [c for c in split_sequence(finding).children if c["id"] not in known]
    return text(step.output.get("sequence_uid")), children[:MAX_CHILDREN]


def link_child(store: RunStore, run_id: str, parent_run_id: str, incident: str | None) -> RunRecord | None:
    """Name the parent on a child's run record (once: the first parent stays, a redelivery writes nothing)."""
    run = store.get_run(run_id)
    if run is None or run.parent_run_id:
        return run
    return store.update_run(run_id, current=run, parent_run_id=parent_run_id, incident=incident)


def record_children(store: RunStore, parent_run_id: str, incident: str | None, links: list[dict[str, Any]]) -> None:
    """Keep the parent's list of children (statuses are read live from the children's own records)."""
    run = store.get_run(parent_run_id)
    if run is None:
        return
    keep = ("run_id", "playbook", "finding_id", "type", "resource_type", "resource", "typed_by")
    listed = {(c.get("finding_id"), c.get("run_id")): c for c in run.extra.get("children") or []}
    for link in links:
        if link.get("run_id"):
            listed.setdefault((link.get("finding_id"), link.get("run_id")), {k: link.get(k) for k in keep})
    children = list(listed.values())
    if children != (run.extra.get("children") or []) or run.incident != incident:
        store.update_run(parent_run_id, current=run, incident=incident, extra={"children": children})


def summary(incident: str | None, links: list[dict[str, Any]]) -> str:
    """``attack sequence X: 2 child run(s): run-… s3-exposure (S3_BUCKET arn:…) succeeded; …``."""
    parts = []
    for link in links:
        what = f"{link.get('resource_type')} {link.get('resource')}"
        if link.get("run_id"):
            parts.append(f"{link['run_id']} {link.get('playbook')} ({what}) {link.get('status')}")
        else:
            parts.append(f"({what}) could not start: {link.get('error')}")
    return f"attack sequence {incident}: {len(links)} child run(s): " + "; ".join(parts)


def routing_row(child: dict[str, Any], playbooks: list[str], run_ids: list[str]) -> dict[str, Any]:
    return {**child_routing(child), "playbooks": playbooks, "run_ids": run_ids}


def children_of_parent(records: list[RunRecord], parent: RunRecord) -> list[dict[str, Any]]:
    """A parent's children with their live statuses: those whose record names it, and those it lists."""
    by_id = {r.run_id: r for r in records}
    out: dict[str, dict[str, Any]] = {}
    for child in records:
        if child.parent_run_id == parent.run_id:
            out[child.run_id] = {
                "run_id": child.run_id,
                "playbook": child.playbook_id,
                "status": child.status.value,
                "finding_id": child.finding_id,
                "finding_type": child.finding_type,
            }
    for listed in parent.extra.get("children") or []:
        run_id = listed.get("run_id")
        if run_id and run_id not in out:
            found = by_id.get(run_id)
            out[run_id] = {
                "run_id": run_id,
                "playbook": listed.get("playbook"),
                "status": found.status.value if found else "missing",
                "finding_id": listed.get("finding_id"),
                "finding_type": listed.get("type"),
            }
    for run_id, row in out.items():
        listed = next((c for c in parent.extra.get("children") or [] if c.get("run_id") == run_id), {})
        row["resource_type"], row["resource"] = listed.get("resource_type"), listed.get("resource")
    return sorted(out.values(), key=lambda r: r["run_id"])
