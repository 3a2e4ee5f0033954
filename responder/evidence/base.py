"""The evidence locker contract and its custody chain, shared by every backend.

Every artifact is written once, with its SHA-256 in a manifest, and every act on it (collected,
exported, shared, released) is an entry in a hash-chained custody log: each entry carries the hash of
the one before, so removing, editing or reordering entries breaks the chain at a point ``verify`` names.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

GENESIS = "0" * 64
_SAFE = re.compile(r"[^A-Za-z0-9._/~-]+")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def safe_name(name: str) -> str:
    """Artifact names come partly from finding data: keep them inside the run's folder."""
    parts = [p for p in _SAFE.sub("_", name).split("/") if p not in ("", ".", "..")]
    cleaned = "/".join(p[:120] for p in parts)
    return cleaned or "artifact"


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return sha256(canonical(body))


@dataclass(frozen=True)
class Artifact:
    name: str
    sha256: str
    size: int
    uri: str
    collected_at: str
    collected_by: str
    content_type: str = "application/json"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class VerifyReport:
    """What ``verify`` found: problems (each named by kind and subject) and notes on what it could not prove."""

    run_id: str
    artifacts: int = 0
    entries: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    anchored_in: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def add(self, kind: str, subject: str, detail: str) -> None:
        if any(p["kind"] == kind and p["subject"] == subject for p in self.problems):
            return  # two rules seeing one fault name it once
        self.problems.append({"kind": kind, "subject": subject, "detail": detail})

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "intact": self.intact,
            "artifacts": self.artifacts,
            "custody_entries": self.entries,
            "anchored_in": self.anchored_in,
            "problems": self.problems,
            "notes": self.notes,
        }


class EvidenceLocker(Protocol):
    def put(
        self,
        run_id: str,
        name: str,
        data: bytes,
        *,
        collected_by: str,
        at: datetime,
        content_type: str = "application/json",
        details: dict[str, Any] | None = None,
    ) -> Artifact: ...

    def put_json(
        self,
        run_id: str,
        name: str,
        obj: Any,
        *,
        collected_by: str,
        at: datetime,
        details: dict[str, Any] | None = None,
    ) -> Artifact: ...

    def record(
        self,
        run_id: str,
        event: str,
        *,
        actor: str,
        at: datetime,
        artifact: str | None = None,
        sha: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    def artifacts(self, run_id: str) -> list[Artifact]: ...

    def read(self, run_id: str, name: str) -> bytes: ...

    def custody(self, run_id: str) -> list[dict[str, Any]]: ...

    def verify(self, run_id: str) -> VerifyReport: ...


def check_chain(
    report: VerifyReport,
    entries: list[dict[str, Any]],
    manifest: dict[str, dict[str, Any]],
    actual: dict[str, str | None],
    sizes: dict[str, int] | None = None,
) -> None:
    """The verification rules every backend shares.

    ``actual`` maps artifact names to the SHA-256 of the bytes found now (None when missing).
    """
    prev = GENESIS
    collected: dict[str, str] = {}
    for index, entry in enumerate(entries):
        label = f"custody entry {index + 1}"
        if entry.get("seq") != index + 1:
            report.add(
                "custody_order",
                label,
                f"sequence number is {entry.get('seq')!r}, expected {index + 1}: an entry was removed "
                "or entries were reordered",
            )
        if entry.get("prev") != prev:
            report.add(
                "custody_chain",
                label,
                "does not carry the hash of the entry before it: the chain was "
                "broken here (entry removed, inserted or reordered)",
            )
        if entry_hash(entry) != entry.get("hash"):
            report.add("custody_tampered", label, "its content does not match its own hash: the entry was edited")
        prev = str(entry.get("hash"))
        if entry.get("event") == "collected" and entry.get("artifact"):
            collected[str(entry["artifact"])] = str(entry.get("sha256"))
    collected_entries = {
        str(e["artifact"]): e
        for e in entries
        if isinstance(e, dict) and e.get("event") == "collected" and e.get("artifact")
    }
    for name, meta in sorted(manifest.items()):
        report.artifacts += 1
        found = actual.get(name)
        if found is None:
            report.add("artifact_missing", name, "listed in the manifest but the file is missing")
            continue
        if found != meta.get("sha256"):
            report.add(
                "artifact_changed",
                name,
                f"SHA-256 is {found}, the manifest recorded {meta.get('sha256')}: the artifact was changed",
            )
        if name not in collected:
            report.add("custody_missing", name, "no custody entry records its collection")
        elif collected[name] != meta.get("sha256"):
            report.add("manifest_changed", name, "the manifest's hash differs from the one in the custody log")
        else:
            _check_metadata(report, name, meta, collected_entries[name], sizes.get(name) if sizes else None)
    for name in sorted(set(collected) - set(manifest)):
        if actual.get(name) is None:
            report.add(
                "artifact_removed",
                name,
                f"the custody log records its collection (SHA-256 {collected[name][:12]}…) but neither the manifest "
                "nor the folder holds it: removed together with its manifest entry",
            )
    for name in sorted(set(actual) - set(manifest)):
        if actual[name] is not None:
            report.add("artifact_unlisted", name, "a file in the locker that the manifest does not list")
    report.entries = len(entries)


def _check_metadata(
    report: VerifyReport, name: str, meta: dict[str, Any], entry: dict[str, Any], size: int | None
) -> None:
    """The manifest's description of an artifact must agree with its custody entry and its bytes."""
    wrong = []
    if meta.get("name", name) != name:
        wrong.append(f"name {meta.get('name')!r} under key {name!r}")
    if "actor" in entry and meta.get("collected_by") != entry.get("actor"):
        wrong.append(f"collected_by {meta.get('collected_by')!r}, custody says {entry.get('actor')!r}")
    if "time" in entry and meta.get("collected_at") != (entry.get("time") or ""):
        wrong.append(f"collected_at {meta.get('collected_at')!r}, custody says {entry.get('time')!r}")
    if size is not None and meta.get("size") != size:
        wrong.append(f"size {meta.get('size')!r}, the file has {size} bytes")
    if "size" in entry and meta.get("size") != entry.get("size"):
        wrong.append(f"size {meta.get('size')!r}, custody says {entry.get('size')!r}")
    if "content_type" in entry and meta.get("content_type") != entry.get("content_type"):
        wrong.append(f"content_type {meta.get('content_type')!r}, custody says {entry.get('content_type')!r}")
    if wrong:
        report.add("manifest_edited", name, "the manifest's metadata was edited: " + "; ".join(wrong))


def has_run(locker: Any, run_id: str) -> bool:
    """Whether ``locker`` already holds evidence (a manifest or custody log) for ``run_id``.

    Lockers without the method (test doubles) hold nothing as far as this check can tell."""
    check = getattr(locker, "has_run", None)
    return bool(check(run_id)) if callable(check) else False


def check_not_forgotten(store: Any, locker: Any, run_id: str) -> None:
    """Refuse to start ``run_id`` afresh when the locker remembers it but the store does not.

    Call before claiming a *new* run: a store that was truncated, reset or had its table dropped
    would otherwise start the finding's response again (containment repeated, evidence split). The
    locker is asked first (a file check), so a new finding costs no extra store call."""
    if not has_run(locker, run_id):
        return
    if store.get_run(run_id) is not None:
        return
    from ..errors import StoreDamaged

    where = getattr(store, "where", type(store).__name__)
    raise StoreDamaged(
        f"run store {where} has no record of run {run_id}, but the evidence locker already holds its evidence: "
        "the store was reset, truncated or replaced, and starting again would repeat the response",
        hint="restore the run store from a backup; `responder doctor` lists every run the locker holds that the "
        f"store lost; `responder evidence verify {run_id}` checks the evidence kept",
    )
