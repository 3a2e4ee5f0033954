"""Reads an earlier step of the same run made moments ago, reused instead of asked again.

Containment reads current state before it writes; when the evidence step read exactly that state a moment
earlier in the same run, asking again only adds a round trip between the finding and the change. Reuse is
bounded in time (:data:`FRESH_FOR`, by the run's clock): a resumed run, or one that waited for a person,
reads again. Release (``undo``) never reuses: its drift check needs the state as it is now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..base import StepContext

FRESH_FOR = timedelta(seconds=10)  # a run's next step follows in milliseconds


def observed_recently(ctx: StepContext, at: Any) -> bool:
    """Whether an observation stamped ``at`` (ISO text) was made by this run moments ago."""
    if not isinstance(at, str) or not at:
        return False
    try:
        when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return timedelta(0) <= ctx.now - when <= FRESH_FOR


def fresh_output(
    ctx: StepContext, matches: Callable[[dict[str, Any]], bool], stamp: str = "captured_at"
) -> dict[str, Any] | None:
    """The output of an earlier step of this run that ``matches`` and was made moments ago, if any."""
    for output in (ctx.outputs or {}).values():
        if isinstance(output, dict) and observed_recently(ctx, output.get(stamp)) and matches(output):
            return output
    return None
