"""The local evidence folder: intact runs verify, and each kind of tampering is named exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from responder.evidence.local import LocalLocker

RUN = "run-local-1"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def filled(tmp_path: Path) -> LocalLocker:
    locker = LocalLocker(tmp_path / "evidence")
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
    locker.record(RUN, "shared", actor="alice", at=AT, artifact="capture/pod.json", details={"to": "legal"})
    return locker


def kinds(locker: LocalLocker) -> dict[tuple[str, str], str]:
    return {(p["kind"], p["subject"]): p["detail"] for p in locker.verify(RUN).problems}


def test_untouched_run_verifies(tmp_path: Path) -> None:
    report = filled(tmp_path).verify(RUN)
    assert report.intact and report.artifacts == 3 and report.entries == 4


def test_flipped_byte_in_an_artifact_is_named(tmp_path: Path) -> None:
    locker = filled(tmp_path)
    path = tmp_path / "evidence" / RUN / "artifacts" / "capture" / "logs" / "app.log"
    path.chmod(0o644)  # read-only stops accidents, not an attacker
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))
    problems = kinds(locker)
    assert list(problems) == [("artifact_changed", "capture/logs/app.log")]


def test_missing_artifact_is_named(tmp_path: Path) -> None:
    locker = filled(tmp_path)
    path = tmp_path / "evidence" / RUN / "artifacts" / "capture" / "events.json"
    path.unlink()
    assert ("artifact_missing", "capture/events.json") in kinds(locker)


def _rewrite_custody(tmp_path: Path, change: object) -> None:
    path = tmp_path / "evidence" / RUN / "custody.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")  # type: ignore[operator]


def test_deleted_custody_entry_is_named(tmp_path: Path) -> None:
    locker = filled(tmp_path)
    _rewrite_custody(tmp_path, lambda lines: lines[:1] + lines[2:])
    problems = kinds(locker)
    assert ("custody_order", "custody entry 2") in problems
    assert ("custody_chain", "custody entry 2") in problems
    assert ("custody_missing", "capture/logs/app.log") in problems  # the entry that went missing


def test_reordered_custody_entries_are_named(tmp_path: Path) -> None:
    locker = filled(tmp_path)
    _rewrite_custody(tmp_path, lambda lines: [lines[0], lines[2], lines[1], lines[3]])
    problems = kinds(locker)
    assert {("custody_order", "custody entry 2"), ("custody_order", "custody entry 3")} <= set(problems)
    assert ("custody_chain", "custody entry 2") in problems


def test_edited_custody_entry_is_named(tmp_path: Path) -> None:
    locker = filled(tmp_path)

    def edit(lines: list[str]) -> list[str]:
        entry = json.loads(lines[3])
        entry["actor"] = "mallory"
        return [*lines[:3], json.dumps(entry)]

    _rewrite_custody(tmp_path, edit)
    assert ("custody_tampered", "custody entry 4") in kinds(locker)


def test_export_copies_everything_and_records_the_hand_over(tmp_path: Path) -> None:
    locker = filled(tmp_path)
    target = locker.export(RUN, tmp_path / "handover", actor="alice", at=AT)
    assert (target / "manifest.json").is_file() and (target / "custody.jsonl").is_file()
    assert locker.custody(RUN)[-1]["event"] == "exported"
    assert LocalLocker(tmp_path / "handover").verify(RUN).intact
