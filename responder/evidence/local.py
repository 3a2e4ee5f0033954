"""A local-folder evidence locker: the default, and what drills and the sandbox use.

Layout per run: ``<root>/<run_id>/artifacts/<name>``, ``manifest.json``, ``custody.jsonl``. Files are
written once (created exclusively, then made read-only); collecting the same bytes again is a no-op,
different bytes under a taken name get a new version suffix, never an overwrite.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from ..clock import iso
from .base import GENESIS, Artifact, VerifyReport, canonical, check_chain, entry_hash, safe_name, sha256

_LOCK = threading.Lock()


class LocalLocker:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, run_id: str) -> Path:
        return self.root / safe_name(run_id)

    def _manifest(self, run_id: str) -> dict[str, dict[str, Any]]:
        path = self._dir(run_id) / "manifest.json"
        if not path.exists():
            return {}
        return json.loads(path.read_text())

    def _write_manifest(self, run_id: str, manifest: dict[str, dict[str, Any]]) -> None:
        path = self._dir(run_id) / "manifest.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(tmp, path)

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
    ) -> Artifact:
        digest = sha256(data)
        with _LOCK:
            manifest = self._manifest(run_id)
            base = safe_name(name)
            candidate, version = base, 1
            while candidate in manifest:
                if manifest[candidate]["sha256"] == digest:
                    return Artifact(**manifest[candidate])
                version += 1
                candidate = f"{base}~{version}"
            path = self._dir(run_id) / "artifacts" / candidate
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            path.chmod(0o444)
            artifact = Artifact(
                name=candidate,
                sha256=digest,
                size=len(data),
                uri=path.as_uri(),
                collected_at=iso(at) or "",
                collected_by=collected_by,
                content_type=content_type,
            )
            manifest[candidate] = artifact.as_dict()
            self._write_manifest(run_id, manifest)
            self._append(
                run_id,
                {
                    "event": "collected",
                    "artifact": candidate,
                    "sha256": digest,
                    "actor": collected_by,
                    "time": iso(at),
                    "details": details or {},
                },
            )
        return artifact

    def put_json(
        self,
        run_id: str,
        name: str,
        obj: Any,
        *,
        collected_by: str,
        at: datetime,
        details: dict[str, Any] | None = None,
    ) -> Artifact:
        data = json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False).encode()
        return self.put(run_id, name, data, collected_by=collected_by, at=at, details=details)

    def _append(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path = self._dir(run_id) / "custody.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = self.custody(run_id)
        entry = {"seq": len(entries) + 1, **body, "prev": entries[-1]["hash"] if entries else GENESIS}
        entry["hash"] = entry_hash(entry)
        with open(path, "ab") as handle:
            handle.write(canonical(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        return entry

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
    ) -> dict[str, Any]:
        with _LOCK:
            return self._append(
                run_id,
                {
                    "event": event,
                    "artifact": artifact,
                    "sha256": sha,
                    "actor": actor,
                    "time": iso(at),
                    "details": details or {},
                },
            )

    def artifacts(self, run_id: str) -> list[Artifact]:
        return [Artifact(**meta) for _, meta in sorted(self._manifest(run_id).items())]

    def read(self, run_id: str, name: str) -> bytes:
        return (self._dir(run_id) / "artifacts" / safe_name(name)).read_bytes()

    def custody(self, run_id: str) -> list[dict[str, Any]]:
        path = self._dir(run_id) / "custody.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    out.append({"seq": None, "hash": None, "event": "unreadable", "raw": line[:200]})
        return out

    def verify(self, run_id: str) -> VerifyReport:
        report = VerifyReport(run_id=run_id)
        folder = self._dir(run_id)
        if not folder.exists():
            report.add("run_missing", run_id, f"no evidence for this run under {self.root}")
            return report
        actual: dict[str, str | None] = {}
        artifacts_dir = folder / "artifacts"
        for name in self._manifest(run_id):
            path = artifacts_dir / name
            actual[name] = sha256(path.read_bytes()) if path.is_file() else None
        if artifacts_dir.exists():
            for path in artifacts_dir.rglob("*"):
                if path.is_file():
                    rel = path.relative_to(artifacts_dir).as_posix()
                    actual.setdefault(rel, sha256(path.read_bytes()))
        check_chain(report, self.custody(run_id), self._manifest(run_id), actual)
        return report

    def export(self, run_id: str, out: Path, *, actor: str, at: datetime) -> Path:
        """Copy artifacts, manifest and custody log for hand-over, and record the hand-over."""
        self.record(run_id, "exported", actor=actor, at=at, details={"to": str(out)})
        target = Path(out) / safe_name(run_id)
        shutil.copytree(self._dir(run_id), target, dirs_exist_ok=True)
        return target


def open_locker(url: str) -> Any:
    """``file://DIR`` (default) or ``s3://BUCKET/PREFIX``."""
    if url.startswith("file://"):
        return LocalLocker(Path(url[len("file://") :]))
    if url.startswith("s3://"):
        from .s3 import S3Locker  # type: ignore[import-not-found]

        return S3Locker.from_url(url)
    return LocalLocker(Path(url))
