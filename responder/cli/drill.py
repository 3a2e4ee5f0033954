"""``responder sandbox up|down|status``: the drill environment that ``--sandbox`` commands share."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import load_settings
from ..sandbox import drill
from .core import sandbox_settings
from .render import console, print_json, text


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The drill environment (embedded AWS emulator) shared by --sandbox commands.")
    app.add_typer(group, name="sandbox")

    def home() -> Path:
        return sandbox_settings(load_settings()).home

    @group.command()
    def up(as_json: bool = typer.Option(False, "--json")) -> None:
        """Start the drill environment (the first --sandbox command does this too)."""
        info = drill.up(home())
        if as_json:
            print_json({"running": True, "pid": info.pid, "endpoint": info.endpoint, "home": str(home())})
        else:
            console().print(f"drill environment up: emulator at {text(info.endpoint)}, state in {text(home())}")

    @group.command()
    def status(as_json: bool = typer.Option(False, "--json")) -> None:
        """Is a drill environment running, and where."""
        info = drill.status(home())
        if as_json:
            print_json({"running": info is not None, "endpoint": info.endpoint if info else None, "home": str(home())})
        else:
            console().print(
                f"running: emulator at {text(info.endpoint)}" if info else "no drill environment is running"
            )

    @group.command()
    def down() -> None:
        """Stop the drill environment; drill runs and evidence stay in the sandbox home."""
        stopped = drill.down(home())
        console().print("drill environment stopped" if stopped else "no drill environment was running")
