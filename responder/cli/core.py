"""Core commands: validate, schema, match, plan, run, resume, runs, demo, approve/deny, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import app as wiring
from ..actions.registry import default_registry
from ..clock import iso
from ..config import AwsSettings, Settings, load_settings
from ..engine.results import RunResult
from ..engine.runner import run_id_for
from ..errors import BadInput, PlaybookInvalid, ResponderError
from ..findings import load_file
from ..findings.model import Finding
from ..playbook import match as matcher
from ..playbook.schema import playbook_schema
from ..playbook.validate import LoadedPlaybook, load_playbooks
from ..service import decide, exit_code
from .render import Progress, console, err_console, print_json, steps_table, styled, text

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
    from .. import drill

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

    @app.command()
    def plan(
        event: Annotated[Path, typer.Argument(help="event or findings file")],
        playbook: Annotated[str | None, typer.Option(help="plan this playbook (default: all that match)")] = None,
        sandbox: Annotated[bool, typer.Option("--sandbox", help="against the embedded AWS emulator")] = False,
        playbooks: PlaybooksOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Say what each step would change, calling only read APIs (writes nothing)."""
        findings = load_file(event)
        plans = []
        for finding in findings:
            with _environment(finding, sandbox, quiet=True) as settings:
                service = wiring.build_responder(settings, playbook_paths=playbooks)
                for item in service.select(finding, playbook):
                    plans.append(service.engine.plan(item, finding))
        if as_json:
            data = [p.model_dump(mode="json") for p in plans]
            print_json(data[0] if len(data) == 1 else data)
            return
        if not plans:
            console().print("no playbook matches: nothing to plan")
        for p in plans:
            table = Table(title=f"plan {p.run_id} — {p.playbook} — posture {p.posture}", title_justify="left")
            for column in ("step", "action", "runs", "changes", "summary"):
                table.add_column(column, overflow="fold")
            for s in p.steps:
                change = "?" if s.will_change is None else ("yes" if s.will_change else "no")
                if s.needs_approval:
                    change += " (approval)"
                table.add_row(
                    text(s.id), text(s.action), "yes" if s.will_run else "no", change, text(s.error or s.summary)
                )
            console().print(table)

    @app.command()
    def run(
        event: Annotated[Path, typer.Argument(help="event or findings file")],
        playbook: Annotated[str | None, typer.Option(help="run this playbook (default: all that match)")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="plan only: change nothing")] = False,
        sandbox: Annotated[
            bool,
            typer.Option(
                "--sandbox", help="against the embedded AWS emulator seeded from the finding (no account needed)"
            ),
        ] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress on stderr")] = False,
        playbooks: PlaybooksOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Run the matching playbook(s) for the findings in EVENT (joins an existing run; repeats nothing).

        Exit codes: 0 succeeded (or planned, suppressed, kept for triage), 1 failed (evidence or containment),
        2 bad input, 3 waiting for a person, 4 partial (contained; a later step failed or was refused),
        5 another worker is executing the run, 130 interrupted (resumable).
        """
        findings = load_file(event)
        results: list[RunResult] = []
        extra: dict[str, Any] = {}
        for finding in findings:
            with _environment(finding, sandbox, quiet=quiet or as_json) as settings:
                box = _DRILL.get("box")
                if box is not None:
                    extra["sandbox"] = {
                        "endpoint": box.endpoint,
                        "account_id": box.account_id,
                        "home": str(settings.home),
                        "before": _sandbox_state(box, finding),
                    }
                service = wiring.build_responder(settings, playbook_paths=playbooks, observer=Progress(quiet))
                results.extend(service.respond_one(finding, playbook_id=playbook, dry_run=dry_run))
                if box is not None:
                    extra["sandbox"]["after"] = _sandbox_state(box, finding)
        _show_results(results, as_json, extra)
        if "sandbox" in extra and not as_json:
            _print_before_after(extra["sandbox"])
        raise typer.Exit(_exit_for(results))

    @app.command()
    def resume(
        run_id: Annotated[str, typer.Argument()],
        allow_changed: Annotated[
            bool, typer.Option("--allow-changed", help="resume even though the playbook changed since the run started")
        ] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
        sandbox: SandboxOpt = False,
        playbooks: PlaybooksOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Continue a run from its last finished step; failed steps run again (retry after fixing the cause)."""
        with _run_environment(run_id, sandbox) as settings:
            service = wiring.build_responder(settings, playbook_paths=playbooks, observer=Progress(quiet))
            result = service.resume(run_id, allow_changed=allow_changed)
        _show_results([result], as_json)
        raise typer.Exit(_exit_for([result]))

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
            if as_json:
                data = _run_json(result)
                data["finding"] = {k: record.finding.get(k) for k in ("id", "type", "severity", "account_id", "region")}
                data["approvals"] = [a.model_dump(mode="json") for a in store.approvals(run_id)]
                print_json(data)
            else:
                _show_results([result], False)
            return
        records = store.list_runs()
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
            }
            for r in records
        ]
        if as_json:
            print_json(rows)
            return
        table = Table(title=f"runs ({settings.store_url})", title_justify="left")
        for column in ("run", "playbook", "status", "finding", "created", "to contain", "to draft", "why"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                text(row["run_id"]),
                text(row["playbook"]),
                styled(row["status"]),
                text(f"{row['finding_type']} ({row['severity']:g})"),
                text(row["created_at"]),
                _human(row["time_to_contain_s"]),
                _human(row["time_to_notify_s"]),
                text(row["reason"] or ""),
            )
        console().print(table)

    @app.command()
    def demo(as_json: JsonOpt = False, quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False) -> None:
        """Replay a shipped GuardDuty finding (leaked IAM key) against the embedded AWS emulator."""
        from importlib import resources

        _require_emulator()
        sample = resources.files("responder") / "data" / "samples" / "guardduty-iam-exfiltration.json"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        home = _settings().home / "demo" / stamp
        with resources.as_file(sample) as path:
            findings = load_file(path)
        finding = findings[0]
        if not as_json:
            console().print(
                f"[bold]demo[/]: {text(finding.summary())}\n"
                f"  embedded AWS emulator, no account needed; state and evidence in {text(home)}\n"
            )
        demo_settings = _settings().model_copy(update={"home": home})
        with _environment(finding, True, quiet=quiet or as_json, settings=demo_settings) as settings:
            box = _DRILL["box"]
            before = _sandbox_state(box, finding)
            service = wiring.build_responder(settings, observer=Progress(quiet or as_json))
            if not service.select(finding):
                raise ResponderError("the demo finding matches no playbook (are the shipped playbooks valid?)")
            results = service.respond_one(finding)
            after = _sandbox_state(box, finding)
        waiting = any(r.waiting_for for r in results)
        if not waiting:  # nothing left for a person: the drill's emulator is not needed any more
            from .. import drill

            drill.down(sandbox_settings(demo_settings).home)
        extra = {
            "sandbox": {
                "endpoint": box.endpoint,
                "account_id": box.account_id,
                "home": str(home),
                "before": before,
                "after": after,
            }
        }
        if as_json:
            _show_results(results, True, extra)
        else:
            _show_results(results, False)
            _print_before_after(extra["sandbox"])
            env = f"RESPONDER_HOME={home}"
            run_id = results[0].run_id
            lines = [f"evidence:  {env} responder evidence verify {run_id}"]
            for result in results:
                for step in result.waiting_for:
                    lines.append(f"decide:    {env} responder approve {result.run_id} {step} --by NAME --reason TEXT")
            lines.append(f"release:   {env} responder release {run_id} --reenable-keys")
            if waiting:
                lines.append(f"tear down: {env} responder sandbox down   (the drill's emulator is kept for the above)")
            console().print("\nnext, in this drill:\n  " + "\n  ".join(text(line) for line in lines))
        # the drill ran as designed when a person is only asked to decide: the demo's job is done (exit 0)
        raise typer.Exit(0 if waiting and _exit_for(results) == 3 else _exit_for(results))

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
    from .. import drill

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
    from .. import drill
    from ..sandbox import seed_story_leftovers

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
