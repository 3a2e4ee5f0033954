"""The playbook as typed data: triggers, inputs and ordered steps.

A playbook is trusted configuration (reviewed like code); a finding is untrusted data. Templates live
only in the playbook; finding fields reach them as variables, never as template source.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from ..config import Posture
from ..findings.model import RESOURCE_KINDS, Source

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_ID = r"^[a-z][a-z0-9_-]{0,62}$"


def parse_duration(value: Any) -> float:
    """``90``, ``"90s"``, ``"30m"``, ``"4h"``, ``"2d"`` → seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m, 4h or 2d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration: use 30s, 15m, 4h or 2d")
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


#: what a duration may be written as; the JSON Schema says the same, so editors accept ``timeout: 1h``
Duration = Annotated[
    float,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[smhd]?\s*$"},
            ],
            "description": "seconds, or a duration such as 30s, 15m, 4h or 2d",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AllowDeny(_Strict):
    allow: list[str] = Field(default_factory=list, description="only these (empty: all)")
    deny: list[str] = Field(default_factory=list, description="never these (wins over allow)")


class Trigger(_Strict):
    """When a playbook answers a finding. Every condition given must hold.

    ``resource_kinds`` asks that the finding *names* a resource of one of those kinds, in any role (the
    bucket an access key read, the instance a role session came from); ``primary_kinds`` asks that the
    finding is *about* one (its primary resource). ``floor_exempt_types`` lists the types answered at any
    severity because the playbook checks the resource's real state itself: GuardDuty rates a disabled
    public-access block Low, but the bucket behind it may be public right now, and only the playbook's
    ``when`` can look.
    """

    sources: list[Source] = Field(default_factory=list, description="guardduty, securityhub, secrets, siem")
    types: list[str] = Field(
        default_factory=list, description="finding type globs, e.g. 'UnauthorizedAccess:IAMUser/*'"
    )
    exclude_types: list[str] = Field(default_factory=list)
    min_severity: float = Field(0.0, ge=0.0, le=10.0)
    floor_exempt_types: list[str] = Field(
        default_factory=list,
        description="type globs answered below min_severity: the playbook's own `when` checks the resource",
    )
    resource_kinds: list[str] = Field(
        default_factory=list, description="the finding names a resource of one of these kinds (any role)"
    )
    primary_kinds: list[str] = Field(
        default_factory=list, description="the finding is about a resource of one of these kinds (its primary)"
    )
    products: list[str] = Field(default_factory=list, description="product name globs (Security Hub)")
    accounts: AllowDeny = Field(default_factory=AllowDeny)
    regions: AllowDeny = Field(default_factory=AllowDeny)
    match: dict[str, Any] = Field(
        default_factory=dict, description="dotted finding path → value, list of values or glob"
    )
    include_archived: bool = False

    @field_validator("resource_kinds", "primary_kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        for kind in value:
            if kind not in RESOURCE_KINDS:
                raise ValueError(f"unknown resource kind {kind!r}; known: {', '.join(RESOURCE_KINDS)}")
        return value

    @field_validator("types", "exclude_types", "floor_exempt_types")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        for glob in value:
            if not glob or glob.count("[") != glob.count("]"):
                raise ValueError(f"bad type glob {glob!r}")
        return value


class Approval(_Strict):
    """Who must say yes before the step runs, and what happens if nobody answers."""

    users: list[str] = Field(default_factory=list, description="Slack user ids or names allowed to decide")
    groups: list[str] = Field(default_factory=list, description="Slack user group handles or ids")
    timeout: Duration = Field(3600.0, description="seconds, or 30m / 4h")
    on_timeout: Literal["approve", "deny", "escalate"] = "deny"
    escalate_to: list[str] = Field(default_factory=list)

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float:
        return parse_duration(value)

    @model_validator(mode="after")
    def _escalation(self) -> Approval:
        if self.on_timeout == "escalate" and not self.escalate_to:
            raise ValueError("on_timeout: escalate needs escalate_to (a group to ask next)")
        return self


class Retry(_Strict):
    attempts: int = Field(4, ge=1, le=10, description="total tries for throttling/transient errors")
    backoff: float = Field(0.5, ge=0.0, le=30.0, description="base of the jittered exponential backoff (s)")
    max_backoff: float = Field(20.0, ge=0.0, le=300.0)


class Step(_Strict):
    id: str = Field(pattern=_ID)
    action: str
    description: str | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | None = Field(None, description="Jinja2 expression; the step is skipped when false")
    approval: Approval | None = None
    retry: Retry = Field(default_factory=Retry)
    timeout: Duration = Field(300.0, description="seconds, or 30s / 5m")
    on_failure: Literal["abort", "continue"] | None = Field(
        None, description="default: continue (evidence and containment try everything they can)"
    )
    needs: list[str] = Field(
        default_factory=list,
        description="earlier steps this one waits for beyond those its with/when read (evidence and read-only "
        "enrichment steps otherwise run beside each other)",
    )

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float:
        return parse_duration(value)


class Playbook(_Strict):
    id: str = Field(pattern=_ID)
    title: str
    description: str | None = None
    version: int = 1
    triggers: list[Trigger] = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict, description="name → template over the finding")
    posture: Posture | None = None
    runbook: str | None = Field(None, description="path of the human runbook for this incident class")
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _single_trigger(cls, data: Any) -> Any:
        if isinstance(data, dict) and "trigger" in data and "triggers" not in data:
            data = dict(data)
            data["triggers"] = [data.pop("trigger")]
        return data

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
