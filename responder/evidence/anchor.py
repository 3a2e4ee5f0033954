"""The custody chain's head, kept where the evidence folder's writer cannot quietly rewrite it.

A hash chain proves each entry follows the one before, but not that the chain is *complete*: whoever
can write the folder can drop the last entry, append one with a correctly computed hash, or rewrite
the whole log. So as each entry is written, its head — entry count, last hash, the entry itself and
the artifacts collected so far — is recorded *outside* the folder, in an :class:`Anchors` book (the
run store; with the S3 locker also a write-once, Object-Lock-retained object), optionally signed with
a key the locker's writer does not hold (an HMAC secret, or a KMS HMAC key only ``kms:GenerateMac``
reaches).

The head is written *ahead* of the entry: a crash between the two leaves an anchor one entry ahead of
the folder, carrying the entry, and the next write puts that entry in place. A folder that is neither
equal to its anchor nor exactly one interrupted write behind it was changed by someone else; the
locker refuses to extend it and ``verify`` names the difference.

``RESPONDER_ANCHOR_KEY`` (an HMAC secret) or ``RESPONDER_ANCHOR_KMS_KEY`` (a KMS HMAC key id/ARN)
turns signing on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any, Protocol

from .base import GENESIS, VerifyReport, canonical, entry_hash

KEY_ENV = "RESPONDER_ANCHOR_KEY"
KMS_KEY_ENV = "RESPONDER_ANCHOR_KMS_KEY"


class Anchors(Protocol):
    """Where chain heads are kept outside the evidence folder."""

    where: str

    def read(self, run_id: str) -> dict[str, Any] | None: ...

    def write(self, run_id: str, anchor: dict[str, Any]) -> bool:
        """Record the head; False when another writer anchored this count with another head first."""
        ...


class Signer(Protocol):
    kind: str

    def sign(self, message: bytes) -> str: ...

    def check(self, message: bytes, signature: str) -> bool: ...


class HmacSigner:
    """HMAC-SHA256 with a secret from configuration: whoever forges an anchor must also hold it."""

    kind = "hmac-sha256"

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("an empty HMAC key signs nothing")
        self._key = key

    def sign(self, message: bytes) -> str:
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def check(self, message: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), str(signature))


class KmsSigner:
    """A KMS HMAC key (``HMAC_256``): the key never leaves KMS, and the locker's role may be granted
    ``kms:GenerateMac`` only for its own writes while verifiers hold ``kms:VerifyMac``."""

    kind = "kms-hmac-sha256"

    def __init__(self, key_id: str, client: Any = None) -> None:
        self.key_id = key_id
        self._client = client

    @property
    def kms(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("kms")
        return self._client

    def sign(self, message: bytes) -> str:
        out = self.kms.generate_mac(KeyId=self.key_id, Message=message, MacAlgorithm="HMAC_SHA_256")
        return bytes(out["Mac"]).hex()

    def check(self, message: bytes, signature: str) -> bool:
        try:
            out = self.kms.verify_mac(
                KeyId=self.key_id, Message=message, MacAlgorithm="HMAC_SHA_256", Mac=bytes.fromhex(signature)
            )
        except ValueError:
            return False
        except Exception as exc:  # KMSInvalidMacException: a wrong MAC is an answer, not a fault
            if "InvalidMac" in type(exc).__name__ or "KMSInvalidMac" in str(exc):
                return False
            raise
        return bool(out.get("MacValid"))


def signer_from_env() -> Signer | None:
    key = os.environ.get(KEY_ENV)
    if key:
        return HmacSigner(key.encode())
    kms_key = os.environ.get(KMS_KEY_ENV)
    if kms_key:
        return KmsSigner(kms_key)
    return None


def _signed_part(run_id: str, anchor: dict[str, Any]) -> bytes:
    return canonical(
        {
            "run_id": run_id,
            "count": anchor.get("count"),
            "head": anchor.get("head"),
            "artifacts": anchor.get("artifacts") or {},
        }
    )


def next_anchor(run_id: str, previous: dict[str, Any] | None, entry: dict[str, Any], signer: Signer | None) -> dict:
    """The head after ``entry``: count, hash, the entry itself, the artifacts collected so far."""
    artifacts = dict((previous or {}).get("artifacts") or {})
    if entry.get("event") == "collected" and entry.get("artifact"):
        artifacts[str(entry["artifact"])] = str(entry.get("sha256"))
    anchor: dict[str, Any] = {
        "run_id": run_id,
        "count": int(entry["seq"]),
        "head": entry["hash"],
        "entry": entry,
        "artifacts": artifacts,
        "signed": None,
        "signature": None,
    }
    if signer is not None:
        anchor["signed"] = signer.kind
        anchor["signature"] = signer.sign(_signed_part(run_id, anchor))
    return anchor


class ChainDiverged(Exception):
    """The folder's chain is not its anchor's chain, nor one interrupted write behind it."""


@dataclass(frozen=True)
class Reconciled:
    """How the folder stands against its anchor before a write: the entry to put back, if any."""

    count: int
    head: str
    replay: dict[str, Any] | None = None


def reconcile(entries: list[dict[str, Any]], anchor: dict[str, Any] | None, where: str) -> Reconciled:
    """Decide whether the folder may be extended. Raise :class:`ChainDiverged` when it may not."""
    count = len(entries)
    head = str(entries[-1].get("hash")) if entries else GENESIS
    if anchor is None:
        return Reconciled(count, head)  # first anchored write (or a chain from before anchoring)
    a_count, a_head = int(anchor.get("count") or 0), str(anchor.get("head") or GENESIS)
    if a_count == count and a_head == head:
        return Reconciled(count, head)
    pending = anchor.get("entry") or {}
    if (
        a_count == count + 1
        and pending.get("prev") == head
        and pending.get("seq") == a_count
        and entry_hash(pending) == a_head
    ):
        return Reconciled(count, head, replay=pending)  # the write-ahead head landed, its entry did not
    raise ChainDiverged(
        f"the custody log holds {count} entries ending {head[:12]}, but the anchor in {where} records "
        f"{a_count} entries ending {a_head[:12]}: the evidence folder was changed outside responder"
    )


def check_anchor(
    report: VerifyReport,
    entries: list[dict[str, Any]],
    manifest: dict[str, dict[str, Any]],
    actual: dict[str, str | None],
    anchor: dict[str, Any] | None,
    *,
    where: str,
    signer: Signer | None,
    source: str = "anchor",
) -> None:
    """Compare the folder with the head recorded outside it, naming each difference."""
    if anchor is None:
        return
    run_id = report.run_id
    a_count, a_head = int(anchor.get("count") or 0), str(anchor.get("head") or "")
    pending = anchor.get("entry") or {}
    if entry_hash(pending) != a_head or pending.get("seq") != a_count:
        report.add(f"{source}_invalid", where, "the anchor's own entry does not match its head: it was edited")
    if anchor.get("signature"):
        if signer is None:
            report.note(
                f"the {source} in {where} is signed ({anchor.get('signed')}) but no key is configured "
                f"here to check it ({KEY_ENV} or {KMS_KEY_ENV})"
            )
        elif not signer.check(_signed_part(run_id, anchor), str(anchor["signature"])):
            report.add(
                f"{source}_forged",
                where,
                "the anchor's signature does not verify: it was not written by a holder of the signing key",
            )
    elif signer is not None:
        report.add(
            f"{source}_unsigned",
            where,
            "signing is configured but this anchor carries no signature: "
            "it may have been written by someone without the key",
        )
    count = len(entries)
    if count < a_count:
        missing = ", ".join(str(n) for n in range(count + 1, a_count + 1))
        last = pending.get("event")
        report.add(
            "custody_truncated",
            "custody log",
            f"the anchor in {where} records {a_count} entries, the folder holds {count}: entry {missing} "
            f"(the last one: {last!r}) was removed, or the write of the last entry was interrupted",
        )
    elif str(entries[a_count - 1].get("hash")) != a_head if a_count else False:
        report.add(
            "custody_rewritten",
            f"custody entry {a_count}",
            f"its hash differs from the head anchored in {where} ({a_head[:12]}…): the log was rewritten up to "
            "here (an entry edited and the rest re-hashed, or the whole log replaced)",
        )
    if count > a_count:
        report.add(
            "custody_appended",
            f"custody entry {a_count + 1}" + (f"–{count}" if count > a_count + 1 else ""),
            f"written after the head anchored in {where} (entry {a_count}): appended outside responder",
        )
    for name, sha in sorted((anchor.get("artifacts") or {}).items()):
        if name not in manifest and actual.get(name) is None:
            report.add(
                "artifact_removed",
                name,
                f"recorded in {where} (SHA-256 {sha[:12]}…) but neither the "
                "manifest nor the folder holds it: removed together with its manifest entry",
            )
        elif name in manifest and manifest[name].get("sha256") != sha:
            report.add("manifest_changed", name, f"the manifest's SHA-256 differs from the one recorded in {where}")


class StoreAnchors:
    """Chain heads in the run store (``ANCHOR#<run_id>``), beside the run's records, not in its folder."""

    where = "the run store"

    def __init__(self, store: Any) -> None:
        self.store = store

    def read(self, run_id: str) -> dict[str, Any] | None:
        return self.store.get_anchor(run_id)

    def write(self, run_id: str, anchor: dict[str, Any]) -> bool:
        return self.store.advance_anchor(run_id, anchor).get("head") == anchor["head"]


class AnchorSet:
    """Several books at once: read the furthest head, write every book."""

    def __init__(self, books: list[Anchors | None]) -> None:
        self.books = [b for b in books if b is not None]
        self.where = " and ".join(b.where for b in self.books) or "nowhere"

    def read(self, run_id: str) -> dict[str, Any] | None:
        heads = [a for a in (b.read(run_id) for b in self.books) if a is not None]
        return max(heads, key=lambda a: int(a.get("count") or 0)) if heads else None

    def write(self, run_id: str, anchor: dict[str, Any]) -> bool:
        """The first book decides (its conditional write has one winner per count); the others follow
        only the winner, so no book ever holds a head that lost."""
        return all(book.write(run_id, anchor) for book in self.books)  # all() stops at the first loss

    def read_and_heal(self, run_id: str) -> dict[str, Any] | None:
        """The furthest head; a book left one head behind by a crash between the two writes catches up,
        so no book reports the last entry as appended behind its back."""
        heads = [(book, book.read(run_id)) for book in self.books]
        known = [a for _, a in heads if a is not None]
        if not known:
            return None
        best = max(known, key=lambda a: int(a.get("count") or 0))
        for book, anchor in heads:
            if anchor is None or int(anchor.get("count") or 0) < int(best.get("count") or 0):
                book.write(run_id, best)
        return best
