"""A crash between an effect and its record: resume records the true "before", so release restores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3

from responder.app import build_responder
from responder.config import load_settings
from responder.engine.release import release
from tests.helpers import engine, inline_policies, key_status, sample_event, seed_user
from tests.throttle_proxy import ThrottleProxy

KEY = "AKIA2E0A8F3B244C9986"


def test_kill_after_deactivation_then_resume_and_release(moto_endpoint: str, responder_home, tmp_path: Path) -> None:
    seed_user()
    before = {"key": key_status("ci-deploy", KEY), "policies": inline_policies("ci-deploy")}
    event = tmp_path / "event.json"
    event.write_text(json.dumps(sample_event()))
    box: dict = {}
    proxy = ThrottleProxy(
        moto_endpoint, "UpdateAccessKey", times=1, after_forward=lambda: os.kill(box["pid"], signal.SIGKILL)
    )
    try:
        env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "responder", "run", str(event), "--json", "-q"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        box["pid"] = proc.pid
        proc.communicate(timeout=120)
    finally:
        proxy.close()
    assert proc.returncode == -signal.SIGKILL
    assert key_status("ci-deploy", KEY) == "Inactive"  # the effect happened; its record did not

    service = build_responder(load_settings(), engine=engine())
    run_id = service.engine.store.list_runs()[0].run_id
    result = service.resume(run_id)
    step = next(s for s in result.steps if s["id"] == "deactivate_key")
    assert step["changed"] is True and step["before"]["status"] == "Active", step

    release(service.engine, run_id, options={"reenable_keys": True})
    assert {"key": key_status("ci-deploy", KEY), "policies": inline_policies("ci-deploy")} == before
    assert boto3.client("iam").list_user_tags(UserName="ci-deploy")["Tags"] == []
