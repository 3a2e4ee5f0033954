"""Real processes: SIGINT mid-run leaves a resumable `interrupted` run; concurrent deliveries make one run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from responder.app import build_responder
from responder.config import load_settings
from tests.helpers import engine, key_status, sample_event, seed_user
from tests.throttle_proxy import ThrottleProxy

KEY = "AKIA2E0A8F3B244C9986"
CLI = [sys.executable, "-m", "responder"]


def test_sigint_interrupts_then_resume_finishes(moto_endpoint: str, responder_home, tmp_path: Path) -> None:
    seed_user()
    event = tmp_path / "event.json"
    event.write_text(json.dumps(sample_event()))
    box: dict = {}
    proxy = ThrottleProxy(
        moto_endpoint, "UpdateAccessKey", times=1, after_forward=lambda: os.kill(box["pid"], signal.SIGINT)
    )
    try:
        proc = subprocess.Popen(
            [*CLI, "run", str(event), "--json", "-q"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "AWS_ENDPOINT_URL": proxy.url},
        )
        box["pid"] = proc.pid
        _, err = proc.communicate(timeout=120)
    finally:
        proxy.close()
    assert proc.returncode == 130, err
    assert "resume" in err
    service = build_responder(load_settings(), engine=engine())
    run = service.engine.store.list_runs()[0]
    assert run.status == "interrupted"
    result = service.resume(run.run_id)
    assert result.status in ("succeeded", "partial") and key_status("ci-deploy", KEY) == "Inactive"
    step = next(s for s in result.steps if s["id"] == "deactivate_key")
    assert step["changed"] and step["before"]["status"] == "Active"  # release will restore it


def test_concurrent_deliveries_make_one_contained_run(moto_endpoint: str, responder_home, tmp_path: Path) -> None:
    seed_user()
    event = tmp_path / "event.json"
    event.write_text(json.dumps(sample_event()))
    procs = [
        subprocess.Popen(
            [*CLI, "run", str(event), "--json", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    answers = [(p.wait(timeout=240), p.stdout.read(), p.stderr.read()) for p in procs]
    for code, out, err in answers:
        data = json.loads(out)  # every process answers in JSON, the joiners too
        assert code in (0, 4, 5), (code, err[-500:])
        assert data["status"] in ("succeeded", "partial", "running"), data["status"]
        assert "database is locked" not in err
    service = build_responder(load_settings(), engine=engine())
    runs = service.engine.store.list_runs()
    assert len(runs) == 1 and runs[0].status in ("succeeded", "partial")
    assert key_status("ci-deploy", KEY) == "Inactive"
    applied = [
        e
        for e in service.engine.store.audit_log(runs[0].run_id)
        if e["event"] == "step_applied" and e.get("step") == "deactivate_key"
    ]
    assert len(applied) == 1  # the effect happened once
