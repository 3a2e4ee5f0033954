"""One error tree for responder, mapped to exit codes at the CLI edge.

::

    ResponderError
    ├── BadInput                 exit 2: nothing was run
    │   ├── FindingInvalid       event name, field
    │   ├── PlaybookInvalid      problems: [path:line: field: message]
    │   └── ConfigInvalid
    ├── ActionFailed             run_id, step_id → exit 1
    │   ├── Transient            throttling, 5xx, timeouts: retried with backoff + jitter
    │   │   └── RetriesExhausted still failing after the bounded retries: not retried again
    │   ├── Denied               access denied: fails at once, names the permission
    │   ├── Refused              a precondition says no (self-containment, service-linked role, ...)
    │   └── TargetChanged        gone or changed since plan / since responder left it
    ├── StepClaimed              another process holds the lease
    ├── PlaybookChanged          resume refused: the playbook's digest differs
    └── AwaitingApproval         exit 3
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class ResponderError(Exception):
    """Base of every error responder raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.run_id: str | None = None
        self.step_id: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.run_id or self.step_id:
            where = f"[run {self.run_id or '?'} step {self.step_id or '?'}] "
        return f"{where}{self.message}"


class BadInput(ResponderError):
    """The input cannot be used: nothing has been run or changed."""

    exit_code = 2


class FindingInvalid(BadInput):
    """A raw event cannot be turned into a Finding."""

    def __init__(self, event: str, field: str, message: str) -> None:
        super().__init__(f"{event}: {field}: {message}")
        self.event = event
        self.field = field


@dataclass(frozen=True)
class Problem:
    """One problem in one playbook file, printed as ``path:line: field: message``."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class PlaybookInvalid(BadInput):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems) or "invalid playbook")


class ConfigInvalid(BadInput):
    pass


class ActionFailed(ResponderError):
    exit_code = 1


class Transient(ActionFailed):
    """Throttling or a passing fault: safe to retry because actions are idempotent."""


class RetriesExhausted(Transient):
    """Still throttled (or failing transiently) after the bounded per-call retries.

    The step fails and is not retried on top (one retry layer); a resume or redelivery may try later.
    """


class Denied(ActionFailed):
    """Access denied: retrying cannot help; the message names the missing permission."""

    def __init__(self, message: str, *, permission: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.permission = permission


class Refused(ActionFailed):
    """A precondition refused the change before anything was touched."""


class TargetChanged(ActionFailed):
    """The target is gone or differs from what responder recorded."""


class StepClaimed(ResponderError):
    """Another process holds this run or step; it will finish it."""


class PlaybookChanged(ResponderError):
    exit_code = 2


class AwaitingApproval(ResponderError):
    exit_code = 3


@contextmanager
def step_context(run_id: str | None, step_id: str | None) -> Iterator[None]:
    """Stamp run and step ids on any ResponderError passing through."""
    try:
        yield
    except ResponderError as exc:
        exc.run_id = exc.run_id or run_id
        exc.step_id = exc.step_id or step_id
        raise
