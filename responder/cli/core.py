"""Core commands: validate, schema, match, plan, run, resume, runs, demo, approve/deny, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import app as wiring
from ..actions.registry import default_registry
from ..clock import iso
from ..config import AwsSettings, Settings, load_settings
from ..engine.results import RunResult
from ..errors import BadInput, PlaybookInvalid
from ..findings import load_file
from ..findings.model import Finding
from ..playbook import match as matcher
from ..playbook.schema import playbook_schema
from ..playbook.validate import LoadedPlaybook, load_playbooks
from ..service import exit_code
from .render import console, err_console, print_json, steps_table, text

PlaybooksOpt = Annotated[
    list[Path] | None,
    typer.Option("--playbooks", "-p", help="playbook files or folders (default: ./playbooks, RESPONDER_PLAYBOOKS)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
SandboxOpt = Annotated[
    bool, typer.Option("--sandbox", help="in the drill environment (embedded AWS emulator; `responder sandbox down`)")
]
_DRILL: dict[str, Any] = {}


@contextmanager
def _environment(
    finding: Finding, sandbox: bool, *, quiet: bool, settings: Settings | None = None
) -> Iterator[Settings]:
    """Real settings, or the drill's: the shared emulator seeded from the finding, the drill's own store."""
    settings = settings or _settings()
    if not sandbox:
        yield settings
        return
    from ..sandbox import drill

    drill_settings = sandbox_settings(settings)
    with drill.attached(drill_settings.home, finding) as box:
        _DRILL["box"] = box
        _DRILL["home"] = drill_settings.home
        try:
            _prepare_sandbox_logs(drill_settings, finding, quiet, box)
            yield drill_settings
        finally:
            _DRILL.clear()


def settings_for_run(run_id: str | None, sandbox: bool) -> Settings:
    """The settings whose store holds ``run_id``: the drill's when asked, or when only the drill has it.

    So the next command responder prints after a drill works exactly as printed, with or without --sandbox.
    """
    from ..state import open_store

    settings = _settings()
    drill_settings = sandbox_settings(settings)
    if sandbox:
        return drill_settings
    in_drill = (
        run_id
        and (drill_settings.home / "runs.sqlite3").exists()
        and open_store(settings.store_url).get_run(run_id) is None
        and open_store(drill_settings.store_url).get_run(run_id) is not None
    )
    if in_drill:
        err_console().print(f"[dim]run {text(run_id)} is a drill run: using the sandbox[/]")
        return drill_settings
    return settings


@contextmanager
def _run_environment(run_id: str, sandbox: bool) -> Iterator[Settings]:
    """Where a run lives, and for a drill run the drill's emulator attached (seeded from its finding)."""
    from ..state import open_store

    settings = settings_for_run(run_id, sandbox)
    if settings.home != sandbox_settings(_settings()).home:
        yield settings
        return
    record = open_store(settings.store_url).get_run(run_id)
    if record is None:
        raise BadInput(f"no drill run {run_id}; `responder runs --sandbox` lists them")
    with _environment(record.finding_model(), True, quiet=True) as drilled:
        yield drilled


def _settings() -> Settings:
    return load_settings()


def _playbooks(paths: list[Path] | None) -> list[LoadedPlaybook]:
    return wiring.load_shipped(default_registry(), paths)


def sandbox_settings(settings: Settings, home: Path | None = None) -> Settings:
    """Sandbox runs keep their own store and locker: a drill never joins a real run."""
    from ..sandbox import SANDBOX_EXTERNAL_ID, SANDBOX_ROLE

    base = home or settings.home / "sandbox"
    return settings.model_copy(
        update={
            "home": base,
            "store_url": f"sqlite:///{base / 'runs.sqlite3'}",
            "evidence_url": f"file://{base / 'evidence'}",
            "aws": AwsSettings(role_name=SANDBOX_ROLE, external_id=SANDBOX_EXTERNAL_ID),
        }
    )


def _exit_for(results: list[RunResult]) -> int:
    return exit_code(results)


def _run_json(result: RunResult) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["steps"] = [
        {
            k: s.get(k)
            for k in (
                "id",
                "action",
                "category",
                "status",
                "changed",
                "summary",
                "error",
                "retryable",
                "attempts",
                "duration_ms",
                "output",
                "notes",
            )
        }
        for s in data["steps"]
    ]
    return data


def _show_results(results: list[RunResult], as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        if not results:
            print_json({"run_id": None, "playbook": None, "status": "unmatched", "steps": [], **(extra or {})})
            return
        first = _run_json(results[0])
        if len(results) > 1:
            first["runs"] = [_run_json(r) for r in results]
        first.update(extra or {})
        print_json(first)
        return
    if not results:
        console().print("no playbook matches this finding: nothing to run ([dim]`responder match EVENT` says why[/])")
    for result in results:
        title = f"run {result.run_id} — {result.playbook} — {result.status}"
        console().print(steps_table(title, result.steps))
        if result.message:
            console().print(f"[dim]{text(result.message)}[/]")
        if result.status == "waiting":
            for step in result.waiting_for:
                console().print(
                    f"waiting for approval of [bold]{text(step)}[/]: "
                    f"`responder approve {result.run_id} {step} --by NAME --reason TEXT`"
                )


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(
        paths: Annotated[list[Path] | None, typer.Argument(help="playbook files or folders")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Check playbooks; print every problem as path:line: field: message (exit 2 on any)."""
        targets = [Path(p) for p in paths] if paths else wiring.playbook_dirs()
        for target in targets:
            if not target.exists():
                raise BadInput(f"{target}: no such file or folder")
        try:
            loaded = load_playbooks(list(targets), default_registry())
        except PlaybookInvalid as exc:
            if as_json:
                print_json({"valid": False, "problems": [p.__dict__ for p in exc.problems]})
            else:
                for problem in exc.problems:
                    typer.echo(str(problem))
                err_console().print(f"[red]{len(exc.problems)} problem(s)[/]")
            raise typer.Exit(2) from None
        if as_json:
            print_json({"valid": True, "playbooks": [{"id": p.playbook.id, "path": p.path} for p in loaded]})
        else:
            for item in loaded:
                console().print(
                    f"[green]ok[/] {text(item.path)} ({text(item.playbook.id)}, {len(item.playbook.steps)} steps)"
                )

    @app.command()
    def schema() -> None:
        """Print the playbook JSON Schema (generated from the action registry) for editor completion."""
        print_json(playbook_schema(default_registry()))

    @app.command()
    def match(
        event: Annotated[Path, typer.Argument(help="event or findings file (JSON / JSON Lines)")],
        playbooks: PlaybooksOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Which playbooks answer the findings in EVENT, and why the others do not."""
        findings = load_file(event)
        loaded = _playbooks(playbooks)
        rows = []
        for finding in findings:
            results = [matcher.evaluate(p.playbook, finding) for p in loaded]
            rows.append(
                {
                    "finding": {
                        "id": finding.id,
                        "source": finding.source.value,
                        "type": finding.type,
                        "severity": finding.severity,
                        "severity_label": finding.severity_label.value,
                        "account_id": finding.account_id,
                        "region": finding.region,
                        "resource": finding.resource.model_dump(mode="json"),
                        "actor": finding.actor.model_dump(mode="json", exclude_none=True),
                        "incident_start": iso(finding.incident_start),
                    },
                    "playbooks": [r.playbook.id for r in results if r.matched],
                    "not_matched": {r.playbook.id: r.reason for r in results if not r.matched},
                    "resource_kinds": list(finding.resource_kinds),
                    "explanation": matcher.explain(finding, results),
                }
            )
        if as_json:
            print_json(rows if len(rows) != 1 else {**rows[0], "findings": rows})
            return
        table = Table(title="findings and playbooks", title_justify="left")
        for column in ("finding", "type", "severity", "resource", "playbooks (or why none: kept for triage on run)"):
            table.add_column(column, overflow="fold")
        for row in rows:
            f = row["finding"]
            table.add_row(
                text(f["id"]),
                text(f["type"]),
                text(f"{f['severity']:g} {f['severity_label']}"),
                text(", ".join(row["resource_kinds"])),
                text(", ".join(row["playbooks"]) or _declined_summary(row["not_matched"])),
            )
        console().print(table)
        for row in rows:
            console().print(text(row["explanation"]))


def _declined_summary(reasons: dict[str, str]) -> str:
    """Why no playbook answers, in a line per playbook (the run would keep it for triage)."""
    return "none — " + "; ".join(f"{pid}: {why}" for pid, why in sorted(reasons.items()))


def _seconds(milestones: dict[str, str], start: str, end: str) -> float | None:
    try:
        a = datetime.fromisoformat(milestones[start].replace("Z", "+00:00"))
        b = datetime.fromisoformat(milestones[end].replace("Z", "+00:00"))
    except (KeyError, ValueError, AttributeError):
        return None
    return round((b - a).total_seconds(), 1)


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _require_emulator() -> None:
    """Before reading anything: say how to install the emulator if the sandbox extra is missing (exit 2)."""
    from ..sandbox import require_emulator

    require_emulator()


def _sandbox_state(box: Any, finding: Finding) -> list[dict[str, Any]]:
    from ..sandbox import drill

    home = _DRILL.get("home")
    if home is not None:
        return drill.describe(home, finding)
    return drill.state_rows(box, finding)


def _print_before_after(sandbox: dict[str, Any]) -> None:
    table = Table(title=f"in the emulator (account {sandbox['account_id']})", title_justify="left")
    table.add_column("what")
    table.add_column("before", overflow="fold")
    table.add_column("after", overflow="fold")
    for before, after in zip(sandbox["before"], sandbox["after"], strict=False):
        for key in sorted({*before, *after} - {"principal"}):
            b, a = before.get(key), after.get(key)
            style = "[yellow]" if b != a else ""
            end = "[/]" if style else ""
            table.add_row(
                text(f"{before.get('principal', '')} {key}"),
                text(json.dumps(b, default=str)),
                f"{style}{text(json.dumps(a, default=str))}{end}",
            )
    console().print(table)


def _seed_leftovers(settings: Settings, finding: Finding, truth: Any, box: Any) -> None:
    """What the generated story left behind goes into the emulator too, so the closed loop meets it."""
    from ..sandbox import drill, seed_story_leftovers

    if drill.status(settings.home) is not None:
        drill.seed_leftovers(settings.home, finding, truth)
    elif box is not None:
        seed_story_leftovers(box, truth)


def _prepare_sandbox_logs(settings: Settings, finding: Finding, quiet: bool, box: Any = None) -> None:
    """Generate CloudTrail/Flow Logs telling this finding's story, so scope steps have data to read."""
    from ..samples import StoryParams, generate

    if settings.scope.get("cloudtrail"):
        return
    key = finding.first("access_key") or finding.first("role_session")
    logs = settings.home / "sample-logs"
    cloudtrail, flow_logs = logs / "cloudtrail", logs / "flowlogs"
    if not (cloudtrail / "AWSLogs").exists():
        if not quiet:
            err_console().print(f"[dim]generating sample CloudTrail and Flow Logs for the drill in {logs}[/]")
        params: dict[str, Any] = {
            "account_id": finding.account_id or "123456789012",
            "region": finding.region or "us-east-1",
        }
        if key is not None and getattr(key, "access_key_id", None):
            params["access_key_id"] = key.access_key_id
        if key is not None and getattr(key, "user_name", None):
            params["user_name"] = key.user_name
        if finding.actor.ip:
            params["attacker_ip"] = finding.actor.ip
        if finding.incident_start:
            params["start"] = finding.incident_start
        truth = generate(logs, 20_000, story=StoryParams(**params))
        cloudtrail, flow_logs = Path(truth.cloudtrail_dir), Path(truth.flow_logs_dir)
        _seed_leftovers(settings, finding, truth, box)
    settings.scope["cloudtrail"] = str(cloudtrail)
    settings.scope["flow_logs"] = str(flow_logs)
