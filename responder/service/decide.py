"""decide(): one approval decision, from the CLI, Slack or the timeout sweep, recorded exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine.approvals import record_decision
from ..engine.runner import Engine
from ..errors import BadInput
from ..state.records import ApprovalRecord


def decide(
    engine: Engine,
    run_id: str,
    step_id: str,
    *,
    approved: bool,
    by: str,
    reason: str | None,
    via: str,
    announce: Callable[[ApprovalRecord], Any] | None = None,
) -> tuple[ApprovalRecord, bool]:
    """Record the decision (the first one wins) and its audit entry; announce it when it won.

    Returns the decision in force and whether this call made it. The caller resumes the run.
    """
    store = engine.store
    if store.get_approval(run_id, step_id) is None:
        raise BadInput(
            f"no approval is pending for step {step_id!r} of run {run_id}; `responder runs {run_id}` shows it"
        )
    decided, won = record_decision(
        store, run_id, step_id, approved=approved, by=by, reason=reason, via=via, at=engine.clock.now()
    )
    if won and announce is not None:
        try:
            announce(decided)
        except Exception:  # Slack being down must not block a decision
            pass
    return decided, won
