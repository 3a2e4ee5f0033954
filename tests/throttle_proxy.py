"""A loopback proxy in front of moto that interferes with one chosen AWS call, as the real world does.

``ThrottleProxy`` answers the first ``times`` requests naming ``action`` with AWS's ``Throttling`` error
(longer than the per-call retry layer waits). With ``after_forward``, the call is forwarded instead and
the callback runs once its answer is back — e.g. SIGKILL the caller: a crash exactly between an effect
and its record, in a real process.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ThrottleProxy:
    def __init__(self, target: str, action: str, times: int, after_forward: Any = None) -> None:
        self.left = times
        self.after_forward = after_forward
        self.lock = threading.Lock()
        parsed = urllib.parse.urlparse(target)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hit = proxy._hit(body, action)
                if hit and proxy.after_forward is None:
                    data = (
                        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                        b"<Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>"
                    )
                    status, headers = 400, [("Content-Type", "text/xml")]
                else:
                    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
                    conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                    answer = conn.getresponse()
                    data, status = answer.read(), answer.status
                    headers = [
                        (k, v)
                        for k, v in answer.getheaders()
                        if k.lower() not in ("transfer-encoding", "connection", "content-length")
                    ]
                    conn.close()
                    if hit:
                        proxy.after_forward()
                        return
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _hit(self, body: bytes, action: str) -> bool:
        with self.lock:
            if self.left > 0 and f"Action={action}".encode() in body:
                self.left -= 1
                return True
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
