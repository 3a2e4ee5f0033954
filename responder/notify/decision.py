"""Decision support: which regimes likely apply, from what the scope found. People decide.

The signals are the ones an investigator would look at first: data stores tagged as holding personal
data (``notify.personal_data_tags``), data events on them (objects read, egress), the data categories
the scope reports, and whether the credential involved could reach data at all. A proposal is
``likely``, ``possible``, ``unlikely`` or ``needs-determination`` (SEC: materiality is the registrant's
call) with its reasons; the register records it next to, never instead of, the human decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from ..findings.model import Finding
from .regimes import get_regime
from .scope import read, readable
from .settings import NotifySettings

LIKELY, POSSIBLE, UNLIKELY, DETERMINE = "likely", "possible", "unlikely", "needs-determination"
# GDPR Art. 9 and 10 categories, and data whose exposure EDPB Guidelines 01/2021 treat as high risk.
_SPECIAL = (
    "health",
    "medical",
    "patient",
    "phi",
    "genetic",
    "biometric",
    "racial",
    "ethnic",
    "political",
    "religio",
    "union",
    "sex",
    "criminal",
    "financial",
    "payment",
    "card",
    "password",
    "credential",
    "national-id",
    "passport",
    "ssn",
)
_HEALTH = ("health", "medical", "patient", "phi", "diagnos", "clinical")


@dataclass
class Signals:
    """What the scope says about personal data, with the sentence a reviewer reads for each."""

    scoped: bool
    personal_stores: list[str] = field(default_factory=list)
    touched_stores: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    special: list[str] = field(default_factory=list)
    health: bool = False
    egress: int | None = None
    credential: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def personal_touched(self) -> bool:
        return bool(self.touched_stores or self.categories)


def _marked(tags: dict[str, str], wanted: set[str]) -> bool:
    seen = {t.lower() for k, v in tags.items() for t in (k, v, f"{k}={v}") if t}
    return bool(seen & wanted)


def signals(finding: Finding, scope: dict[str, Any] | None, settings: NotifySettings) -> Signals:
    view = read(scope)
    wanted = {t.lower() for t in settings.personal_data_tags}
    out = Signals(scoped=view.present)
    for bucket in view.buckets:
        by_name = any(fnmatchcase(bucket, pattern) for pattern in settings.personal_data_buckets)
        if by_name or _marked(view.bucket_tags.get(bucket, {}), wanted):
            out.personal_stores.append(bucket)
            if view.bucket_reads.get(bucket):
                out.touched_stores.append(bucket)
    out.categories = [readable(c) for c in view.personal_categories]
    everything = [readable(c) for c in view.categories]
    out.special = [c for c in everything if any(s in c.lower() for s in _SPECIAL)]
    out.health = any(any(h in c.lower() for h in _HEALTH) for c in everything) or any(
        any(h in t.lower() for h in _HEALTH for t in (*tags, *tags.values())) for tags in view.bucket_tags.values()
    )
    out.egress = view.egress_bytes
    out.credential = finding.resource.kind in ("access_key", "iam_user", "role_session") or bool(view.keys)
    if not out.scoped:
        out.reasons.append("no scope output yet: access to personal data cannot be excluded")
    if out.personal_stores:
        out.reasons.append(f"data stores marked as holding personal data: {', '.join(out.personal_stores)}")
    if out.touched_stores:
        out.reasons.append(f"objects read from them: {', '.join(out.touched_stores)}")
    elif out.personal_stores:
        out.reasons.append("no reads seen on them (yet)")
    if out.categories:
        out.reasons.append(f"personal data categories indicated by the scope: {', '.join(out.categories)}")
    if out.special:
        out.reasons.append(f"special or high-risk categories: {', '.join(out.special)}")
    if out.egress:
        out.reasons.append(f"{out.egress} bytes sent to flagged destinations")
    if out.credential:
        out.reasons.append("a credential was compromised: whatever it could read may have been read")
    return out


def _personal(sig: Signals) -> str:
    if sig.personal_touched:
        return LIKELY
    if not sig.scoped or sig.personal_stores or sig.credential:
        return POSSIBLE
    return UNLIKELY


def propose(
    regime_ids: list[str] | tuple[str, ...],
    finding: Finding,
    scope: dict[str, Any] | None,
    settings: NotifySettings,
) -> dict[str, dict[str, Any]]:
    """Per regime: ``{"likelihood": ..., "reasons": [...]}``. Reasons say why, citing the test applied."""
    sig = signals(finding, scope, settings)
    out: dict[str, dict[str, Any]] = {}
    for regime_id in regime_ids:
        regime = get_regime(regime_id)
        reasons = list(sig.reasons)
        if regime_id == "sec-8k":
            likelihood = DETERMINE
            reasons = [
                "the registrant must determine materiality without unreasonable delay after discovery "
                "(Item 1.05, Instruction 1); the 4-business-day clock starts at that determination"
            ]
        elif regime_id == "nis2":
            likelihood = POSSIBLE
            reasons = [
                "significance is a judgement under NIS2 Art. 23(3): severe operational disruption or "
                "financial loss, or considerable damage to others"
            ]
            if not settings.organisation.nis2_entity:
                reasons.append("the organisation's NIS2 entity type (essential/important) is not configured")
        elif regime_id == "hipaa":
            likelihood = LIKELY if sig.health and sig.personal_touched else (POSSIBLE if sig.health else UNLIKELY)
            reasons.append(
                "protected health information involved" if sig.health else "no health information seen in the scope"
            )
        elif regime_id == "gdpr-34":
            base = _personal(sig)
            high = bool(sig.special or sig.egress)
            likelihood = LIKELY if base == LIKELY and high else (POSSIBLE if base != UNLIKELY else UNLIKELY)
            reasons.append(
                "high risk indicated by the categories or the egress"
                if high
                else "high risk (Art. 34(1)) not indicated by the scope: assess it"
            )
        elif regime.personal_data:
            likelihood = _personal(sig)
        else:
            likelihood = POSSIBLE
        out[regime_id] = {"likelihood": likelihood, "reasons": reasons}
    return out
