"""What an action is: a typed, registered unit of work with declared permissions.

An action never looks anything up: the :class:`StepContext` hands it the finding, its clients, the
evidence locker and the clock. ``plan`` only reads; ``apply`` reads current state first, so running it
twice changes nothing the second time; ``undo`` restores the ``before`` state recorded by ``apply``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from ..clock import Clock
    from ..config import Settings
    from ..evidence.base import EvidenceLocker
    from ..findings.model import Finding
    from ..state.base import RunStore


class Category(StrEnum):
    """Where a step sits in a response; the engine orders and guards steps by it."""

    EVIDENCE = "evidence"
    CONTAIN = "contain"
    SCOPE = "scope"
    NOTIFY = "notify"
    ENRICH = "enrich"
    UTILITY = "utility"


class ActionInput(BaseModel):
    """Base of every action's input model: unknown arguments are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionOutput(BaseModel):
    """Base of every action's output model: later steps may reference exactly these fields."""

    model_config = ConfigDict(extra="allow")


class NoOutput(ActionOutput):
    pass


class Change(BaseModel):
    """What ``plan`` found: whether ``apply`` would change anything, and from what to what."""

    will_change: bool
    summary: str
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class Outcome(BaseModel):
    """What ``apply`` (or ``undo``) did. ``before`` is what undo restores; ``after`` what drift checks."""

    changed: bool
    summary: str
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class Connectors:
    """The outside world an action may reach, supplied by whoever builds the Engine.

    ``aws`` selects a session from the finding's account and region; the others are created on first
    use by factories the caller passes in (Kubernetes, Slack, scope backends), so the engine never
    imports them.
    """

    def __init__(self, **factories: Callable[[], Any] | Any) -> None:
        self._factories = dict(factories)
        self._made: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._made:
            if name not in self._factories:
                from ..errors import NotConfigured

                raise NotConfigured(
                    f"no {name!r} connection is configured for this run",
                    hint=f"configure {name} access (see README) or run with --sandbox",
                )
            factory = self._factories[name]
            self._made[name] = factory() if callable(factory) else factory  # a factory, or the thing itself
        return self._made[name]

    def has(self, name: str) -> bool:
        return name in self._factories or name in self._made


@dataclass
class StepContext:
    """Everything one step may use, passed explicitly (no implicit globals)."""

    run_id: str
    step_id: str
    playbook_id: str
    finding: Finding
    clock: Clock
    evidence: EvidenceLocker
    settings: Settings
    connectors: Connectors
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: Callable[[str], None] = lambda message: None
    dry_run: bool = False
    store: RunStore | None = None
    #: write-ahead of the state an effect is about to change: call it right before the first write, so a
    #: crash between the effect and its record still leaves release the true "before" (see the engine)
    record_before: Callable[[dict[str, Any]], None] = lambda before: None
    #: the "before" an earlier attempt of this step wrote ahead and never recorded the end of ({} if none):
    #: an action with several writes that stopped between them is applied again to a half-changed target,
    #: and what it reads then is not the state before the run — that attempt's write-ahead record is
    written_ahead: dict[str, Any] = field(default_factory=dict)

    def aws(self, service: str, *, region: str | None = None, account: str | None = None) -> Any:
        """A boto3 client in the finding's account and region (or those given)."""
        access = self.connectors.get("aws")
        return access.client(service, account=account or self.finding.account_id, region=region or self.finding.region)

    def identity(self) -> dict[str, Any]:
        """Who responder itself is in the target account (for refusing to contain itself)."""
        return self.connectors.get("aws").identity(account=self.finding.account_id, region=self.finding.region)

    @property
    def now(self) -> Any:
        return self.clock.now()


InputT = TypeVar("InputT", bound=ActionInput)


class Action(ABC, Generic[InputT]):
    """One registered unit of work. Subclasses set the class attributes and implement plan/apply."""

    name: ClassVar[str]
    Input: ClassVar[type[ActionInput]]
    Output: ClassVar[type[ActionOutput]] = NoOutput
    category: ClassVar[Category]
    mutates: ClassVar[bool] = False
    reversible: ClassVar[bool] = False
    #: apply calls ``ctx.record_before`` before its first write: the engine claims the step then, in one write
    records_before: ClassVar[bool] = False
    #: the output's ``steps`` are step specs the engine appends to the run (arguments as data, never templates)
    expands: ClassVar[bool] = False
    #: False: reads and writes nothing in the account (only the finding and the evidence locker), so a
    #: containment step may start beside it (``responder.engine.graph``)
    touches_account: ClassVar[bool] = True
    permissions: ClassVar[frozenset[str]] = frozenset()
    undo_permissions: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def plan(self, ctx: StepContext, inp: InputT) -> Change:
        """Read-only: say what apply would change."""

    @abstractmethod
    def apply(self, ctx: StepContext, inp: InputT) -> Outcome:
        """Make the change; a no-op when the target is already in the desired state."""

    def preview(self, ctx: StepContext, inp: InputT) -> dict[str, Any]:
        """The outputs a plan can know without acting (read-only), so later steps can be planned too.

        Read-only enrichment actions (``mutates = False``, not evidence) are simply applied during a plan.
        """
        return {}

    def undo(
        self,
        ctx: StepContext,
        inp: InputT,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        """Restore ``applied.before``; refuse (TargetChanged) if the target drifted from ``applied.after``."""
        raise NotImplementedError(f"{self.name} cannot be undone")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "category": cls.category.value,
            "mutates": cls.mutates,
            "reversible": cls.reversible,
            "permissions": sorted(cls.permissions),
            "undo_permissions": sorted(cls.undo_permissions),
            "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        }
