"""The S3 Object Lock locker against the moto server over HTTP: write-once, retained, tamper-evident."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from responder.errors import ConfigInvalid, Refused
from responder.evidence.local import LocalLocker, open_locker
from responder.evidence.s3 import S3Locker, parse_retention

BUCKET = "responder-evidence-test"
RUN = "run-s3-1"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def s3(moto_endpoint: str) -> object:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return client


def filled(mode: str = "COMPLIANCE") -> S3Locker:
    locker = S3Locker.from_url(f"s3://{BUCKET}/cases", retention=f"{mode}:30")
    locker.put_json(RUN, "capture/pod.json", {"metadata": {"name": "web"}}, collected_by="responder:k8s", at=AT)
    locker.put(
        RUN,
        "capture/logs/app.log",
        b"line one\nline two\n",
        collected_by="responder:k8s",
        at=AT,
        content_type="text/plain",
    )
    locker.put_json(RUN, "capture/events.json", {"items": []}, collected_by="responder:k8s", at=AT)
    locker.record(RUN, "shared", actor="alice", at=AT, artifact="capture/pod.json")
    return locker


def kinds(locker: S3Locker) -> set[tuple[str, str]]:
    return {(p["kind"], p["subject"]) for p in locker.verify(RUN).problems}


def test_round_trip_and_export_verify(s3: object, tmp_path: Path) -> None:
    locker = filled()
    assert isinstance(open_locker(f"s3://{BUCKET}/cases"), S3Locker)
    assert [a.name for a in locker.artifacts(RUN)] == [
        "capture/events.json",
        "capture/logs/app.log",
        "capture/pod.json",
    ]
    assert locker.read(RUN, "capture/logs/app.log") == b"line one\nline two\n"
    assert [e["seq"] for e in locker.custody(RUN)] == [1, 2, 3, 4]
    report = locker.verify(RUN)
    assert report.intact, report.problems
    again = locker.put_json(RUN, "capture/pod.json", {"metadata": {"name": "web"}}, collected_by="x", at=AT)
    assert again.name == "capture/pod.json" and len(locker.custody(RUN)) == 4  # same bytes: nothing new
    changed = locker.put_json(RUN, "capture/pod.json", {"metadata": {"name": "other"}}, collected_by="x", at=AT)
    assert changed.name == "capture/pod.json~2"  # never an overwrite
    target = locker.export(RUN, tmp_path / "handover", actor="alice", at=AT)
    assert locker.custody(RUN)[-1]["event"] == "exported"
    assert LocalLocker(target.parent).verify(RUN).intact


@pytest.mark.parametrize("mode", ["COMPLIANCE", "GOVERNANCE"])
def test_objects_cannot_be_deleted_or_replaced_within_retention(s3: object, mode: str) -> None:
    locker = filled(mode)
    client = boto3.client("s3", region_name="us-east-1")
    key = f"cases/{RUN}/artifacts/capture/logs/app.log"
    head = client.head_object(Bucket=BUCKET, Key=key)
    assert head["ObjectLockMode"] == mode
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC)
    version = head["VersionId"]
    with pytest.raises(ClientError) as denied:
        client.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as exists:
        client.put_object(Bucket=BUCKET, Key=key, Body=b"replaced", IfNoneMatch="*")
    assert exists.value.response["Error"]["Code"] == "PreconditionFailed"
    custody_key = f"cases/{RUN}/custody/00000001.json"
    custody_version = client.head_object(Bucket=BUCKET, Key=custody_key)["VersionId"]
    with pytest.raises(ClientError):
        client.delete_object(Bucket=BUCKET, Key=custody_key, VersionId=custody_version)
    assert client.get_object(Bucket=BUCKET, Key=key, VersionId=version)["Body"].read() == b"line one\nline two\n"
    assert locker.verify(RUN).intact


def test_bucket_without_object_lock_is_refused(moto_endpoint: str) -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="plain-evidence-bucket")
    locker = S3Locker.from_url("s3://plain-evidence-bucket/x")
    with pytest.raises(Refused, match="no Object Lock"):
        locker.put(RUN, "a.json", b"{}", collected_by="t", at=AT)


def test_flipped_byte_is_named_and_the_original_is_still_held(s3: object) -> None:
    locker = filled()
    client = boto3.client("s3", region_name="us-east-1")
    key = f"cases/{RUN}/artifacts/capture/logs/app.log"
    data = bytearray(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[3] ^= 0x01
    client.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))  # a new version on top of the locked one
    assert kinds(locker) == {
        ("artifact_changed", "capture/logs/app.log"),
        ("object_overwritten", "artifacts/capture/logs/app.log"),
    }


def test_deleted_custody_entry_is_named(s3: object) -> None:
    locker = filled()
    boto3.client("s3", region_name="us-east-1").delete_object(Bucket=BUCKET, Key=f"cases/{RUN}/custody/00000002.json")
    problems = kinds(locker)
    assert {
        ("custody_order", "custody entry 2"),
        ("custody_chain", "custody entry 2"),
        ("custody_missing", "capture/logs/app.log"),
        ("object_deleted", "custody/00000002.json"),
    } <= problems


def test_reordered_custody_entries_are_named(s3: object) -> None:
    locker = filled()
    client = boto3.client("s3", region_name="us-east-1")
    two, three = (f"cases/{RUN}/custody/0000000{n}.json" for n in (2, 3))
    body2 = client.get_object(Bucket=BUCKET, Key=two)["Body"].read()
    body3 = client.get_object(Bucket=BUCKET, Key=three)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=two, Body=body3)
    client.put_object(Bucket=BUCKET, Key=three, Body=body2)
    problems = kinds(locker)
    assert {
        ("custody_order", "custody entry 2"),
        ("custody_order", "custody entry 3"),
        ("object_overwritten", "custody/00000002.json"),
        ("object_overwritten", "custody/00000003.json"),
    } <= problems


def test_concurrent_appends_never_share_a_sequence_number(s3: object) -> None:
    lockers = [S3Locker.from_url(f"s3://{BUCKET}/cases") for _ in range(2)]
    lockers[0].put(RUN, "a.txt", b"a", collected_by="t", at=AT)

    def work(locker: S3Locker, who: str) -> None:
        for n in range(4):
            locker.record(RUN, "viewed", actor=f"{who}-{n}", at=AT)

    threads = [threading.Thread(target=work, args=(lk, f"w{i}")) for i, lk in enumerate(lockers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = lockers[0].custody(RUN)
    assert [e["seq"] for e in entries] == list(range(1, 10))
    assert lockers[1].verify(RUN).intact


def test_retention_setting() -> None:
    assert parse_retention(None) == ("GOVERNANCE", 365)
    assert parse_retention("compliance:7") == ("COMPLIANCE", 7)
    for bad in ("FOREVER:1", "COMPLIANCE", "GOVERNANCE:0", "COMPLIANCE:x"):
        with pytest.raises(ConfigInvalid):
            parse_retention(bad)


@pytest.mark.usefixtures("with_scope_logs")
def test_engine_writes_a_runs_evidence_into_the_locked_bucket(
    s3: object, responder_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import engine, finding_of, sample_event, seed_user, shipped

    monkeypatch.setenv("RESPONDER_EVIDENCE", f"s3://{BUCKET}/runs")
    monkeypatch.setenv("RESPONDER_EVIDENCE_RETENTION", "COMPLIANCE:7")
    seed_user()
    eng = engine()
    assert isinstance(eng.evidence, S3Locker)
    result = eng.run(shipped(), finding_of(sample_event()))
    assert result.status in ("succeeded", "waiting"), result.steps  # the locker's part: evidence steps succeeded
    evidence = [s["status"] for s in result.steps if s["category"] == "evidence"]
    assert evidence[:2] == ["succeeded", "succeeded"] and "failed" not in evidence, result.steps
    report = eng.evidence.verify(result.run_id)
    assert report.intact and report.artifacts >= 2, report.problems
    client = boto3.client("s3", region_name="us-east-1")
    key = f"runs/{result.run_id}/artifacts/capture_user/iam-user-ci-deploy.json"
    assert client.head_object(Bucket=BUCKET, Key=key)["ObjectLockMode"] == "COMPLIANCE"


def test_an_artifact_left_without_its_manifest_entry_is_recovered_not_overwritten(s3: object) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.put_object(Bucket=BUCKET, Key=f"cases/{RUN}/artifacts/pod.json", Body=b"{}")  # writer died here
    locker = S3Locker.from_url(f"s3://{BUCKET}/cases")
    art = locker.put(RUN, "pod.json", b'{"a": 1}', collected_by="t", at=AT)
    assert art.name == "pod.json~2"
    manifest = {a.name: a for a in locker.artifacts(RUN)}
    assert manifest["pod.json"].collected_by == "responder (recovered after an interrupted write)"
    assert client.get_object(Bucket=BUCKET, Key=f"cases/{RUN}/artifacts/pod.json")["Body"].read() == b"{}"
    recovered = [e for e in locker.custody(RUN) if e.get("artifact") == "pod.json"]
    assert recovered and "recovered" in recovered[0]["details"]  # named as recovered in the custody log
    assert kinds(locker) == set()
