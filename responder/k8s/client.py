"""A small Kubernetes API client: the dozen REST calls responder's pod actions make, over urllib3.

Why not the official ``kubernetes`` package: it is 126 MB installed (generated models for every API
group, plus aiohttp, requests, websocket-client) and responder makes thirteen calls, all plain JSON
over HTTPS. urllib3 already ships with botocore, so this client adds nothing to the Lambda artifact.
It speaks to an API server the way kubectl does — ``Authorization: Bearer``, or a client certificate,
the cluster's CA bundle (never "skip verification" unless a kubeconfig says ``insecure-skip-tls-verify``)
— and answers with the JSON the server sent, as dicts in the API's own camelCase spelling.

Failures are three exceptions: :class:`ApiError` (the server answered with an error ``Status``),
:class:`Unreachable` (no answer) and :class:`TlsRejected` (no trust either way). ``responder.k8s.errors``
turns them into responder's error tree.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import urllib3

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
MERGE_PATCH = "application/merge-patch+json"  # RFC 7386: a null value removes the key
EXPIRY_MARGIN = timedelta(seconds=30)  # refresh a plugin's credential this long before it expires


class ApiError(Exception):
    """The API server answered with an error: ``status`` (HTTP code), ``reason`` and the ``Status`` body."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        self.status = status
        self.reason = reason
        self.body = body
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {}
        self.details: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        self.message = str(self.details.get("message") or reason or "")[:500]
        super().__init__(f"{status} {reason}: {self.message}")


class Unreachable(Exception):
    """No answer from the API server (refused, reset, timed out): it may answer later."""


class TlsRejected(Exception):
    """The TLS handshake failed (the server's certificate does not chain to the CA, or ours was refused):
    retrying changes nothing until the configuration does."""


@dataclass(frozen=True)
class Credentials:
    """What a request is authenticated with: a bearer token, or a client certificate and key (PEM)."""

    token: str | None = field(default=None, repr=False)  # never in a log line or a traceback's locals
    cert_pem: str | None = None
    key_pem: str | None = field(default=None, repr=False)
    cert_file: str | None = None
    key_file: str | None = None
    expires_at: datetime | None = None

    def fresh(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at - EXPIRY_MARGIN > now


CredentialSource = Callable[[], Credentials]


@dataclass(frozen=True)
class Tls:
    """How the server's certificate is checked: its CA bundle (PEM text or a file), or not at all."""

    ca_pem: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    server_name: str | None = None


def _ssl_context(tls: Tls, creds: Credentials) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls.ca_file, cadata=tls.ca_pem)
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if creds.cert_file:
        context.load_cert_chain(creds.cert_file, creds.key_file)
    elif creds.cert_pem:
        # ssl loads certificates only from files: write them to a private folder, load, delete
        with tempfile.TemporaryDirectory(prefix="responder-k8s-") as folder:
            cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
            for path, text in ((cert, creds.cert_pem), (key, creds.key_pem or "")):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
            context.load_cert_chain(cert, key if creds.key_pem else None)
    return context


class KubeClient:
    """One API server. Thread-safe; credentials from an exec plugin are renewed before they expire."""

    def __init__(
        self,
        server: str,
        *,
        credentials: Credentials | CredentialSource | None = None,
        tls: Tls | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
    ) -> None:
        """``credentials``: fixed ones, or a function that makes them (an exec plugin), called again when
        they expire or the server answers 401."""
        self.server = server.rstrip("/")
        fixed = credentials if isinstance(credentials, Credentials) else Credentials()
        self._source: CredentialSource = credentials if callable(credentials) else (lambda: fixed)
        self._renewable = callable(credentials)
        self._tls = tls or Tls()
        self._timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        self._lock = threading.Lock()
        self._creds: Credentials | None = None
        self._pool: urllib3.PoolManager | None = None

    # ------------------------------------------------------------------ transport
    def _session(self, renew: bool = False) -> tuple[urllib3.PoolManager, Credentials]:
        with self._lock:
            now = datetime.now(UTC)
            if renew or self._creds is None or not self._creds.fresh(now):
                creds = self._source()
                if (
                    self._pool is None
                    or self._creds is None
                    or (creds.cert_pem, creds.cert_file) != (self._creds.cert_pem, self._creds.cert_file)
                ):
                    self._pool = self._make_pool(creds)
                self._creds = creds
            assert self._pool is not None
            return self._pool, self._creds

    def _make_pool(self, creds: Credentials) -> urllib3.PoolManager:
        options: dict[str, Any] = {"retries": False, "timeout": self._timeout, "maxsize": 4}
        if self.server.startswith("https://"):
            options["ssl_context"] = _ssl_context(self._tls, creds)
            if self._tls.insecure:
                options["cert_reqs"] = "CERT_NONE"
                options["assert_hostname"] = False
            elif self._tls.server_name:
                options["server_hostname"] = self._tls.server_name
        return urllib3.PoolManager(**options)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> bytes:
        """One call; the raw answer body. Errors raise :class:`ApiError` or :class:`Unreachable`.

        A 401 renews the credential once (an exec plugin's token may have been revoked early), as kubectl does.
        """
        fields = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        payload = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):
            pool, creds = self._session(renew=attempt == 1)
            headers = {"Accept": accept, "User-Agent": "responder"}
            if payload is not None:
                headers["Content-Type"] = content_type
            if creds.token:
                headers["Authorization"] = f"Bearer {creds.token}"
            url = self.server + path
            if fields:
                url += "?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in fields.items())
            try:
                response = pool.request(method, url, body=payload, headers=headers, redirect=False)
            except (urllib3.exceptions.SSLError, ssl.SSLError) as exc:
                raise TlsRejected(f"TLS with the Kubernetes API server {self.server} failed: {exc}") from None
            except urllib3.exceptions.HTTPError as exc:
                raise Unreachable(f"cannot reach the Kubernetes API server {self.server}: {exc}") from None
            if response.status == 401 and attempt == 0 and self._renewable:
                continue
            if response.status >= 400:
                raise ApiError(response.status, response.reason or "", response.data.decode("utf-8", "replace"))
            return bytes(response.data)
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        data = self.request(method, path, **kwargs)
        answer = json.loads(data) if data else {}
        return answer if isinstance(answer, dict) else {"items": answer}

    # ------------------------------------------------------------------ the calls responder makes
    def read_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self.call("GET", _ns(namespace, "pods", name))

    def patch_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.call("PATCH", _ns(namespace, "pods", name), body=patch, content_type=MERGE_PATCH)

    def pod_log(
        self,
        namespace: str,
        name: str,
        *,
        container: str,
        previous: bool = False,
        timestamps: bool = True,
        limit_bytes: int | None = None,
    ) -> bytes:
        """The container's log as the kubelet sent it: bytes, never decoded (it is evidence)."""
        return self.request(
            "GET",
            _ns(namespace, "pods", name) + "/log",
            accept="*/*",
            query={"container": container, "previous": previous, "timestamps": timestamps, "limitBytes": limit_bytes},
        )

    def list_events(self, namespace: str, *, field_selector: str | None = None) -> dict[str, Any]:
        return self.call("GET", _ns(namespace, "events"), query={"fieldSelector": field_selector})

    def read_node(self, name: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v1/nodes/{_seg(name)}")

    def patch_node(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.call("PATCH", f"/api/v1/nodes/{_seg(name)}", body=patch, content_type=MERGE_PATCH)

    def read_service_account(self, namespace: str, name: str) -> dict[str, Any]:
        return self.call("GET", _ns(namespace, "serviceaccounts", name))

    def list_role_bindings(self, namespace: str) -> dict[str, Any]:
        return self.call("GET", f"{RBAC}/namespaces/{_seg(namespace)}/rolebindings")

    def list_cluster_role_bindings(self) -> dict[str, Any]:
        return self.call("GET", f"{RBAC}/clusterrolebindings")

    def list_network_policies(self, namespace: str) -> dict[str, Any]:
        return self.call("GET", _policies(namespace))

    def read_network_policy(self, namespace: str, name: str) -> dict[str, Any]:
        return self.call("GET", f"{_policies(namespace)}/{_seg(name)}")

    def create_network_policy(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", _policies(namespace), body=body)

    def delete_network_policy(self, namespace: str, name: str) -> dict[str, Any]:
        return self.call("DELETE", f"{_policies(namespace)}/{_seg(name)}")


RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _seg(value: str) -> str:
    """A path segment: names are validated before they get here, and quoted anyway."""
    return quote(str(value), safe="")


def _ns(namespace: str, kind: str, name: str | None = None) -> str:
    path = f"/api/v1/namespaces/{_seg(namespace)}/{kind}"
    return f"{path}/{_seg(name)}" if name is not None else path


def _policies(namespace: str) -> str:
    return f"/apis/networking.k8s.io/v1/namespaces/{_seg(namespace)}/networkpolicies"


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["ApiError", "CredentialSource", "Credentials", "KubeClient", "Tls", "TlsRejected", "Unreachable"]
