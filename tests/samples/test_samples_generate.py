"""The sample generator: real layouts, a known story, fast at demo size, deterministic by seed."""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import typer
from typer.testing import CliRunner

from responder.cli.samples import register
from responder.samples import StoryParams, generate


def test_demo_size_is_fast_and_in_the_real_layouts(tmp_path: Path) -> None:
    params = StoryParams(
        account_id="123456789012",
        region="eu-west-1",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        user_name="jenkins",
        attacker_ip="198.51.100.77",
        start=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )
    began = time.perf_counter()
    truth = generate(tmp_path, 20_000, story=params)
    assert time.perf_counter() - began < 2.0
    assert truth.cloudtrail_records + truth.flow_records >= 19_000
    files = sorted(truth.cloudtrail_dir.glob("AWSLogs/123456789012/CloudTrail/*/2026/*/*/*.json.gz"))
    assert len(files) == truth.cloudtrail_files
    assert files[0].name.startswith("123456789012_CloudTrail_")
    assert list(truth.cloudtrail_dir.glob("AWSLogs/123456789012/CloudTrail-Digest/**/*.json.gz"))
    records = [r for f in files for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]]
    assert len(records) == truth.cloudtrail_records
    story = [r for r in records if r["eventID"] in set(truth.story_event_ids)]
    assert len(story) == len(truth.story_event_ids)
    assert story and all(r["recipientAccountId"] == "123456789012" for r in story)
    assert truth.keys["AKIAIOSFODNN7EXAMPLE"].startswith("leaked key")
    assert min(r["eventTime"] for r in story) == "2026-03-01T09:30:00Z"
    flows = sorted(truth.flow_logs_dir.rglob("*.log.gz"))
    header = gzip.decompress(flows[0].read_bytes()).decode().splitlines()[0]
    assert header.startswith("version account-id interface-id srcaddr dstaddr")


def test_same_seed_same_data(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 2_000, seed=3)
    b = generate(tmp_path / "b", 2_000, seed=3)
    assert a.story_event_ids == b.story_event_ids and a.keys == b.keys
    c = generate(tmp_path / "c", 2_000, seed=4)
    assert c.story_event_ids != a.story_event_ids


def test_cli_writes_and_reports(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["samples", "--out", str(tmp_path / "s"), "--records", "3000", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["cloudtrail_records"] > 2000 and len(body["keys"]) == 4  # leaked, role, backdoor, console
    bad = CliRunner().invoke(app, ["samples", "--out", str(tmp_path / "x"), "--records", "0"])
    assert bad.exit_code == 2
    assert body["tactics"] == [
        "initial-access",
        "execution",
        "persistence",
        "privilege-escalation",
        "defense-evasion",
        "credential-access",
        "discovery",
        "lateral-movement",
        "collection",
        "exfiltration",
        "impact",
    ]
    people = CliRunner().invoke(app, ["samples", "--out", str(tmp_path / "t"), "--records", "3000"])
    assert "across 11 ATT&CK tactics" in people.stdout and "responder scope --access-key" in people.stdout
