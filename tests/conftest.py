"""Shared test fixtures: a real moto server over HTTP, a clean AWS environment, a temp RESPONDER_HOME.

No test mocks responder's own modules. AWS is moto in server mode (``ThreadedMotoServer``), reached by
boto3 over HTTP exactly as it would reach AWS; state goes to real SQLite files under ``tmp_path``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Like httpx's ``clean_environ``: no test sees the developer's AWS profile or responder state."""
    for key in list(os.environ):
        if key.startswith("AWS_") or key.startswith("RESPONDER_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("RESPONDER_HOME", str(tmp_path / "responder-home"))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server for the session; tests reset it through ``moto_endpoint``."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A freshly reset moto server, with boto3 pointed at it through ``AWS_ENDPOINT_URL``."""
    requests.post(f"{moto_server}/moto-api/reset-auth", data="inf", headers={"Content-Type": "text/plain"}, timeout=60)
    requests.post(f"{moto_server}/moto-api/reset", timeout=60)  # a busy machine: reset waits on moto
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


@pytest.fixture
def responder_home(tmp_path: Path) -> Path:
    home = tmp_path / "responder-home"
    home.mkdir(parents=True, exist_ok=True)
    return home


FIXTURES = Path(__file__).resolve().parent / "fixtures"
"""Events and logs the project owns, composed in the published shapes (each folder's SOURCES.md)."""

# The published corpus is an extra tier: read in place from ../shared/datasets beside the checkout (or
# $RESPONDER_DATASETS, read once at import, before ``clean_environ`` clears RESPONDER_* for each test).
SHARED = Path(__file__).resolve().parents[2] / "shared"
DATASETS = Path(os.environ.get("RESPONDER_DATASETS") or SHARED / "datasets")
DATASETS_PRESENT = (DATASETS / "findings").is_dir() or (DATASETS / "logs").is_dir()
DATASETS_ABSENT = "published corpus tier: ../shared/datasets (or $RESPONDER_DATASETS) is not present"
requires_datasets = pytest.mark.skipif(not DATASETS_PRESENT, reason=DATASETS_ABSENT)
"""Mark for tests that read the published corpus; every other test runs on ``FIXTURES`` alone."""


@pytest.fixture(scope="session")
def scope_logs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Generated CloudTrail + Flow Logs (real layouts) telling the story of the sample finding's key."""
    from datetime import UTC, datetime

    from responder.samples import StoryParams, generate

    out = tmp_path_factory.mktemp("scope-logs")
    story = StoryParams(account_id="123456789012", region="us-east-1", access_key_id="AKIA2E0A8F3B244C9986",
                        user_name="ci-deploy", attacker_ip="203.0.113.77",
                        start=datetime(2026, 11, 20, 8, 12, 44, tzinfo=UTC))
    return generate(out, 3000, story=story)


@pytest.fixture
def with_scope_logs(scope_logs: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point scope steps at the generated logs (tests that run whole playbooks)."""
    monkeypatch.setenv("RESPONDER_CLOUDTRAIL", str(scope_logs.cloudtrail_dir))
    monkeypatch.setenv("RESPONDER_FLOW_LOGS", str(scope_logs.flow_logs_dir))
    return scope_logs


@pytest.fixture(scope="session", autouse=True)
def _drills_end_with_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`--sandbox` commands leave a drill daemon for the next command; the test session ends them all."""
    yield
    from responder.sandbox import drill

    for info in tmp_path_factory.getbasetemp().rglob(drill.INFO_FILE):
        drill.down(info.parent)
