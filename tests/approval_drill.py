"""An approval drill on real parts: moto over HTTP, the Slack double, SQLite, a test playbook.

The finding is a GuardDuty ``UnauthorizedAccess:IAMUser/TorIPCaller`` EventBridge event (a sample finding:
tests/fixtures/guardduty/iam-tor-ipcaller-sample-eventbridge.json, basis in SOURCES.md there). Its account
(444455556666) is not responder's own, so runs take the cross-account path (assume ``ResponderRole`` with an
ExternalId), as in production.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from responder.findings import parse_event
from responder.findings.model import Finding
from responder.sandbox import Sandbox, sandbox_account, seed
from tests.conftest import FIXTURES
from tests.slack_double import SlackDouble

PLAYBOOKS = Path(__file__).resolve().parent / "slack" / "playbooks"
TOR_EVENT = FIXTURES / "guardduty" / "iam-tor-ipcaller-sample-eventbridge.json"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the example signing secret of Slack's docs
APPROVER, ONCALL, STRANGER = "U0APPROVER", "U0ONCALL", "U0STRANGER"


@dataclass
class Drill:
    slack: SlackDouble
    event: dict[str, Any]
    finding: Finding
    box: Sandbox


def tor_event() -> dict[str, Any]:
    return json.loads(TOR_EVENT.read_text())


def start(monkeypatch: pytest.MonkeyPatch, endpoint: str, slack: SlackDouble, *,
          playbooks: Path = PLAYBOOKS, posture: str | None = None) -> Drill:
    """Point responder at moto and the Slack double through its ordinary environment variables."""
    for key, value in {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.base_url, "SLACK_CHANNEL": "C0INCIDENT",
                       "SLACK_SIGNING_SECRET": SECRET, "RESPONDER_PLAYBOOKS": str(playbooks),
                       "RESPONDER_ROLE_NAME": "ResponderRole", "RESPONDER_EXTERNAL_ID": "responder-test",
                       "RESPONDER_RESUME": "inline"}.items():
        monkeypatch.setenv(key, value)
    if posture:
        monkeypatch.setenv("RESPONDER_POSTURE", posture)
    event = tor_event()
    finding = parse_event(json.loads(json.dumps(event)), "tor")[0]
    box = Sandbox(endpoint=endpoint, account_id=sandbox_account(finding), region=finding.region or "us-east-1")
    seed(box, finding)
    from responder import lambda_handler

    lambda_handler.reset()
    return Drill(slack=slack, event=event, finding=finding, box=box)


def user_policies(drill: Drill) -> list[str]:
    iam = drill.box.client("iam")
    return sorted(iam.list_user_policies(UserName=drill.finding.resource.user_name)["PolicyNames"])  # type: ignore[union-attr]
