"""Slack interactions (Approve / Deny clicks): verify, authorise, decide once, update the message.

Order matters, and each check refuses before anything is recorded:

1. the signature: ``X-Slack-Signature`` over the *raw* body with the signing secret, and
   ``X-Slack-Request-Timestamp`` younger than five minutes (slack-sdk's ``SignatureVerifier``);
2. replay: each signed request is accepted once (its signature is claimed in the store with a
   conditional write), so a captured request re-sent inside the five minutes is refused;
3. the approval exists, is still pending and not past its timeout (the sweep applies the default);
4. the clicking user is allowed: a listed Slack user id, or a member of a listed user group
   (``usergroups.users.list``, cached for a minute) — never the ``username``/``name`` the payload carries;
5. ``record_decision`` (the one decide path, shared with the CLI and the timeout) records exactly one
   decision; a second click gets the first decision back.

The caller answers Slack at once and resumes the run elsewhere (Slack waits only 3 seconds).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from ..clock import iso
from ..engine.approvals import record_decision
from ..state.base import RunStore
from ..state.records import ApprovalRecord, ApprovalState
from . import messages

FRESHNESS_S = 5 * 60


@dataclass
class Reply:
    """What to answer Slack, and what happened (for the caller that resumes the run)."""

    status: int
    text: str
    run_id: str | None = None
    step_id: str | None = None
    applied: bool = False
    approval: ApprovalRecord | None = None
    message: dict[str, Any] = field(default_factory=dict)

    def body(self) -> str:
        return json.dumps({"response_type": "ephemeral", "replace_original": False, "text": self.text})


class GroupMembers:
    """Members of Slack user groups, through ``usergroups.users.list``, cached briefly."""

    def __init__(self, client: Any, ttl: float = 60.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def __call__(self, group: str) -> frozenset[str]:
        hit = self._cache.get(group)
        now = self._monotonic()
        if hit and hit[0] > now:
            return hit[1]
        out = self.client.usergroups_users_list(usergroup=group)
        members = frozenset(str(u) for u in out.get("users") or [])
        self._cache[group] = (now + self.ttl, members)
        return members


def verify(body: bytes, headers: Mapping[str, str], secret: str, now: datetime) -> bool:
    """Slack's signature over the raw body, and a timestamp within five minutes of ``now``."""
    from slack_sdk.signature import SignatureVerifier

    class _At:
        def now(self) -> float:
            return now.timestamp()

    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        return SignatureVerifier(secret, clock=_At()).is_valid(  # type: ignore[arg-type]
            body, lowered.get("x-slack-request-timestamp"), lowered.get("x-slack-signature")
        )
    except (ValueError, TypeError):  # a non-numeric timestamp
        return False


def parse(body: bytes) -> dict[str, Any]:
    """The ``payload`` form field of an interaction request, as JSON."""
    form = parse_qs(body.decode("utf-8", errors="replace"))
    raw = (form.get("payload") or [""])[0]
    data = json.loads(raw) if raw else {}
    return data if isinstance(data, dict) else {}


def _action(payload: dict[str, Any]) -> tuple[bool, str, str] | None:
    for action in payload.get("actions") or []:
        if not isinstance(action, dict) or action.get("action_id") not in (messages.APPROVE, messages.DENY):
            continue
        try:
            value = json.loads(action.get("value") or "{}")
        except json.JSONDecodeError:
            return None
        if isinstance(value, dict) and isinstance(value.get("run_id"), str) and isinstance(value.get("step_id"), str):
            return action["action_id"] == messages.APPROVE, value["run_id"], value["step_id"]
    return None


def allowed(approval: ApprovalRecord, user: dict[str, Any], members: Callable[[str], frozenset[str]]) -> bool:
    """No list means the channel is the boundary; otherwise the user's id or one of their groups must be listed.

    Only the Slack user id counts. ``username`` and ``name`` in the payload are display data a workspace
    member can set to anything (including another person's id), so they never authorise a decision.
    """
    if not approval.allowed_users and not approval.allowed_groups:
        return True
    user_id = user.get("id")
    if not isinstance(user_id, str) or not user_id:
        return False
    if user_id in approval.allowed_users:
        return True
    return any(user_id in members(group) for group in approval.allowed_groups)


def handle(
    body: bytes,
    headers: Mapping[str, str],
    *,
    store: RunStore,
    secret: str,
    now: datetime,
    client: Any = None,
    members: Callable[[str], frozenset[str]] | None = None,
) -> Reply:
    """Verify and record one click. Never raises for bad input: it answers with a status."""
    if not verify(body, headers, secret, now):
        return Reply(401, "invalid or stale Slack signature")
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    nonce = hashlib.sha256(
        f"{lowered.get('x-slack-request-timestamp')}:{lowered.get('x-slack-signature')}".encode()
    ).hexdigest()
    first = {"at": iso(now), "token": uuid.uuid4().hex}
    if store.put_item("slack-request", nonce, first, overwrite=False).get("token") != first["token"]:
        return Reply(409, "this request was already received (replay refused)")
    try:
        payload = parse(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return Reply(400, "unreadable payload")
    picked = _action(payload)
    if picked is None:
        return Reply(400, "not a responder approval action")
    approve, run_id, step_id = picked
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    user_id = str(user.get("id") or "")
    approval = store.get_approval(run_id, step_id)
    if approval is None or not user_id:
        return Reply(404, "no such approval request", run_id, step_id)
    if approval.state != ApprovalState.PENDING:
        return Reply(
            200,
            f"already {approval.state.value} by {approval.decided_by}",
            run_id,
            step_id,
            approval=approval,
            message=approval.message,
        )
    if approval.timeout_at and approval.timeout_at <= (iso(now) or ""):
        return Reply(
            410,
            f"this request timed out at {approval.timeout_at}; its default ({approval.on_timeout}) applies",
            run_id,
            step_id,
            approval=approval,
        )
    members = members or GroupMembers(client)
    if not allowed(approval, user, members):
        store.audit(
            run_id,
            now,
            "approval_refused",
            actor=f"slack:{user_id}",
            step=step_id,
            reason="user not in the allowed users or groups",
        )
        return Reply(403, "you are not among the approvers of this step", run_id, step_id, approval=approval)
    name = str(user.get("username") or user.get("name") or user_id)[:80]
    decided, won = record_decision(
        store,
        run_id,
        step_id,
        approved=approve,
        by=user_id,
        reason=f"{'approved' if approve else 'denied'} in Slack by {name}",
        via="slack",
        at=now,
    )
    if won and client is not None:
        update_message(client, decided)
    text = (
        f"{decided.state.value}: the run resumes"
        if won
        else f"already {decided.state.value} by {decided.decided_by}; nothing changed"
    )
    return Reply(200, text, run_id, step_id, applied=won, approval=decided, message=decided.message)


def update_message(client: Any, approval: ApprovalRecord) -> None:
    """Replace the buttons with who decided, when, how and why (the prompt stays readable)."""
    ref = approval.message or {}
    if not ref.get("channel") or not ref.get("ts"):
        return
    text, blocks = messages.decided(approval, ref.get("blocks"))
    client.chat_update(channel=ref["channel"], ts=ref["ts"], text=text, blocks=blocks)
