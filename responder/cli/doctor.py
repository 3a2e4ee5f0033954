"""``responder doctor``: is the run store sound, is the evidence sound, and do the two agree?

A damaged store fails every command with a clear error already; the doctor answers the questions a
person asks next. The store: can it be opened, does SQLite's integrity check pass, does every item
read back. The locker: does each run's evidence verify against its anchor. Between them: a run whose
evidence the locker holds but the store has forgotten (the store was reset, truncated or lost its
table), or a run the store anchored whose evidence is gone. Exit 0 healthy, 2 damaged.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from ..config import Settings, load_settings
from ..errors import ResponderError
from .render import console, print_json, text

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
SandboxOpt = Annotated[bool, typer.Option("--sandbox", help="check the drill environment's store and locker")]


def _problem(kind: str, subject: str, detail: str) -> dict[str, str]:
    return {"kind": kind, "subject": subject, "detail": detail}


def _store_part(settings: Settings) -> tuple[Any, dict[str, Any]]:
    from ..state import open_store

    part: dict[str, Any] = {"url": settings.store_url, "runs": 0, "anchored": 0, "problems": []}
    try:
        store = open_store(settings.store_url)
    except ResponderError as exc:
        part["problems"].append(_problem("store_damaged", settings.store_url, _said(exc)))
        return None, part
    check = getattr(store, "check", None)
    if callable(check):
        part["problems"].extend(check())
    try:
        part["run_ids"] = sorted(r.run_id for r in store.list_runs())
        part["anchored_ids"] = store.anchored_runs()
    except (ResponderError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        part["problems"].append(_problem("store_unreadable", settings.store_url, _said(exc)))
        part["run_ids"], part["anchored_ids"] = [], []
    part["runs"], part["anchored"] = len(part["run_ids"]), len(part["anchored_ids"])
    return store, part


def _locker_part(settings: Settings, store: Any, store_part: dict[str, Any]) -> dict[str, Any]:
    from ..evidence.local import open_locker

    part: dict[str, Any] = {"url": settings.evidence_url, "runs": 0, "problems": []}
    try:
        locker = open_locker(settings.evidence_url, store=store)
        held = locker.run_ids()
    except (ResponderError, OSError) as exc:
        part["problems"].append(_problem("locker_unreadable", settings.evidence_url, _said(exc)))
        return part
    part["runs"] = len(held)
    known = set(store_part.get("run_ids") or [])
    for run_id in held:
        if store is not None and run_id not in known:
            part["problems"].append(
                _problem(
                    "run_unrecorded",
                    run_id,
                    "the evidence locker holds this run but the run store has no record of it: the store was "
                    "reset, truncated or replaced (restore it; a redelivered finding would otherwise start again)",
                )
            )
        try:
            report = locker.verify(run_id)
        except (ResponderError, OSError, ValueError) as exc:
            part["problems"].append(_problem("evidence_unreadable", run_id, _said(exc)))
            continue
        if not report.intact:
            kinds = sorted({p["kind"] for p in report.problems})
            part["problems"].append(
                _problem("evidence_damaged", run_id, f"{', '.join(kinds)} — `responder evidence verify {run_id}`")
            )
    for run_id in sorted(set(store_part.get("anchored_ids") or []) - set(held)):
        part["problems"].append(
            _problem(
                "evidence_missing",
                run_id,
                "the run store anchors this run's custody chain, but the locker "
                "holds no evidence for it: it was removed",
            )
        )
    return part


def _said(exc: BaseException) -> str:
    hint = getattr(exc, "hint", None)
    return f"{exc}" + (f" → {hint}" if hint else "")


def diagnose(settings: Settings) -> dict[str, Any]:
    """The doctor's findings as data (the ``--json`` shape)."""
    store, store_part = _store_part(settings)
    locker_part = _locker_part(settings, store, store_part)
    for part in (store_part, locker_part):
        part["ok"] = not part["problems"]
    store_part.pop("run_ids", None)
    store_part.pop("anchored_ids", None)
    return {"healthy": store_part["ok"] and locker_part["ok"], "store": store_part, "locker": locker_part}


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(sandbox: SandboxOpt = False, as_json: JsonOpt = False) -> None:
        """Check the run store and the evidence locker, and that they agree; exit 0 healthy, 2 damaged."""
        settings = load_settings()
        if sandbox:
            from .core import sandbox_settings

            settings = sandbox_settings(settings)
        result = diagnose(settings)
        if as_json:
            print_json(result)
        else:
            table = Table(title="responder doctor", title_justify="left")
            for column in ("part", "where", "status", "detail"):
                table.add_column(column, overflow="fold")
            for name in ("store", "locker"):
                part = result[name]
                summary = f"{part['runs']} runs" + (f", {part['anchored']} anchored" if "anchored" in part else "")
                table.add_row(name, text(part["url"]), "[green]ok[/]" if part["ok"] else "[red]damaged[/]", summary)
                for p in part["problems"]:
                    table.add_row("", text(p["subject"]), f"[red]{text(p['kind'])}[/]", text(p["detail"]))
            console().print(table)
        raise typer.Exit(0 if result["healthy"] else 2)
