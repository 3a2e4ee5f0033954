"""AWS sessions per account and region, chosen by the finding.

Standard SDK configuration is honoured (profiles, region, ``AWS_ENDPOINT_URL``). A finding in
responder's own account uses the base session; a finding in another account assumes the configured
role there (with an ExternalId); with no role configured the run is refused before anything changes.
botocore's own retries are switched off: every client retries throttling and transient faults per call,
with tenacity, in one layer (``responder.aws.retry``).

Who responder is (``sts:GetCallerIdentity``) is asked once per process and credentials, in the background:
the first read of a run goes out at the same time instead of waiting for it (see :meth:`AwsAccess.client`).
Clients are made one at a time (a boto3 session is not thread-safe) and then shared by concurrent reads.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from ..config import AwsSettings
from ..errors import NotConfigured
from .retry import CallRetryPolicy, install

CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra="responder/0.1",
    max_pool_connections=32,  # concurrent reads share a client (responder.aws.parallel); botocore's default is 10
)
READ_PREFIXES = ("Get", "List", "Describe", "Head")


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
        self._lock = threading.RLock()  # also makes clients one at a time: a boto3 Session is not thread-safe
        self._assumed: dict[str, tuple[boto3.Session, datetime]] = {}
        self._clients: dict[tuple[str, str | None, str], Any] = {}
        self._identity: dict[str, Any] | None = None
        self._identity_future: Future[dict[str, Any]] | None = None
        self._foreign: dict[str, tuple[boto3.Session, dict[str, Any]]] = {}
        self.hooks: list[tuple[str, Any]] = []  # (event name, handler) registered on every client

    @property
    def default_region(self) -> str:
        return self.settings.default_region or self._base.region_name or "us-east-1"

    def home_identity(self) -> dict[str, Any]:
        """Who responder runs as, asked once per session (warm Lambdas and CLI loops reuse it)."""
        if self._identity is None:
            future = self.start_identity()
            try:
                self._identity = dict(future.result())
            except BaseException:
                with self._lock:  # a failed ask is asked again next time, not remembered
                    if self._identity_future is future:
                        self._identity_future = None
                raise
        return self._identity

    def start_identity(self) -> Future[dict[str, Any]]:
        """Ask who responder is, once, without waiting: the answer is shared by every later caller.

        The base session keeps it, so a warm Lambda (or a CLI process handling many runs) asks once.
        """
        with self._lock:
            if self._identity_future is None:
                cached = getattr(self._base, "_responder_identity", None)
                if cached is not None:
                    self._identity_future = Future()
                    self._identity_future.set_result(cached)
                else:
                    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="responder-identity")
                    self._identity_future = pool.submit(self._ask_identity)
                    pool.shutdown(wait=False)
            return self._identity_future

    def _ask_identity(self) -> dict[str, Any]:
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
        return cached

    def _known_home_account(self) -> str | None:
        """The home account if known without waiting (configured, or the identity already answered)."""
        if self.settings.home_account:
            return self.settings.home_account
        future = self.start_identity()
        if future.done() and future.exception() is None:
            return str(future.result()["Account"])
        return None

    def home_account(self) -> str:
        return self.settings.home_account or self.home_identity()["Account"]

    def _refuse_foreign(self, account: str) -> NotConfigured:
        return NotConfigured(
            f"the finding is in account {account}, but responder runs in {self.home_account()} and no "
            "cross-account role is configured; nothing was changed",
            hint="set aws.role_name (e.g. ResponderRole) in config.yaml or RESPONDER_ROLE_NAME, "
            "and deploy deploy/member-role.yaml in that account",
        )

    def _session(self, account: str | None) -> boto3.Session:
        if not account or account == self.home_account():
            return self._base
        role_name = self.settings.role_name
        if not role_name:
            raise self._refuse_foreign(account)
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
        if not _home and account and not self.settings.role_name and self._known_home_account() is None:
            return self._unconfirmed_client(service, account, region)
        if not _home and account and account == self.home_account():
            account = None
        key = (account or "", region, service)
        with self._lock:
            if key in self._clients:
                return self._clients[key]
        session = self._base if _home else self._session(account)
        return self._made(key, session, service, region)

    def _made(self, key: tuple[str, str | None, str], session: boto3.Session, service: str, region: str) -> Any:
        with self._lock:
            if key in self._clients:
                return self._clients[key]
            client = install(session.client(service, region_name=region, config=self._config), self.retry)
            client._responder_service = service  # type: ignore[attr-defined]
            for event, handler in self.hooks:
                client.meta.events.register(event, handler)
            self._clients[key] = client
            return client

    def _unconfirmed_client(self, service: str, account: str, region: str) -> Any:
        """A client for a finding's account while ``GetCallerIdentity`` is still in flight (no role configured).

        Without a role the base session is the only possible one, so the first read need not wait for the
        identity: it goes out at once, overlapping it. Nothing is decided on unconfirmed ground: every
        answer is released only once the account is confirmed as responder's own (else the run is refused,
        exactly as before, and the answer dropped), and nothing but a read is sent before that.
        """
        client = self._made((f"unconfirmed:{account}", region, service), self._base, service, region)
        if getattr(client, "_responder_gated", False):
            return client
        original = client._make_api_call

        def confirm() -> None:
            if account != self.home_account():
                raise self._refuse_foreign(account)

        def make_api_call(operation_name: str, api_params: dict[str, Any]) -> Any:
            if not operation_name.startswith(READ_PREFIXES):
                confirm()
            try:
                result = original(operation_name, api_params)
            except Exception:
                confirm()  # a refusal outranks whatever the read ran into
                raise
            confirm()
            return result

        client._make_api_call = make_api_call
        client._responder_gated = True  # type: ignore[attr-defined]
        return client

    def identity(self, *, account: str | None = None, region: str | None = None) -> dict[str, Any]:
        """Who responder is in the target account: ARN, and the access key it signs with."""
        if not account or account == self.home_account():
            return self.home_identity()
        session = self._session(account)
        with self._lock:
            known = self._foreign.get(account)
        if known and known[0] is session:  # same assumed-role session: same identity
            return dict(known[1])
        with self._lock:
            sts = session.client("sts", region_name=region or self.default_region, config=self._config)
        ident = sts.get_caller_identity()
        creds = session.get_credentials()
        found = {
            "Account": ident["Account"],
            "Arn": ident["Arn"],
            "UserId": ident["UserId"],
            "AccessKeyId": creds.access_key if creds else None,
        }
        with self._lock:
            self._foreign[account] = (session, found)
        return dict(found)
