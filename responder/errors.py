"""One error tree for responder, mapped to exit codes at the CLI edge.

::

    ResponderError
    ├── BadInput                 exit 2: nothing was run
    │   ├── FindingInvalid       event name, field
    │   ├── PlaybookInvalid      problems: [path:line: field: message]
    │   ├── ConfigInvalid
    │   └── StoreDamaged         the run store cannot be used as it is: names it and what to do
    ├── ActionFailed             run_id, step_id → exit 1
    │   ├── Transient            throttling, 5xx, timeouts: retried with backoff + jitter
    │   │   └── RetriesExhausted still failing after the bounded retries: a later resume may succeed
    │   ├── Denied               access denied: fails at once, names the permission
    │   ├── NotConfigured        no role / cluster / connector configured: fix it, then resume
    │   ├── Refused              a safety rule says no (self-containment, service-linked role, ...):
    │   │                        the step is recorded ``refused``, the run ``partial``
    │   │   └── Kept             release keeps a safeguard on purpose (a key stays inactive without
    │   │                        --reenable-keys): recorded ``kept``, not a failure
    │   └── TargetChanged        gone or changed since plan / since responder left it
    ├── StepClaimed              another process holds the lease
    ├── PlaybookChanged          resume refused: the playbook's digest differs
    ├── AwaitingApproval         exit 3
    └── Interrupted              SIGINT/SIGTERM: the run is left resumable, exit 130

Control flow branches on these classes and their ``retryable`` attribute, never on message text or
class-name strings: a step record keeps ``retryable`` so a later process (the Lambda handler, a
redelivery) can decide without the exception object.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class ResponderError(Exception):
    """Base of every error responder raises on purpose."""

    exit_code = 1
    #: a later attempt may succeed without anyone changing anything (throttling, a lost lease)
    retryable = False

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


class StoreDamaged(BadInput):
    """The run store is damaged, missing, unreadable, read-only or full: nothing more is run against it.

    The message names the store and what is wrong; the hint says what a person does next."""


class ActionFailed(ResponderError):
    exit_code = 1


class Transient(ActionFailed):
    """Throttling or a passing fault: safe to retry because actions are idempotent."""

    retryable = True


class RetriesExhausted(Transient):
    """Still throttled (or failing transiently) after the bounded per-call retries.

    The step fails and is not retried on top (one retry layer); a resume or redelivery may try later.
    """


class Denied(ActionFailed):
    """Access denied: retrying cannot help; the message names the missing permission."""

    def __init__(self, message: str, *, permission: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.permission = permission


class NotConfigured(ActionFailed):
    """Responder lacks the access or configuration the step needs (a role, a cluster, a connector).

    A failure, not a refusal: the cause is fixable, and ``resume`` after the fix runs the step again.
    """


class Refused(ActionFailed):
    """A safety rule refused the change before anything was touched; a person must act instead."""


class Kept(Refused):
    """Release keeps this containment on purpose (a safeguard), e.g. a leaked key stays inactive."""


class TargetChanged(ActionFailed):
    """The target is gone or differs from what responder recorded."""


class StepClaimed(ResponderError):
    """Another process holds this run or step; it will finish it."""

    retryable = True


class PlaybookChanged(ResponderError):
    exit_code = 2


class AwaitingApproval(ResponderError):
    exit_code = 3


class Interrupted(ResponderError):
    """SIGINT or SIGTERM arrived while a run was going: it is recorded ``interrupted`` and resumable."""

    exit_code = 130


@contextmanager
def step_context(run_id: str | None, step_id: str | None) -> Iterator[None]:
    """Stamp run and step ids on any ResponderError passing through."""
    try:
        yield
    except ResponderError as exc:
        exc.run_id = exc.run_id or run_id
        exc.step_id = exc.step_id or step_id
        raise
