"""The notify workflow for one run, shared by the playbook actions and the CLI.

``assess``: record awareness (default: when the finding was received), propose regimes from the scope,
write the breach register entry and start the clocks. ``draft``: fill the templates of every open
milestone, put the drafts in the evidence locker (never send them) and list them in the register.
Both are idempotent: decisions, overrides and submissions recorded by people are never overwritten.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ..clock import iso
from ..findings.model import Finding
from ..state.base import RunStore
from . import clocks, decision, drafts, facts, register
from .regimes import get_regime
from .settings import NotifySettings

ACTOR = "responder.notify"


def scope_from_steps(store: RunStore, run_id: str) -> dict[str, Any]:
    """The merged output of the run's succeeded scope steps (later steps win)."""
    merged: dict[str, Any] = {}
    for step in store.steps(run_id):
        if step.category == "scope" and step.state == "succeeded":
            merged.update(step.output or {})
    return merged


def _facts(
    store: RunStore,
    run_id: str,
    finding: Finding,
    scope: dict[str, Any],
    settings: NotifySettings,
    *,
    aware_at: datetime,
    delay_reason: str | None = None,
) -> dict[str, Any]:
    run = store.get_run(run_id)
    measures = facts.measures_from_steps(store.steps(run_id))
    return facts.build(
        finding,
        scope,
        settings.organisation,
        run_id=run_id,
        aware_at=aware_at,
        received_at=clocks.parse_time(run.created_at) if run else None,
        measures_taken=measures,
        delay_reason=delay_reason,
    )


def assess(
    store: RunStore,
    run_id: str,
    finding: Finding,
    scope: dict[str, Any] | None,
    settings: NotifySettings,
    *,
    now: datetime,
    by: str = ACTOR,
    regimes: list[str] | None = None,
) -> dict[str, Any]:
    """Start the clocks and record the run in the register with a proposal per regime."""
    scope = dict(scope or {})
    aware_at = clocks.ensure_awareness(store, run_id, by=by, now=now)
    chosen = list(regimes or settings.regimes)
    for regime_id in chosen:
        get_regime(regime_id)
    proposals = decision.propose(chosen, finding, scope, settings)
    known = _facts(store, run_id, finding, scope, settings, aware_at=aware_at)
    run = store.get_run(run_id)
    summary = {
        "finding_id": finding.id,
        "finding_type": finding.type,
        "title": facts.literal(finding.title or ""),
        "account_id": finding.account_id,
        "region": finding.region,
        "received_at": run.created_at if run else None,
        "aware_at": iso(aware_at),
    }
    counts = {
        "individuals": known.get("individuals"),
        "max_residents_one_state": known.get("max_residents_one_state"),
    }
    entry_facts = {
        k: known.get(k)
        for k in (
            "nature",
            "subject_categories",
            "subjects_approx",
            "record_categories",
            "records_approx",
            "consequences",
            "measures",
            "started_at",
            "ended_at",
            "buckets",
            "objects_read",
            "egress_bytes",
        )
    }
    register.record_run(
        store,
        run_id,
        now=now,
        summary=summary,
        facts=entry_facts,
        counts=counts,
        proposals=proposals,
        regimes=chosen,
    )
    open_clocks = clocks.refresh(store, run_id, settings, now=now)
    return {"aware_at": iso(aware_at), "proposals": proposals, "clocks": open_clocks}


def _regime_order(clock: dict[str, Any]) -> tuple[str, int]:
    """The law's own order within a regime: the first milestone using a template gets the draft."""
    ids = [m.id for m in get_regime(clock["regime"]).milestones]
    return clock["regime"], ids.index(clock["milestone"])


def _wanted(state: dict[str, Any], *, explicit: bool) -> bool:
    """Draft a regime a person asked for, decided to notify, or that the proposal does not rule out."""
    if explicit or state.get("decision") == register.Decision.NOTIFY.value:
        return True
    return state.get("proposal") != decision.UNLIKELY


def draft(
    store: RunStore,
    locker: Any,
    run_id: str,
    finding: Finding,
    scope: dict[str, Any] | None,
    settings: NotifySettings,
    *,
    now: datetime,
    by: str = ACTOR,
    regimes: list[str] | None = None,
    delay_reason: str | None = None,
) -> list[dict[str, Any]]:
    """Draft every open milestone (or those of ``regimes``), store them, list them in the register."""
    if register.get_entry(store, run_id) is None:
        assess(store, run_id, finding, scope, settings, now=now, by=by)
    aware_at = clocks.ensure_awareness(store, run_id, by=by, now=now)
    all_clocks = clocks.refresh(store, run_id, settings, now=now)
    known = _facts(store, run_id, finding, dict(scope or {}), settings, aware_at=aware_at, delay_reason=delay_reason)
    folder = Path(settings.templates_dir) if settings.templates_dir else None
    entry = register.get_entry(store, run_id) or {}
    states = entry.get("regimes") or {}
    made: list[dict[str, Any]] = []
    templates_used: set[tuple[str, str]] = set()
    for clock in sorted(all_clocks, key=_regime_order):
        if regimes and clock["regime"] not in regimes:
            continue
        if clock["status"] != "open" or clock.get("assumed_start"):
            continue
        regime = get_regime(clock["regime"])
        milestone = regime.milestone(clock["milestone"])
        if not milestone.content or not _wanted(states.get(regime.id) or {}, explicit=bool(regimes)):
            continue
        template = (regime.id, milestone.template or milestone.id)
        if template in templates_used:
            continue  # HIPAA's HHS and media notices carry the individual notice's content
        templates_used.add(template)
        result = drafts.render(regime, milestone, known, clock, now=now, zone=settings.zone, templates=folder)
        artifact = locker.put(
            run_id,
            result.name,
            result.text.encode(),
            collected_by=by,
            at=now,
            content_type="text/markdown",
            details={"regime": regime.id, "milestone": milestone.id, "sent": False},
        )
        made.append(
            {
                "regime": regime.id,
                "milestone": milestone.id,
                "name": artifact.name,
                "sha256": artifact.sha256,
                "to_be_completed": result.to_be_completed,
                "late": result.late,
                "due": clock.get("due"),
                "at": iso(now),
            }
        )
    register.add_drafts(store, run_id, made, at=now)
    return made
