"""The breach register (GDPR Art. 33(5), LGPD Res. 15/2024 art. 10): every breach, notified or not.

One entry per run in the store's generic items (kind ``notify.register``, key = run id), so the SQLite
and DynamoDB stores hold it alike. An entry keeps the facts, effects and remedial action, what responder
proposed per regime and, separately, what a person decided and why: the proposal never stands in for
the decision. Exports: JSON (everything) and CSV (one row per run and regime, for spreadsheets).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..clock import iso
from ..errors import BadInput
from ..state.base import RunStore
from .regimes import get_regime

KIND = "notify.register"


class Decision(StrEnum):
    PENDING = "pending"
    NOTIFY = "notify"
    NOT_REQUIRED = "not-required"


def get_entry(store: RunStore, run_id: str) -> dict[str, Any] | None:
    return store.get_item(KIND, run_id)


def entries(store: RunStore) -> list[dict[str, Any]]:
    """Every register entry, oldest awareness first."""
    return sorted(store.list_items(KIND), key=lambda e: (e.get("aware_at") or "", e.get("run_id") or ""))


def record_run(
    store: RunStore,
    run_id: str,
    *,
    now: datetime,
    summary: dict[str, Any],
    facts: dict[str, Any] | None = None,
    counts: dict[str, Any] | None = None,
    proposals: dict[str, dict[str, Any]] | None = None,
    regimes: list[str] | None = None,
) -> dict[str, Any]:
    """Create or update a run's entry; people's decisions, drafts and submissions are kept as they are."""
    store.put_item(
        KIND,
        run_id,
        {"run_id": run_id, "recorded_at": iso(now), "regimes": {}, "drafts": [], "sent": []},
        overwrite=False,
    )

    def change(item: dict[str, Any]) -> dict[str, Any]:
        item.update({k: v for k, v in summary.items() if v is not None})
        if facts is not None:
            item["facts"] = facts
        if counts is not None:
            item["counts"] = counts
        states = dict(item.get("regimes") or {})
        for regime_id in regimes or []:
            states.setdefault(regime_id, {"decision": Decision.PENDING.value})
        for regime_id, proposal in (proposals or {}).items():
            state = dict(states.get(regime_id) or {"decision": Decision.PENDING.value})
            state["proposal"] = proposal.get("likelihood")
            state["reasons"] = list(proposal.get("reasons") or [])
            states[regime_id] = state
        item["regimes"] = states
        item["updated_at"] = iso(now)
        return item

    return store.update_item(KIND, run_id, change) or {}


def decide(
    store: RunStore,
    run_id: str,
    regime_id: str,
    decision: str,
    *,
    reason: str | None,
    by: str,
    at: datetime,
    exemption: str | None = None,
) -> dict[str, Any]:
    """Record a person's decision for one regime; 'not required' needs a reason (Art. 33(5) documents it)."""
    regime = get_regime(regime_id)
    try:
        choice = Decision(decision)
    except ValueError:
        raise BadInput(f"decision {decision!r} is not one of: notify, not-required") from None
    if choice == Decision.NOT_REQUIRED and not (reason or "").strip():
        raise BadInput("a 'not-required' decision needs a reason", hint="add --reason 'why no notification is due'")
    if exemption is not None:
        keys = [e.key for e in regime.exemptions]
        if exemption not in keys:
            valid = ", ".join(keys) or "none (this regime has no exemptions)"
            raise BadInput(f"{regime_id} has no exemption {exemption!r}; valid: {valid}")
    if get_entry(store, run_id) is None:
        raise BadInput(
            f"run {run_id} is not in the breach register yet",
            hint=f"run 'responder aware {run_id}' or the playbook's notify step first",
        )

    def change(item: dict[str, Any]) -> dict[str, Any]:
        states = dict(item.get("regimes") or {})
        state = dict(states.get(regime_id) or {})
        history = list(state.get("history") or [])
        if state.get("decision") not in (None, Decision.PENDING.value):
            history.append({k: state.get(k) for k in ("decision", "reason", "exemption", "decided_by", "decided_at")})
        state.update(
            decision=choice.value,
            reason=reason,
            exemption=exemption,
            decided_by=by,
            decided_at=iso(at),
            history=history,
        )
        states[regime_id] = state
        item["regimes"] = states
        item["updated_at"] = iso(at)
        return item

    return store.update_item(KIND, run_id, change) or {}


def add_drafts(store: RunStore, run_id: str, drafts: list[dict[str, Any]], *, at: datetime) -> None:
    def change(item: dict[str, Any]) -> dict[str, Any]:
        known = list(item.get("drafts") or [])
        names = {d.get("name") for d in known}
        known.extend(d for d in drafts if d.get("name") not in names)
        item["drafts"] = known
        item["updated_at"] = iso(at)
        return item

    store.update_item(KIND, run_id, change)


def add_sent(store: RunStore, run_id: str, sent: dict[str, Any], *, at: datetime) -> None:
    def change(item: dict[str, Any]) -> dict[str, Any]:
        item["sent"] = [
            *(
                s
                for s in item.get("sent") or []
                if (s.get("regime"), s.get("milestone")) != (sent["regime"], sent["milestone"])
            ),
            sent,
        ]
        item["updated_at"] = iso(at)
        return item

    store.update_item(KIND, run_id, change)


CSV_COLUMNS = (
    "run_id",
    "finding_id",
    "finding_type",
    "account_id",
    "received_at",
    "aware_at",
    "nature",
    "record_categories",
    "subjects_approx",
    "records_approx",
    "consequences",
    "measures",
    "regime",
    "proposal",
    "decision",
    "reason",
    "exemption",
    "decided_by",
    "decided_at",
    "sent_at",
    "drafts",
)


def _cell(value: Any) -> str:
    """One CSV cell. Finding data is attacker-controlled: neutralise spreadsheet formulas."""
    if value is None:
        return ""
    text = "; ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def rows(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Flatten entries to one row per run and regime (a run with no regime still gets a row)."""
    out = []
    for entry in items:
        facts = entry.get("facts") or {}
        base = {
            "run_id": entry.get("run_id"),
            "finding_id": entry.get("finding_id"),
            "finding_type": entry.get("finding_type"),
            "account_id": entry.get("account_id"),
            "received_at": entry.get("received_at"),
            "aware_at": entry.get("aware_at"),
            **{
                k: facts.get(k)
                for k in (
                    "nature",
                    "record_categories",
                    "subjects_approx",
                    "records_approx",
                    "consequences",
                    "measures",
                )
            },
        }
        regimes = entry.get("regimes") or {"": {}}
        for regime_id, state in sorted(regimes.items()):
            sent = [s.get("at") for s in entry.get("sent") or [] if s.get("regime") == regime_id]
            drafts = [d.get("name") for d in entry.get("drafts") or [] if d.get("regime") == regime_id]
            row = {
                **base,
                "regime": regime_id,
                "proposal": state.get("proposal"),
                "decision": state.get("decision"),
                "reason": state.get("reason"),
                "exemption": state.get("exemption"),
                "decided_by": state.get("decided_by"),
                "decided_at": state.get("decided_at"),
                "sent_at": sent,
                "drafts": drafts,
            }
            out.append({k: _cell(row.get(k)) for k in CSV_COLUMNS})
    return out


def to_csv(items: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(items))
    return buffer.getvalue()


def to_json(items: list[dict[str, Any]]) -> str:
    clean = [{k: v for k, v in e.items() if k not in ("version", "kind", "key")} for e in items]
    return json.dumps(clean, indent=2, sort_keys=True, ensure_ascii=False, default=str)
