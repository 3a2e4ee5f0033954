"""CloudTrail put back the way it was before the attacker blinded it.

``StopLogging``, ``DeleteTrail`` and ``PutEventSelectors`` (logging nothing, or only reads) are the usual
first moves of an intruder who knows the account is watched (GuardDuty's
``Stealth:IAMUser/CloudTrailLoggingDisabled``). ``start_logging`` turns a stopped trail back on;
``restore_event_selectors`` puts back the selectors recorded before the change (from CloudTrail's own
request parameters, or a baseline that logs every management event). Both record the state they found,
so release can return the trail to it — a person's choice, never automatic.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from ...errors import TargetChanged
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext

_TRAIL = r"^(arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:trail/)?[A-Za-z0-9._-]{3,128}$"
ALL_MANAGEMENT_EVENTS = [{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}]


class TrailInput(ActionInput):
    """A trail by name or ARN; an ARN's region is where the trail lives (its home region)."""

    trail: str = Field(pattern=_TRAIL)


def _client(ctx: StepContext, trail: str) -> Any:
    if trail.startswith("arn:"):
        parts = trail.split(":")
        return ctx.aws("cloudtrail", region=parts[3])
    return ctx.aws("cloudtrail")


def _missing(exc: Exception, trail: str) -> None:
    if "TrailNotFound" in str(exc):
        raise TargetChanged(f"trail {trail} does not exist (deleted: record it for recreation) ") from None


def _logging(ct: Any, trail: str) -> bool:
    try:
        return bool(ct.get_trail_status(Name=trail).get("IsLogging"))
    except Exception as exc:
        _missing(exc, trail)
        raise


# ---------------------------------------------------------------------------------------------
class StartLoggingOutput(ActionOutput):
    trail: str = ""
    was_logging: bool = False


class StartLogging(Action[TrailInput]):
    """Start a trail that was stopped, so the account's API activity is recorded again.

    A no-op on a trail that is logging. The state found is recorded; release stops the trail again only
    if a person asks for it (the stop was most likely the attacker's).
    """

    name = "aws.cloudtrail.start_logging"
    Input = TrailInput
    Output = StartLoggingOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"cloudtrail:GetTrailStatus", "cloudtrail:StartLogging"})
    undo_permissions = frozenset({"cloudtrail:GetTrailStatus", "cloudtrail:StopLogging"})

    def plan(self, ctx: StepContext, inp: TrailInput) -> Change:
        on = _logging(_client(ctx, inp.trail), inp.trail)
        return Change(
            will_change=not on,
            summary=f"start logging on trail {inp.trail}" if not on else f"trail {inp.trail} is logging",
            before={"is_logging": on},
            after={"is_logging": True},
        )

    def apply(self, ctx: StepContext, inp: TrailInput) -> Outcome:
        ct = _client(ctx, inp.trail)
        on = _logging(ct, inp.trail)
        out = StartLoggingOutput(trail=inp.trail, was_logging=on).model_dump()
        if on:
            return Outcome(
                changed=False,
                summary=f"trail {inp.trail} is already logging",
                before={"is_logging": True},
                after={"is_logging": True},
                output=out,
            )
        ctx.record_before({"is_logging": False})
        ct.start_logging(Name=inp.trail)
        return Outcome(
            changed=True,
            summary=f"started logging on trail {inp.trail}",
            before={"is_logging": False},
            after={"is_logging": True},
            output=out,
            notes=[
                "events between the stop and now were not delivered by this trail: the CloudTrail "
                "event history (90 days, management events) still has them"
            ],
        )

    def undo(
        self,
        ctx: StepContext,
        inp: TrailInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        ct = _client(ctx, inp.trail)
        on = _logging(ct, inp.trail)
        if not on and not force:
            raise TargetChanged(
                f"trail {inp.trail} was stopped again since responder started it; use --force to release anyway"
            )
        ct.stop_logging(Name=inp.trail)
        return Outcome(
            changed=True,
            summary=f"stopped trail {inp.trail} again, as it was before the run",
            before={"is_logging": on},
            after={"is_logging": False},
            notes=["the account's API activity is not recorded by this trail while it is stopped"],
        )


# ---------------------------------------------------------------------------------------------
class RestoreSelectorsInput(TrailInput):
    """The selectors to put back: basic or advanced (one kind), default every management event."""

    event_selectors: list[dict[str, Any]] | None = None
    advanced_event_selectors: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RestoreSelectorsInput:
        if self.event_selectors is not None and self.advanced_event_selectors is not None:
            raise ValueError("give event_selectors or advanced_event_selectors, not both (CloudTrail takes one)")
        return self

    def wanted(self) -> dict[str, Any]:
        if self.advanced_event_selectors is not None:
            return {"AdvancedEventSelectors": self.advanced_event_selectors}
        return {"EventSelectors": self.event_selectors if self.event_selectors is not None else ALL_MANAGEMENT_EVENTS}


def _normal(selectors: dict[str, Any]) -> dict[str, Any]:
    """Selectors as comparable data: only the kind in use, defaults filled as CloudTrail reports them."""
    advanced = selectors.get("AdvancedEventSelectors") or []
    if advanced:
        return {"AdvancedEventSelectors": json.loads(json.dumps(advanced, sort_keys=True))}
    basic = []
    for sel in selectors.get("EventSelectors") or []:
        basic.append(
            {
                "ReadWriteType": sel.get("ReadWriteType", "All"),
                "IncludeManagementEvents": sel.get("IncludeManagementEvents", True),
                "DataResources": sel.get("DataResources") or [],
                "ExcludeManagementEventSources": sel.get("ExcludeManagementEventSources") or [],
            }
        )
    return {"EventSelectors": basic}


def _selectors(ct: Any, trail: str) -> dict[str, Any]:
    try:
        reply = ct.get_event_selectors(TrailName=trail)
    except Exception as exc:
        _missing(exc, trail)
        raise
    return _normal(reply)


class RestoreEventSelectors(Action[RestoreSelectorsInput]):
    """Put a trail's event selectors back (by default: every management event, reads and writes).

    An attacker who cannot stop a trail narrows it instead (write-only, no management events, a data
    selector for nothing). The selectors found are recorded; release puts them back if the trail still
    has responder's.
    """

    name = "aws.cloudtrail.restore_event_selectors"
    Input = RestoreSelectorsInput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"cloudtrail:GetEventSelectors", "cloudtrail:PutEventSelectors"})
    undo_permissions = permissions

    def plan(self, ctx: StepContext, inp: RestoreSelectorsInput) -> Change:
        current = _selectors(_client(ctx, inp.trail), inp.trail)
        wanted = _normal(inp.wanted())
        return Change(
            will_change=current != wanted,
            summary=f"restore the event selectors of trail {inp.trail}",
            before={"selectors": current},
            after={"selectors": wanted},
        )

    def apply(self, ctx: StepContext, inp: RestoreSelectorsInput) -> Outcome:
        ct = _client(ctx, inp.trail)
        current = _selectors(ct, inp.trail)
        wanted = _normal(inp.wanted())
        if current == wanted:
            return Outcome(
                changed=False,
                summary=f"event selectors of trail {inp.trail} are already as wanted",
                before={"selectors": current},
                after={"selectors": current},
            )
        ctx.record_before({"selectors": current})
        ct.put_event_selectors(TrailName=inp.trail, **inp.wanted())
        after = _selectors(ct, inp.trail)
        return Outcome(
            changed=True,
            summary=f"restored the event selectors of trail {inp.trail}",
            before={"selectors": current},
            after={"selectors": after},
        )

    def undo(
        self,
        ctx: StepContext,
        inp: RestoreSelectorsInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        ct = _client(ctx, inp.trail)
        current = _selectors(ct, inp.trail)
        if current != applied.after.get("selectors") and not force:
            raise TargetChanged(
                f"event selectors of trail {inp.trail} changed since responder set them; use --force to release anyway"
            )
        previous = applied.before.get("selectors") or {"EventSelectors": []}
        ct.put_event_selectors(TrailName=inp.trail, **previous)
        return Outcome(
            changed=True,
            summary=f"put back the event selectors trail {inp.trail} had before the run",
            before={"selectors": current},
            after={"selectors": previous},
        )
