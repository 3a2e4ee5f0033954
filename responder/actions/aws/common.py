"""Shared pieces of AWS actions: principal references, self-protection and JSON-safe snapshots."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pydantic import model_validator

from ...errors import Refused
from ..base import ActionInput, StepContext

SERVICE_LINKED_PATH = "/aws-service-role/"
IDENTITY_CENTER_PREFIX = "AWSReservedSSO_"


def jsonable(value: Any) -> Any:
    """boto3 responses carry datetimes: turn them into ISO text for records and evidence."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime | date) else str(v)))


class PrincipalRef(ActionInput):
    """An IAM user or role, by name. Exactly one of the two."""

    user_name: str | None = None
    role_name: str | None = None

    @model_validator(mode="after")
    def _one(self) -> PrincipalRef:
        if bool(self.user_name) == bool(self.role_name):
            raise ValueError("give exactly one of user_name or role_name")
        return self

    @property
    def kind(self) -> str:
        return "user" if self.user_name else "role"

    @property
    def name(self) -> str:
        return self.user_name or self.role_name or ""


def refuse_self(
    ctx: StepContext, *, user_name: str | None = None, role_name: str | None = None, access_key_id: str | None = None
) -> None:
    """Responder never contains itself: refuse before any change (a plan precondition)."""
    ident = ctx.identity()
    arn = str(ident.get("Arn") or "")
    if access_key_id and access_key_id == ident.get("AccessKeyId"):
        raise Refused(
            f"access key {access_key_id} is the key responder itself signs with; refusing to "
            "contain it (responder would lock itself out mid-response)",
            hint="contain it by hand after moving responder to other credentials",
        )
    if user_name and (arn.endswith(f":user/{user_name}") or (":user/" in arn and arn.rsplit("/", 1)[-1] == user_name)):
        raise Refused(f"IAM user {user_name} is the identity responder runs as; refusing to contain itself")
    if role_name and ":assumed-role/" in arn and arn.split(":assumed-role/", 1)[1].split("/", 1)[0] == role_name:
        raise Refused(f"role {role_name} is the role responder runs as; refusing to contain itself")


def refuse_unrevocable_role(role: dict[str, Any]) -> None:
    """Service-linked and Identity Center roles cannot take responder's deny policies."""
    name = str(role.get("RoleName") or "")
    path = str(role.get("Path") or "")
    if path.startswith(SERVICE_LINKED_PATH):
        raise Refused(
            f"role {name} is service-linked: IAM does not allow changing its policies; nothing changed",
            hint="contain the service or resource that uses it instead",
        )
    if name.startswith(IDENTITY_CENTER_PREFIX) or "/aws-reserved/sso.amazonaws.com/" in path:
        raise Refused(
            f"role {name} is managed by IAM Identity Center: changes here would be reverted; nothing changed",
            hint="change the permission set (or remove the assignment) in IAM Identity Center",
        )
