"""Responding: ``plan``, ``run``, ``resume`` and ``demo`` — thin commands over the respond service."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import app as wiring
from ..engine.results import RunResult
from ..errors import ResponderError
from ..findings import load_file
from .core import (
    _DRILL,
    JsonOpt,
    PlaybooksOpt,
    SandboxOpt,
    _environment,
    _exit_for,
    _print_before_after,
    _require_emulator,
    _run_environment,
    _sandbox_state,
    _settings,
    _show_results,
)
from .render import Progress, console, print_json, text


def register(app: typer.Typer) -> None:
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
                    plans.append(service.plan(item, finding))  # a sequence lists its children
        if as_json:
            data = [p.model_dump(mode="json") for p in plans]
            print_json(data[0] if len(data) == 1 else data)
            return
        if not plans:
            console().print("no playbook matches: nothing to plan")
        for p in plans:
            table = Table(title=f"plan {p.run_id} — {p.playbook} — posture {p.posture}", title_justify="left")
            for column in ("wave", "step", "action", "runs", "changes", "summary"):
                table.add_column(column, overflow="fold")
            for s in p.steps:
                change = "?" if s.will_change is None else ("yes" if s.will_change else "no")
                if s.needs_approval:
                    change += " (approval)"
                table.add_row(
                    str(s.wave),
                    text(s.id),
                    text(s.action),
                    "yes" if s.will_run else "no",
                    change,
                    text(s.error or s.summary),
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
            lines.append(f"tear down: {env} responder sandbox down   (the drill's emulator is kept for the above)")
            console().print("\nnext, in this drill:\n  " + "\n  ".join(text(line) for line in lines))
        # the drill ran as designed when a person is only asked to decide: the demo's job is done (exit 0)
        raise typer.Exit(0 if waiting and _exit_for(results) == 3 else _exit_for(results))
