"""Post approval prompts to Slack: the engine's ``approval_notifier`` hook.

The engine persists the :class:`ApprovalRecord` first and then calls every notifier; what a notifier
returns (channel and message ``ts``) is stored on the record, so the decision can later update the
same message and the run's progress can go to its thread. A failed post never loses the request: the
engine records the failure and the CLI / timeout still decide it.
"""

from __future__ import annotations

from typing import Any

from ..actions.base import Change
from ..config import Settings
from ..engine.events import EngineEvent
from ..state.records import ApprovalRecord, RunRecord
from . import client as slack_client
from . import messages


class SlackApprover:
    """Posts (or, on escalation, refreshes) the Block Kit prompt for one approval request."""

    def __init__(self, client: Any, channel: str) -> None:
        self.client = client
        self.channel = channel

    def __call__(self, approval: ApprovalRecord, run: RunRecord, change: Change | None) -> dict[str, Any] | None:
        plan = change.model_dump(mode="json") if change is not None else approval.plan
        text, blocks = messages.prompt(approval, run, plan)
        ref = approval.message or {}
        if ref.get("ts") and ref.get("channel"):  # escalation: same message, new approvers
            self.client.chat_update(channel=ref["channel"], ts=ref["ts"], text=text, blocks=blocks)
            self.client.chat_postMessage(channel=ref["channel"], thread_ts=ref["ts"], text=(
                "Escalated: no answer in time; now asking " + messages._who(approval)))
            return dict(ref)
        out = self.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks,
                                           unfurl_links=False, unfurl_media=False)
        return {"via": "slack", "channel": out["channel"], "ts": out["ts"], "blocks": blocks}


class ThreadProgress:
    """An engine observer that posts step results to the approval message's thread."""

    def __init__(self, client: Any, channel: str, thread_ts: str) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts

    def __call__(self, event: EngineEvent) -> None:
        line = messages.progress_line(event.kind, event.step_id, event.data)
        if line:
            self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=line,
                                         unfurl_links=False, unfurl_media=False)


def post_plan(client: Any, channel: str, run: RunRecord, steps: list[Any]) -> dict[str, Any]:
    """Posture ``dry-run``: post what the run would have changed (nothing was)."""
    lines = [f"*Dry run* · {messages.mrkdwn(run.playbook_id, 80)} · run `{messages.mrkdwn(run.run_id, 40)}` "
             f"· {messages.mrkdwn((run.finding or {}).get('type'), 120)}: nothing was changed"]
    for step in steps:
        lines.append(f"• `{messages.mrkdwn(step.step_id, 60)}` {messages.mrkdwn(step.state.value, 20)}: "
                     f"{messages.mrkdwn(step.summary, 300)}")
    text = "\n".join(lines)[:3500]
    out = client.chat_postMessage(channel=channel, text=text, unfurl_links=False, unfurl_media=False,
                                  blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
    return {"channel": out["channel"], "ts": out["ts"]}


def notifiers_from_settings(settings: Settings) -> list[SlackApprover]:
    """The Slack notifier when a channel and a bot token are configured; none otherwise."""
    channel = slack_client.channel(settings)
    if not channel:
        return []
    web = slack_client.web_client(settings)
    return [SlackApprover(web, channel)] if web is not None else []


def announce_decision(settings: Settings, approval: ApprovalRecord) -> bool:
    """Update the prompt after a decision made elsewhere (CLI, timeout): who, when, how, why.

    For ``responder approve|deny``; never raises (Slack being down must not block a decision).
    """
    if not (approval.message or {}).get("ts"):
        return False
    try:
        web = slack_client.web_client(settings)
        if web is None:
            return False
        from .interactions import update_message

        update_message(web, approval)
        return True
    except Exception:
        return False


def post_triage(settings: Settings, run: RunRecord) -> dict[str, Any] | None:
    """A finding no playbook answers goes to the channel, with each playbook's reason (all escaped)."""
    channel = slack_client.channel(settings)
    web = slack_client.web_client(settings) if channel else None
    if web is None:
        return None
    finding = run.finding or {}
    lines = [
        f"*Needs triage* · {messages.mrkdwn(finding.get('type'), 120)} · severity "
        f"{messages.mrkdwn(finding.get('severity'), 10)} · account {messages.mrkdwn(run.account_id, 20)}: "
        f"no playbook answers it; the finding is kept as evidence in `{messages.mrkdwn(run.run_id, 40)}`"
    ]
    for playbook, reason in sorted((run.extra.get("declined") or {}).items())[:10]:
        lines.append(f"• {messages.mrkdwn(playbook, 60)}: {messages.mrkdwn(reason, 200)}")
    text = "\n".join(lines)[:3500]
    out = web.chat_postMessage(channel=channel, text=text, unfurl_links=False, unfurl_media=False,
                               blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
    return {"channel": out["channel"], "ts": out["ts"]}
