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
    run_id: str
    artifacts: int = 0
    entries: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def add(self, kind: str, subject: str, detail: str) -> None:
        self.problems.append({"kind": kind, "subject": subject, "detail": detail})

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "intact": self.intact,
            "artifacts": self.artifacts,
            "custody_entries": self.entries,
            "problems": self.problems,
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
    for name in sorted(set(actual) - set(manifest)):
        if actual[name] is not None:
            report.add("artifact_unlisted", name, "a file in the locker that the manifest does not list")
    report.entries = len(entries)
