"""``responder release``: undo a run's containment, refusing where someone changed things since."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import app as wiring
from ..engine.release import release as release_run
from ..errors import BadInput
from .core import _run_environment
from .render import Progress, print_json, steps_table, text
from .render import console as out


def register(app: typer.Typer) -> None:
    @app.command()
    def release(
        run_id: str,
        step: Annotated[str | None, typer.Option("--step", help="release only this step")] = None,
        force: Annotated[
            bool, typer.Option("--force", help="release even where the state drifted; the difference is recorded")
        ] = False,
        reenable_keys: Annotated[
            bool,
            typer.Option(
                "--reenable-keys", help="also re-activate deactivated access keys (normally they are rotated instead)"
            ),
        ] = False,
        sandbox: Annotated[bool, typer.Option("--sandbox", help="a drill run (found by id anyway)")] = False,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Restore the state saved before each containment step of a run (recorded as run steps).

        All-or-nothing: if any step's target drifted since responder left it, nothing is changed and the
        drifted steps are named (exit 1); `--step` or `--force` release partially on purpose.
        """
        with _run_environment(run_id, sandbox) as settings:
            engine = wiring.build_engine(settings, observer=Progress(as_json))
            if engine.store.get_run(run_id) is None:
                raise BadInput(f"no run {run_id}; `responder runs` lists runs")
            result = release_run(engine, run_id, step_id=step, force=force, options={"reenable_keys": reenable_keys})
        released = [s for s in result.steps if s["id"].startswith("release:")]
        failed = [s for s in released if s["status"] == "failed"]
        kept = [s for s in released if s["status"] == "kept"]
        if as_json:
            print_json(
                {"run_id": run_id, "released": released, "refused": failed, "kept": kept, "message": result.message}
            )
        else:
            out().print(steps_table(f"release of {run_id}", released))
            if result.message:
                out().print(text(result.message))
        raise typer.Exit(1 if failed or result.message else 0)
