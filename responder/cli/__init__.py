"""The on-call interface: ``responder``. The only home of typer and rich.

Exit codes scripts can trust: 0 succeeded (also planned, suppressed, kept for triage), 1 run failed
(evidence or containment), 2 bad input (nothing was run), 3 waiting for a person, 4 partial (contained;
a later step failed or a safety rule refused one), 5 another worker is executing the run,
130 interrupted (SIGINT/SIGTERM; the run is resumable).
"""

from __future__ import annotations

import sys

import typer

from ..errors import ResponderError
from . import core, coverage, doctor, drill, evidence, notify, people, release, respond, runs, samples, scope

app = typer.Typer(
    name="responder",
    help="Cloud incident-response playbooks: preserve evidence, contain, scope, notify — with people in the loop.\n\n"
    "Exit codes: 0 succeeded, 1 failed, 2 bad input, 3 waiting for a person, 4 partial, "
    "5 another worker runs it, 130 interrupted (resumable).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
core.register(app)

# Each command group registers its own commands; all of them ship, so they are imported plainly.
for _group in (respond, runs, scope, samples, notify, evidence, release, people, coverage, drill, doctor):
    _group.register(app)


def main() -> None:
    """Console entry point: map responder's errors to exit codes with a message that says what next."""
    import signal

    from rich.markup import escape

    from .render import err_console

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM ends a run the way Ctrl-C does: recorded, resumable

    signal.signal(signal.SIGTERM, terminated)
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except ResponderError as exc:
        _json_error(exc, exc.exit_code, exc.hint)
        # escaped: messages quote finding fields and install hints ('responder[sandbox]'), not markup
        err_console().print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        if exc.hint:
            err_console().print(f"[dim]→ {escape(exc.hint)}[/]", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        err_console().print("interrupted: the run is recorded; `responder resume RUN_ID` continues it")
        sys.exit(130)
    except Exception as exc:  # usage errors from typer's (vendored) click: "No such option", ...
        show = getattr(exc, "show", None)
        code = getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            usage = type(exc).__name__ in (
                "UsageError",
                "NoSuchOption",
                "BadParameter",
                "MissingParameter",
                "BadOptionUsage",
                "BadArgumentUsage",
            )
            _json_error(exc, 2 if usage else code, None)
            show()
            sys.exit(2 if usage else code)
        raise


def _json_error(exc: BaseException, code: int, hint: str | None) -> None:
    """Under ``--json`` the answer on stdout stays JSON when a command fails, so a pipeline can read why."""
    if "--json" not in sys.argv[1:]:
        return
    import json

    message = getattr(exc, "message", None) or str(exc)
    print(json.dumps({"ok": False, "error": message, "hint": hint, "kind": type(exc).__name__, "exit_code": code}))
