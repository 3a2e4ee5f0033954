"""AWS sessions per account and region, chosen by the finding.

Standard SDK configuration is honoured (profiles, region, ``AWS_ENDPOINT_URL``). A finding in
responder's own account uses the base session; a finding in another account assumes the configured
role there (with an ExternalId); with no role configured the run is refused before anything changes.
botocore's own retries are switched off: every client retries throttling and transient faults per call,
with tenacity, in one layer (``responder.aws.retry``).
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from ..config import AwsSettings
from ..errors import Refused
from .retry import CallRetryPolicy, install

CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra="responder/0.1",
)


_SESSIONS: dict[tuple[str | None, ...], boto3.Session] = {}
_BASE_LOCK = threading.Lock()


def base_session() -> boto3.Session:
    """A session from the standard SDK configuration, reused while that configuration is unchanged.

    Creating a session costs ~40 ms; a Lambda or CLI process handles many runs with one. The key is the
    AWS environment, so the sandbox (which points the environment at the emulator) gets its own.
    """
    key = tuple(os.environ.get(name) for name in sorted(k for k in os.environ if k.startswith("AWS_")))
    key = (*key, *sorted(k for k in os.environ if k.startswith("AWS_")))
    with _BASE_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = boto3.Session()
        return session


class AwsAccess:
    """Hands out boto3 clients for (account, region); caches sessions and assumed-role credentials."""

    def __init__(
        self,
        settings: AwsSettings | None = None,
        *,
        session: boto3.Session | None = None,
        config: Config | None = None,
        partition: str = "aws",
        retry: CallRetryPolicy | None = None,
    ) -> None:
        self.settings = settings or AwsSettings()
        self.retry = retry or CallRetryPolicy()
        self._base = session or base_session()
        self._config = config or CLIENT_CONFIG
        self._partition = partition
        self._lock = threading.Lock()
        self._assumed: dict[str, tuple[boto3.Session, datetime]] = {}
        self._clients: dict[tuple[str, str | None, str], Any] = {}
        self._identity: dict[str, Any] | None = None
        self.hooks: list[tuple[str, Any]] = []  # (event name, handler) registered on every client

    @property
    def default_region(self) -> str:
        return self.settings.default_region or self._base.region_name or "us-east-1"

    def home_identity(self) -> dict[str, Any]:
        """Who responder runs as, asked once per session (warm Lambdas and CLI loops reuse it)."""
        if self._identity is None:
            cached = getattr(self._base, "_responder_identity", None)
            if cached is None:
                sts = self.client("sts", region=self.default_region, account=None, _home=True)
                ident = sts.get_caller_identity()
                creds = self._base.get_credentials()
                cached = {
                    "Account": ident["Account"],
                    "Arn": ident["Arn"],
                    "UserId": ident["UserId"],
                    "AccessKeyId": creds.access_key if creds else None,
                }
                self._base._responder_identity = cached  # type: ignore[attr-defined]
            self._identity = dict(cached)
        return self._identity

    def home_account(self) -> str:
        return self.settings.home_account or self.home_identity()["Account"]

    def _session(self, account: str | None) -> boto3.Session:
        if not account or account == self.home_account():
            return self._base
        role_name = self.settings.role_name
        if not role_name:
            raise Refused(
                f"the finding is in account {account}, but responder runs in {self.home_account()} and no "
                "cross-account role is configured; nothing was changed",
                hint="set aws.role_name (e.g. ResponderRole) in config.yaml or RESPONDER_ROLE_NAME, "
                "and deploy deploy/member-role.yaml in that account",
            )
        with self._lock:
            cached = self._assumed.get(account)
            if cached and cached[1] - datetime.now(UTC) > timedelta(minutes=5):
                return cached[0]
            role = role_name.format(account_id=account)
            arn = role if role.startswith("arn:") else f"arn:{self._partition}:iam::{account}:role/{role}"
            sts = self._base.client("sts", region_name=self.default_region, config=self._config)
            kwargs: dict[str, Any] = {"RoleArn": arn, "RoleSessionName": self.settings.session_name}
            if self.settings.external_id:
                kwargs["ExternalId"] = self.settings.external_id
            creds = sts.assume_role(**kwargs)["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=self._base.region_name,
            )
            expiration = creds["Expiration"]
            if isinstance(expiration, str):
                expiration = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
            if expiration.tzinfo is None:
                expiration = expiration.replace(tzinfo=UTC)
            self._assumed[account] = (session, expiration)
            self._clients = {k: v for k, v in self._clients.items() if k[0] != account}
            return session

    def client(
        self, service: str, *, account: str | None = None, region: str | None = None, _home: bool = False
    ) -> Any:
        region = region or self.default_region
        if not _home and account and account == self.home_account():
            account = None
        key = (account or "", region, service)
        with self._lock:
            if key in self._clients:
                return self._clients[key]
        session = self._base if _home else self._session(account)
        client = install(session.client(service, region_name=region, config=self._config), self.retry)
        client._responder_service = service  # type: ignore[attr-defined]
        for event, handler in self.hooks:
            client.meta.events.register(event, handler)
        with self._lock:
            self._clients[key] = client
        return client

    def identity(self, *, account: str | None = None, region: str | None = None) -> dict[str, Any]:
        """Who responder is in the target account: ARN, and the access key it signs with."""
        if not account or account == self.home_account():
            return self.home_identity()
        session = self._session(account)
        ident = session.client(
            "sts", region_name=region or self.default_region, config=self._config
        ).get_caller_identity()
        creds = session.get_credentials()
        return {
            "Account": ident["Account"],
            "Arn": ident["Arn"],
            "UserId": ident["UserId"],
            "AccessKeyId": creds.access_key if creds else None,
        }
