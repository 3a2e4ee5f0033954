"""``responder coverage``: every documented GuardDuty finding type, and the playbook that answers it."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import app as wiring
from ..actions.registry import default_registry
from ..coverage import coverage, summary
from .render import console, print_json, text


def register(app: typer.Typer) -> None:
    @app.command(name="coverage")
    def coverage_command(
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")] = False,
        section: Annotated[str | None, typer.Option(help="only this section (ec2, iam, s3, runtime, ...)")] = None,
    ) -> None:
        """Which shipped playbook answers each GuardDuty finding type (probed at High severity), or notify-only."""
        from rich.table import Table

        playbooks = [p.playbook for p in wiring.load_shipped(default_registry())]
        rows = [r for r in coverage(playbooks) if section is None or r.section == section]
        if as_json:
            print_json({"summary": summary(rows), "types": [r.as_dict() for r in rows]})
            return
        table = Table(title="GuardDuty finding types → playbooks (probed at severity 8)", title_justify="left")
        for column in ("section", "finding type", "answered by, or why notify-only"):
            table.add_column(column, overflow="fold")
        for row in rows:
            answered = ", ".join(
                sorted({f"{a.playbook} ({a.resource_kind}, from {a.min_severity:g})" for a in row.answers})
            )
            why = (
                f"[dim]notify-only: {text(row.reason)}[/]" if row.reason else "[bold]notify-only: no reason written[/]"
            )
            table.add_row(text(row.section), text(row.type), text(answered) if answered else why)
        console().print(table)
        totals = summary(rows)
        console().print(
            f"{totals['answered']} of {totals['types']} active types answered by a playbook "
            f"({totals['answered_percent']:g}%); {totals['notify_only']} notify-only, "
            f"{totals['notify_only_with_reason']} of them with a written reason; {totals['retired']} retired types "
            f"not counted. Source: {text(totals['source'])}"
        )
