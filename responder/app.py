"""Wire the engine with its collaborators from settings: the one place every way in builds it.

The CLI, the Lambda handlers and notebooks call :func:`build_engine`; tests pass their own parts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .actions.base import Connectors
from .actions.registry import Registry, default_registry
from .clock import Clock, SystemClock
from .config import Settings
from .engine.events import Observer, no_observer
from .engine.runner import ApprovalNotifier, Engine
from .evidence.local import open_locker
from .playbook.validate import LoadedPlaybook, load_playbooks
from .state import open_store


def playbook_dirs(explicit: Sequence[str | Path] | None = None) -> list[Path]:
    """``--playbooks`` paths, else ``RESPONDER_PLAYBOOKS``, else ./playbooks, else the shipped ones."""
    if explicit:
        return [Path(p) for p in explicit]
    env = os.environ.get("RESPONDER_PLAYBOOKS")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    local = Path.cwd() / "playbooks"
    if local.is_dir():
        return [local]
    return [Path(__file__).resolve().parent.parent / "playbooks"]


def load_shipped(registry: Registry | None = None, paths: Sequence[str | Path] | None = None) -> list[LoadedPlaybook]:
    return load_playbooks(list(playbook_dirs(paths)), registry or default_registry())


def build_connectors(settings: Settings, *, aws: Any = None) -> Connectors:
    def make_aws() -> Any:
        from .aws.sessions import AwsAccess

        return AwsAccess(settings.aws)

    from .k8s.access import kubernetes_factory

    return Connectors(aws=aws if aws is not None else make_aws, k8s=kubernetes_factory(settings))


def error_translators() -> list[Any]:
    from .aws.errors import translate
    from .k8s.errors import translate as k8s_translate

    return [translate, k8s_translate]


def approval_notifiers(settings: Settings) -> list[ApprovalNotifier]:
    from .slack.approvals import notifiers_from_settings

    return list(notifiers_from_settings(settings))


def build_engine(
    settings: Settings,
    *,
    observer: Observer = no_observer,
    clock: Clock | None = None,
    aws: Any = None,
    registry: Registry | None = None,
    **overrides: Any,
) -> Engine:
    store = overrides.pop("store", None) or open_store(settings.store_url)
    return Engine(
        store=store,
        registry=registry or default_registry(),
        connectors=overrides.pop("connectors", None) or build_connectors(settings, aws=aws),
        evidence=overrides.pop("evidence", None) or open_locker(settings.evidence_url, store=store),  # anchored
        settings=settings,
        clock=clock or SystemClock(),
        observer=observer,
        error_translators=overrides.pop("error_translators", None) or error_translators(),
        approval_notifiers=overrides.pop("approval_notifiers", None) or approval_notifiers(settings),
        **overrides,
    )


def triage_notifiers(settings: Settings) -> list[Any]:
    """Where a finding no playbook answers is posted (Slack, when a channel and token are configured)."""
    from .slack import client as slack_client

    if not slack_client.channel(settings):
        return []
    from .slack.approvals import post_triage

    return [lambda run: post_triage(settings, run)]


def build_responder(
    settings: Settings,
    *,
    playbook_paths: Sequence[str | Path] | None = None,
    via: str = "cli",
    engine: Engine | None = None,
    **engine_options: Any,
) -> Any:
    """The respond service every way in uses: engine, loaded playbooks, triage destinations."""
    from .service import Responder

    engine = engine or build_engine(settings, **engine_options)
    return Responder(
        engine, load_shipped(engine.registry, playbook_paths), triage_notifiers=triage_notifiers(settings), via=via
    )
