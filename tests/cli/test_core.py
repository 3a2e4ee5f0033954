"""The CLI contracts: commands, --json shapes, exit codes; crash safety through real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from responder.cli import app
from tests.helpers import ROOT, key_status, sample_event, seed_user

RESPONDER = [sys.executable, "-m", "responder"]


def write_event(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(sample_event(**changes)))
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_run_json_shape_and_exit_code(moto_endpoint: str, responder_home: Path, tmp_path: Path) -> None:
    seed_user()
    result = invoke("run", str(write_event(tmp_path)), "--json", "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"run_id", "playbook", "status", "steps"} <= set(data)
    assert data["status"] == "succeeded"
    assert {"id", "action", "status", "changed"} <= set(data["steps"][0])
    runs = json.loads(invoke("runs", "--json").stdout)
    assert [r["run_id"] for r in runs] == [data["run_id"]]
    assert runs[0]["finding_id"] == "7ac9d2e1b6f04c3aa1b2c3d4e5f60718"


def test_match_json(tmp_path: Path) -> None:
    result = invoke("match", str(write_event(tmp_path)), "--json")
    data = json.loads(result.stdout)
    assert data["playbooks"] == ["iam-credential-compromise"]
    assert data["finding"]["type"] == "Exfiltration:IAMUser/AnomalousBehavior"


def test_low_severity_does_not_match_and_says_why(tmp_path: Path) -> None:
    data = json.loads(invoke("match", str(write_event(tmp_path, severity=2)), "--json").stdout)
    assert data["playbooks"] == []
    assert "severity 2 below 4" in data["not_matched"]["iam-credential-compromise"]


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.json"
    truncated.write_text(json.dumps(sample_event())[:300])
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("id: x\ntitle: [\n")
    for args in (
        ["run", str(truncated)],
        ["match", str(tmp_path / "missing.json")],
        ["validate", str(bad_yaml)],
        ["plan", str(truncated)],
    ):
        proc = subprocess.run([*RESPONDER, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "error" in proc.stderr or "bad.yaml:" in proc.stdout


def test_validate_prints_path_line_field(tmp_path: Path) -> None:
    pb = tmp_path / "pb.yaml"
    text = (ROOT / "playbooks" / "iam-credential-compromise.yaml").read_text()
    pb.write_text(text.replace("aws.iam.revoke_sessions", "aws.iam.revoke_session"))
    proc = subprocess.run([*RESPONDER, "validate", str(pb)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"{pb}:" in proc.stdout and "steps[4].action: unknown action 'aws.iam.revoke_session'" in proc.stdout


def test_schema_lists_every_action() -> None:
    schema = json.loads(invoke("schema").stdout)
    titles = {b["title"] for b in schema["$defs"]["Step"]["oneOf"]}
    assert "aws.iam.deactivate_access_key" in titles


def _env(moto: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESPONDER_"))}
    env.update({k: v for k, v in os.environ.items() if k in ("RESPONDER_CLOUDTRAIL", "RESPONDER_FLOW_LOGS")})
    env.update(
        AWS_ENDPOINT_URL=moto,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        RESPONDER_HOME=str(home),
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    return env


def test_sigkill_between_steps_then_resume(moto_endpoint: str, responder_home: Path, tmp_path: Path) -> None:
    """A run killed with SIGKILL resumes from its last finished step; no effect is applied twice."""
    seed_user()
    event = write_event(tmp_path)
    env = _env(moto_endpoint, responder_home)
    proc = subprocess.Popen(
        [*RESPONDER, "run", str(event)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=ROOT
    )
    killed_after = None
    assert proc.stderr is not None
    for line in proc.stderr:
        if "✔ deactivate_key" in line:
            proc.send_signal(signal.SIGKILL)
            killed_after = "deactivate_key"
            break
    proc.wait(timeout=60)
    assert killed_after and proc.returncode == -signal.SIGKILL
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Inactive"

    runs = json.loads(
        subprocess.run(
            [*RESPONDER, "runs", "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
        ).stdout
    )
    assert runs[0]["status"] == "running"
    run_id = runs[0]["run_id"]
    resumed = subprocess.run(
        [*RESPONDER, "resume", run_id, "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads(resumed.stdout)
    assert data["status"] == "succeeded"
    steps = {s["id"]: s for s in data["steps"]}
    assert steps["deactivate_key"]["attempts"] == 1  # finished before the kill: not run again
    audit = subprocess.run(
        [*RESPONDER, "audit", run_id], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    ).stdout.splitlines()
    applied = [json.loads(line) for line in audit if '"step_applied"' in line]
    changed = [a["step"] for a in applied if a.get("changed")]
    assert len(changed) == len(set(changed))  # every effect applied once
    assert "deactivate_key" in changed and "revoke_sessions" in changed


def test_resume_refuses_a_changed_playbook(moto_endpoint: str, responder_home: Path, tmp_path: Path) -> None:
    seed_user()
    invoke("run", str(write_event(tmp_path)), "--json", "--quiet")
    run_id = json.loads(invoke("runs", "--json").stdout)[0]["run_id"]
    changed = tmp_path / "playbooks"
    changed.mkdir()
    text = (ROOT / "playbooks" / "iam-credential-compromise.yaml").read_text()
    (changed / "iam.yaml").write_text(text + "\n# a change\n")
    result = CliRunner().invoke(app, ["resume", run_id, "--playbooks", str(changed)])
    assert result.exit_code != 0
    assert "different version of playbook" in str(result.exception)


def test_demo_runs_in_the_sandbox(responder_home: Path) -> None:
    proc = subprocess.run(
        [*RESPONDER, "demo", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RESPONDER_HOME": str(responder_home)},
    )
    data = json.loads(proc.stdout) if proc.stdout else {}
    if data.get("sandbox", {}).get("home"):  # a drill waiting for a person keeps its emulator: end it
        subprocess.run(
            [*RESPONDER, "sandbox", "down"],
            capture_output=True,
            timeout=60,
            env={**os.environ, "RESPONDER_HOME": data["sandbox"]["home"]},
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, after = data["sandbox"]["before"][0], data["sandbox"]["after"][0]
    assert before["access_keys"] == {"AKIA2E0A8F3B244C9986": "Active"}
    assert after["access_keys"] == {"AKIA2E0A8F3B244C9986": "Inactive"}
    assert "responder-revoke-sessions" in after["inline_policies"]


def test_json_failure_answers_in_json(tmp_path) -> None:
    """A pipeline reading --json gets JSON when the command fails too: why, what next, the exit code."""
    import subprocess
    import sys

    bad = tmp_path / "event.json"
    bad.write_text('{"detail": ')
    done = subprocess.run(
        [sys.executable, "-m", "responder", "run", str(bad), "--json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    answer = json.loads(done.stdout)
    assert answer["ok"] is False and answer["exit_code"] == 2 and answer["kind"] == "FindingInvalid"
    assert str(bad) in answer["error"] and "Traceback" not in done.stderr
