"""A loopback proxy in front of moto (or the Kubernetes double) that interferes with one chosen call, as the
real world does.

``ThrottleProxy`` answers the first ``times`` requests naming ``action`` with AWS's ``Throttling`` error
(longer than the per-call retry layer waits). With ``after_forward``, the call is forwarded instead and
the callback runs once its answer is back — e.g. SIGKILL the caller: a crash exactly between an effect
and its record, in a real process.

``InterceptProxy`` is the general form the crash matrix uses: it names every request it sees
(:func:`operation_of`: ``iam:UpdateAccessKey``, ``s3:PutBucketPublicAccessBlock``, ``k8s:PATCH pods``),
hands each name to a caller's ``record`` (which may note, say, which step was running), and hands each to a
:class:`Trap` that decides whether to strike — before forwarding the nth call of an operation (the
process dies after its write-ahead record, before the effect), after forwarding it (the effect happened,
its record did not), or at the first later request once a condition holds (after the step's record).
Several proxies may share one trap, so an AWS call and a Kubernetes call count as one sequence.
"""

from __future__ import annotations

import http.client
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FORWARD, BEFORE, AFTER = "forward", "before", "after"
"""A trap's answer for one request: pass it on, strike instead of forwarding it, or strike once it is answered."""

_THROTTLED = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    b"<Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>"
)
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
# S3 and Lambda speak REST: the operation is the method and the path, named here as IAM names the permission.
_S3_SUBRESOURCE = {
    ("PUT", "publicAccessBlock"): "PutBucketPublicAccessBlock",
    ("DELETE", "publicAccessBlock"): "DeleteBucketPublicAccessBlock",
    ("GET", "publicAccessBlock"): "GetBucketPublicAccessBlock",
    ("PUT", "policy"): "PutBucketPolicy",
    ("DELETE", "policy"): "DeleteBucketPolicy",
    ("GET", "policy"): "GetBucketPolicy",
    ("PUT", "versioning"): "PutBucketVersioning",
    ("GET", "versioning"): "GetBucketVersioning",
    ("PUT", "tagging"): "PutBucketTagging",
    ("PUT", "acl"): "PutBucketAcl",
}
_LAMBDA_PATHS = (
    ("DELETE", re.compile(r"/functions/[^/]+/policy/[^/]+$"), "RemovePermission"),
    ("POST", re.compile(r"/functions/[^/]+/policy$"), "AddPermission"),
    ("PUT", re.compile(r"/functions/[^/]+/concurrency$"), "PutFunctionConcurrency"),
    ("DELETE", re.compile(r"/functions/[^/]+/concurrency$"), "DeleteFunctionConcurrency"),
    ("PUT", re.compile(r"/functions/[^/]+/url$"), "UpdateFunctionUrlConfig"),
    ("POST", re.compile(r"/functions/[^/]+/url$"), "CreateFunctionUrlConfig"),
    ("DELETE", re.compile(r"/functions/[^/]+/url$"), "DeleteFunctionUrlConfig"),
)
K8S_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def operation_of(method: str, path: str, headers: Any, body: bytes) -> str:
    """``service:Operation`` for an AWS request (query, JSON and REST protocols), ``k8s:METHOD kind`` for a
    Kubernetes API request — the name a trap matches on."""
    url = urllib.parse.urlsplit(path)
    scope = _CREDENTIAL_SCOPE.search(headers.get("Authorization") or "")
    if scope is None:
        if url.path.startswith(("/api/", "/apis/")):
            return f"k8s:{method} {_k8s_kind(url.path)}"
        return f"?:{method} {url.path}"
    service = scope.group(1)
    target = headers.get("X-Amz-Target")
    if target:  # JSON protocol (ECS, Organizations, Secrets Manager, CloudTrail...)
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
    action = (form.get("Action") or urllib.parse.parse_qs(url.query).get("Action") or [None])[0]
    if action:  # query protocol (IAM, EC2, STS, Auto Scaling, ELBv2, RDS)
        return f"{service}:{action}"
    if service == "s3":
        keys = [k.split("=", 1)[0] for k in url.query.split("&") if k]
        for key in keys:
            if (method, key) in _S3_SUBRESOURCE:
                return f"s3:{_S3_SUBRESOURCE[(method, key)]}"
        return f"s3:{method} {'?' + keys[0] if keys else url.path}"
    if service == "lambda":
        for verb, pattern, name in _LAMBDA_PATHS:
            if method == verb and pattern.search(url.path):
                return f"lambda:{name}"
    return f"{service}:{method} {url.path}"


def _k8s_kind(path: str) -> str:
    """``/api/v1/namespaces/ns/pods/name/log`` → ``pods/log``; ``/apis/g/v/namespaces/ns/networkpolicies`` →
    ``networkpolicies``; ``/api/v1/nodes/n`` → ``nodes``."""
    parts = [p for p in path.split("/") if p]
    parts = parts[2:] if parts[0] == "api" else parts[3:]
    if len(parts) > 2 and parts[0] == "namespaces":
        parts = parts[2:]
    if not parts:
        return "namespaces"
    return f"{parts[0]}/{parts[2]}" if len(parts) > 2 else parts[0]


@dataclass
class Trap:
    """One crash point, shared by every proxy in front of the process.

    ``when``: ``"before"`` strikes instead of forwarding the ``nth`` call named ``label``; ``"after"`` forwards
    it and strikes once its answer is back (the caller never reads it); ``"after_record"`` forwards it and its
    answer, then strikes at the first later request for which ``condition()`` holds (before forwarding that
    one). It strikes once; ``struck`` says whether it did, ``at`` on which request.
    """

    strike: Callable[[], None]
    label: str
    nth: int = 1
    when: str = BEFORE
    condition: Callable[[], bool] = lambda: True
    seen: int = 0
    armed: bool = False
    struck: bool = False
    at: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, label: str) -> str:
        with self.lock:
            if self.struck:
                return FORWARD
            if self.armed:
                if not self.condition():
                    return FORWARD
                self.struck, self.at = True, label
                return BEFORE
            if label != self.label:
                return FORWARD
            self.seen += 1
            if self.seen != self.nth:
                return FORWARD
            if self.when == "after_record":
                self.armed = True
                return FORWARD
            self.struck, self.at = True, label
            return self.when


class InterceptProxy:
    """Forward every request to ``target``; name it, hand the name to ``record`` (if given), let ``trap`` strike."""

    def __init__(
        self,
        target: str,
        *,
        trap: Trap | None = None,
        record: Callable[[str], None] | None = None,
        decide: Callable[[str, bytes], str] | None = None,
    ) -> None:
        self.trap = trap
        self._record = record
        self._decide = decide
        self.lock = threading.Lock()
        parsed = urllib.parse.urlparse(target)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                label = operation_of(self.command, self.path, self.headers, body)
                verdict = proxy.verdict(label, body)
                if verdict == BEFORE:
                    proxy.trap.strike()  # type: ignore[union-attr]
                    self.close_connection = True
                    return
                if verdict == "throttle":
                    status, headers, data = 400, [("Content-Type", "text/xml")], _THROTTLED
                else:
                    status, headers, data = proxy.forward(parsed, self.command, self.path, dict(self.headers), body)
                if verdict == AFTER:
                    proxy.strike_after()
                    self.close_connection = True
                    return
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verdict(self, label: str, body: bytes) -> str:
        if self._record is not None:
            self._record(label)
        if self._decide is not None:
            return self._decide(label, body)
        return self.trap.decide(label) if self.trap else FORWARD

    def strike_after(self) -> None:
        if self.trap is not None:
            self.trap.strike()

    @staticmethod
    def forward(
        parsed: urllib.parse.ParseResult, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            data, status = answer.read(), answer.status
            kept = [
                (k, v)
                for k, v in answer.getheaders()
                if k.lower() not in ("transfer-encoding", "connection", "content-length")
            ]
        finally:
            conn.close()
        return status, kept, data

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ThrottleProxy(InterceptProxy):
    """Throttle the first ``times`` calls of ``action`` (any service), or forward them and call ``after_forward``."""

    def __init__(self, target: str, action: str, times: int, after_forward: Any = None) -> None:
        self.left = times
        self.after_forward = after_forward
        self.action = action
        super().__init__(target, decide=self._hit)

    def _hit(self, label: str, body: bytes) -> str:
        with self.lock:
            if self.left > 0 and label.split(":", 1)[-1] == self.action:
                self.left -= 1
                return "throttle" if self.after_forward is None else AFTER
            return FORWARD

    def strike_after(self) -> None:
        self.after_forward()
