"""Block Kit for approvals: the prompt, the decided message, thread lines. Pure functions, no I/O.

Every value that can come from a finding goes through :mod:`.escape`; only our own structure
(labels, the approvers we mention on purpose) is raw mrkdwn.
"""

from __future__ import annotations

import json
from typing import Any

from ..state.records import ApprovalRecord, RunRecord
from .escape import code, mrkdwn, plain

APPROVE = "responder_approve"
DENY = "responder_deny"
_SEVERITY_ICON = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:"}


def _who(approval: ApprovalRecord) -> str:
    """Who may answer: our own mentions, built only from ids that look like Slack ids."""
    parts = [f"<@{u}>" if _is_id(u, "UW") else mrkdwn(u, 40) for u in approval.allowed_users]
    parts += [f"<!subteam^{g}>" if _is_id(g, "S") else mrkdwn(g, 40) for g in approval.allowed_groups]
    return ", ".join(parts) or "anyone in this channel"


def _is_id(value: str, prefixes: str) -> bool:
    return bool(value) and value[0] in prefixes and value.isalnum() and value.isupper() and len(value) <= 20


def _finding_fields(run: RunRecord) -> list[dict[str, str]]:
    finding = run.finding or {}
    resource = finding.get("resource") or {}
    ident = next((v for k, v in resource.items() if k != "kind" and isinstance(v, str) and v), "")
    label = str(finding.get("severity_label") or "")
    fields = [
        ("Finding", finding.get("type")),
        ("Severity", f"{label} {run.severity:g}".strip()),
        ("Account / region", f"{finding.get('account_id') or '?'} / {finding.get('region') or '?'}"),
        ("Resource", f"{resource.get('kind', '?')} {ident}"),
    ]
    actor = finding.get("actor") or {}
    if isinstance(actor, dict) and actor.get("ip"):
        fields.append(("Actor", f"{actor.get('ip')} {actor.get('country') or ''}".strip()))
    return [{"type": "mrkdwn", "text": f"*{name}*\n{mrkdwn(value, 200)}"} for name, value in fields]


def prompt(approval: ApprovalRecord, run: RunRecord, change: dict[str, Any] | None) -> tuple[str, list[dict[str, Any]]]:
    """The approval request: what happened, what the step will change, who may decide, two buttons."""
    plan = change or approval.plan or {}
    severity = str((run.finding or {}).get("severity_label") or "").lower()
    icon = _SEVERITY_ICON.get(severity, ":white_circle:")
    # the top-level text is mrkdwn too (it is what notifications show): escaped like the blocks
    fallback = (f"Approval needed: step {mrkdwn(approval.step_id, 60)} of {mrkdwn(run.playbook_id, 60)} — "
                f"{mrkdwn(plan.get('summary'), 200)}")
    value = json.dumps({"run_id": approval.run_id, "step_id": approval.step_id})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(f"Approval needed: {approval.step_id}", 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{mrkdwn(run.playbook_id, 80)}* · run "
                                     f"`{mrkdwn(run.run_id, 40)}`"},
         "fields": _finding_fields(run)},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"*This step will:* {mrkdwn(plan.get('summary'), 500)}"}},
    ]
    if plan.get("before") or plan.get("after"):
        state = json.dumps({"before": plan.get("before"), "after": plan.get("after")}, indent=1, default=str)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": code(state, 2500)}})
    context = f"Who may decide: {_who(approval)}"
    if approval.timeout_at:
        context += f" · by {mrkdwn(approval.timeout_at, 40)}, else *{mrkdwn(approval.on_timeout, 20)}*"
        if approval.on_timeout == "escalate" and approval.escalate_to:
            context += " to " + ", ".join(f"<!subteam^{g}>" if _is_id(g, "S") else mrkdwn(g, 40)
                                          for g in approval.escalate_to)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    blocks.append({"type": "actions", "block_id": "responder_decision", "elements": [
        {"type": "button", "action_id": APPROVE, "style": "primary", "value": value,
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": DENY, "style": "danger", "value": value,
         "text": {"type": "plain_text", "text": "Deny"},
         "confirm": {"title": {"type": "plain_text", "text": "Deny this step?"},
                     "text": {"type": "plain_text", "text": "The run continues without it."},
                     "confirm": {"type": "plain_text", "text": "Deny"},
                     "deny": {"type": "plain_text", "text": "Cancel"}}},
    ]})
    return fallback, blocks


def decided(approval: ApprovalRecord, blocks: list[dict[str, Any]] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The prompt after the decision: buttons replaced by who decided, when, how and why."""
    verb = "Approved" if approval.state == "approved" else "Denied"
    by = approval.decided_by or "?"
    who = f"<@{by}>" if _is_id(by, "UW") else mrkdwn(by, 80)
    line = f"*{verb}* by {who} at {mrkdwn(approval.decided_at, 40)} via {mrkdwn(approval.via, 20)}"
    if approval.reason:
        line += f": {mrkdwn(approval.reason, 300)}"
    kept = [b for b in (blocks or []) if b.get("type") != "actions"]
    if not kept:
        kept = [{"type": "section", "text": {"type": "mrkdwn",
                                             "text": f"Step `{mrkdwn(approval.step_id, 60)}` of run "
                                                     f"`{mrkdwn(approval.run_id, 40)}`"}}]
    text = f"{verb}: step {mrkdwn(approval.step_id, 60)} by {mrkdwn(by, 80)}"
    return text, [*kept, {"type": "section", "block_id": "responder_decided", "text": {"type": "mrkdwn", "text": line}}]


def progress_line(kind: str, step_id: str | None, data: dict[str, Any]) -> str | None:
    """One thread reply per engine event worth a person's attention."""
    step = f"`{mrkdwn(step_id, 60)}`" if step_id else ""
    if kind == "step_finished":
        state = data.get("state", "?")
        icon = {"succeeded": ":white_check_mark:", "failed": ":x:", "denied": ":no_entry:",
                "planned": ":memo:"}.get(str(state), ":grey_question:")
        detail = data.get("error") or data.get("summary") or ""
        return f"{icon} {step} {mrkdwn(state, 20)}: {mrkdwn(detail, 300)}"
    if kind == "step_waiting":
        return f":hourglass: {step} waiting for approval: {mrkdwn(data.get('summary'), 300)}"
    if kind == "run_finished":
        return f":checkered_flag: run {mrkdwn(data.get('status'), 20)}"
    return None
