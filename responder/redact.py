"""Remove secret material from events before they are stored, logged or written as evidence.

Secret-scanner reports carry the leaked secret itself (gitleaks ``Secret``/``Match``, trufflehog
``Raw``/``RawV2``). The access key *id* is an identifier and is kept; anything shaped like a secret
access key or session token is not.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"
# AWS secret access keys are 40 characters of base64; session tokens are much longer base64.
_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_TOKEN = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{100,}={0,2}(?![A-Za-z0-9/+=])")
_SECRET_KEYS = {
    "secretaccesskey",
    "aws_secret_access_key",
    "sessiontoken",
    "aws_session_token",
    "password",
    "secret_access_key",
    "session_token",
}
_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA|ABIA|ACCA)[A-Z0-9]{12,}\b")


# trufflehog's RawV2 is the key id and the secret run together, with no boundary between them.
_ID_THEN_SECRET = re.compile(r"((?:AKIA|ASIA)[A-Z0-9]{16})([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")
_SHA1 = re.compile(r"[0-9a-f]{40}")


def _secret_or_keep(match: re.Match[str]) -> str:
    text = match.group(0)
    if _KEY_ID.fullmatch(text) or _SHA1.fullmatch(text):  # key ids and git commit ids are evidence, not secrets
        return text
    return REDACTED


def redact_text(value: str) -> str:
    out = _TOKEN.sub(REDACTED, value)
    out = _ID_THEN_SECRET.sub(lambda m: m.group(1) + REDACTED, out)
    return _SECRET.sub(_secret_or_keep, out)


def redact(value: Any) -> Any:
    """Return a copy with secret-shaped strings replaced; structure and key ids are kept."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in _SECRET_KEYS and item not in (None, ""):
                out[key] = REDACTED
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def find_key_ids(value: str) -> list[str]:
    return _KEY_ID.findall(value or "")
