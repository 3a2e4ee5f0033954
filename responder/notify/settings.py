"""The ``notify:`` section of config.yaml, parsed into a typed model with safe defaults.

Absent configuration means GDPR Art. 33 and 34 and UTC: the most common duty, and a time zone that
never surprises. Organisation details that are missing stay missing: drafts mark them "to be
completed" rather than invent a controller or a DPO.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ConfigInvalid

DEFAULT_REGIMES = ("gdpr-33", "gdpr-34")
DEFAULT_PERSONAL_DATA_TAGS = ("personal-data", "pii", "gdpr", "phi", "personal", "customer-data")


class Organisation(BaseModel):
    """Who the notices are from; every field is optional and printed only when known."""

    model_config = ConfigDict(extra="allow")

    controller: str | None = Field(None, description="legal name of the controller / covered entity / registrant")
    controller_contact: str | None = None
    dpo_contact: str | None = Field(None, description="DPO or other contact point (GDPR Art. 33(3)(b))")
    lead_authority: str | None = Field(None, description="lead supervisory authority (GDPR Art. 56(1))")
    representative: str | None = Field(None, description="EU representative (GDPR Art. 27), if any")
    csirt: str | None = Field(None, description="NIS2 CSIRT or competent authority")
    nis2_entity: str | None = Field(None, description="essential or important entity (NIS2 Art. 3)")
    sector: str | None = None
    ico_reference: str | None = Field(None, description="ICO registration number (UK)")
    encargado: str | None = Field(None, description="LGPD encarregado (LGPD art. 41)")
    hipaa_contact: str | None = Field(None, description="toll-free number / e-mail / address, 45 CFR 164.404(c)(1)(E)")


class NotifySettings(BaseModel):
    """Which regimes apply, in which time zone and holiday calendar deadlines are counted and shown."""

    model_config = ConfigDict(extra="forbid")

    regimes: tuple[str, ...] = DEFAULT_REGIMES
    timezone: str = "UTC"
    jurisdiction: str | None = Field(None, description="holiday calendar of the organisation, e.g. DE, DE-BY, US-NY")
    calendars: dict[str, str] = Field(
        default_factory=dict, description="holiday calendar per regime id, overriding the regime's default"
    )
    organisation: Organisation = Field(default_factory=Organisation)
    personal_data_tags: tuple[str, ...] = Field(
        DEFAULT_PERSONAL_DATA_TAGS,
        description="bucket tag keys, values or key=value pairs that mark personal data (case-insensitive)",
    )
    personal_data_buckets: tuple[str, ...] = Field(
        (), description="bucket name patterns (fnmatch) known to hold personal data, e.g. customers-*"
    )
    templates_dir: str | None = Field(None, description="folder of .j2 templates (default: runbooks/notifications)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/Berlin") from None
        return value

    @field_validator("regimes")
    @classmethod
    def _known_regimes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from .regimes import REGIMES

        unknown = [r for r in value if r not in REGIMES]
        if unknown:
            raise ValueError(f"unknown regime(s) {', '.join(unknown)}; valid: {', '.join(REGIMES)}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def notify_settings(raw: dict[str, Any] | None) -> NotifySettings:
    """Parse ``settings.notify``; errors name the field, as config errors do everywhere."""
    try:
        return NotifySettings.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigInvalid(
            f"config.yaml: notify.{field}: {first['msg']}", hint="see the notify: section in README"
        ) from None
