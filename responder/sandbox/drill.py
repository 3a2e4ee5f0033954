"""A drill environment that outlives one command: ``--sandbox`` runs share it until it is torn down.

A drill is a conversation, not one command: ``run --sandbox`` waits for an approval, a person runs
``responder approve RUN STEP``, then ``release RUN``. Each command is its own process, so the emulator
cannot live inside one of them. ``responder sandbox up`` (or the first ``--sandbox`` command) starts a
small daemon in the background: the AWS emulator (moto server) and, for pod findings, the Kubernetes
API double, plus a control endpoint on loopback that seeds what a finding names (once per finding).
Every later ``--sandbox`` command — and any command given a drill run's id — points boto3 and the
Kubernetes access at it. ``responder sandbox down`` stops it. State and evidence stay in
``$RESPONDER_HOME/sandbox``, apart from real runs: a drill never joins a real run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigInvalid

INFO_FILE = "drill.json"
START_TIMEOUT_S = 20.0
#: a drill nobody has touched for this long stops by itself (``RESPONDER_DRILL_IDLE_S``): no forgotten emulators
IDLE_TIMEOUT_S = float(os.environ.get("RESPONDER_DRILL_IDLE_S", 4 * 3600))
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@dataclass(frozen=True)
class DrillInfo:
    pid: int
    endpoint: str
    control: str


def _info_path(home: Path) -> Path:
    return home / INFO_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _post(url: str, body: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


def status(home: Path) -> DrillInfo | None:
    """The running drill environment of this home, or None."""
    try:
        data = json.loads(_info_path(home).read_text())
        info = DrillInfo(pid=int(data["pid"]), endpoint=str(data["endpoint"]), control=str(data["control"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(info.pid):
        return None
    try:
        _post(info.control + "/ping", {}, timeout=2.0)
    except OSError:
        return None
    return info


def up(home: Path) -> DrillInfo:
    """Start the drill daemon if it is not running; return where it listens."""
    running = status(home)
    if running is not None:
        return running
    try:
        import moto  # noqa: F401 - only to give a clear message when the extra is missing
    except ImportError:
        raise ConfigInvalid(
            "the sandbox needs the AWS emulator, which is not installed",
            hint="pip install 'responder[sandbox]' (or .venv/bin/pip install -e '.[sandbox]')",
        ) from None
    home.mkdir(parents=True, exist_ok=True)
    _info_path(home).unlink(missing_ok=True)
    log = (home / "drill.log").open("ab")
    subprocess.Popen(
        [sys.executable, "-m", "responder.sandbox.drill", str(home)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        info = status(home)
        if info is not None:
            return info
        time.sleep(0.1)
    raise ConfigInvalid(f"the drill environment did not start within {START_TIMEOUT_S:g}s; see {home / 'drill.log'}")


def down(home: Path) -> bool:
    """Stop the drill daemon; False when none was running."""
    info = status(home)
    _info_path(home).unlink(missing_ok=True)
    if info is None:
        return False
    with suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    return True


@contextmanager
def attached(home: Path, finding: Any) -> Iterator[Any]:
    """Point this process's AWS SDK and Kubernetes access at the drill, with the finding seeded.

    Yields a :class:`responder.sandbox.Sandbox` view (endpoint, account, what was seeded).
    """
    from ..k8s.access import SANDBOX_ENV
    from . import _ENV, Sandbox

    info = up(home)
    seeded = _post(info.control + "/seed", {"finding": finding.model_dump(mode="json")})
    saved = {k: os.environ.get(k) for k in (*_ENV, SANDBOX_ENV)}
    try:
        os.environ.update(_AWS_ENV)
        os.environ["AWS_ENDPOINT_URL"] = info.endpoint
        os.environ["AWS_DEFAULT_REGION"] = finding.region or "us-east-1"
        os.environ["AWS_CONFIG_FILE"] = os.devnull
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            os.environ.pop(key, None)
        if seeded.get("k8s_env"):
            os.environ[SANDBOX_ENV] = seeded["k8s_env"]
        box = Sandbox(
            endpoint=info.endpoint,
            account_id=seeded["account_id"],
            region=finding.region or "us-east-1",
            seeded=seeded.get("seeded") or {},
        )
        yield box
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def seed_leftovers(home: Path, finding: Any, truth: Any) -> list[str]:
    """Create what the drill's generated story left behind (the daemon holds the emulator)."""
    info = status(home)
    if info is None:
        return []
    body = {"finding": finding.model_dump(mode="json"), "truth": truth.model_dump(mode="json")}
    return list(_post(info.control + "/leftovers", body).get("made") or [])


def describe(home: Path, finding: Any) -> list[dict[str, Any]]:
    """The drill's before/after rows for a finding, computed where the emulator lives."""
    info = status(home)
    if info is None:
        return []
    return list(_post(info.control + "/state", {"finding": finding.model_dump(mode="json")}).get("rows") or [])


# ---------------------------------------------------------------------------------------------- daemon
def state_rows(box: Any, finding: Any) -> list[dict[str, Any]]:
    """What a person wants to see before and after: keys, policies, instances, buckets, pods."""
    from . import show_principal
    from .k8s import describe_k8s
    from .resources import describe_seeded

    rows = [show_principal(box, user_name=key["user_name"]) for key in box.seeded.get("access_keys", [])]
    rows += [show_principal(box, role_name=role) for role in box.seeded.get("roles", [])]
    for item in box.seeded.get("leftovers", []):  # what the drill's attack story left behind
        kind, _, name = str(item).partition("/")
        if kind == "user":
            rows.append(show_principal(box, user_name=name))
        elif kind == "role":
            rows.append(show_principal(box, role_name=name))
        elif kind == "trail":
            rows.append(_trail_row(box, name.split(" ")[0]))
    rows += describe_seeded(box, finding)
    rows += describe_k8s(box, finding)
    return rows


def _trail_row(box: Any, name: str) -> dict[str, Any]:
    try:
        logging = box.client("cloudtrail").get_trail_status(Name=name).get("IsLogging")
    except Exception:  # gone: say so rather than fail the table
        logging = None
    return {"principal": f"trail {name}", "logging": logging}


def serve(home: Path) -> None:
    """The daemon: emulator + control endpoint, until SIGTERM."""
    import logging
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Lock

    from moto.server import ThreadedMotoServer

    from ..findings.model import Finding
    from ..k8s.access import SANDBOX_ENV
    from . import Sandbox, sandbox_account, seed
    from .k8s import k8s_sandbox

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(_AWS_ENV)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    lock = Lock()
    boxes: dict[str, tuple[Sandbox, str | None]] = {}
    keep = ExitStack()

    def box_for(data: dict[str, Any]) -> tuple[Any, Sandbox, str | None]:
        finding = Finding.model_validate(data)
        with lock:
            if finding.id not in boxes:
                box = Sandbox(
                    endpoint=endpoint, account_id=sandbox_account(finding), region=finding.region or "us-east-1"
                )
                os.environ["AWS_DEFAULT_REGION"] = box.region
                seed(box, finding)
                keep.enter_context(k8s_sandbox(box, finding))
                boxes[finding.id] = (box, os.environ.get(SANDBOX_ENV))
            box, k8s_env = boxes[finding.id]
        return finding, box, k8s_env

    class Control(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            try:
                if self.path == "/ping":
                    answer: dict[str, Any] = {"ok": True}
                elif self.path == "/seed":
                    _, box, k8s_env = box_for(body["finding"])
                    answer = {"account_id": box.account_id, "seeded": box.seeded, "k8s_env": k8s_env}
                elif self.path == "/leftovers":
                    from ..samples.model import GroundTruth
                    from . import seed_story_leftovers

                    _, box, _ = box_for(body["finding"])
                    answer = {"made": seed_story_leftovers(box, GroundTruth.model_validate(body["truth"]))}
                elif self.path == "/state":
                    finding, box, _ = box_for(body["finding"])
                    answer = {"rows": state_rows(box, finding)}
                else:
                    self.send_error(404)
                    return
                payload, code = json.dumps(answer, default=str).encode(), 200
            except Exception as exc:  # the drill reports, it does not die
                payload, code = json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode(), 500
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    control = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    control.timeout = 60  # handle_request wakes at least this often to check the idle time
    control_url = f"http://127.0.0.1:{control.server_address[1]}"
    last_seen = [time.monotonic()]

    def touched(*_: Any) -> None:
        last_seen[0] = time.monotonic()

    control.verify_request = lambda *a: touched() or True  # type: ignore[method-assign]

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    home.mkdir(parents=True, exist_ok=True)
    tmp = _info_path(home).with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "endpoint": endpoint, "control": control_url}))
    tmp.replace(_info_path(home))
    try:
        while time.monotonic() - last_seen[0] < IDLE_TIMEOUT_S:
            control.handle_request()
    except KeyboardInterrupt:
        pass
    finally:
        _info_path(home).unlink(missing_ok=True)
        keep.close()
        server.stop()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
