"""A local-folder evidence locker: the default, and what drills and the sandbox use.

Layout per run: ``<root>/<run_id>/artifacts/<name>``, ``manifest.json``, ``custody.jsonl``. Files are
written once (to a temporary file, fsynced, then hard-linked under their name, which fails if the name
is taken, then made read-only); collecting the same bytes again is a no-op, different bytes under a
taken name get a new version suffix, never an overwrite.

Every write is idempotent, so no crash point wedges a run. A write is three steps — the artifact, its
manifest entry, its custody entry (and, when anchored, the chain's head first) — and the next write
finishes whatever a crash left: an artifact already there with the same bytes is adopted (listed and
recorded); one with other bytes (an earlier attempt's capture) is kept, listed as recovered, and the
new bytes become the next version; a manifest entry without its custody entry gets it; an anchor one
entry ahead of the log has its entry put back.

What a local folder can prove: with an anchor (the run store, see :mod:`.anchor`), that the folder is
the one responder wrote — nothing edited, reordered, removed, appended or rewritten since. Without
one, only that entries were not edited or reordered: anyone with file access can cut the log's tail or
rewrite it whole with valid hashes. Signing the anchor extends the proof to someone who can also write
the run store. Nothing here stops deletion: use the S3 locker (Object Lock) for that.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..clock import iso
from ..errors import ActionFailed
from .anchor import Anchors, ChainDiverged, Signer, check_anchor, next_anchor, reconcile
from .base import GENESIS, Artifact, VerifyReport, canonical, check_chain, entry_hash, safe_name, sha256

_LOCK = threading.Lock()
RECOVERED_BY = "responder (recovered after an interrupted write)"


class ManifestUnreadable(ActionFailed):
    """The manifest is not the JSON responder wrote: evidence cannot be added until a person looks."""


@dataclass
class _Chain:
    """The custody log and its anchor as one write sees them, kept current as it appends."""

    entries: list[dict[str, Any]]
    anchor: dict[str, Any] | None
    manifest: dict[str, dict[str, Any]] = field(default_factory=dict)


class LocalLocker:
    def __init__(self, root: Path, *, anchors: Anchors | None = None, signer: Signer | None = None) -> None:
        self.root = Path(root)
        self.anchors = anchors
        self.signer = signer

    # ------------------------------------------------------------------ plumbing
    def _dir(self, run_id: str) -> Path:
        return self.root / safe_name(run_id)

    @contextlib.contextmanager
    def _guard(self, run_id: str) -> Iterator[None]:
        """One writer per run across threads and processes (an flock outside the run's folder)."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with _LOCK, open(locks / f"{sha256(run_id.encode())[:24]}.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _read_manifest(self, run_id: str) -> dict[str, dict[str, Any]]:
        path = self._dir(run_id) / "manifest.json"
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ManifestUnreadable(
                f"the evidence manifest {path} is not JSON ({exc.__class__.__name__}): it was damaged or replaced",
                hint=f"`responder evidence verify {run_id}` names what changed; keep the folder as it is",
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ManifestUnreadable(
                f"the evidence manifest {path} is JSON but not a manifest (an object of artifact entries)",
                hint=f"`responder evidence verify {run_id}` names what changed; keep the folder as it is",
            )
        return data

    def _manifest(self, run_id: str) -> dict[str, dict[str, Any]]:
        return self._read_manifest(run_id)

    def _write_manifest(self, run_id: str, manifest: dict[str, dict[str, Any]]) -> None:
        path = self._dir(run_id) / "manifest.json"
        tmp = path.with_name(f".manifest-{uuid.uuid4().hex[:8]}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(json.dumps(manifest, indent=2, sort_keys=True).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def _open_chain(self, run_id: str) -> _Chain:
        """Read log and anchor; finish an interrupted write; refuse a log changed behind responder's back."""
        self._drop_torn_tail(run_id)
        entries = self.custody(run_id)
        anchor = self.anchors.read(run_id) if self.anchors is not None else None
        try:
            state = reconcile(entries, anchor, self.anchors.where if self.anchors is not None else "")
        except ChainDiverged as exc:
            raise ActionFailed(
                f"evidence of run {run_id}: {exc}; refusing to add to it",
                hint=f"`responder evidence verify {run_id}` names what changed; keep the folder as it is",
            ) from None
        chain = _Chain(entries=entries, anchor=anchor, manifest=self._read_manifest(run_id))
        if state.replay is not None:
            if not self._landed(run_id, chain.manifest, state.replay):
                raise ActionFailed(
                    f"evidence of run {run_id}: the anchor records entry {state.replay.get('seq')} collecting "
                    f"{state.replay.get('artifact')!r}, but the folder holds neither the entry nor the artifact: the "
                    "evidence folder was changed outside responder; refusing to add to it",
                    hint=f"`responder evidence verify {run_id}` names what changed; keep the folder as it is",
                )
            self._write_entry(run_id, state.replay)
            entries.append(state.replay)
        return chain

    def _landed(self, run_id: str, manifest: dict[str, dict[str, Any]], entry: dict[str, Any]) -> bool:
        """An interrupted write of a "collected" entry left its artifact and manifest entry behind it:
        a folder without them was not interrupted but removed."""
        if entry.get("event") != "collected" or not entry.get("artifact"):
            return True
        meta = manifest.get(str(entry["artifact"])) or {}
        path = self._dir(run_id) / "artifacts" / str(entry["artifact"])
        return meta.get("sha256") == entry.get("sha256") and path.is_file()

    def _drop_torn_tail(self, run_id: str) -> None:
        """A crash mid-append leaves a last line without its newline: it never became an entry."""
        path = self._dir(run_id) / "custody.jsonl"
        if not path.exists():
            return
        data = path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        keep = data[: data.rfind(b"\n") + 1]
        with open(path, "r+b") as handle:
            handle.truncate(len(keep))
            handle.flush()
            os.fsync(handle.fileno())

    def _write_entry(self, run_id: str, entry: dict[str, Any]) -> None:
        path = self._dir(run_id) / "custody.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as handle:
            handle.write(canonical(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _append(self, run_id: str, chain: _Chain, body: dict[str, Any]) -> dict[str, Any]:
        """Anchor the new head first (write-ahead), then append the entry to the folder's log."""
        entries = chain.entries
        entry = {"seq": len(entries) + 1, **body, "prev": entries[-1]["hash"] if entries else GENESIS}
        entry["hash"] = entry_hash(entry)
        if self.anchors is not None:
            chain.anchor = next_anchor(run_id, chain.anchor, entry, self.signer)
            self.anchors.write(run_id, chain.anchor)
        self._write_entry(run_id, entry)
        entries.append(entry)
        return entry

    def _collected(self, run_id: str, chain: _Chain, meta: dict[str, Any], details: dict[str, Any]) -> None:
        self._append(
            run_id,
            chain,
            {
                "event": "collected",
                "artifact": meta["name"],
                "sha256": meta["sha256"],
                "size": meta["size"],
                "content_type": meta["content_type"],
                "actor": meta["collected_by"],
                "time": meta["collected_at"],
                "details": details,
            },
        )

    def _store_bytes(self, run_id: str, path: Path, data: bytes) -> bool:
        """Write once: a fsynced temporary file linked under its name. False when the name is taken."""
        incoming = self._dir(run_id) / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = incoming / uuid.uuid4().hex
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        path.chmod(0o444)
        return True

    # ------------------------------------------------------------------ the locker interface
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
        with self._guard(run_id):
            chain = self._open_chain(run_id)
            manifest = chain.manifest
            base = safe_name(name)
            candidate, version = base, 1
            while True:
                path = self._dir(run_id) / "artifacts" / candidate
                meta = manifest.get(candidate)
                if meta is not None:
                    if meta.get("sha256") == digest:
                        if not _recorded(chain.entries, candidate, digest):  # crashed before its custody entry
                            self._collected(run_id, chain, meta, {**(details or {}), "recovered": "custody entry"})
                        return Artifact(**meta)
                elif path.is_symlink() or (path.exists() and not path.is_file()):
                    pass  # not a file responder wrote: leave it alone, take the next version
                else:
                    fresh = not path.exists()
                    if fresh and not self._store_bytes(run_id, path, data):
                        continue  # the name was taken meanwhile: look again
                    found = data if fresh else path.read_bytes()
                    meta = self._describe(path, candidate, found, digest, collected_by, at, content_type)
                    manifest[candidate] = meta
                    self._write_manifest(run_id, manifest)
                    note = {} if fresh else {"recovered": "artifact written before an interrupted write"}
                    self._collected(run_id, chain, meta, {**(details or {}), **note})
                    if meta["sha256"] == digest:
                        return Artifact(**meta)
                version += 1
                candidate = f"{base}~{version}"

    def _describe(
        self,
        path: Path,
        name: str,
        found: bytes,
        digest: str,
        collected_by: str,
        at: datetime,
        content_type: str,
    ) -> dict[str, Any]:
        """The manifest entry for bytes now under ``name``: ours, or other bytes an earlier attempt left."""
        ours = sha256(found) == digest
        return Artifact(
            name=name,
            sha256=sha256(found),
            size=len(found),
            uri=path.as_uri(),
            collected_at=iso(at) if ours else iso(datetime.fromtimestamp(path.stat().st_mtime, UTC)) or "",
            collected_by=collected_by if ours else RECOVERED_BY,
            content_type=content_type if ours else "application/octet-stream",
        ).as_dict()

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
        with self._guard(run_id):
            chain = self._open_chain(run_id)
            return self._append(
                run_id,
                chain,
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
        out: list[dict[str, Any]] = []
        for line in path.read_text(errors="replace").splitlines():
            if line.strip():
                try:
                    entry = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    entry = None
                if isinstance(entry, dict):
                    out.append(entry)
                else:
                    out.append({"seq": None, "hash": None, "event": "unreadable", "raw": line[:200]})
        return out

    def has_run(self, run_id: str) -> bool:
        """Whether this locker holds evidence (a manifest or custody log) for ``run_id``."""
        folder = self._dir(run_id)
        return (folder / "manifest.json").exists() or (folder / "custody.jsonl").exists()

    def run_ids(self) -> list[str]:
        """Run folders in this locker (names as stored), for cross-checks with the run store."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and ((p / "manifest.json").exists() or (p / "custody.jsonl").exists())
        )

    def verify(self, run_id: str) -> VerifyReport:
        report = VerifyReport(run_id=run_id)
        folder = self._dir(run_id)
        anchor = self.anchors.read(run_id) if self.anchors is not None else None
        where = self.anchors.where if self.anchors is not None else ""
        self._explain(report, anchor)
        if not folder.exists():
            if anchor is not None:
                report.add(
                    "evidence_missing",
                    str(folder),
                    f"the run's evidence folder is gone, but {where} records {anchor.get('count')} custody entries "
                    f"and {len(anchor.get('artifacts') or {})} artifacts for it: the evidence was removed",
                )
                check_anchor(report, [], {}, {}, anchor, where=where, signer=self.signer)
            else:
                report.add("run_missing", run_id, f"no evidence for this run under {self.root}")
            return report
        try:
            manifest = self._read_manifest(run_id)
        except ManifestUnreadable as exc:
            report.add("manifest_unreadable", "manifest.json", exc.message)
            manifest = {}
        actual: dict[str, str | None] = {}
        sizes: dict[str, int] = {}
        artifacts_dir = folder / "artifacts"
        for name in manifest:
            path = artifacts_dir / name
            actual[name] = None
            if path.is_file():
                data = path.read_bytes()
                actual[name], sizes[name] = sha256(data), len(data)
        if artifacts_dir.exists():
            for path in artifacts_dir.rglob("*"):
                if path.is_file():
                    rel = path.relative_to(artifacts_dir).as_posix()
                    actual.setdefault(rel, sha256(path.read_bytes()))
        entries = self.custody(run_id)
        check_chain(report, entries, manifest, actual, sizes)
        check_anchor(report, entries, manifest, actual, anchor, where=where, signer=self.signer)
        return report

    def _explain(self, report: VerifyReport, anchor: dict[str, Any] | None) -> None:
        """Say plainly what this verification can and cannot prove."""
        if self.anchors is None:
            report.note(
                "not anchored: the hash chain proves entries were not edited or reordered, but not that none "
                "were cut from the end, appended with recomputed hashes, or that the log was not rewritten whole"
            )
        elif anchor is None:
            report.note(f"{self.anchors.where} holds no anchor for this run: its chain's length cannot be proved")
        else:
            report.anchored_in.append(self.anchors.where)
            if not anchor.get("signature") and isinstance(self.anchors, ExportedAnchor):
                report.note(
                    "the exported anchor travels with this copy and is unsigned: it catches accidents, but proves "
                    "nothing against whoever holds the copy (sign anchors with RESPONDER_ANCHOR_KEY or "
                    "RESPONDER_ANCHOR_KMS_KEY)"
                )
            elif not anchor.get("signature"):
                report.note(
                    f"the anchor in {self.anchors.where} is unsigned: it proves the folder against whoever can "
                    "write the folder, not against whoever can also write the run store (set RESPONDER_ANCHOR_KEY "
                    "or RESPONDER_ANCHOR_KMS_KEY to sign)"
                )
        report.note("a local folder can be deleted by anyone with file access; keeping it is not proved here")

    def export(self, run_id: str, out: Path, *, actor: str, at: datetime) -> Path:
        """Copy artifacts, manifest and custody log for hand-over, and record the hand-over."""
        self.record(run_id, "exported", actor=actor, at=at, details={"to": str(out)})
        target = Path(out) / safe_name(run_id)
        shutil.copytree(self._dir(run_id), target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".incoming"))
        write_exported_anchor(target, self.anchors.read(run_id) if self.anchors is not None else None)
        return target


EXPORTED_ANCHOR = "anchor.json"


def write_exported_anchor(target: Path, anchor: dict[str, Any] | None) -> None:
    """Hand the chain's head over with the copy, so its recipient can check the log's length too."""
    if anchor is not None:
        (target / EXPORTED_ANCHOR).write_bytes(canonical(anchor))


class ExportedAnchor:
    """The head handed over with an exported copy (``anchor.json`` beside its custody log).

    It travels with the copy, so unsigned it proves nothing against whoever holds the copy; signed, it
    proves the copy against anyone without the key."""

    where = "the anchor exported with the evidence"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def read(self, run_id: str) -> dict[str, Any] | None:
        path = self.root / safe_name(run_id) / EXPORTED_ANCHOR
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, OSError):
            return {"count": 0, "head": "", "entry": {}}  # named by verify as an invalid anchor
        return data if isinstance(data, dict) else {"count": 0, "head": "", "entry": {}}

    def write(self, run_id: str, anchor: dict[str, Any]) -> bool:
        raise ActionFailed("an exported copy is read-only: evidence is added in the locker it came from")


def _recorded(entries: list[dict[str, Any]], name: str, digest: str) -> bool:
    return any(
        e.get("event") == "collected" and e.get("artifact") == name and e.get("sha256") == digest for e in entries
    )


def open_locker(url: str, *, store: Any = None, signer: Signer | None = None) -> Any:
    """``file://DIR`` (default) or ``s3://BUCKET/PREFIX``; with ``store``, the chain is anchored in it."""
    from .anchor import StoreAnchors, signer_from_env

    anchors = StoreAnchors(store) if store is not None else None
    signer = signer if signer is not None else signer_from_env()
    if url.startswith("s3://"):
        from .s3 import S3Locker

        return S3Locker.from_url(url, anchors=anchors, signer=signer)
    root = Path(url[len("file://") :]) if url.startswith("file://") else Path(url)
    return LocalLocker(root, anchors=anchors, signer=signer)
