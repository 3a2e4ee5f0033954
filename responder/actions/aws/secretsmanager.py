"""Secrets the attacker could read, rotated — where rotation is configured.

Rotating is the only containment for a read secret: the old value stays valid wherever it was copied.
``rotate_secret`` starts Secrets Manager's own rotation (the configured Lambda, or RDS's managed rotation
for ``rds!…`` master-user secrets), so the database and the secret change together. A secret with no
rotation configured is not touched: setting a new value by hand without changing the database would
lock the application out. The step says so, and the runbook has the manual procedure.

Not reversible by design: release must never bring a compromised credential back. Only version ids and
stages are recorded, never a value. The version before is written ahead of the rotation
(``records_before``): a run resumed after a crash between the rotation and its record sees the version
moved on since that record and does not rotate a second time.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ...errors import TargetChanged
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext

_SECRET = r"^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@!-]{1,512}$"


class SecretInput(ActionInput):
    secret_id: str = Field(pattern=_SECRET, description="name or ARN")


class RotateOutput(ActionOutput):
    secret_id: str = ""
    rotated: bool = False
    rotation_enabled: bool = False
    version_before: str | None = None


def _describe(ctx: StepContext, inp: SecretInput) -> dict[str, Any]:
    client = ctx.aws("secretsmanager", region=inp.secret_id.split(":")[3] if inp.secret_id.startswith("arn:") else None)
    try:
        return dict(client.describe_secret(SecretId=inp.secret_id))
    except Exception as exc:
        if "ResourceNotFound" in str(exc):
            raise TargetChanged(f"secret {inp.secret_id} does not exist here") from None
        raise


def _current(desc: dict[str, Any]) -> str | None:
    return next((v for v, stages in (desc.get("VersionIdsToStages") or {}).items() if "AWSCURRENT" in stages), None)


class RotateSecret(Action[SecretInput]):
    """Rotate a secret now through its configured rotation; leave it (and say so) when none is configured."""

    name = "aws.secretsmanager.rotate_secret"
    Input = SecretInput
    Output = RotateOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # the version before is written ahead: a resumed run never rotates twice
    permissions = frozenset({"secretsmanager:DescribeSecret", "secretsmanager:RotateSecret"})

    def plan(self, ctx: StepContext, inp: SecretInput) -> Change:
        desc = _describe(ctx, inp)
        enabled = bool(desc.get("RotationEnabled"))
        return Change(
            will_change=enabled,
            summary=f"rotate secret {desc.get('Name')} now"
            if enabled
            else f"secret {desc.get('Name')} has no rotation configured: left for a person (runbook)",
            before={"version": _current(desc)},
            notes=["not reversible: the old value stays revoked"],
        )

    def apply(self, ctx: StepContext, inp: SecretInput) -> Outcome:
        desc = _describe(ctx, inp)
        enabled = bool(desc.get("RotationEnabled"))
        version = _current(desc)
        out = RotateOutput(
            secret_id=str(desc.get("ARN") or inp.secret_id), rotation_enabled=enabled, version_before=version
        )
        if not enabled:
            return Outcome(
                changed=False,
                summary=f"secret {desc.get('Name')} has no rotation configured: not "
                "rotated (a new value set by hand would not change the database)",
                before={"version": version},
                after={"version": version},
                output=out.model_dump(),
                notes=["rotate it by hand with the service that uses it (runbook)"],
            )
        earlier = ctx.written_ahead
        if "version" in earlier and earlier["version"] != version:
            out.rotated, out.version_before = True, earlier["version"]
            return Outcome(
                changed=False,  # the engine records the earlier attempt's effect as this step's
                summary=f"secret {desc.get('Name')} was rotated by an earlier attempt of this step "
                f"(version {earlier['version']} → {version}): not rotated again",
                before={"version": earlier["version"]},
                after={"version": version},
                output=out.model_dump(),
            )
        pending = [v for v, stages in (desc.get("VersionIdsToStages") or {}).items() if "AWSPENDING" in stages]
        if pending and desc.get("LastRotatedDate") and ctx.now.timestamp() - desc["LastRotatedDate"].timestamp() < 3600:
            out.rotated = True
            return Outcome(
                changed=False,
                summary=f"secret {desc.get('Name')} is being rotated already",
                before={"version": version},
                after={"version": version},
                output=out.model_dump(),
            )
        ctx.record_before({"version": version})
        ctx.aws("secretsmanager").rotate_secret(SecretId=inp.secret_id)
        out.rotated = True
        return Outcome(
            changed=True,
            summary=f"rotation of secret {desc.get('Name')} started (was version {version})",
            before={"version": version},
            after={"rotation_started": True},
            output=out.model_dump(),
            notes=["release does not bring the old value back: it was compromised"],
        )
