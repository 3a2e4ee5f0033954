"""``responder evidence verify|list|export`` through the real CLI, on a real evidence folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from responder.cli import app
from responder.config import load_settings
from responder.errors import BadInput
from responder.evidence.local import open_locker
from responder.state import open_store

RUN = "run-cli-1"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def fill() -> Path:
    settings = load_settings()
    locker = open_locker(settings.evidence_url, store=open_store(settings.store_url))  # anchored, as the engine
    locker.put_json(RUN, "capture/pod.json", {"metadata": {"name": "web"}}, collected_by="responder:k8s", at=AT)
    locker.put(RUN, "capture/logs/app.log", b"hello\n", collected_by="responder:k8s", at=AT, content_type="text/plain")
    return Path(settings.evidence_url[len("file://") :]) / RUN


def test_verify_intact_then_tampered(responder_home: Path) -> None:
    folder = fill()
    ok = invoke("evidence", "verify", RUN)
    assert ok.exit_code == 0 and "intact" in ok.stdout
    path = folder / "artifacts" / "capture" / "logs" / "app.log"
    path.chmod(0o644)
    path.write_bytes(b"jello\n")
    bad = invoke("evidence", "verify", RUN, "--json")
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["intact"] is False
    assert [(p["kind"], p["subject"]) for p in data["problems"]] == [("artifact_changed", "capture/logs/app.log")]
    table = invoke("evidence", "verify", RUN)
    assert table.exit_code == 1 and "artifact_changed" in table.stdout


def test_verify_unknown_run_says_no_such_run(responder_home: Path) -> None:
    result = CliRunner().invoke(app, ["evidence", "verify", "no-such-run", "--json"])
    assert isinstance(result.exception, BadInput) and result.exception.exit_code == 2
    assert "no such run no-such-run" in str(result.exception) and "NOT intact" not in result.output


def test_verify_names_a_wiped_folder_from_the_store_anchor(responder_home: Path) -> None:
    import shutil

    folder = fill()
    shutil.rmtree(folder)
    result = invoke("evidence", "verify", RUN, "--json")
    assert result.exit_code == 1
    kinds = {p["kind"] for p in json.loads(result.stdout)["problems"]}
    assert {"evidence_missing", "artifact_removed", "custody_truncated"} <= kinds


def test_list_and_export_hand_over(responder_home: Path, tmp_path: Path) -> None:
    fill()
    listed = json.loads(invoke("evidence", "list", RUN, "--json").stdout)
    assert [a["name"] for a in listed["artifacts"]] == ["capture/logs/app.log", "capture/pod.json"]
    out = tmp_path / "handover"
    result = invoke("evidence", "export", RUN, "--out", str(out), "--actor", "dana (legal)", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["intact"] and data["artifacts"] == 2 and data["custody_entries"] == 3
    assert (out / RUN / "artifacts" / "capture" / "pod.json").is_file()
    custody = [json.loads(line) for line in (out / RUN / "custody.jsonl").read_text().splitlines()]
    assert custody[-1]["event"] == "exported" and custody[-1]["actor"] == "dana (legal)"
    assert invoke("evidence", "verify", RUN, "--dir", str(out)).exit_code == 0


def test_export_of_unknown_run_is_bad_input(responder_home: Path, tmp_path: Path) -> None:
    from responder.errors import BadInput

    try:
        invoke("evidence", "export", "nope", "--out", str(tmp_path / "x"))
    except BadInput as exc:
        assert "no evidence" in exc.message
    else:
        raise AssertionError("expected BadInput")
