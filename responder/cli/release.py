"""``responder release``: undo a run's containment, refusing where someone changed things since."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import app as wiring
from ..engine.release import release as release_run
from ..errors import BadInput
from ..service.incident import children_of_parent
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
        with_children: Annotated[
            bool,
            typer.Option("--with-children", help="an incident's run: release each child run (one per resource) too"),
        ] = False,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Restore the state saved before each containment step of a run (recorded as run steps).

        All-or-nothing: if any step's target drifted since responder left it, nothing is changed and the
        drifted steps are named (exit 1); `--step` or `--force` release partially on purpose. An attack
        sequence's run has a child run per resource: `--with-children` releases them too, each all-or-nothing.
        """
        with _run_environment(run_id, sandbox) as settings:
            engine = wiring.build_engine(settings, observer=Progress(as_json))
            parent = engine.store.get_run(run_id)
            if parent is None:
                raise BadInput(f"no run {run_id}; `responder runs` lists runs")
            children = [c["run_id"] for c in children_of_parent(engine.store.list_runs(), parent)]
            if children and with_children and step:
                raise BadInput("--step names a step of one run; release the children without it")
            runs = [run_id, *(children if with_children else [])]
            answers = []
            for one in runs:
                result = release_run(engine, one, step_id=step, force=force, options={"reenable_keys": reenable_keys})
                released = [s for s in result.steps if s["id"].startswith("release:")]
                answers.append(
                    {
                        "run_id": one,
                        "released": released,
                        "refused": [s for s in released if s["status"] == "failed"],
                        "kept": [s for s in released if s["status"] == "kept"],
                        "message": result.message,
                    }
                )
        left = [] if with_children else children
        hint = (
            f"this incident has {len(left)} child run(s) still contained: `responder release {run_id} "
            "--with-children` releases them too (or release each)"
            if left
            else None
        )
        if as_json:
            print_json({**answers[0], "children": answers[1:], "children_not_released": left, "hint": hint})
        else:
            for answer in answers:
                out().print(steps_table(f"release of {answer['run_id']}", answer["released"]))
                if answer["message"]:
                    out().print(text(answer["message"]))
            if hint:
                out().print(text(hint))
        raise typer.Exit(1 if any(a["refused"] or a["message"] for a in answers) else 0)
