"""responder aware / deadlines / register / notify draft|decide|sent, through typer's CliRunner."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from responder.cli.notify import _clock_table, register
from responder.config import load_settings
from responder.errors import BadInput
from responder.state import open_store
from responder.state.records import StepRecord

from .conftest import NOTIFY, SCOPE, add_run, leaked_key


@pytest.fixture
def cli(responder_home: Path):
    (responder_home / "config.yaml").write_text(yaml.safe_dump({"notify": NOTIFY}))
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


@pytest.fixture
def run(cli) -> str:
    store = open_store(load_settings().store_url)
    add_run(store, leaked_key())
    store.ensure_step(StepRecord(
        run_id="run-1", step_id="scope", action="scope.cloudtrail_activity", category="scope", state="succeeded",
        output=SCOPE))
    return "run-1"


def test_plan_one_regime_without_a_run(cli) -> None:
    out = cli("deadlines", "--regime", "sec-8k", "--from", "2026-11-24T12:00:00-05:00", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"regime": "sec-8k", "recipient": "U.S. Securities and Exchange Commission "
                                       "(EDGAR)", "milestone": "form-8k", "due": "2026-12-01T22:30:00Z"}]
    sp = json.loads(cli("deadlines", "--regime", "lgpd", "--from", "2026-07-08T10:00:00-03:00",
                        "--jurisdiction", "BR-SP", "--json").output)
    assert sp[0]["due"] == "2026-07-15T02:59:59Z"
    gdpr = json.loads(cli("deadlines", "--regime", "gdpr-34", "--from", "2026-07-08T10:00:00Z", "--json").output)
    assert gdpr[0]["due"] is None
    table = cli("deadlines", "--regime", "nis2", "--from", "2026-03-27T18:30:00+01:00")
    assert table.exit_code == 0 and "final-report" in table.output


@pytest.mark.parametrize(("args", "message"), [
    (["deadlines", "--regime", "gdpr", "--from", "2026-01-01T00:00:00Z"], "valid regimes: gdpr-33"),
    (["deadlines", "--regime", "gdpr-33", "--from", "next friday"], "2026-03-27T18:30:00"),
    (["deadlines", "--from", "2026-01-01T00:00:00Z"], "--from needs --regime"),
    (["deadlines", "--regime", "lgpd", "--from", "2026-01-01T00:00:00Z", "--jurisdiction", "XX"], "ISO 3166"),
])
def test_bad_input_says_what_to_do(cli, args: list[str], message: str) -> None:
    out = cli(*args)
    assert isinstance(out.exception, BadInput)
    assert message in str(out.exception) + (out.exception.hint or "")


def test_aware_deadlines_draft_decide_sent(cli, run: str, tmp_path: Path) -> None:
    out = cli("aware", run, "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["start"]["at"] == "2026-03-27T17:30:00Z"
    moved = cli("aware", run, "--at", "2026-03-27T10:00:00", "--json")
    assert isinstance(moved.exception, BadInput)  # a different time needs a reason
    moved = cli("aware", run, "--at", "2026-03-27T10:00:00", "--reason", "SOC escalated at 10:00 Berlin", "--json")
    assert json.loads(moved.output)["start"]["at"] == "2026-03-27T09:00:00Z"  # naive = organisation's zone

    listed = json.loads(cli("deadlines", "--json").output)
    gdpr = next(c for c in listed if c["regime"] == "gdpr-33")
    assert gdpr["due"] == "2026-03-30T09:00:00Z" and gdpr["overdue"] is True  # the test machine lives later
    assert gdpr["due_local"] == "2026-03-30 11:00 CEST"
    assert all(c["regime"] == "nis2" for c in json.loads(cli("deadlines", "--regime", "nis2", "--json").output))

    drafted = cli("notify", "draft", run, "--json")
    assert drafted.exit_code == 0, drafted.output
    names = {d["name"] for d in json.loads(drafted.output)}
    assert "notifications/gdpr-33-authority-notice.md" in names
    late = next(d for d in json.loads(drafted.output) if d["regime"] == "gdpr-33")
    assert late["late"] is True  # drafted after its deadline: reasons for delay section

    decided = cli("notify", "decide", run, "--regime", "gdpr-34", "--decision", "not-required", "--exemption",
                  "34(3)(a)", "--reason", "data encrypted at rest with customer keys", "--by", "dpo", "--json")
    assert json.loads(decided.output)["decision"] == "not-required"
    sent = cli("notify", "sent", run, "--regime", "gdpr-33", "--milestone", "authority-notice", "--at",
               "2026-03-28T09:00:00Z", "--reference", "BfDI-123", "--json")
    assert sent.exit_code == 0, sent.output
    remaining = json.loads(cli("deadlines", "--json").output)
    assert not any(c["regime"] in ("gdpr-33", "gdpr-34") for c in remaining)
    everything = json.loads(cli("deadlines", "--all", "--json").output)
    assert {c["status"] for c in everything if c["regime"].startswith("gdpr")} == {"sent", "not-required"}

    target = tmp_path / "register.json"
    assert cli("register", "--format", "json", "--output", str(target)).exit_code == 0
    entry = json.loads(target.read_text())[0]
    assert entry["regimes"]["gdpr-34"]["exemption"] == "34(3)(a)" and entry["sent"][0]["reference"] == "BfDI-123"
    assert "breach register" in cli("register").output


def test_overdue_is_red() -> None:
    from zoneinfo import ZoneInfo

    now = datetime(2026, 4, 1, tzinfo=UTC)
    clocks = [{"run_id": "r", "regime": "gdpr-33", "milestone": "authority-notice", "recipient": "x",
               "due": "2026-03-30T17:30:00Z", "status": "open"},
              {"run_id": "r", "regime": "nis2", "milestone": "final-report", "recipient": "x",
               "due": "2026-04-30T21:59:59Z", "status": "open"}]
    table = _clock_table(clocks, ZoneInfo("Europe/Berlin"), now, "t")
    due_cells = table.columns[4]._cells
    assert due_cells[0].startswith("[bold red]") and not due_cells[1].startswith("[bold red]")
    assert "overdue" in table.columns[5]._cells[0]


def test_materiality_determination_starts_the_sec_clock(responder_home: Path) -> None:
    (responder_home / "config.yaml").write_text(yaml.safe_dump({"notify": {"regimes": ["sec-8k"]}}))
    store = open_store(load_settings().store_url)
    add_run(store, leaked_key())
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    assert isinstance(runner.invoke(app, ["aware", "run-1", "--event", "board"]).exception, BadInput)
    runner.invoke(app, ["aware", "run-1"])
    waiting = json.loads(runner.invoke(app, ["deadlines", "--all", "--json"]).output)
    assert [c["status"] for c in waiting] == ["waiting"]  # never assumed from awareness
    no_time = runner.invoke(app, ["aware", "run-1", "--event", "materiality"])
    assert "needs its time" in str(no_time.exception)
    out = runner.invoke(app, ["aware", "run-1", "--event", "materiality", "--at", "2026-11-24T12:00:00-05:00",
                              "--reason", "disclosure committee minutes", "--json"])
    assert out.exit_code == 0, out.output
    clock = json.loads(runner.invoke(app, ["deadlines", "--json"]).output)[0]
    assert (clock["regime"], clock["due"]) == ("sec-8k", "2026-12-01T22:30:00Z")  # Thanksgiving skipped
