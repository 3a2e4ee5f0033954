"""What the engine tells its observers (CLI progress, Slack threads, logs) while it works."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class EngineEvent:
    kind: str  # run_started, run_joined, step_started, step_finished, step_skipped, step_waiting, run_finished, log
    run_id: str
    step_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Observer(Protocol):
    def __call__(self, event: EngineEvent) -> None: ...


def no_observer(event: EngineEvent) -> None:
    return None
