"""An S3 evidence locker with Object Lock: what responder uses in AWS.

Layout under ``s3://BUCKET/PREFIX/<run_id>/``: ``artifacts/<name>``, ``manifest/<name>.json`` (one
write-once entry per artifact) and ``custody/<seq:08d>.json`` (one write-once object per custody entry,
so appending never overwrites anything). Every object is written with ``If-None-Match: *`` — two
writers cannot claim the same name or sequence number — and with an Object Lock retention
(``RESPONDER_EVIDENCE_RETENTION``, e.g. ``COMPLIANCE:365``; default ``GOVERNANCE:365``), so within
retention no version can be deleted or replaced, by responder or anyone else.

Because the bucket is versioned, tampering leaves traces ``verify`` reports by key: an overwrite is a
second version (the original is still held), a delete is a delete marker. The chain itself is checked
with the same rules as every locker (:func:`responder.evidence.base.check_chain`).

GOVERNANCE is the default because a mistaken drill can then be cleaned up by someone holding
``s3:BypassGovernanceRetention``; choose COMPLIANCE when counsel asks that nobody, root included,
can shorten retention.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..clock import iso
from ..errors import ActionFailed, ConfigInvalid, Refused
from .anchor import Anchors, AnchorSet, Signer, check_anchor, next_anchor
from .base import GENESIS, Artifact, VerifyReport, canonical, check_chain, entry_hash, safe_name, sha256

RETENTION_ENV = "RESPONDER_EVIDENCE_RETENTION"
DEFAULT_RETENTION = ("GOVERNANCE", 365)
MODES = ("GOVERNANCE", "COMPLIANCE")


def parse_retention(value: str | None) -> tuple[str, int]:
    """``"COMPLIANCE:365"`` → (``COMPLIANCE``, 365); None → the default."""
    if not value:
        return DEFAULT_RETENTION
    mode, _, days = value.partition(":")
    mode = mode.strip().upper()
    if mode not in MODES or not days.strip().isdigit() or int(days) < 1:
        raise ConfigInvalid(
            f"{RETENTION_ENV}={value!r}: expected MODE:DAYS with MODE one of {', '.join(MODES)} "
            "and DAYS ≥ 1, e.g. COMPLIANCE:365"
        )
    return mode, int(days)


def stored_name(name: str) -> str:
    """The name an artifact is stored under: sanitised, keeping a ``~N`` version suffix ``put`` added."""
    base, sep, version = name.rpartition("~")
    if sep and version.isdigit():
        return f"{safe_name(base)}~{version}"
    return safe_name(name)


class _Raced(Exception):
    """Another writer moved the chain while this one read it."""


class S3Locker:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        retention: tuple[str, int] = DEFAULT_RETENTION,
        anchors: Anchors | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.mode, self.days = retention
        self._client = client
        self._lock = threading.Lock()
        self._checked = False
        # what this process last saw per run; a write-once conflict means someone else wrote: re-read then
        self._manifests: dict[str, dict[str, dict[str, Any]]] = {}
        self._tails: dict[str, tuple[int, str]] = {}
        self.signer = signer
        # the chain's head goes to the run store (when given) and, always, to a retained object outside the run
        self.anchors = AnchorSet([anchors, ObjectAnchors(self)])

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        client: Any = None,
        retention: str | None = None,
        anchors: Anchors | None = None,
        signer: Signer | None = None,
    ) -> S3Locker:
        rest = url[len("s3://") :] if url.startswith("s3://") else url
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ConfigInvalid(f"evidence URL {url!r} names no bucket (expected s3://BUCKET/PREFIX)")
        return cls(
            bucket,
            prefix,
            client=client,
            retention=parse_retention(retention if retention is not None else os.environ.get(RETENTION_ENV)),
            anchors=anchors,
            signer=signer,
        )

    # ------------------------------------------------------------------ plumbing
    @property
    def s3(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def _key(self, run_id: str, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, safe_name(run_id), *parts) if p)

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _ensure_locked_bucket(self) -> None:
        """Refuse to store evidence where it could be deleted: the bucket must have Object Lock on."""
        if self._checked:
            return
        try:
            config = self.s3.get_object_lock_configuration(Bucket=self.bucket).get("ObjectLockConfiguration") or {}
        except self.s3.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("ObjectLockConfigurationNotFoundError", "InvalidRequest"):
                config = {}
            else:
                raise
        if config.get("ObjectLockEnabled") != "Enabled":
            raise Refused(
                f"evidence bucket {self.bucket} has no Object Lock: evidence there could be deleted or "
                "replaced; refusing to use it",
                hint="create the bucket with Object Lock enabled (it cannot be turned on later for "
                "existing buckets without AWS support)",
            )
        self._checked = True

    def _put_once(
        self, key: str, body: bytes, at: datetime, content_type: str, metadata: dict[str, str] | None = None
    ) -> bool:
        """Write-once with retention. False when the key already exists (someone got there first)."""
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                IfNoneMatch="*",
                ObjectLockMode=self.mode,
                ObjectLockRetainUntilDate=at + timedelta(days=self.days),
                Metadata=metadata or {},
            )
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def _get(self, key: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    # ------------------------------------------------------------------ the locker interface
    def _manifest(self, run_id: str) -> dict[str, dict[str, Any]]:
        base = self._key(run_id, "manifest") + "/"
        out: dict[str, dict[str, Any]] = {}
        for key in self._keys(base):
            data = self._get(key)
            if data is None:
                continue
            try:
                meta = json.loads(data)
            except json.JSONDecodeError:
                continue
            out[str(meta.get("name") or key[len(base) : -len(".json")])] = meta
        return out

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
        with self._lock:
            self._ensure_locked_bucket()
            manifest = self._manifests.get(run_id)
            if manifest is None:
                manifest = self._manifests[run_id] = self._manifest(run_id)
            base = safe_name(name)
            candidate, version = base, 1
            while True:
                if candidate in manifest:
                    meta = manifest[candidate]
                    if meta["sha256"] == digest:
                        if not self._recorded(run_id, candidate, digest):  # crashed before its custody entry
                            self._collected(run_id, meta, at, {**(details or {}), "recovered": "custody entry"})
                        return Artifact(**meta)
                else:
                    key = self._key(run_id, "artifacts", candidate)
                    if self._put_once(key, data, at, content_type, {"sha256": digest}):
                        break
                    manifest = self._manifests[run_id] = self._manifest(run_id)  # taken meanwhile: look again
                    if candidate not in manifest:  # the artifact landed but not its manifest entry: a crash
                        manifest[candidate] = self._recover(
                            run_id, candidate, key, at, digest, collected_by, content_type, details
                        )
                    continue
                version += 1
                candidate = f"{base}~{version}"
            artifact = Artifact(
                name=candidate,
                sha256=digest,
                size=len(data),
                uri=self._uri(key),
                collected_at=iso(at) or "",
                collected_by=collected_by,
                content_type=content_type,
            )
            self._put_once(
                self._key(run_id, "manifest", f"{candidate}.json"),
                canonical(artifact.as_dict()),
                at,
                "application/json",
            )
            manifest[candidate] = artifact.as_dict()
            self._collected(run_id, artifact.as_dict(), at, details or {})
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

    def _collected(self, run_id: str, meta: dict[str, Any], at: datetime, details: dict[str, Any]) -> None:
        body = {
            "event": "collected",
            "artifact": meta["name"],
            "sha256": meta["sha256"],
            "size": meta["size"],
            "content_type": meta["content_type"],
            "actor": meta["collected_by"],
            "time": meta["collected_at"],
            "details": details,
        }
        self._append(run_id, body, at)

    def _recorded(self, run_id: str, name: str, digest: str) -> bool:
        """Whether the custody log records this artifact's collection (the anchor knows without a scan)."""
        anchor = self.anchors.read(run_id)
        if anchor is not None:
            return (anchor.get("artifacts") or {}).get(name) == digest
        return any(
            e.get("event") == "collected" and e.get("artifact") == name and e.get("sha256") == digest
            for e in self.custody(run_id)
        )

    def _recover(
        self,
        run_id: str,
        name: str,
        key: str,
        at: datetime,
        digest: str,
        collected_by: str,
        content_type: str,
        details: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """An artifact without its manifest entry (a writer died between the two): list and record it.

        The same bytes are adopted as this collection; other bytes (an earlier attempt's capture) are
        kept, listed as recovered, and the caller takes the next version for its own."""
        head = self.s3.head_object(Bucket=self.bucket, Key=key)
        data = self.read(run_id, name)
        ours = sha256(data) == digest
        meta = Artifact(
            name=name,
            sha256=sha256(data),
            size=len(data),
            uri=self._uri(key),
            collected_at=(iso(at) if ours else iso(head.get("LastModified"))) or iso(at) or "",
            collected_by=collected_by if ours else "responder (recovered after an interrupted write)",
            content_type=content_type if ours else str(head.get("ContentType") or "application/octet-stream"),
        ).as_dict()
        self._put_once(self._key(run_id, "manifest", f"{name}.json"), canonical(meta), at, "application/json")
        self._collected(
            run_id, meta, at, {**(details or {}), "recovered": "artifact written before an interrupted write"}
        )
        return meta

    def _tail(self, run_id: str) -> tuple[int, str]:
        entries = self.custody(run_id)
        return len(entries), str(entries[-1].get("hash")) if entries else GENESIS

    def _entry_at(self, run_id: str, seq: int) -> dict[str, Any] | None:
        data = self._get(self._key(run_id, "custody", f"{seq:08d}.json"))
        if data is None:
            return None
        try:
            entry = json.loads(data)
        except (json.JSONDecodeError, RecursionError):
            return {"seq": None, "hash": None}
        return entry if isinstance(entry, dict) else {"seq": None, "hash": None}

    def _open_chain(self, run_id: str, at: datetime) -> tuple[int, str, dict[str, Any] | None]:
        """The chain's tail, checked against its anchor in a few reads; an interrupted write is finished."""
        anchor = self.anchors.read_and_heal(run_id)
        if anchor is None:
            count, head = self._tails.get(run_id) or self._tail(run_id)
            return count, head, None
        a_count, a_head = int(anchor.get("count") or 0), str(anchor.get("head") or GENESIS)
        pending = anchor.get("entry") or {}
        found = self._entry_at(run_id, a_count)
        if found is None:
            before = self._entry_at(run_id, a_count - 1) if a_count > 1 else {"hash": GENESIS}
            if (
                before is None
                or pending.get("prev") != before.get("hash")
                or entry_hash(pending) != a_head
                or not self._landed(run_id, pending)
            ):
                raise self._diverged(run_id, f"custody entry {a_count} anchored in {self.anchors.where} is missing")
            self._put_once(
                self._key(run_id, "custody", f"{a_count:08d}.json"), canonical(pending), at, "application/json"
            )  # the write-ahead head landed, its entry did not: put it back
        elif str(found.get("hash")) != a_head:
            raise self._diverged(run_id, f"custody entry {a_count} differs from the head in {self.anchors.where}")
        if self._entry_at(run_id, a_count + 1) is not None:
            newer = self.anchors.read(run_id)
            if newer is not None and int(newer.get("count") or 0) > a_count:
                raise _Raced()  # another writer anchored and wrote meanwhile: read again
            raise self._diverged(run_id, f"custody entry {a_count + 1} was written past the anchored head")
        return a_count, a_head, anchor

    def _landed(self, run_id: str, entry: dict[str, Any]) -> bool:
        """An interrupted "collected" write left its artifact's manifest entry behind; a deletion did not."""
        if entry.get("event") != "collected" or not entry.get("artifact"):
            return True
        data = self._get(self._key(run_id, "manifest", f"{stored_name(str(entry['artifact']))}.json"))
        try:
            return bool(data) and json.loads(data or b"{}").get("sha256") == entry.get("sha256")
        except json.JSONDecodeError:
            return False

    @staticmethod
    def _diverged(run_id: str, why: str) -> ActionFailed:
        return ActionFailed(
            f"evidence of run {run_id}: {why}: the locker was changed outside responder; refusing to add to it",
            hint=f"`responder evidence verify {run_id}` names what changed; keep the objects as they are",
        )

    def _append(self, run_id: str, body: dict[str, Any], at: datetime) -> dict[str, Any]:
        """Anchor the head first (the anchor's conditional write decides between writers), then the entry."""
        for _ in range(20):
            try:
                count, prev, anchor = self._open_chain(run_id, at)
            except _Raced:
                continue
            entry = {"seq": count + 1, **body, "prev": prev}
            entry["hash"] = entry_hash(entry)
            if self.anchors.books and not self.anchors.write(run_id, next_anchor(run_id, anchor, entry, self.signer)):
                continue  # another writer anchored this sequence number first
            key = self._key(run_id, "custody", f"{entry['seq']:08d}.json")
            if self._put_once(key, canonical(entry), at, "application/json"):
                self._tails[run_id] = (count + 1, entry["hash"])
                return entry
            existing = self._entry_at(run_id, entry["seq"]) or {}
            if existing.get("hash") == entry["hash"]:  # another writer put our anchored entry back for us
                return entry
            self._tails.pop(run_id, None)  # another writer appended meanwhile
        raise Refused(f"could not append to the custody log of {run_id}: sequence numbers kept being taken")

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
        with self._lock:
            self._ensure_locked_bucket()
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
                at,
            )

    def artifacts(self, run_id: str) -> list[Artifact]:
        return [Artifact(**meta) for _, meta in sorted(self._manifest(run_id).items())]

    def read(self, run_id: str, name: str) -> bytes:
        key = self._key(run_id, "artifacts", stored_name(name))
        data = self._get(key)
        if data is None:
            raise FileNotFoundError(self._uri(key))
        return data

    def custody(self, run_id: str) -> list[dict[str, Any]]:
        out = []
        for key in self._keys(self._key(run_id, "custody") + "/"):
            data = self._get(key)
            try:
                out.append(json.loads(data or b""))
            except json.JSONDecodeError:
                out.append(
                    {
                        "seq": None,
                        "hash": None,
                        "event": "unreadable",
                        "raw": (data or b"")[:200].decode(errors="replace"),
                    }
                )
        return out

    def run_ids(self) -> list[str]:
        """Run folders under the prefix (not ``_anchors``), for cross-checks with the run store."""
        base = f"{self.prefix}/" if self.prefix else ""
        out: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
            out.extend(cp["Prefix"][len(base) :].rstrip("/") for cp in page.get("CommonPrefixes", []))
        return sorted(r for r in out if r and r != "_anchors")

    def has_run(self, run_id: str) -> bool:
        """Whether this locker holds evidence (a manifest entry or custody entry) for ``run_id``."""
        for part in ("manifest", "custody"):
            page = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self._key(run_id, part) + "/", MaxKeys=1)
            if page.get("KeyCount") or page.get("Contents"):
                return True
        return False

    def verify(self, run_id: str) -> VerifyReport:
        report = VerifyReport(run_id=run_id)
        run_prefix = self._key(run_id) + "/"
        manifest = self._manifest(run_id)
        entries = self.custody(run_id)
        books = [(book, book.read(run_id)) for book in self.anchors.books]
        for book, anchor in books:
            if anchor is not None:
                report.anchored_in.append(book.where)
            elif not isinstance(book, ObjectAnchors):
                report.note(f"{book.where} holds no anchor for this run")
            if anchor is not None and not anchor.get("signature"):
                report.note(
                    f"the anchor in {book.where} is unsigned: set RESPONDER_ANCHOR_KEY or "
                    "RESPONDER_ANCHOR_KMS_KEY to prove it against whoever can also write there"
                )
        if not manifest and not entries:
            held = next((a for _, a in books if a is not None), None)
            if held is not None:
                report.add(
                    "evidence_missing",
                    f"s3://{self.bucket}/{run_prefix}",
                    f"no manifest or custody objects are visible, but the anchor records {held.get('count')} "
                    "custody entries: they were deleted (older versions may still be held under Object Lock)",
                )
            else:
                report.add("run_missing", run_id, f"no evidence for this run under s3://{self.bucket}/{run_prefix}")
            self._check_versions(report, run_prefix)
            return report
        art_prefix = self._key(run_id, "artifacts") + "/"
        actual: dict[str, str | None] = {name: None for name in manifest}
        sizes: dict[str, int] = {}
        for key in self._keys(art_prefix):
            data = self._get(key)
            name = key[len(art_prefix) :]
            actual[name] = sha256(data) if data is not None else None
            if data is not None:
                sizes[name] = len(data)
        check_chain(report, entries, manifest, actual, sizes)
        for book, anchor in books:
            check_anchor(report, entries, manifest, actual, anchor, where=book.where, signer=self.signer)
        self._check_versions(report, run_prefix)
        report.note("Object Lock keeps every version for its retention: deletions and overwrites are named by key")
        return report

    def _check_versions(self, report: VerifyReport, run_prefix: str) -> None:
        """A write-once object with a second version was overwritten; one with a delete marker was deleted."""
        versions: dict[str, list[dict[str, Any]]] = {}
        markers: dict[str, list[dict[str, Any]]] = {}
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=run_prefix):
            for v in page.get("Versions", []):
                versions.setdefault(v["Key"], []).append(v)
            for m in page.get("DeleteMarkers", []):
                markers.setdefault(m["Key"], []).append(m)
        for key in sorted(set(versions) | set(markers)):
            subject = key[len(run_prefix) :]
            kept = versions.get(key, [])
            if len(kept) > 1:
                first = min(kept, key=lambda v: v["LastModified"])
                report.add(
                    "object_overwritten",
                    subject,
                    f"written {len(kept)} times; the original version "
                    f"{first.get('VersionId')} is still held under Object Lock",
                )
            if markers.get(key):
                report.add(
                    "object_deleted",
                    subject,
                    "a delete marker hides it; the original version is still held under Object Lock",
                )

    def export(self, run_id: str, out: Path, *, actor: str, at: datetime) -> Path:
        """Copy artifacts, manifest and custody log to a folder (the local locker's layout), recording it."""
        self.record(run_id, "exported", actor=actor, at=at, details={"to": str(out)})
        target = Path(out) / safe_name(run_id)
        if target.exists():
            shutil.rmtree(target)
        (target / "artifacts").mkdir(parents=True)
        manifest = self._manifest(run_id)
        for name in manifest:
            path = target / "artifacts" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.read(run_id, name))
        (target / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        (target / "custody.jsonl").write_bytes(b"".join(canonical(e) + b"\n" for e in self.custody(run_id)))
        from .local import write_exported_anchor

        write_exported_anchor(target, self.anchors.read(run_id))
        return target


class ObjectAnchors:
    """Chain heads as write-once, Object-Lock-retained objects outside the run's folder:
    ``PREFIX/_anchors/<run_id>/<count:08d>.json``. Read through the version listing, so a delete
    marker (allowed under Object Lock) cannot hide the latest head."""

    def __init__(self, locker: S3Locker) -> None:
        self.locker = locker
        self.where = f"s3://{locker.bucket}/{'/'.join(p for p in (locker.prefix, '_anchors') if p)}/"

    def _prefix(self, run_id: str) -> str:
        return "/".join(p for p in (self.locker.prefix, "_anchors", safe_name(run_id)) if p) + "/"

    def read(self, run_id: str) -> dict[str, Any] | None:
        s3 = self.locker.s3
        first: dict[str, dict[str, Any]] = {}
        for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=self.locker.bucket, Prefix=self._prefix(run_id)
        ):
            for v in page.get("Versions", []):
                held = first.get(v["Key"])
                if held is None or v["LastModified"] < held["LastModified"]:
                    first[v["Key"]] = v  # write-once: the first version is the one responder wrote
        if not first:
            return None
        key = max(first)
        body = s3.get_object(Bucket=self.locker.bucket, Key=key, VersionId=first[key]["VersionId"])["Body"].read()
        try:
            anchor = json.loads(body)
        except (json.JSONDecodeError, RecursionError):
            return {"count": -1, "head": "", "entry": {}, "unreadable": key}
        return anchor if isinstance(anchor, dict) else None

    def write(self, run_id: str, anchor: dict[str, Any]) -> bool:
        key = f"{self._prefix(run_id)}{int(anchor['count']):08d}.json"
        at = datetime.now(UTC)
        if self.locker._put_once(key, canonical(anchor), at, "application/json"):
            return True
        held = self.locker._get(key)
        try:
            return bool(held) and json.loads(held or b"{}").get("head") == anchor["head"]
        except json.JSONDecodeError:
            return False
