"""Every kind of tampering with a local evidence folder is caught and named, once the chain is anchored.

The folder is a real one, anchored in a real SQLite run store and signed with an HMAC key. Each case
changes the folder as an adversary with file access would, then ``verify`` must name it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from responder.errors import ActionFailed
from responder.evidence.anchor import HmacSigner, StoreAnchors
from responder.evidence.base import GENESIS, canonical, entry_hash
from responder.evidence.local import LocalLocker
from responder.state.sqlite import SqliteStore

RUN = "run-tamper-1"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
KEY = HmacSigner(b"anchor-key-for-tests")


def anchored(tmp_path: Path, signer: HmacSigner | None = KEY) -> LocalLocker:
    store = SqliteStore(tmp_path / "runs.sqlite3")
    return LocalLocker(tmp_path / "evidence", anchors=StoreAnchors(store), signer=signer)


def filled(tmp_path: Path) -> LocalLocker:
    locker = anchored(tmp_path)
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


def folder(tmp_path: Path) -> Path:
    return tmp_path / "evidence" / RUN


def _lines(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (folder(tmp_path) / "custody.jsonl").read_text().splitlines()]


def _write_lines(tmp_path: Path, entries: list[dict]) -> None:
    (folder(tmp_path) / "custody.jsonl").write_bytes(b"".join(canonical(e) + b"\n" for e in entries))


def _rehash(entries: list[dict], start: int = 0) -> list[dict]:
    """What a careful forger does: recompute every hash from ``start`` so the chain links again."""
    prev = entries[start - 1]["hash"] if start else GENESIS
    for index in range(start, len(entries)):
        entries[index]["seq"] = index + 1
        entries[index]["prev"] = prev
        entries[index]["hash"] = entry_hash(entries[index])
        prev = entries[index]["hash"]
    return entries


def _artifact(tmp_path: Path, name: str) -> Path:
    path = folder(tmp_path) / "artifacts" / name
    path.chmod(0o644)  # read-only stops accidents, not an attacker
    return path


def _manifest(tmp_path: Path, change: Callable[[dict], None]) -> None:
    path = folder(tmp_path) / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# --- the fourteen the chain alone already caught ------------------------------------------------------
def flip_byte(t: Path) -> None:
    path = _artifact(t, "capture/logs/app.log")
    data = bytearray(path.read_bytes())
    data[3] ^= 1
    path.write_bytes(bytes(data))


def replace_artifact(t: Path) -> None:
    _artifact(t, "capture/pod.json").write_text('{"metadata": {"name": "other"}}')


def delete_artifact(t: Path) -> None:
    _artifact(t, "capture/events.json").unlink()


def rename_artifact(t: Path) -> None:
    path = _artifact(t, "capture/events.json")
    path.rename(path.with_name("renamed.json"))


def add_unlisted_file(t: Path) -> None:
    (folder(t) / "artifacts" / "planted.json").write_text("{}")


def delete_middle_entry(t: Path) -> None:
    entries = _lines(t)
    _write_lines(t, entries[:1] + entries[2:])


def reorder_entries(t: Path) -> None:
    e = _lines(t)
    _write_lines(t, [e[0], e[2], e[1], e[3]])


def edit_entry_without_rehash(t: Path) -> None:
    e = _lines(t)
    e[3]["actor"] = "mallory"
    _write_lines(t, e)


def edit_entry_rehash_only_itself(t: Path) -> None:
    e = _lines(t)
    e[1]["actor"] = "mallory"
    e[1]["hash"] = entry_hash(e[1])
    _write_lines(t, e)


def insert_entry(t: Path) -> None:
    e = _lines(t)
    forged = {"seq": 2, "event": "viewed", "actor": "mallory", "prev": e[0]["hash"]}
    forged["hash"] = entry_hash(forged)
    _write_lines(t, [e[0], forged, *e[1:]])


def garble_custody_line(t: Path) -> None:
    path = folder(t) / "custody.jsonl"
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:40]
    path.write_text("\n".join(lines) + "\n")


def delete_custody_log(t: Path) -> None:
    (folder(t) / "custody.jsonl").unlink()


def change_manifest_hash(t: Path) -> None:
    _manifest(t, lambda m: m["capture/pod.json"].update(sha256="0" * 64))


def drop_manifest_entry_keep_file(t: Path) -> None:
    _manifest(t, lambda m: m.pop("capture/events.json"))


# --- the nine an anchor-less chain missed ---------------------------------------------------------
def delete_last_entry(t: Path) -> None:
    _write_lines(t, _lines(t)[:-1])


def append_rehashed_entry(t: Path) -> None:
    e = _lines(t)
    e.append({"event": "released", "actor": "mallory", "artifact": None, "sha256": None, "time": None, "details": {}})
    _write_lines(t, _rehash(e, len(e) - 1))


def edit_entry_rehash_tail(t: Path) -> None:
    e = _lines(t)
    e[1]["actor"] = "mallory"
    _write_lines(t, _rehash(e, 1))


def full_rewrite(t: Path) -> None:
    e = _lines(t)
    for entry in e:
        entry["time"] = "2026-11-21T00:00:00Z"
    _write_lines(t, _rehash(e))


def delete_artifact_with_manifest_entry(t: Path) -> None:
    _artifact(t, "capture/events.json").unlink()
    _manifest(t, lambda m: m.pop("capture/events.json"))


def delete_all_artifacts_and_manifest(t: Path) -> None:
    shutil.rmtree(folder(t) / "artifacts")
    (folder(t) / "manifest.json").unlink()


def wipe_folder(t: Path) -> None:
    shutil.rmtree(folder(t))


def edit_manifest_metadata(t: Path) -> None:
    _manifest(
        t, lambda m: m["capture/pod.json"].update(collected_by="someone-else", collected_at="2026-01-01T00:00:00Z")
    )


def manifest_not_json(t: Path) -> None:
    (folder(t) / "manifest.json").write_text("{not json")


CASES: dict[str, tuple[Callable[[Path], None], set[str]]] = {
    "flipped byte": (flip_byte, {"artifact_changed"}),
    "artifact replaced": (replace_artifact, {"artifact_changed"}),
    "artifact deleted": (delete_artifact, {"artifact_missing"}),
    "artifact renamed": (rename_artifact, {"artifact_missing", "artifact_unlisted"}),
    "file planted": (add_unlisted_file, {"artifact_unlisted"}),
    "middle entry deleted": (delete_middle_entry, {"custody_order", "custody_chain"}),
    "entries reordered": (reorder_entries, {"custody_order", "custody_chain"}),
    "entry edited": (edit_entry_without_rehash, {"custody_tampered"}),
    "entry edited, own hash recomputed": (edit_entry_rehash_only_itself, {"custody_chain"}),
    "entry inserted": (insert_entry, {"custody_order", "custody_chain"}),
    "custody line garbled": (garble_custody_line, {"custody_order", "custody_tampered"}),
    "custody log deleted": (delete_custody_log, {"custody_missing", "custody_truncated"}),
    "manifest hash changed": (change_manifest_hash, {"artifact_changed", "manifest_changed"}),
    "manifest entry dropped": (drop_manifest_entry_keep_file, {"artifact_unlisted"}),
    # the nine the chain alone missed
    "last entry deleted": (delete_last_entry, {"custody_truncated"}),
    "entry appended with recomputed hash": (append_rehashed_entry, {"custody_appended"}),
    "entry edited, tail re-hashed": (edit_entry_rehash_tail, {"custody_rewritten"}),
    "full rewrite": (full_rewrite, {"custody_rewritten"}),
    "artifact deleted with its manifest entry": (delete_artifact_with_manifest_entry, {"artifact_removed"}),
    "all artifacts and manifest deleted": (delete_all_artifacts_and_manifest, {"artifact_removed"}),
    "folder wiped": (wipe_folder, {"evidence_missing"}),
    "manifest metadata edited": (edit_manifest_metadata, {"manifest_edited"}),
    "manifest not JSON": (manifest_not_json, {"manifest_unreadable"}),
}


def test_twenty_three_kinds() -> None:
    assert len(CASES) == 23


@pytest.mark.parametrize("case", list(CASES))
def test_each_tamper_kind_is_caught_and_named(tmp_path: Path, case: str) -> None:
    locker = filled(tmp_path)
    assert locker.verify(RUN).intact
    tamper, expected = CASES[case]
    tamper(tmp_path)
    report = locker.verify(RUN)
    found = {p["kind"] for p in report.problems}
    assert not report.intact
    assert expected <= found, (case, report.problems)
    assert all(p["detail"] for p in report.problems)


def test_artifacts_deleted_with_manifest_are_each_named(tmp_path: Path) -> None:
    locker = filled(tmp_path)
    delete_all_artifacts_and_manifest(tmp_path)
    removed = {p["subject"] for p in locker.verify(RUN).problems if p["kind"] == "artifact_removed"}
    assert removed == {"capture/pod.json", "capture/logs/app.log", "capture/events.json"}


def test_folder_removed_mid_run_refuses_further_writes_and_verify_names_it(tmp_path: Path) -> None:
    locker = filled(tmp_path)
    wipe_folder(tmp_path)
    with pytest.raises(ActionFailed, match="changed outside responder"):
        locker.put_json(RUN, "later/step.json", {"n": 1}, collected_by="responder", at=AT)
    with pytest.raises(ActionFailed, match="changed outside responder"):
        locker.record(RUN, "released", actor="responder", at=AT)
    kinds = {p["kind"] for p in locker.verify(RUN).problems}
    assert {"evidence_missing", "custody_truncated", "artifact_removed"} <= kinds


def test_appended_entry_refuses_further_writes(tmp_path: Path) -> None:
    locker = filled(tmp_path)
    append_rehashed_entry(tmp_path)
    with pytest.raises(ActionFailed, match="4 entries"):
        locker.record(RUN, "viewed", actor="alice", at=AT)


def test_anchor_forged_in_the_store_without_the_key_is_named(tmp_path: Path) -> None:
    locker = filled(tmp_path)
    full_rewrite(tmp_path)
    store = SqliteStore(tmp_path / "runs.sqlite3")
    entries = _lines(tmp_path)
    anchor = store.get_anchor(RUN)
    anchor.update(count=len(entries), head=entries[-1]["hash"], entry=entries[-1])  # the forger cannot re-sign
    store._conn().execute("DELETE FROM items WHERE pk=?", (f"ANCHOR#{RUN}",))
    store.advance_anchor(RUN, anchor)
    kinds = {p["kind"] for p in locker.verify(RUN).problems}
    assert "anchor_forged" in kinds and not {"custody_rewritten", "custody_truncated"} & kinds


def test_unsigned_anchor_when_signing_is_configured_is_named(tmp_path: Path) -> None:
    unsigned = anchored(tmp_path, signer=None)
    unsigned.record(RUN, "opened", actor="alice", at=AT)
    report = anchored(tmp_path).verify(RUN)
    assert {p["kind"] for p in report.problems} == {"anchor_unsigned"}


def test_unanchored_locker_says_what_it_cannot_prove(tmp_path: Path) -> None:
    locker = LocalLocker(tmp_path / "evidence")
    locker.record(RUN, "opened", actor="alice", at=AT)
    report = locker.verify(RUN)
    assert report.intact and report.anchored_in == []
    assert any("not anchored" in n and "cut from the end" in n for n in report.notes)
    signed = filled(tmp_path / "signed").verify(RUN)
    assert signed.anchored_in == ["the run store"] and not any("unsigned" in n for n in signed.notes)


def test_an_exported_copy_carries_its_anchor_and_a_cut_tail_is_named(tmp_path: Path) -> None:
    from responder.evidence.local import ExportedAnchor

    locker = filled(tmp_path)
    target = locker.export(RUN, tmp_path / "handover", actor="dana", at=AT)
    assert (target / "anchor.json").is_file()
    copy = LocalLocker(tmp_path / "handover", anchors=ExportedAnchor(tmp_path / "handover"), signer=KEY)
    report = copy.verify(RUN)
    assert report.intact and report.anchored_in == ["the anchor exported with the evidence"]
    lines = (target / "custody.jsonl").read_text().splitlines()
    (target / "custody.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # the hand-over entry cut from the copy
    assert "custody_truncated" in {p["kind"] for p in copy.verify(RUN).problems}
    keyless = LocalLocker(tmp_path / "handover", anchors=ExportedAnchor(tmp_path / "handover"))
    assert any("is signed (hmac-sha256) but no key is configured" in n for n in keyless.verify(RUN).notes)
