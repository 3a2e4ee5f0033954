"""A slack-sdk ``WebClient`` and the signing secret, from the environment or Secrets Manager.

Secrets never sit in config files: ``SLACK_BOT_TOKEN`` / ``SLACK_SIGNING_SECRET`` (local, tests), or
the Secrets Manager ids in ``SLACK_BOT_TOKEN_SECRET`` / ``SLACK_SIGNING_SECRET_ID`` (or the
``slack.token_secret`` / ``slack.signing_secret`` settings) in AWS. ``base_url`` (``slack.base_url`` /
``SLACK_API_URL``) points the client at a local double in tests.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from ..config import Settings


@lru_cache(maxsize=8)
def _secret(secret_id: str) -> str:
    """One Secrets Manager read per process (a warm Lambda reuses it)."""
    import boto3

    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    return value.get("SecretString") or value["SecretBinary"].decode()


def _value(env: str, secret_env: str, settings: Settings, key: str) -> str | None:
    if os.environ.get(env):
        return os.environ[env]
    secret_id = os.environ.get(secret_env) or settings.slack.get(key)
    return _secret(str(secret_id)) if secret_id else None


def bot_token(settings: Settings) -> str | None:
    return _value("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN_SECRET", settings, "token_secret")


def signing_secret(settings: Settings) -> str | None:
    return _value("SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET_ID", settings, "signing_secret")


def channel(settings: Settings) -> str | None:
    return os.environ.get("SLACK_CHANNEL") or settings.slack.get("channel")


def web_client(settings: Settings, token: str | None = None) -> Any:
    """A WebClient, or None when no token is configured (Slack is optional)."""
    token = token or bot_token(settings)
    if not token:
        return None
    from slack_sdk import WebClient

    base_url = os.environ.get("SLACK_API_URL") or settings.slack.get("base_url") or WebClient.BASE_URL
    if not base_url.endswith("/"):
        base_url += "/"
    return WebClient(token=token, base_url=base_url, timeout=int(settings.slack.get("timeout", 5)))
