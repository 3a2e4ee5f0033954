"""A view of the outside world that can look but not touch: release checks drift with it first.

Release is all-or-nothing: before undoing anything it runs every undo against read-only clients.
An undo that reaches its first write has passed its drift check (the write is stopped, nothing
changed); one that raises ``TargetChanged`` found drift. Only when no step drifted does the real
release begin.
"""

from __future__ import annotations

from typing import Any

from ..actions.base import Connectors

READ_PREFIXES = ("describe_", "get_", "list_", "head_", "lookup_", "search_", "batch_get_", "read_", "query", "scan")
PASS_THROUGH = frozenset({"exceptions", "meta", "can_paginate", "get_paginator", "get_waiter", "close"})


class WouldChange(Exception):
    """A write reached during a read-only check: the check itself passed."""


class _ReadOnly:
    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name in PASS_THROUGH or name.startswith(READ_PREFIXES) or not callable(value):
            return value

        def stopped(*args: Any, **kwargs: Any) -> Any:
            raise WouldChange(name)

        return stopped


class _ReadOnlyAws:
    def __init__(self, access: Any) -> None:
        self._access = access

    def client(self, service: str, **kwargs: Any) -> Any:
        return _ReadOnly(self._access.client(service, **kwargs))

    def __getattr__(self, name: str) -> Any:  # identity(), sessions: reads
        return getattr(self._access, name)


class ReadOnlyConnectors(Connectors):
    """The same connectors, with every write stopped before it leaves the process."""

    def __init__(self, inner: Connectors) -> None:
        super().__init__()
        self._inner = inner

    def get(self, name: str) -> Any:
        real = self._inner.get(name)
        return _ReadOnlyAws(real) if name == "aws" else _ReadOnly(real)

    def has(self, name: str) -> bool:
        return self._inner.has(name)
