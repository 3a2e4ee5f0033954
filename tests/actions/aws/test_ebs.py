"""Evidence snapshots confirmed after containment (aws.ebs.await_snapshots), against moto over HTTP.

moto completes a snapshot at once; a real one copies for minutes. A small proxy in front of moto answers
``DescribeSnapshots`` with the state a slow or broken copy shows (``pending``, ``error``), as AWS would,
so the step's two outcomes — wait again later (retryable), or say the disk evidence is not usable — are
tested on the real call path.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from responder.actions.aws.ebs import AwaitSnapshots, AwaitSnapshotsInput, SnapshotsPending
from responder.errors import ActionFailed
from tests.actions.aws.action_ctx import step_context


class StateProxy:
    """Forward to moto; in DescribeSnapshots answers, show every snapshot in ``state``."""

    def __init__(self, target: str, state: str) -> None:
        parsed = urllib.parse.urlparse(target)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
                conn.request("POST", self.path, body=body, headers=dict(self.headers))
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
                if b"Action=DescribeSnapshots" in body:
                    data = data.replace(b"<status>completed</status>", f"<status>{state}</status>".encode())
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type") or "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def snapshot_ids(moto_endpoint: str) -> list[str]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ids = []
    for size in (8, 16):
        volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=size)["VolumeId"]
        ids.append(ec2.create_snapshot(VolumeId=volume, Description="responder evidence")["SnapshotId"])
    return ids


@pytest.fixture
def proxied(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[None]:
    proxy = StateProxy(moto_endpoint, request.param)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield
    proxy.close()


def test_completed_snapshots_are_recorded(snapshot_ids: list[str], tmp_path: Path) -> None:
    ctx = step_context(tmp_path)
    out = AwaitSnapshots().apply(ctx, AwaitSnapshotsInput(snapshot_ids=snapshot_ids))
    assert out.output["completed"] is True and not out.changed
    assert [s["snapshot_id"] for s in out.output["snapshots"]] == sorted(snapshot_ids)
    assert {s["state"] for s in out.output["snapshots"]} == {"completed"}
    assert ctx.evidence.verify(ctx.run_id).intact and out.output["artifact"].endswith("snapshot-states.json")


def test_nothing_to_wait_for(moto_endpoint: str, tmp_path: Path) -> None:
    out = AwaitSnapshots().apply(step_context(tmp_path), AwaitSnapshotsInput(snapshot_ids=[]))
    assert out.output["completed"] is True and "no evidence snapshots" in out.summary


@pytest.mark.parametrize("proxied", ["pending"], indirect=True)
def test_still_copying_at_the_deadline_is_retryable(snapshot_ids: list[str], proxied: None, tmp_path: Path) -> None:
    with pytest.raises(SnapshotsPending) as caught:
        AwaitSnapshots().apply(step_context(tmp_path), AwaitSnapshotsInput(snapshot_ids=snapshot_ids, wait_seconds=1))
    assert caught.value.retryable and "still pending" in caught.value.message


@pytest.mark.parametrize("proxied", ["error"], indirect=True)
def test_a_snapshot_in_error_is_named_and_not_retried(snapshot_ids: list[str], proxied: None, tmp_path: Path) -> None:
    with pytest.raises(ActionFailed) as caught:
        AwaitSnapshots().apply(step_context(tmp_path), AwaitSnapshotsInput(snapshot_ids=snapshot_ids, wait_seconds=1))
    assert not caught.value.retryable and not isinstance(caught.value, SnapshotsPending)
    assert all(sid in caught.value.message for sid in snapshot_ids)
