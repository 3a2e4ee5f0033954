"""Runs and people: ``runs``, ``approve`` / ``deny`` (the decide service), ``audit``, ``run-id``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import app as wiring
from ..engine.results import RunResult
from ..engine.runner import run_id_for
from ..errors import BadInput
from ..service import decide
from ..service.incident import children_of_parent
from .core import (
    JsonOpt,
    PlaybooksOpt,
    SandboxOpt,
    _exit_for,
    _human,
    _run_environment,
    _run_json,
    _seconds,
    _show_results,
    settings_for_run,
)
from .render import Progress, console, err_console, print_json, styled, text


def register(app: typer.Typer) -> None:
    @app.command()
    def runs(
        run_id: Annotated[str | None, typer.Argument(help="show one run in detail")] = None,
        sandbox: Annotated[bool, typer.Option("--sandbox", help="runs made with --sandbox")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """List runs (with time to contain and time to notify), or show one run's steps."""
        from ..state import open_store

        settings = settings_for_run(run_id, sandbox)
        store = open_store(settings.store_url)
        if run_id:
            record = store.get_run(run_id)
            if record is None:
                raise BadInput(f"no run {run_id}; `responder runs` lists runs")
            result = RunResult.from_records(record, store.steps(run_id))
            children = children_of_parent(store.list_runs(), record) if record.extra.get("children") else []
            if as_json:
                data = _run_json(result)
                data["finding"] = {k: record.finding.get(k) for k in ("id", "type", "severity", "account_id", "region")}
                data["approvals"] = [a.model_dump(mode="json") for a in store.approvals(run_id)]
                data.update(parent_run_id=record.parent_run_id, incident=record.incident, children=children)
                print_json(data)
            else:
                _show_results([result], False)
                _show_incident(record, children)
            return
        records = store.list_runs()
        parents = {r.run_id: children_of_parent(records, r) for r in records if r.extra.get("children")}
        rows = [
            {
                "run_id": r.run_id,
                "finding_id": r.finding_id,
                "playbook": r.playbook_id,
                "status": r.status.value,
                "finding_type": r.finding_type,
                "severity": r.severity,
                "account_id": r.account_id,
                "created_at": r.created_at,
                "versions": r.versions,
                "reason": r.error,
                "declined": r.extra.get("declined") if r.status == "triage" else None,
                "milestones": r.milestones,
                "time_to_contain_s": _seconds(r.milestones, "first_seen", "contained"),
                "time_to_notify_s": _seconds(r.milestones, "first_seen", "drafted"),
                "parent_run_id": r.parent_run_id,
                "incident": r.incident,
                "children": [c["run_id"] for c in parents.get(r.run_id, [])],
            }
            for r in records
        ]
        if as_json:
            print_json(rows)
            return
        table = Table(title=f"runs ({settings.store_url})", title_justify="left")
        columns = ("run", "playbook", "status", "finding", "incident", "created", "to contain", "to draft", "why")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                text(row["run_id"]),
                text(row["playbook"]),
                styled(row["status"]),
                text(f"{row['finding_type']} ({row['severity']:g})"),
                text(_incident_cell(row, parents.get(row["run_id"], []))),
                text(row["created_at"]),
                _human(row["time_to_contain_s"]),
                _human(row["time_to_notify_s"]),
                text(row["reason"] or ""),
            )
        console().print(table)

    def _incident_cell(row: dict[str, Any], children: list[dict[str, Any]]) -> str:
        """``child of run-…`` for a child run; ``N children: 2 succeeded, 1 failed`` for a parent."""
        if row["parent_run_id"]:
            return f"child of {row['parent_run_id']}"
        if not children:
            return ""
        counts = Counter(c["status"] for c in children)
        return f"{len(children)} children: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))

    def _show_incident(record: Any, children: list[dict[str, Any]]) -> None:
        if record.parent_run_id:
            console().print(f"part of incident {text(record.incident)}: child of run {text(record.parent_run_id)}")
        if children:
            console().print(f"incident {text(record.incident)}: {len(children)} child run(s)")
            for child in children:
                console().print(
                    f"  {text(child['run_id'])}  {text(child['playbook'])}  {styled(child['status'])}  "
                    f"{text(child.get('resource_type') or '')} {text(child.get('resource') or '')}"
                )

    def _decide(
        run_id: str,
        step: str,
        by: str,
        reason: str | None,
        approved: bool,
        as_json: bool,
        playbooks: list[Path] | None,
        sandbox: bool,
    ) -> None:
        with _run_environment(run_id, sandbox) as settings:
            service = wiring.build_responder(settings, playbook_paths=playbooks, observer=Progress(as_json))

            def announce(decided: Any) -> None:
                from ..slack.approvals import announce_decision

                announce_decision(settings, decided)

            decided, won = decide(
                service.engine, run_id, step, approved=approved, by=by, reason=reason, via="cli", announce=announce
            )
            if not won:
                err_console().print(
                    f"already decided: {decided.state.value} by {text(decided.decided_by)} at "
                    f"{text(decided.decided_at)}; nothing changed"
                )
            result = service.resume(run_id)
        _show_results([result], as_json)
        raise typer.Exit(_exit_for([result]))

    @app.command()
    def approve(
        run_id: str,
        step: str,
        by: Annotated[str, typer.Option("--by", help="who approves")],
        reason: Annotated[str | None, typer.Option("--reason")] = None,
        sandbox: SandboxOpt = False,
        playbooks: PlaybooksOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Approve a waiting step and resume the run (exactly once, whoever gets there first)."""
        _decide(run_id, step, by, reason, True, as_json, playbooks, sandbox)

    @app.command()
    def deny(
        run_id: str,
        step: str,
        by: Annotated[str, typer.Option("--by", help="who denies")],
        reason: Annotated[str | None, typer.Option("--reason")] = None,
        sandbox: SandboxOpt = False,
        playbooks: PlaybooksOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Deny a waiting step; the run continues without it."""
        _decide(run_id, step, by, reason, False, as_json, playbooks, sandbox)

    @app.command()
    def audit(run_id: str, sandbox: Annotated[bool, typer.Option("--sandbox")] = False) -> None:
        """Export a run's audit trail as JSON lines."""
        from ..state import open_store

        settings = settings_for_run(run_id, sandbox)
        store = open_store(settings.store_url)
        if store.get_run(run_id) is None:
            raise BadInput(f"no run {run_id}")
        for entry in store.audit_log(run_id):
            typer.echo(json.dumps(entry, default=str, sort_keys=True))

    @app.command("run-id")
    def run_id_cmd(finding_id: str, playbook_id: str) -> None:
        """Print the deterministic run id of a finding and playbook."""
        typer.echo(run_id_for(finding_id, playbook_id))
