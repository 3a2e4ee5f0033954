"""A drill goes all the way: run --sandbox waits, approve / resume / release reach the same emulator as
printed, runs/audit/evidence find the drill run by its id, and `sandbox down` ends it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "responder" / "data" / "samples" / "guardduty-iam-exfiltration.json"


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    # the drill writes its own attack story's logs (and seeds what the story left behind)
    env = {k: v for k, v in os.environ.items() if k not in ("RESPONDER_CLOUDTRAIL", "RESPONDER_FLOW_LOGS")}
    return subprocess.run(
        [sys.executable, "-m", "responder", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def drill(responder_home: Path):
    yield responder_home
    _cli("sandbox", "down", timeout=60)


def test_drill_approve_then_release_as_printed(drill: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONDER_POSTURE", "approval")  # every change asks a person: the drill's approve path
    run = _cli("run", str(SAMPLE), "--sandbox", "--json", "-q")
    assert run.returncode == 3, run.stderr
    result = json.loads(run.stdout)
    assert result["status"] == "waiting" and result["waiting_for"]
    run_id = result["run_id"]

    for _ in range(40):  # approve each change as responder asks, with the command exactly as it prints it
        step = result["waiting_for"][0]
        approved = _cli("approve", run_id, step, "--by", "alice", "--reason", "drill", "--json")
        assert approved.returncode in (0, 3, 4), approved.stderr
        result = json.loads(approved.stdout)
        if result["status"] != "waiting":
            break
    assert result["status"] in ("succeeded", "partial"), result["status"]
    steps = {s["id"]: s for s in result["steps"]}
    assert steps["deactivate_key"]["status"] == "succeeded" and steps["deactivate_key"]["changed"]
    loop = {s["action"]: s for s in result["steps"] if s["id"].startswith("loop_")}
    assert loop["aws.iam.deactivate_access_key"]["status"] == "succeeded"  # the backdoor user's key
    assert loop["aws.iam.quarantine_principal"]["status"] == "succeeded"  # the backdoor user
    trail = loop["aws.cloudtrail.start_logging"]
    assert trail["status"] == "succeeded", trail["summary"]  # the stopped trail logs again

    assert _cli("runs", run_id, "--json").returncode == 0
    assert _cli("audit", run_id).returncode == 0
    verify = _cli("evidence", "verify", run_id)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    released = _cli("release", run_id, "--reenable-keys", "--json")
    assert released.returncode == 0, released.stdout + released.stderr
    report = json.loads(released.stdout)
    assert report["released"] and not report["refused"]


def test_unknown_run_is_no_such_run(drill: Path) -> None:
    verify = _cli("evidence", "verify", "run-00000000000000000000")
    assert verify.returncode == 2 and "no such run" in verify.stderr


def test_stolen_session_closed_loop_contains_what_it_left_behind(drill: Path) -> None:
    """Issue 17's done-when: the stolen session's scope shows a backdoor user and key and a stopped trail;
    the run ends with the key inactive, the user quarantined and the trail logging, all releasable."""
    event = ROOT / "tests" / "fixtures" / "findings" / "guardduty" / "iam-anomalous-role-session.json"
    run = _cli("run", str(event), "--sandbox", "--json", "-q")
    assert run.returncode in (0, 4), run.stderr
    result = json.loads(run.stdout)
    assert result["playbook"] == "iam-role-session-compromise"
    loop = {s["action"]: s for s in result["steps"] if s["id"].startswith("loop_")}
    assert loop["aws.iam.deactivate_access_key"]["status"] == "succeeded"
    assert loop["aws.iam.quarantine_principal"]["status"] == "succeeded"
    assert loop["aws.cloudtrail.start_logging"]["status"] == "succeeded"
    released = _cli("release", result["run_id"], "--reenable-keys", "--json")
    assert released.returncode == 0, released.stdout + released.stderr
    names = {s["id"] for s in json.loads(released.stdout)["released"]}
    assert {f"release:{s['id']}" for s in loop.values() if s["action"] == "aws.iam.quarantine_principal"} <= names
