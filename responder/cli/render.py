"""Rich output for people: tables on stdout, progress and errors on stderr. ``--json`` bypasses it."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..engine.events import EngineEvent

STATE_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "waiting": "yellow",
    "skipped": "dim",
    "planned": "cyan",
    "denied": "magenta",
    "running": "blue",
    "pending": "dim",
    "released": "blue",
    "suppressed": "dim",
    "unmatched": "dim",
}


def _width(stream: object) -> int | None:
    """Pipes and CI logs get 160 columns rather than rich's 80, so tables stay readable."""
    import os

    if os.environ.get("COLUMNS"):
        return None
    isatty = getattr(stream, "isatty", None)
    return None if isatty and isatty() else 160


def console() -> Console:
    """One console per output stream and width setting (a notebook or a test may swap ``sys.stdout``)."""
    import os

    return _console(False, id(sys.stdout), os.environ.get("COLUMNS"))


def err_console() -> Console:
    import os

    return _console(True, id(sys.stderr), os.environ.get("COLUMNS"))


@lru_cache(maxsize=8)
def _console(stderr: bool, _stream: int, _columns: str | None) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=_width(stream))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def styled(state: str) -> str:
    return f"[{STATE_STYLE.get(state, 'white')}]{escape(state)}[/]"


def text(value: Any) -> str:
    """Finding data shown to people: escaped so it cannot inject rich markup."""
    return escape("" if value is None else str(value))


class Progress:
    """Prints what the engine does as it does it (to stderr, so stdout stays clean for --json)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def __call__(self, event: EngineEvent) -> None:
        if self.quiet:
            return
        out = err_console()
        d = event.data
        if event.kind == "run_started":
            out.print(
                f"[bold]▶ run {event.run_id}[/] playbook [cyan]{text(d.get('playbook'))}[/] — {text(d.get('finding'))}"
            )
        elif event.kind == "run_joined":
            note = "updated finding recorded" if d.get("updated") else "duplicate delivery"
            out.print(
                f"[bold]↺ run {event.run_id}[/] exists ({styled(str(d.get('status')))}); {note}, nothing repeated"
            )
        elif event.kind == "step_started":
            attempt = f" (attempt {d['attempt']})" if d.get("attempt", 1) > 1 else ""
            out.print(f"  … {text(event.step_id)} [dim]{text(d.get('action'))}[/]{attempt}")
        elif event.kind == "step_finished":
            state = str(d.get("state"))
            mark = {"succeeded": "✔", "failed": "✘", "planned": "◌", "denied": "⊘"}.get(state, "•")
            detail = d.get("error") or d.get("summary") or ""
            changed = " [yellow](changed)[/]" if d.get("changed") else ""
            out.print(f"  {mark} {text(event.step_id)} {styled(state)}{changed}: {text(detail)}")
            for note in d.get("notes") or []:
                out.print(f"      [dim]note: {text(note)}[/]")
        elif event.kind == "step_skipped":
            out.print(f"  – {text(event.step_id)} {styled('skipped')}: {text(d.get('reason'))}")
        elif event.kind == "step_waiting":
            out.print(
                f"  ⏸ {text(event.step_id)} {styled('waiting')} for approval until {text(d.get('timeout_at'))}: "
                f"{text(d.get('summary'))}"
            )
        elif event.kind == "log":
            out.print(f"      [dim]{text(d.get('message'))}[/]")
        elif event.kind == "run_finished":
            out.print(f"[bold]■ run {event.run_id}[/] {styled(str(d.get('status')))}")


def steps_table(title: str, steps: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("step")
    table.add_column("action", style="dim")
    table.add_column("status")
    table.add_column("changed")
    table.add_column("summary", overflow="fold")
    for step in steps:
        table.add_row(
            text(step["id"]),
            text(step["action"]),
            styled(step["status"]),
            "yes" if step.get("changed") else "",
            text(step.get("error") or step.get("summary") or ""),
        )
    return table
