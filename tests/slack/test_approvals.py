"""The approval prompt reaches Slack (the local double) through slack-sdk, escaped and complete."""

from __future__ import annotations

import json
import re

import pytest

from responder import lambda_handler
from responder.config import load_settings
from responder.slack.approvals import SlackApprover, notifiers_from_settings
from tests.approval_drill import Drill
from tests.slack_double import SlackDouble

OURS = re.compile(r"<(@U0APPROVER|!subteam\^S0ONCALL)>")


def _everything(call: dict) -> str:
    return json.dumps(call, ensure_ascii=False)


def test_prompt_posted_with_plan_and_buttons(drill: Drill) -> None:
    out = lambda_handler.on_event(drill.event)
    assert out["results"][0]["status"] == "waiting"
    (post,) = drill.slack.of("chat.postMessage")
    assert post["channel"] == "C0INCIDENT"
    blocks = post["blocks"]
    text = _everything(post)
    assert "UnauthorizedAccess:IAMUser/TorIPCaller" in text and "medium 5" in text
    assert "attach deny-all policy responder-quarantine to user GeneratedFindingUserName" in text  # from plan
    actions = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == ["responder_approve", "responder_deny"]
    assert json.loads(actions[0]["value"]) == {"run_id": out["results"][0]["run_id"], "step_id": "quarantine_user"}
    assert "<@U0APPROVER>" in text and "<!subteam^S0ONCALL>" in text
    store = lambda_handler._wired()["engine"].store
    approval = store.get_approval(out["results"][0]["run_id"], "quarantine_user")
    assert approval.message["ts"] and approval.message["channel"] == "C0INCIDENT"


def test_finding_text_is_escaped(drill: Drill) -> None:
    """Every string of the event is attacker data; inject Slack control sequences into several."""
    hostile = "<!channel> <https://evil.example|login> @here &"
    event = drill.event
    event["detail"]["type"] = "UnauthorizedAccess:IAMUser/TorIPCaller" + hostile
    event["detail"]["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]["ipAddressV4"] = hostile
    event["detail"]["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]["country"]["countryName"] = hostile
    lambda_handler.on_event(event)
    (post,) = drill.slack.of("chat.postMessage")
    text = OURS.sub("", _everything(post))
    assert "<" not in text and ">" not in text, text
    assert "@here" not in text and "&lt;!channel&gt;" in text


def test_no_notifier_without_channel_or_token(monkeypatch: pytest.MonkeyPatch, slack: SlackDouble) -> None:
    for key in ("SLACK_CHANNEL", "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN_SECRET"):
        monkeypatch.delenv(key, raising=False)
    assert notifiers_from_settings(load_settings()) == []
    monkeypatch.setenv("SLACK_CHANNEL", "C1")
    assert notifiers_from_settings(load_settings()) == []
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    (notifier,) = notifiers_from_settings(load_settings())
    assert isinstance(notifier, SlackApprover) and notifier.channel == "C1"


def test_token_from_secrets_manager(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, slack: SlackDouble) -> None:
    import boto3

    from responder.slack import client as slack_client

    boto3.client("secretsmanager").create_secret(Name="responder/slack-bot", SecretString=slack.token)
    monkeypatch.setenv("SLACK_BOT_TOKEN_SECRET", "responder/slack-bot")
    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    slack_client._secret.cache_clear()
    web = slack_client.web_client(load_settings())
    assert web.auth_test()["ok"] is True
    slack_client._secret.cache_clear()


def test_decision_elsewhere_updates_the_prompt(drill: Drill) -> None:
    """``responder approve`` (or any other channel) decides; the Slack prompt then says who and why."""
    from responder.slack.approvals import announce_decision

    run_id = lambda_handler.on_event(drill.event)["results"][0]["run_id"]
    store = lambda_handler._wired()["engine"].store
    decided, won = store.decide(run_id, "quarantine_user", approved=False, by="alice <!channel>",
                                reason="false positive: pentest <https://x.example|ticket>",
                                at=lambda_handler._wired()["engine"].clock.now(), via="cli")
    assert won and announce_decision(load_settings(), decided)
    (update,) = drill.slack.of("chat.update")
    line = update["blocks"][-1]["text"]["text"]
    assert line.startswith("*Denied* by alice &lt;!channel&gt;") and "via cli" in line
    assert "&lt;https://x.example|ticket&gt;" in line
    assert "<" not in OURS.sub("", json.dumps(update))
