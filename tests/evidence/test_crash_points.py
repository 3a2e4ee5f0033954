"""No crash point wedges a run: each on-disk state a crash inside the locker leaves is finished by the next write.

A write is: the chain's head anchored (write-ahead), the artifact's bytes, its manifest entry, its custody
entry. Each test builds, with real files and a real SQLite store, exactly what a process killed at one
point leaves behind, then repeats the write as a resumed step would, and checks the result verifies.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from responder.evidence.anchor import StoreAnchors, next_anchor
from responder.evidence.base import GENESIS, entry_hash, sha256
from responder.evidence.local import LocalLocker
from responder.evidence.s3 import S3Locker
from responder.state.sqlite import SqliteStore

RUN = "run-crash-1"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
KEY_DATA = b'{"AccessKeyId": "AKIA2E0A8F3B244C9986", "Status": "Active"}'


def locker_at(tmp_path: Path) -> tuple[LocalLocker, SqliteStore]:
    store = SqliteStore(tmp_path / "runs.sqlite3")
    return LocalLocker(tmp_path / "evidence", anchors=StoreAnchors(store)), store


def started(tmp_path: Path) -> tuple[LocalLocker, SqliteStore, Path]:
    locker, store = locker_at(tmp_path)
    locker.put_json(RUN, "finding.json", {"id": "f-1"}, collected_by="responder", at=AT)
    return locker, store, tmp_path / "evidence" / RUN


def resume_write(locker: LocalLocker) -> str:
    return locker.put(RUN, "iam/key.json", KEY_DATA, collected_by="responder:iam", at=AT).name


def test_crash_before_the_bytes_were_linked(tmp_path: Path) -> None:
    locker, _, folder = started(tmp_path)
    (folder / ".incoming").mkdir(exist_ok=True)
    (folder / ".incoming" / "0123abcd").write_bytes(KEY_DATA[:10])  # fsynced temp file, never linked
    assert resume_write(locker) == "iam/key.json"
    assert locker.verify(RUN).intact


def test_crash_after_the_artifact_before_its_manifest_entry_adopts_it(tmp_path: Path) -> None:
    locker, _, folder = started(tmp_path)
    path = folder / "artifacts" / "iam" / "key.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(KEY_DATA)
    path.chmod(0o444)
    assert resume_write(locker) == "iam/key.json"  # adopted: the same bytes, not a FileExistsError
    assert resume_write(locker) == "iam/key.json"  # and again: a no-op
    report = locker.verify(RUN)
    assert report.intact, report.problems
    collected = [e for e in locker.custody(RUN) if e.get("artifact") == "iam/key.json"]
    assert len(collected) == 1 and collected[0]["details"]["recovered"]


def test_crash_after_other_bytes_keeps_them_and_names_the_new_version(tmp_path: Path) -> None:
    locker, _, folder = started(tmp_path)
    path = folder / "artifacts" / "iam" / "key.json"
    path.parent.mkdir(parents=True)
    earlier = b'{"AccessKeyId": "AKIA2E0A8F3B244C9986", "Status": "Active", "captured": 1}'
    path.write_bytes(earlier)  # the first attempt captured slightly different bytes, then died
    assert resume_write(locker) == "iam/key.json~2"
    assert path.read_bytes() == earlier  # kept, never overwritten
    listed = {a.name: a for a in locker.artifacts(RUN)}
    assert listed["iam/key.json"].sha256 == sha256(earlier)
    assert listed["iam/key.json"].collected_by.startswith("responder (recovered")
    assert listed["iam/key.json~2"].sha256 == sha256(KEY_DATA)
    assert locker.verify(RUN).intact


def test_crash_mid_write_of_an_old_style_exclusive_create_keeps_the_torn_file(tmp_path: Path) -> None:
    locker, _, folder = started(tmp_path)
    path = folder / "artifacts" / "iam" / "key.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(KEY_DATA[:17])  # half written
    assert resume_write(locker) == "iam/key.json~2"
    assert locker.verify(RUN).intact


def test_crash_after_the_manifest_before_the_custody_entry(tmp_path: Path) -> None:
    locker, _, folder = started(tmp_path)
    path = folder / "artifacts" / "iam" / "key.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(KEY_DATA)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["iam/key.json"] = {
        "name": "iam/key.json",
        "sha256": sha256(KEY_DATA),
        "size": len(KEY_DATA),
        "uri": path.as_uri(),
        "collected_at": "2026-11-20T09:30:00Z",
        "collected_by": "responder:iam",
        "content_type": "application/json",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = len(locker.custody(RUN))
    assert resume_write(locker) == "iam/key.json"
    assert len(locker.custody(RUN)) == before + 1
    report = locker.verify(RUN)
    assert report.intact, report.problems


def _anchor_ahead(locker: LocalLocker, store: SqliteStore) -> dict:
    """What a crash right after the write-ahead anchor leaves: the store one entry ahead of the folder."""
    entries = locker.custody(RUN)
    entry = {
        "seq": len(entries) + 1,
        "event": "viewed",
        "artifact": None,
        "sha256": None,
        "actor": "alice",
        "time": "2026-11-20T09:31:00Z",
        "details": {},
        "prev": entries[-1]["hash"] if entries else GENESIS,
    }
    entry["hash"] = entry_hash(entry)
    store.advance_anchor(RUN, next_anchor(RUN, store.get_anchor(RUN), entry, None))
    return entry


def test_crash_after_the_anchor_before_the_custody_entry_puts_the_entry_back(tmp_path: Path) -> None:
    locker, store, _ = started(tmp_path)
    entry = _anchor_ahead(locker, store)
    assert {p["kind"] for p in locker.verify(RUN).problems} == {"custody_truncated"}  # honest before repair
    assert resume_write(locker) == "iam/key.json"
    custody = locker.custody(RUN)
    assert custody[entry["seq"] - 1] == entry and len(custody) == entry["seq"] + 1
    assert locker.verify(RUN).intact


def test_crash_mid_append_drops_the_torn_line_and_replays_it(tmp_path: Path) -> None:
    locker, store, folder = started(tmp_path)
    entry = _anchor_ahead(locker, store)
    with open(folder / "custody.jsonl", "ab") as handle:
        handle.write(json.dumps(entry).encode()[:25])  # no newline: the process died inside write()
    assert resume_write(locker) == "iam/key.json"
    assert locker.verify(RUN).intact


# --- the S3 locker: the same crash points on write-once objects ---------------------------------------
BUCKET = "responder-evidence-crash"


@pytest.fixture
def s3(moto_endpoint: str) -> object:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return client


def s3_locker(tmp_path: Path) -> S3Locker:
    store = SqliteStore(tmp_path / "runs.sqlite3")
    return S3Locker.from_url(f"s3://{BUCKET}/cases", retention="GOVERNANCE:1", anchors=StoreAnchors(store))


def test_s3_crash_after_the_manifest_before_the_custody_entry(s3: object, tmp_path: Path) -> None:
    locker = s3_locker(tmp_path)
    locker.put_json(RUN, "finding.json", {"id": "f-1"}, collected_by="responder", at=AT)
    client = boto3.client("s3", region_name="us-east-1")
    client.put_object(Bucket=BUCKET, Key=f"cases/{RUN}/artifacts/iam/key.json", Body=KEY_DATA)
    meta = {
        "name": "iam/key.json",
        "sha256": sha256(KEY_DATA),
        "size": len(KEY_DATA),
        "uri": f"s3://{BUCKET}/cases/{RUN}/artifacts/iam/key.json",
        "collected_at": "2026-11-20T09:30:00Z",
        "collected_by": "responder:iam",
        "content_type": "application/json",
    }
    client.put_object(Bucket=BUCKET, Key=f"cases/{RUN}/manifest/iam/key.json.json", Body=json.dumps(meta).encode())
    fresh = s3_locker(tmp_path)  # the resumed process
    assert fresh.put(RUN, "iam/key.json", KEY_DATA, collected_by="responder:iam", at=AT).name == "iam/key.json"
    assert [e.get("artifact") for e in fresh.custody(RUN)] == ["finding.json", "iam/key.json"]
    report = fresh.verify(RUN)
    assert report.intact, report.problems
    assert len(report.anchored_in) == 2  # the run store and the retained anchor object


def test_s3_crash_after_the_anchor_before_the_custody_object(s3: object, tmp_path: Path) -> None:
    locker = s3_locker(tmp_path)
    locker.put_json(RUN, "finding.json", {"id": "f-1"}, collected_by="responder", at=AT)
    first = locker.custody(RUN)[0]
    entry = {
        "seq": 2,
        "event": "viewed",
        "artifact": None,
        "sha256": None,
        "actor": "alice",
        "time": "2026-11-20T09:31:00Z",
        "details": {},
        "prev": first["hash"],
    }
    entry["hash"] = entry_hash(entry)
    anchor = next_anchor(RUN, locker.anchors.read(RUN), entry, None)
    assert locker.anchors.write(RUN, anchor)  # both books, then the process died
    fresh = s3_locker(tmp_path)
    fresh.record(RUN, "exported", actor="bob", at=AT)
    assert [e["seq"] for e in fresh.custody(RUN)] == [1, 2, 3]
    assert fresh.custody(RUN)[1] == entry
    assert fresh.verify(RUN).intact


def test_processes_writing_one_run_at_once_keep_one_intact_chain(tmp_path: Path) -> None:
    """Four processes (duplicate deliveries) put the same and different artifacts into one run at once."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys\nfrom datetime import UTC, datetime\nfrom pathlib import Path\n"
        "from responder.evidence.anchor import StoreAnchors\nfrom responder.evidence.local import LocalLocker\n"
        "from responder.state.sqlite import SqliteStore\n"
        "home = Path(sys.argv[1]); n = sys.argv[2]\n"
        "locker = LocalLocker(home / 'evidence', anchors=StoreAnchors(SqliteStore(home / 'runs.sqlite3')))\n"
        "at = datetime(2026, 11, 20, tzinfo=UTC)\n"
        "for i in range(8):\n"
        "    locker.put_json('run-crash-1', 'finding.json', {'id': 'f-1'}, collected_by='p', at=at)\n"
        "    locker.put_json('run-crash-1', f'p{n}/{i}.json', {'n': n, 'i': i}, collected_by='p', at=at)\n"
        "print('OK')\n"
    )
    SqliteStore(tmp_path / "runs.sqlite3").close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), str(n)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(out.strip() == "OK" for out, _ in outs), outs
    locker, _ = locker_at(tmp_path)
    assert len(locker.artifacts(RUN)) == 1 + 4 * 8  # the shared finding once, never a ~2
    assert len(locker.custody(RUN)) == 1 + 4 * 8
    assert locker.verify(RUN).intact
