"""Who a snapshot, image or DB snapshot is shared with, and what to take away.

EBS snapshots (``createVolumePermission``), AMIs (``launchPermission``) and RDS snapshots (the
``restore`` attribute) share the same shape: a list of account ids, plus a public marker (group ``all``
for EC2, the value ``all`` for RDS). An attacker who shares a disk image with their own account has
copied the data once the other side copies it; taking the permission away stops any *later* copy, and
the run keeps the list so release can put it back exactly.

``accounts`` names the outside accounts to remove; ``None`` means every outside account and the public
marker. The resource owner's own account is never removed (it is not a share).
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any, ClassVar

from pydantic import Field, field_validator

from ...errors import TargetChanged
from ..base import Action, ActionInput, Category, Change, Outcome, StepContext

PUBLIC = "all"
_ACCOUNT = re.compile(r"^\d{12}$")


class ShareRemoval(ActionInput):
    """Which outside accounts lose access (``None``: all of them, and public access)."""

    accounts: list[str] | None = Field(
        None,
        description="12-digit account ids, or 'all' for public access; "
        "default: every outside account and public access",
    )

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for account in value:
            if account != PUBLIC and not _ACCOUNT.match(str(account)):
                raise ValueError(f"{account!r} is not a 12-digit account id (or 'all')")
        return sorted(set(value))


def to_remove(shared: list[str], wanted: list[str] | None, owner: str | None) -> list[str]:
    """The entries of ``shared`` to take away: the named ones (or all), never the owner's own account."""
    chosen = shared if wanted is None else [s for s in shared if s in wanted]
    return sorted(s for s in chosen if s != owner)


def ec2_permissions(entries: list[dict[str, Any]]) -> list[str]:
    """``[{'UserId': '4444…'}, {'Group': 'all'}]`` → ``['4444…', 'all']`` (sorted)."""
    out = {str(e["UserId"]) for e in entries if e.get("UserId")}
    out |= {PUBLIC for e in entries if e.get("Group") == PUBLIC}
    return sorted(out)


def ec2_entries(values: list[str]) -> list[dict[str, str]]:
    return [{"Group": PUBLIC} if v == PUBLIC else {"UserId": v} for v in values]


class UnshareBase(Action[Any]):
    """Plan/apply/undo shared by every "take the outside accounts away" action.

    Subclasses say how to read the shared list, add and remove entries, and name the target. ``before``
    records the full list and ``after`` what responder left; undo adds back exactly what apply removed,
    and refuses when the list changed since (someone shared or unshared again) unless forced.
    """

    category = Category.CONTAIN
    mutates = True
    records_before = True  # subclasses write once (_change): the list before is written ahead of it
    reversible = True
    what: ClassVar[str] = "resource"

    @abstractmethod
    def _target(self, inp: Any) -> str: ...

    @abstractmethod
    def _read(self, ctx: StepContext, inp: Any) -> tuple[list[str], str | None]:
        """(shared entries, owner account) — raise TargetChanged when the resource is gone."""

    @abstractmethod
    def _change(self, ctx: StepContext, inp: Any, *, add: list[str], remove: list[str]) -> None: ...

    def plan(self, ctx: StepContext, inp: Any) -> Change:
        shared, owner = self._read(ctx, inp)
        gone = to_remove(shared, inp.accounts, owner)
        left = [s for s in shared if s not in gone]
        return Change(
            will_change=bool(gone),
            summary=f"stop sharing {self.what} {self._target(inp)} with "
            f"{', '.join(gone) or 'nobody (not shared with those accounts)'}",
            before={"shared_with": shared},
            after={"shared_with": left},
            notes=["copies the other account already made are out of reach: ask its owner, or AWS"] if gone else [],
        )

    def apply(self, ctx: StepContext, inp: Any) -> Outcome:
        shared, owner = self._read(ctx, inp)
        gone = to_remove(shared, inp.accounts, owner)
        left = [s for s in shared if s not in gone]
        out = {"target": self._target(inp), "removed": gone, "shared_with": left, "public_removed": PUBLIC in gone}
        if not gone:
            return Outcome(
                changed=False,
                summary=f"{self.what} {self._target(inp)} is not shared with {inp.accounts or 'any outside account'}",
                before={"shared_with": shared},
                after={"shared_with": shared},
                output=out,
            )
        before = {"shared_with": shared, "removed": gone}  # undo adds back exactly "removed"
        ctx.record_before(before)
        self._change(ctx, inp, add=[], remove=gone)
        return Outcome(
            changed=True,
            summary=f"stopped sharing {self.what} {self._target(inp)} with {', '.join(gone)}",
            before=before,
            after={"shared_with": left},
            output=out,
        )

    def undo(
        self,
        ctx: StepContext,
        inp: Any,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        current, _ = self._read(ctx, inp)
        left = applied.after.get("shared_with", [])
        notes: list[str] = []
        if sorted(current) != sorted(left):
            if not force:
                raise TargetChanged(
                    f"sharing of {self.what} {self._target(inp)} changed since responder left it: "
                    f"now {current}, responder left {left}; use --force to release anyway"
                )
            notes.append(f"drift overridden: now {current}, responder left {left}")
        back = [s for s in applied.before.get("removed", []) if s not in current]
        if back:
            self._change(ctx, inp, add=back, remove=[])
        return Outcome(
            changed=bool(back),
            summary=f"shared {self.what} {self._target(inp)} again with {', '.join(back) or 'nobody new'}",
            before={"shared_with": current},
            after={"shared_with": sorted({*current, *back})},
            notes=notes,
        )
