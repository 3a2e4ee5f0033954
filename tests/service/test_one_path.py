"""One respond path: the same finding through `responder run` and through the Lambda's `on_event` leaves
the same records (steps, states, changes, finding versions) — neither way in composes the engine its own way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from responder import lambda_handler
from responder.state import open_store
from tests.helpers import sample_event, seed_user


def _records(home: Path) -> list[tuple]:
    store = open_store(f"sqlite:///{home / 'runs.sqlite3'}")
    runs = store.list_runs()
    assert len(runs) == 1
    steps = [(s.step_id, s.state.value, s.changed) for s in store.steps(runs[0].run_id)]
    return [runs[0].run_id, runs[0].status.value, steps, len(store.finding_versions(runs[0].finding_id))]


def test_cli_and_lambda_leave_the_same_records(moto_endpoint: str, tmp_path: Path, monkeypatch) -> None:
    event = sample_event()
    (tmp_path / "event.json").write_text(json.dumps(event))

    seed_user()
    cli_home = tmp_path / "cli-home"
    monkeypatch.setenv("RESPONDER_HOME", str(cli_home))
    proc = subprocess.run(
        [sys.executable, "-m", "responder", "run", str(tmp_path / "event.json"), "--json", "-q"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode in (0, 4), proc.stderr[-1500:]

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    seed_user()
    lambda_home = tmp_path / "lambda-home"
    monkeypatch.setenv("RESPONDER_HOME", str(lambda_home))
    lambda_handler.reset()
    try:
        answer = lambda_handler.on_event(event)
    finally:
        lambda_handler.reset()
    assert answer["ok"]
    assert _records(cli_home) == _records(lambda_home)
