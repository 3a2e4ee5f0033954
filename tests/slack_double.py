"""A local HTTP double of the Slack Web API: records every call, answers like Slack.

slack-sdk's ``WebClient(base_url=double.base_url)`` talks to it over real HTTP. Only the methods
responder uses are answered (chat.postMessage, chat.update, usergroups.users.list, auth.test); any
other method gets Slack's ``unknown_method`` error, so an unexpected call shows up in the test.
Answers follow the shapes documented at https://api.slack.com/methods/<method>.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode


class SlackDouble:
    def __init__(self, groups: dict[str, list[str]] | None = None, token: str = "xoxb-test") -> None:
        self.groups = dict(groups or {})
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._ts = 0
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(raw).items()}
                    for key in ("blocks", "attachments"):
                        if isinstance(params.get(key), str):
                            params[key] = json.loads(params[key])
                method = self.path.rsplit("/", 1)[-1].split("?")[0]
                auth = self.headers.get("Authorization") or ""
                status, body = double.answer(method, params, auth)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def __enter__(self) -> SlackDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, params: dict[str, Any], auth: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append((method, params))
            if auth != f"Bearer {self.token}":
                return 200, {"ok": False, "error": "invalid_auth"}
            if method == "chat.postMessage":
                if not params.get("channel"):
                    return 200, {"ok": False, "error": "channel_not_found"}
                self._ts += 1
                ts = f"1764040000.{self._ts:06d}"
                return 200, {"ok": True, "channel": params["channel"], "ts": ts,
                             "message": {"text": params.get("text"), "ts": ts, "type": "message"}}
            if method == "chat.update":
                return 200, {"ok": True, "channel": params.get("channel"), "ts": params.get("ts"),
                             "text": params.get("text")}
            if method == "usergroups.users.list":
                group = params.get("usergroup")
                if group not in self.groups:
                    return 200, {"ok": False, "error": "no_such_subteam"}
                return 200, {"ok": True, "users": list(self.groups[group])}
            if method == "auth.test":
                return 200, {"ok": True, "user_id": "UBOT", "team_id": "T1"}
            return 200, {"ok": False, "error": "unknown_method"}

    def of(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [p for m, p in self.calls if m == method]


def click_body(run_id: str, step_id: str, *, approve: bool = True, user_id: str = "U0APPROVER",
               username: str = "alice") -> bytes:
    """An interaction request body shaped as Slack sends a ``block_actions`` payload
    (https://api.slack.com/reference/interaction-payloads/block-actions): form field ``payload``."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": username, "name": username, "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy-verification-token", "trigger_id": "1.2.3",
        "team": {"id": "T1", "domain": "example"},
        "container": {"type": "message", "message_ts": "1764040000.000001", "channel_id": "C1"},
        "channel": {"id": "C1", "name": "incidents"},
        "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "actions": [{"type": "button", "block_id": "responder_decision",
                     "action_id": "responder_approve" if approve else "responder_deny",
                     "value": json.dumps({"run_id": run_id, "step_id": step_id}),
                     "text": {"type": "plain_text", "text": "Approve" if approve else "Deny"},
                     "action_ts": "1764040001.000200"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers as Slack signs a request: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/x-www-form-urlencoded"}
