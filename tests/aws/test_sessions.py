"""AWS access on moto over HTTP: caller identity asked once per process (also across the runs of a warm
Lambda), overlapping the first read; a finding in another account still refused before any change;
clients made once, whichever threads ask."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from responder import lambda_handler
from responder.aws.sessions import AwsAccess
from responder.config import load_settings
from responder.errors import ResponderError
from tests.helpers import ACCOUNT, ROOT, key_status, sample_event, seed_user

OTHER_ACCOUNT = "210987654321"


@pytest.fixture
def fresh_credentials(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Credentials no earlier test used: a new base session, so nothing is known about who we are."""
    key = f"AKIATEST{uuid.uuid4().hex[:12].upper()}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    return key


class Calls:
    """Every call a client of ``access`` makes: operation, start and end (botocore hooks)."""

    def __init__(self, access: AwsAccess, *, slow_identity: float = 0.0) -> None:
        self.items: list[tuple[str, float, float]] = []
        self.sent: list[str] = []
        self._lock = threading.Lock()

        def before(model: Any = None, context: Any = None, **_: Any) -> None:
            context["t0"] = time.perf_counter()

        def after(model: Any = None, context: Any = None, **_: Any) -> None:
            with self._lock:
                self.items.append((model.name, context["t0"], time.perf_counter()))

        def send(request: Any, event_name: str = "", **_: Any) -> None:
            operation = event_name.rsplit(".", 1)[-1]
            with self._lock:
                self.sent.append(operation)
            if slow_identity and operation == "GetCallerIdentity":
                time.sleep(slow_identity)

        access.hooks.extend([("before-call.*.*", before), ("after-call.*.*", after), ("before-send.*.*", send)])

    def named(self, operation: str) -> list[tuple[str, float, float]]:
        return [c for c in self.items if c[0] == operation]


def test_first_read_overlaps_the_identity_lookup(fresh_credentials: str) -> None:
    seed_user()
    access = AwsAccess(load_settings().aws)
    calls = Calls(access, slow_identity=0.4)
    iam = access.client("iam", account=ACCOUNT)
    assert iam.get_user(UserName="ci-deploy")["User"]["UserName"] == "ci-deploy"
    sts_end, read_start = calls.named("GetCallerIdentity")[0][2], calls.named("GetUser")[0][1]
    assert read_start < sts_end  # the read went out while responder was still asking who it is
    assert access.home_identity()["Account"] == ACCOUNT
    assert len(calls.named("GetCallerIdentity")) == 1


def test_foreign_account_is_refused_and_nothing_is_sent_but_reads(fresh_credentials: str) -> None:
    access = AwsAccess(load_settings().aws)  # no cross-account role configured
    calls = Calls(access, slow_identity=0.3)
    iam = access.client("iam", account=OTHER_ACCOUNT)
    with pytest.raises(ResponderError, match="no cross-account role is configured"):
        iam.create_user(UserName="must-not-exist")  # while the identity is still unknown: waits, then refuses
    assert "CreateUser" not in calls.sent
    with pytest.raises(ResponderError, match="no cross-account role is configured"):
        iam.list_users()  # a read's answer is dropped, not handed over
    names = [u["UserName"] for u in boto3.client("iam").list_users()["Users"]]
    assert "must-not-exist" not in names


def test_clients_are_made_once_whichever_threads_ask(fresh_credentials: str) -> None:
    access = AwsAccess(load_settings().aws)
    access.home_identity()
    got: list[Any] = []
    start = threading.Barrier(12)

    def ask() -> None:
        start.wait()
        got.append(access.client("ec2", account=ACCOUNT))

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(got) == 12 and len({id(c) for c in got}) == 1


def test_warm_lambda_asks_who_it_is_once_across_runs(
    fresh_credentials: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (tmp_path / "runbooks").mkdir()
    shutil.copy(ROOT / "playbooks" / "iam-credential-compromise.yaml", playbooks)
    shutil.copy(ROOT / "runbooks" / "iam-credential-compromise.md", tmp_path / "runbooks")
    monkeypatch.setenv("RESPONDER_PLAYBOOKS", str(playbooks))
    seed_user()
    lambda_handler.reset()
    try:
        calls = Calls(lambda_handler._wired()["engine"].connectors.get("aws"))
        first = lambda_handler.on_event(sample_event(id="warm-lambda-first"))["results"][0]
        second = lambda_handler.on_event(sample_event(id="warm-lambda-second"))["results"][0]
    finally:
        lambda_handler.reset()
    assert first["created"] and second["created"] and first["run_id"] != second["run_id"]
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Inactive"
    assert len(calls.named("GetCallerIdentity")) == 1  # the second run used what the first asked
    assert len(calls.named("GetUser")) >= 2  # both runs did reach AWS
