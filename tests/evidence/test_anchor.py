"""Anchors outside the evidence: KMS-signed heads, and the S3 locker's retained anchor objects.

KMS and S3 are moto over HTTP; the run store is a real SQLite file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from responder.evidence.anchor import HmacSigner, KmsSigner, StoreAnchors
from responder.evidence.base import canonical, entry_hash
from responder.evidence.local import LocalLocker, open_locker
from responder.evidence.s3 import S3Locker
from responder.state.sqlite import SqliteStore

RUN = "run-anchor-1"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
BUCKET = "responder-evidence-anchor"


def _fill(locker: object) -> None:
    locker.put_json(RUN, "finding.json", {"id": "f-1"}, collected_by="responder", at=AT)  # type: ignore[attr-defined]
    locker.put(RUN, "iam/key.json", b'{"Status": "Active"}', collected_by="responder:iam", at=AT)  # type: ignore[attr-defined]
    locker.record(RUN, "shared", actor="alice", at=AT, artifact="finding.json")  # type: ignore[attr-defined]


def test_kms_signed_anchor_verifies_and_a_forgery_is_named(moto_endpoint: str, tmp_path: Path) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    store = SqliteStore(tmp_path / "runs.sqlite3")
    locker = LocalLocker(tmp_path / "evidence", anchors=StoreAnchors(store), signer=KmsSigner(key))
    _fill(locker)
    report = locker.verify(RUN)
    assert report.intact, report.problems
    assert store.get_anchor(RUN)["signed"] == "kms-hmac-sha256"
    anchor = store.get_anchor(RUN)
    anchor["signature"] = HmacSigner(b"a key the forger holds").sign(b"x")
    store._conn().execute("DELETE FROM items WHERE pk=?", (f"ANCHOR#{RUN}",))
    store.advance_anchor(RUN, anchor)
    assert {p["kind"] for p in locker.verify(RUN).problems} == {"anchor_forged"}


def test_signing_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RESPONDER_ANCHOR_KEY", "from-the-environment")
    store = SqliteStore(tmp_path / "runs.sqlite3")
    locker = open_locker(f"file://{tmp_path / 'evidence'}", store=store)
    _fill(locker)
    assert store.get_anchor(RUN)["signed"] == "hmac-sha256" and locker.verify(RUN).intact
    monkeypatch.setenv("RESPONDER_ANCHOR_KEY", "another-key")
    other = open_locker(f"file://{tmp_path / 'evidence'}", store=store)
    assert {p["kind"] for p in other.verify(RUN).problems} == {"anchor_forged"}


@pytest.fixture
def s3(moto_endpoint: str) -> object:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return client


def _s3_locker(tmp_path: Path, with_store: bool = True) -> S3Locker:
    anchors = StoreAnchors(SqliteStore(tmp_path / "runs.sqlite3")) if with_store else None
    return S3Locker.from_url(f"s3://{BUCKET}/cases", retention="GOVERNANCE:1", anchors=anchors)


def test_s3_head_is_kept_as_retained_objects_outside_the_run(s3: object, tmp_path: Path) -> None:
    locker = _s3_locker(tmp_path)
    _fill(locker)
    client = boto3.client("s3", region_name="us-east-1")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="cases/_anchors/")["Contents"]]
    assert keys == [f"cases/_anchors/{RUN}/{n:08d}.json" for n in (1, 2, 3)]
    head = client.head_object(Bucket=BUCKET, Key=keys[-1])
    assert head["ObjectLockMode"] == "GOVERNANCE"
    report = locker.verify(RUN)
    assert report.intact and len(report.anchored_in) == 2
    assert locker.run_ids() == [RUN] and locker.has_run(RUN) and not locker.has_run("run-other")


def test_s3_last_entry_hidden_by_a_delete_marker_is_named(s3: object, tmp_path: Path) -> None:
    locker = _s3_locker(tmp_path, with_store=False)  # the retained anchor objects alone
    _fill(locker)
    client = boto3.client("s3", region_name="us-east-1")
    client.delete_object(Bucket=BUCKET, Key=f"cases/{RUN}/custody/00000003.json")  # a marker, allowed under lock
    client.delete_object(Bucket=BUCKET, Key=f"cases/_anchors/{RUN}/00000003.json")  # the anchor too: still read
    kinds = {p["kind"] for p in locker.verify(RUN).problems}
    assert {"custody_truncated", "object_deleted"} <= kinds


def test_s3_appended_entry_with_recomputed_hash_is_named_and_refused(s3: object, tmp_path: Path) -> None:
    locker = _s3_locker(tmp_path)
    _fill(locker)
    last = locker.custody(RUN)[-1]
    forged = {
        "seq": 4,
        "event": "released",
        "actor": "mallory",
        "artifact": None,
        "sha256": None,
        "time": None,
        "details": {},
        "prev": last["hash"],
    }
    forged["hash"] = entry_hash(forged)
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=BUCKET, Key=f"cases/{RUN}/custody/00000004.json", Body=canonical(forged)
    )
    assert "custody_appended" in {p["kind"] for p in locker.verify(RUN).problems}
    fresh = _s3_locker(tmp_path)
    with pytest.raises(Exception, match="written past the anchored head"):
        fresh.record(RUN, "viewed", actor="bob", at=AT)


def test_s3_everything_deleted_is_named_from_the_anchor(s3: object, tmp_path: Path) -> None:
    locker = _s3_locker(tmp_path)
    _fill(locker)
    client = boto3.client("s3", region_name="us-east-1")
    for obj in client.list_objects_v2(Bucket=BUCKET, Prefix=f"cases/{RUN}/")["Contents"]:
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    kinds = {p["kind"] for p in locker.verify(RUN).problems}
    assert {"evidence_missing", "object_deleted"} <= kinds


def test_anchor_item_is_separate_from_the_runs_records(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "runs.sqlite3")
    locker = LocalLocker(tmp_path / "evidence", anchors=StoreAnchors(store))
    _fill(locker)
    assert store.list_runs() == [] and store.anchored_runs() == [RUN]
    assert json.loads(json.dumps(store.get_anchor(RUN)))["count"] == 3
    older = dict(store.get_anchor(RUN), count=2)
    assert store.advance_anchor(RUN, older)["count"] == 3  # a head never moves back


def test_s3_crash_between_the_store_anchor_and_the_object_anchor_heals_on_the_next_write(
    s3: object, tmp_path: Path
) -> None:
    locker = _s3_locker(tmp_path)
    _fill(locker)
    store = SqliteStore(tmp_path / "runs.sqlite3")
    last = locker.custody(RUN)[-1]
    entry = {
        "seq": 4,
        "event": "viewed",
        "artifact": None,
        "sha256": None,
        "actor": "alice",
        "time": "2026-11-20T09:31:00Z",
        "details": {},
        "prev": last["hash"],
    }
    entry["hash"] = entry_hash(entry)
    from responder.evidence.anchor import next_anchor

    store.advance_anchor(RUN, next_anchor(RUN, store.get_anchor(RUN), entry, None))  # the store's write landed;
    # the process died before the anchor object and the custody object
    fresh = _s3_locker(tmp_path)
    fresh.record(RUN, "exported", actor="bob", at=AT)
    assert [e["seq"] for e in fresh.custody(RUN)] == [1, 2, 3, 4, 5]
    report = fresh.verify(RUN)
    assert report.intact, report.problems


def test_s3_writers_in_separate_processes_share_one_anchored_chain(s3: object, tmp_path: Path) -> None:
    """Two lockers (as two Lambda containers would hold) appending at once: one chain, no divergence."""
    import threading

    lockers = [_s3_locker(tmp_path) for _ in range(3)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(lockers))

    def work(n: int) -> None:
        barrier.wait()
        try:
            for i in range(5):
                lockers[n].record(RUN, "viewed", actor=f"w{n}-{i}", at=AT)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(lockers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    entries = lockers[0].custody(RUN)
    assert [e["seq"] for e in entries] == list(range(1, 16))
    assert len({e["actor"] for e in entries}) == 15
    report = _s3_locker(tmp_path).verify(RUN)
    assert report.intact, report.problems
