"""``responder scope`` for on-call: tables, --json, exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from responder.cli.scope import register
from responder.samples import GroundTruth


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    return app


def test_tables_for_people(app: typer.Typer, generated: GroundTruth) -> None:
    result = CliRunner().invoke(
        app,
        [
            "scope",
            "--access-key",
            generated.story.access_key_id,
            "--cloudtrail",
            str(generated.cloudtrail_dir),
            "--flow-logs",
            str(generated.flow_logs_dir),
            "--since",
            "2026-11-20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Keys and pivots" in result.stdout and "CreateAccessKey" in result.stdout
    assert "Egress" in result.stdout and "personal_data" in result.stdout
    assert "Tactic timeline (MITRE ATT&CK)" in result.stdout and "defense-evasion" in result.stdout
    assert "Accounts outside the organisation" in result.stdout and generated.story.external_account in result.stdout
    assert "Log sources" in result.stdout


def test_tables_say_no_egress_seen_without_flow_logs(app: typer.Typer, generated: GroundTruth) -> None:
    result = CliRunner().invoke(
        app, ["scope", "--access-key", generated.story.access_key_id, "--cloudtrail", str(generated.cloudtrail_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "No egress seen: no VPC Flow Logs could be read" in " ".join(result.stdout.split())


def test_json_carries_techniques_and_external_accounts(app: typer.Typer, generated: GroundTruth) -> None:
    result = CliRunner().invoke(
        app,
        [
            "scope",
            "--access-key",
            generated.story.access_key_id,
            "--cloudtrail",
            str(generated.cloudtrail_dir),
            "--json",
        ],
    )
    body = json.loads(result.stdout)
    assert {t["tactic"] for t in body["techniques"]} == set(generated.tactics)
    entry = body["techniques"][0]
    assert set(entry) >= {"tactic", "technique_id", "technique", "event_names", "count", "first", "last", "resources"}
    assert {e["account_id"] for e in body["external_accounts"]} == {generated.story.external_account}
    assert all({"event_name", "event_id", "resource_id"} <= set(e) for e in body["external_accounts"])
    assert {s["kind"]: s["read"] for s in body["sources"]} == {"cloudtrail": True, "flow_logs": False}


def test_event_file_gives_subject_and_window(app: typer.Typer, generated: GroundTruth, tmp_path: Path) -> None:
    report = [
        {
            "Description": "AWS",
            "StartLine": 3,
            "EndLine": 3,
            "Match": generated.story.access_key_id,
            "Secret": generated.story.access_key_id,
            "File": "deploy.sh",
            "Commit": "abc123",
            "Date": "2026-11-20T13:00:00Z",
            "RuleID": "aws-access-token",
            "Author": "dev",
        }
    ]
    event = tmp_path / "gitleaks.json"
    event.write_text(json.dumps(report))
    result = CliRunner().invoke(
        app,
        [
            "scope",
            "--event",
            str(event),
            "--cloudtrail",
            str(generated.cloudtrail_dir),
            "--flow-logs",
            str(generated.flow_logs_dir),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["window"]["since"] == "2026-11-20T13:00:00Z"  # a leaked secret's clock starts at its commit
    assert body["events"] == len(generated.story_event_ids) and len(body["keys"]) == len(generated.keys)
    assert body["egress"][0]["destination"] == generated.story.attacker_ip


@pytest.mark.parametrize(
    "args",
    [
        ["scope", "--cloudtrail", "/nowhere"],  # no subject
        ["scope", "--access-key", "AKIA5STORYLEAKED0001", "--cloudtrail", "/no/such/path"],
        ["scope", "--access-key", "not-a-key", "--cloudtrail", "."],
        ["scope", "--access-key", "AKIA5STORYLEAKED0001", "--cloudtrail", ".", "--since", "yesterday"],
        [
            "scope",
            "--access-key",
            "AKIA5STORYLEAKED0001",
            "--cloudtrail",
            ".",
            "--since",
            "2026-01-02",
            "--until",
            "2026-01-01",
        ],
        ["scope", "--access-key", "AKIA5STORYLEAKED0001", "--principal", "arn:aws:iam::123456789012:user/a"],
        ["scope", "--access-key", "AKIA5STORYLEAKED0001"],  # no logs anywhere
        ["scope", "--event", "/no/such/event.json", "--cloudtrail", "."],
        ["scope", "--access-key", "AKIA5STORYLEAKED0001", "--cloudtrail", ".", "--backend", "bigquery"],
        ["scope", "--print-ddl", "--cloudtrail", "/local"],
    ],
    ids=range(10),
)
def test_bad_input_exits_2_with_what_to_do(app: typer.Typer, args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output


def test_print_ddl(app: typer.Typer) -> None:
    result = CliRunner().invoke(
        app, ["scope", "--print-ddl", "--cloudtrail", "s3://trail-bucket", "--account", "123456789012"]
    )
    assert result.exit_code == 0 and "CREATE EXTERNAL TABLE" in result.stdout


def test_run_id_gives_the_subject_from_its_finding(app: typer.Typer, generated: GroundTruth) -> None:
    from datetime import UTC, datetime

    from responder.config import load_settings
    from responder.findings.model import AccessKey, Finding, Source
    from responder.state import open_store
    from responder.state.records import RunRecord

    finding = Finding(
        id="f-1",
        source=Source.GUARDDUTY,
        type="UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        severity=8.0,
        account_id=generated.story.account_id,
        first_seen=datetime(2026, 11, 20, 14, 10, tzinfo=UTC),
        resource=AccessKey(access_key_id=generated.story.access_key_id, user_name="deploy-bot"),
    )
    store = open_store(load_settings().store_url)
    now = "2026-11-20T15:00:00Z"
    store.claim_run(
        RunRecord(
            run_id="run-42",
            finding_id="f-1",
            playbook_id="pb",
            playbook_digest="d",
            created_at=now,
            updated_at=now,
            finding=finding.model_dump(mode="json"),
        )
    )
    result = CliRunner().invoke(
        app, ["scope", "--run", "run-42", "--cloudtrail", str(generated.cloudtrail_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["window"]["since"] == "2026-11-19T14:10:00Z"  # first evidence minus the 24 h look-back
    assert body["events"] == len(generated.story_event_ids)
    missing = CliRunner().invoke(app, ["scope", "--run", "no-such-run", "--cloudtrail", str(generated.cloudtrail_dir)])
    assert missing.exit_code == 2
