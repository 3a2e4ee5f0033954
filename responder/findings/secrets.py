"""Secret-scanner reports of leaked AWS keys (gitleaks v7/v8, trufflehog v3) → one Finding per key.

The incident starts when the key was **committed**, not when the scanner found it: whoever watched the
repository had it from then on. The finding id is derived from the key id, so the same key leaked in two
files or reported twice joins one run. The secret itself is never kept: ``raw`` is redacted.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..errors import FindingInvalid
from ..redact import find_key_ids, redact
from .fields import dict_of, pick, text, timestamp
from .model import AccessKey, Actor, Finding, Source, severity_label

LEAK_TYPE = "CredentialAccess:IAMUser/LeakedAccessKey.SecretScanner"


def looks_like_gitleaks(obj: dict[str, Any]) -> bool:
    return isinstance(obj, dict) and ("RuleID" in obj or ("offender" in obj and "rule" in obj))


def looks_like_trufflehog(obj: dict[str, Any]) -> bool:
    return isinstance(obj, dict) and ("DetectorName" in obj or "SourceMetadata" in obj)


def _finding(
    *,
    key_id: str,
    scanner: str,
    committed: Any,
    where: dict[str, Any],
    verified: bool | None,
    account: str | None,
    user_name: str | None,
    raw: dict[str, Any],
) -> Finding:
    start = timestamp(committed)
    score = 8.0 if verified is not False else 6.0
    fid = "leaked-key-" + hashlib.sha256(key_id.encode()).hexdigest()[:24]
    location = " ".join(f"{k}={v}" for k, v in where.items() if v)
    return Finding(
        id=fid,
        source=Source.SECRETS,
        product=scanner,
        type=LEAK_TYPE,
        title=f"AWS access key {key_id} found by {scanner}",
        description=f"{scanner} reported AWS access key {key_id} ({location})".strip(),
        severity=score,
        severity_label=severity_label(score),
        account_id=account,
        first_seen=start,
        last_seen=start,
        created_at=start,
        incident_start=start,
        resource=AccessKey(access_key_id=key_id, user_name=user_name, user_type="IAMUser" if user_name else None),
        actor=Actor(),
        fields={"scanner": scanner, "verified": verified, **{k: v for k, v in where.items() if v}},
        raw=redact(raw),
        origin="secret-scanner",
    )


def _key_id(candidates: list[Any], event: str, field: str) -> str:
    for value in candidates:
        ids = find_key_ids(text(value) or "")
        if ids:
            return ids[0]
    raise FindingInvalid(event, field, "no AWS access key id (AKIA…/ASIA…) in this report entry")


def parse_gitleaks(obj: dict[str, Any], event: str, prefix: str = "") -> Finding:
    where = f"{prefix}." if prefix else ""
    if "RuleID" in obj:  # v8
        rule = text(obj.get("RuleID")) or ""
        key = _key_id([obj.get("Secret"), obj.get("Match"), obj.get("Redacted")], event, f"{where}Secret")
        return _finding(
            key_id=key,
            scanner="gitleaks",
            committed=obj.get("Date"),
            where={
                "file": text(obj.get("File")),
                "line": obj.get("StartLine"),
                "commit": text(obj.get("Commit")),
                "author": text(obj.get("Author")),
                "rule": rule,
            },
            verified=None,
            account=None,
            user_name=None,
            raw=obj,
        )
    key = _key_id([obj.get("offender"), obj.get("line")], event, f"{where}offender")
    return _finding(
        key_id=key,
        scanner="gitleaks",
        committed=obj.get("date"),
        where={
            "file": text(obj.get("file")),
            "line": obj.get("lineNumber"),
            "commit": text(obj.get("commit")),
            "repository": text(obj.get("repo")),
            "author": text(obj.get("author")),
            "rule": text(obj.get("rule")),
        },
        verified=None,
        account=None,
        user_name=None,
        raw=obj,
    )


def parse_trufflehog(obj: dict[str, Any], event: str, prefix: str = "") -> Finding:
    where = f"{prefix}." if prefix else ""
    detector = (text(obj.get("DetectorName")) or "").upper()
    if detector and detector not in ("AWS", "AWSSESSIONKEY", "AWSSESSIONKEYS"):
        raise FindingInvalid(
            event, f"{where}DetectorName", f"{text(obj.get('DetectorName'))!r} is not an AWS key detector"
        )
    key = _key_id([obj.get("Redacted"), obj.get("Raw"), obj.get("RawV2")], event, f"{where}Raw")
    data = dict_of(pick(obj, "SourceMetadata", "Data"))
    origin_kind, origin = next(iter(data.items()), ("", {}))
    origin = dict_of(origin)
    extra = dict_of(obj.get("ExtraData"))
    arn = text(extra.get("arn")) or ""
    user = arn.split(":user/", 1)[1].rsplit("/", 1)[-1] if ":user/" in arn else None
    return _finding(
        key_id=key,
        scanner="trufflehog",
        committed=origin.get("timestamp"),
        where={
            "source": origin_kind.lower() or None,
            "file": text(origin.get("file")),
            "line": origin.get("line"),
            "commit": text(origin.get("commit")),
            "repository": text(origin.get("repository")),
            "author": text(origin.get("email")),
        },
        verified=bool(obj.get("Verified")) if "Verified" in obj else None,
        account=text(extra.get("account")),
        user_name=user,
        raw=obj,
    )
