"""``responder evidence``: prove a run's evidence intact, list it, and hand it over.

``verify`` checks every artifact against its SHA-256, the custody chain entry by entry, and the chain's
head against its anchor outside the folder (the run store; with S3 also a retained object), and names
exactly what is wrong (exit 0 intact, 1 not, 2 no such run). Notes say what the check could not prove.
``export`` copies artifacts, manifest and custody log into
a folder for hand-over and records the hand-over in the chain first, so the copy carries its own record.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..clock import SystemClock
from ..config import Settings
from ..errors import BadInput
from ..evidence.anchor import signer_from_env
from ..evidence.base import VerifyReport, safe_name
from ..evidence.local import ExportedAnchor, LocalLocker, open_locker
from ..state import open_store
from .render import console, print_json, text

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
SandboxOpt = Annotated[bool, typer.Option("--sandbox", help="the evidence of runs made with --sandbox")]


def _settings(sandbox: bool, run_id: str | None = None) -> Settings:
    """The drill's settings when asked, or when only the drill holds ``run_id`` (printed commands work)."""
    from .core import settings_for_run

    return settings_for_run(run_id, sandbox)


def _locker(sandbox: bool, folder: Path | None = None, run_id: str | None = None) -> Any:
    if folder is not None:
        return LocalLocker(folder)
    settings = _settings(sandbox, run_id)
    return open_locker(settings.evidence_url, store=open_store(settings.store_url))


def _verify(run_id: str, sandbox: bool, folder: Path | None) -> VerifyReport:
    """Check the folder against its anchor and the run store's records; an unknown run is bad input."""
    if folder is not None:
        locker = LocalLocker(folder, anchors=ExportedAnchor(folder), signer=signer_from_env())
        if not locker.has_run(run_id) and not (folder / safe_name(run_id)).exists():
            raise BadInput(f"no such run {run_id} in {folder}", hint="name the folder `evidence export` wrote")
        return locker.verify(run_id)
    settings = _settings(sandbox, run_id)
    store = open_store(settings.store_url)
    locker = open_locker(settings.evidence_url, store=store)
    run = store.get_run(run_id)
    anchored = store.get_anchor(run_id) is not None
    if run is None and not anchored and not locker.has_run(run_id):
        raise BadInput(
            f"no such run {run_id}: neither the run store nor the evidence locker holds anything for it",
            hint="`responder runs` lists runs; `--sandbox` checks the runs made with --sandbox",
        )
    report = locker.verify(run_id)
    if run is None:
        report.note("the run store has no record of this run (only its evidence anchor or folder)")
    elif not anchored and locker.has_run(run_id):
        report.add(
            "anchor_missing",
            run_id,
            "the run store records this run and the locker holds its evidence, but no anchor of its custody "
            "chain exists: the anchor was removed, so the chain's length cannot be proved",
        )
    return report


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def register(app: typer.Typer) -> None:
    evidence = typer.Typer(help="Verify, list and hand over a run's evidence.", no_args_is_help=True)
    app.add_typer(evidence, name="evidence")

    @evidence.command()
    def verify(
        run_id: Annotated[str, typer.Argument(help="the run whose evidence to check")],
        folder: Annotated[
            Path | None,
            typer.Option("--dir", help="check an exported hand-over folder instead of the configured locker"),
        ] = None,
        sandbox: SandboxOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Check every artifact's SHA-256 and the hash-chained custody log; exit 1 naming what is wrong."""
        report = _verify(run_id, sandbox, folder)
        if as_json:
            print_json(report.as_dict())
        elif report.intact:
            console().print(
                f"[green]intact[/]: {report.artifacts} artifacts, {report.entries} custody entries "
                f"for run {text(run_id)}"
                + (f", anchored in {text(', '.join(report.anchored_in))}" if report.anchored_in else "")
            )
        else:
            table = Table(title=f"evidence of {text(run_id)} is NOT intact", title_justify="left")
            for column in ("problem", "where", "detail"):
                table.add_column(column, overflow="fold")
            for problem in report.problems:
                table.add_row(f"[red]{text(problem['kind'])}[/]", text(problem["subject"]), text(problem["detail"]))
            console().print(table)
        if not as_json:
            for note in report.notes:
                console().print(f"[dim]note: {text(note)}[/]")
        raise typer.Exit(0 if report.intact else 1)

    @evidence.command("list")
    def list_(run_id: Annotated[str, typer.Argument()], sandbox: SandboxOpt = False, as_json: JsonOpt = False) -> None:
        """The run's artifacts with their SHA-256, and its custody log."""
        locker = _locker(sandbox, run_id=run_id)
        artifacts = [a.as_dict() for a in locker.artifacts(run_id)]
        custody = locker.custody(run_id)
        if as_json:
            print_json({"run_id": run_id, "artifacts": artifacts, "custody": custody})
            return
        table = Table(title=f"evidence of {text(run_id)}", title_justify="left")
        for column in ("artifact", "sha256", "size", "collected", "by"):
            table.add_column(column, overflow="fold")
        for a in artifacts:
            table.add_row(
                text(a["name"]), text(a["sha256"]), str(a["size"]), text(a["collected_at"]), text(a["collected_by"])
            )
        console().print(table)
        console().print(f"{len(custody)} custody entries")

    @evidence.command()
    def export(
        run_id: Annotated[str, typer.Argument()],
        out: Annotated[Path, typer.Option("--out", help="folder to copy the evidence into")],
        actor: Annotated[str | None, typer.Option(help="who takes the hand-over (recorded)")] = None,
        sandbox: SandboxOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Copy artifacts, manifest and custody log for hand-over, recording the hand-over in the chain."""
        locker = _locker(sandbox, run_id=run_id)
        if not locker.artifacts(run_id) and not locker.custody(run_id):
            raise BadInput(f"no evidence for run {run_id}; `responder runs` lists runs")
        target = locker.export(run_id, out, actor=actor or _actor(), at=SystemClock().now())
        report = LocalLocker(target.parent, anchors=ExportedAnchor(target.parent), signer=signer_from_env()).verify(
            run_id
        )
        result = {
            "run_id": run_id,
            "out": str(target),
            "artifacts": report.artifacts,
            "custody_entries": report.entries,
            "intact": report.intact,
            "problems": report.problems,
        }
        if as_json:
            print_json(result)
        else:
            state = "[green]intact[/]" if report.intact else "[red]NOT intact[/]"
            console().print(
                f"exported {report.artifacts} artifacts and {report.entries} custody entries to "
                f"{text(target)} ({state}); check later with `responder evidence verify "
                f"{text(run_id)} --dir {text(target.parent)}`"
            )
        raise typer.Exit(0 if report.intact else 1)
