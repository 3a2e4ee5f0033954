"""Where responder keeps its state and what the organisation configured.

``$RESPONDER_HOME`` (default: the per-user state directory) holds the SQLite run store, the local
evidence locker, the scope cache and ``config.yaml``. Environment variables override the file:
``RESPONDER_STORE`` (``sqlite:///PATH`` | ``dynamodb://TABLE``), ``RESPONDER_EVIDENCE``
(``file://DIR`` | ``s3://BUCKET/PREFIX``), ``RESPONDER_CONFIG``, ``RESPONDER_POSTURE``,
``RESPONDER_ROLE_NAME``, ``RESPONDER_EXTERNAL_ID``.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigInvalid


class Posture(StrEnum):
    """How much responder may do alone: contain at once, ask first, or only plan."""

    AUTO = "auto"
    APPROVAL = "approval"
    DRY_RUN = "dry-run"


class AwsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role_name: str | None = Field(
        None, description="role to assume in other accounts, e.g. ResponderRole; may contain {account_id}"
    )
    external_id: str | None = None
    session_name: str = "responder"
    home_account: str | None = Field(None, description="account responder runs in (default: from STS)")
    default_region: str | None = None


class PostureSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: Posture = Posture.AUTO
    accounts: dict[str, Posture] = Field(default_factory=dict)
    playbooks: dict[str, Posture] = Field(default_factory=dict)

    def for_run(self, account_id: str | None, playbook_id: str) -> Posture:
        """Most specific wins: playbook, then account, then the organisation's default."""
        if playbook_id in self.playbooks:
            return self.playbooks[playbook_id]
        if account_id and account_id in self.accounts:
            return self.accounts[account_id]
        return self.default


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: Path
    store_url: str
    evidence_url: str
    aws: AwsSettings = Field(default_factory=AwsSettings)
    posture: PostureSettings = Field(default_factory=PostureSettings)
    notify: dict[str, Any] = Field(default_factory=dict)
    slack: dict[str, Any] = Field(default_factory=dict)
    scope: dict[str, Any] = Field(default_factory=dict)
    kubernetes: dict[str, Any] = Field(default_factory=dict)
    evidence: dict[str, Any] = Field(default_factory=dict)

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


def default_home() -> Path:
    env = os.environ.get("RESPONDER_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_STATE_HOME")
    return (Path(base) if base else Path.home() / ".local" / "state") / "responder"


def load_settings(home: Path | None = None, config_path: Path | None = None) -> Settings:
    """Settings from ``config.yaml`` (if any) and the environment; errors name the file and field."""
    home = (home or default_home()).expanduser()
    path = config_path or (
        Path(os.environ["RESPONDER_CONFIG"]) if os.environ.get("RESPONDER_CONFIG") else home / "config.yaml"
    )
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigInvalid(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigInvalid(f"{path}: expected a mapping at the top level")
        data = loaded
    data.setdefault("home", str(home))
    data.setdefault("store_url", os.environ.get("RESPONDER_STORE") or f"sqlite:///{home / 'runs.sqlite3'}")
    data.setdefault("evidence_url", os.environ.get("RESPONDER_EVIDENCE") or f"file://{home / 'evidence'}")
    aws = dict(data.get("aws") or {})
    if os.environ.get("RESPONDER_ROLE_NAME"):
        aws["role_name"] = os.environ["RESPONDER_ROLE_NAME"]
    if os.environ.get("RESPONDER_EXTERNAL_ID"):
        aws["external_id"] = os.environ["RESPONDER_EXTERNAL_ID"]
    data["aws"] = aws
    if os.environ.get("RESPONDER_POSTURE"):
        posture = dict(data.get("posture") or {})
        posture["default"] = os.environ["RESPONDER_POSTURE"]
        data["posture"] = posture
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigInvalid(f"{path}: {field}: {first['msg']}") from None
