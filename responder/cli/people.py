"""``responder iam-policy``: the least-privilege policy for the chosen playbooks.

(``approve`` / ``deny`` stay with the core commands; Slack decisions arrive through the Lambda.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import BadInput
from ..playbook.validate import LoadedPlaybook


def _chosen(names: list[str] | None, paths: list[Path] | None) -> list[LoadedPlaybook]:
    from .. import app as wiring
    from ..actions.registry import default_registry

    registry = default_registry()
    explicit = [Path(n) for n in names or [] if Path(n).exists()]
    ids = [n for n in names or [] if not Path(n).exists()]
    loaded = wiring.load_shipped(registry, explicit or paths)
    if explicit and not ids:
        return loaded
    if ids:
        by_id = {p.playbook.id: p for p in (loaded if not explicit else wiring.load_shipped(registry, paths))}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise BadInput(f"no playbook {', '.join(map(repr, unknown))}; known: {', '.join(sorted(by_id))}")
        return [by_id[i] for i in ids] + (loaded if explicit else [])
    return loaded


def register(app: typer.Typer) -> None:
    @app.command("iam-policy")
    def iam_policy(
        playbooks: Annotated[
            list[str] | None, typer.Argument(help="playbook ids or files/folders (default: all loaded)")
        ] = None,
        undo: Annotated[bool, typer.Option("--undo", help="also what `responder release` needs")] = False,
        role_name: Annotated[
            str | None,
            typer.Option("--role-name", help="add sts:AssumeRole on this member-account role (cross-account)"),
        ] = None,
        paths: Annotated[list[Path] | None, typer.Option("--playbooks", "-p", help="where playbooks live")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="the document plus what each action needs")] = False,
    ) -> None:
        """Print the least-privilege IAM policy the playbooks need, from each action's declared permissions."""
        from ..actions.registry import default_registry
        from ..config import load_settings
        from ..iam_policy import actions_used, permissions, policy_for

        registry = default_registry()
        chosen = _chosen(playbooks, paths)
        settings = load_settings()  # the S3 writes are scoped to the configured evidence / Athena locations
        document = policy_for(
            chosen,
            registry,
            undo=undo,
            role_name=role_name,
            evidence_url=settings.evidence_url,
            athena_output=(settings.scope.get("athena") or {}).get("output"),
        )
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "playbooks": sorted(p.playbook.id for p in chosen),
                        "actions": actions_used(chosen),
                        "permissions_by_action": permissions(chosen, registry, undo=undo),
                        "policy": document,
                    },
                    indent=2,
                    sort_keys=True,
                )
            )
            return
        typer.echo(json.dumps(document, indent=2))
