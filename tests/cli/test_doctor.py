"""``responder doctor`` on an S3 Object Lock locker (moto over HTTP) and a SQLite store: healthy, then the
store forgets a run the locker holds, then a run's evidence is deleted behind a delete marker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from responder.cli import app
from responder.cli.doctor import diagnose
from responder.config import load_settings
from responder.evidence.local import open_locker
from responder.state.sqlite import SqliteStore
from tests.state.contract import run_record

BUCKET = "responder-evidence-doctor"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def s3_home(moto_endpoint: str, responder_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    monkeypatch.setenv("RESPONDER_EVIDENCE", f"s3://{BUCKET}/cases")
    monkeypatch.setenv("RESPONDER_EVIDENCE_RETENTION", "GOVERNANCE:1")
    return responder_home


def _seed(run_ids: tuple[str, ...]) -> None:
    settings = load_settings()
    store = SqliteStore(Path(settings.store_url[len("sqlite:///") :]))
    locker = open_locker(settings.evidence_url, store=store)
    for run_id in run_ids:
        store.claim_run(run_record(run_id, run_id))
        locker.put_json(run_id, "finding.json", {"id": run_id}, collected_by="t", at=AT)
    store.close()


def test_healthy_s3_locker_and_store(s3_home: Path) -> None:
    _seed(("run-a", "run-b"))
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["healthy"] and data["locker"]["runs"] == 2 and data["store"]["anchored"] == 2


def test_store_forgot_a_run_the_locker_holds(s3_home: Path) -> None:
    _seed(("run-a",))
    settings = load_settings()
    Path(settings.store_url[len("sqlite:///") :]).unlink()  # "fixed" by deleting the store
    out = diagnose(settings)
    assert not out["healthy"]
    assert ("run_unrecorded", "run-a") in {(p["kind"], p["subject"]) for p in out["locker"]["problems"]}


def test_deleted_evidence_is_named(s3_home: Path) -> None:
    _seed(("run-a",))
    client = boto3.client("s3", region_name="us-east-1")
    for obj in client.list_objects_v2(Bucket=BUCKET, Prefix="cases/run-a/")["Contents"]:
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])  # delete markers: allowed under Object Lock
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 2
    assert "evidence_missing" in result.stdout and "run-a" in result.stdout
