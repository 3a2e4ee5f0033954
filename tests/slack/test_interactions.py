"""Slack clicks: only signed, fresh, first-time requests from allowed people decide, and only once."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from responder import lambda_handler
from responder.clock import iso
from responder.slack.interactions import GroupMembers, handle
from tests.approval_drill import APPROVER, ONCALL, SECRET, STRANGER, Drill, user_policies
from tests.slack_double import click_body, sign


def _waiting(drill: Drill) -> str:
    out = lambda_handler.on_event(drill.event)
    assert out["results"][0]["status"] == "waiting"
    return out["results"][0]["run_id"]


def _click(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return lambda_handler.on_slack(
        {
            "version": "2.0",
            "rawPath": "/",
            "body": body.decode(),
            "headers": {k.lower(): v for k, v in headers.items()},
            "isBase64Encoded": False,
            "requestContext": {"http": {"method": "POST"}},
        }
    )


def _store() -> Any:
    return lambda_handler._wired()["engine"].store


def test_signed_click_approves_updates_message_and_resumes(drill: Drill) -> None:
    run_id = _waiting(drill)
    body = click_body(run_id, "quarantine_user", user_id=APPROVER)
    reply = _click(body, sign(body, SECRET))
    assert reply["statusCode"] == 200 and "approved" in reply["body"]
    (update,) = drill.slack.of("chat.update")
    decided = update["blocks"][-1]["text"]["text"]
    assert "*Approved* by <@U0APPROVER>" in decided and "via slack" in decided
    assert not any(b["type"] == "actions" for b in update["blocks"])  # buttons gone
    assert _store().get_run(run_id).status == "succeeded"
    assert "responder-quarantine" in user_policies(drill)
    thread = [p for p in drill.slack.of("chat.postMessage") if p.get("thread_ts")]
    assert thread and all(p["thread_ts"] == update["ts"] for p in thread)
    assert "run succeeded" in thread[-1]["text"]


def test_base64_body_from_function_url(drill: Drill) -> None:
    import base64

    run_id = _waiting(drill)
    body = click_body(run_id, "quarantine_user", approve=False, user_id=APPROVER)
    headers = {k.lower(): v for k, v in sign(body, SECRET).items()}
    reply = lambda_handler.on_slack(
        {"body": base64.b64encode(body).decode(), "isBase64Encoded": True, "headers": headers}
    )
    assert reply["statusCode"] == 200
    assert _store().get_approval(run_id, "quarantine_user").state == "denied"
    assert "responder-quarantine" not in user_policies(drill)
    assert [s.state.value for s in _store().steps(run_id)][2] == "denied"


@pytest.mark.parametrize("tamper", ["forged", "wrong-secret", "stale", "future", "no-headers", "bad-ts"])
def test_unverified_requests_refused(drill: Drill, tamper: str) -> None:
    run_id = _waiting(drill)
    body = click_body(run_id, "quarantine_user", user_id=APPROVER)
    headers = sign(body, SECRET)
    if tamper == "forged":  # body changed after signing (another user id)
        body = click_body(run_id, "quarantine_user", user_id=STRANGER)
    elif tamper == "wrong-secret":
        headers = sign(body, "not-the-secret")
    elif tamper == "stale":
        headers = sign(body, SECRET, int(time.time()) - 6 * 60)
    elif tamper == "future":
        headers = sign(body, SECRET, int(time.time()) + 6 * 60)
    elif tamper == "no-headers":
        headers = {}
    elif tamper == "bad-ts":
        headers = {**headers, "X-Slack-Request-Timestamp": "yesterday"}
    reply = _click(body, headers)
    assert reply["statusCode"] == 401
    assert _store().get_approval(run_id, "quarantine_user").state == "pending"
    assert drill.slack.of("chat.update") == []


def test_replayed_request_refused(drill: Drill) -> None:
    run_id = _waiting(drill)
    deny = click_body(run_id, "quarantine_user", approve=False, user_id=ONCALL)
    headers = sign(deny, SECRET)
    assert _click(deny, headers)["statusCode"] == 200
    replay = _click(deny, headers)
    assert replay["statusCode"] == 409 and "replay" in replay["body"]
    assert len(drill.slack.of("chat.update")) == 1


def test_wrong_user_refused_group_member_allowed(drill: Drill) -> None:
    run_id = _waiting(drill)
    body = click_body(run_id, "quarantine_user", user_id=STRANGER, username="mallory")
    reply = _click(body, sign(body, SECRET))
    assert reply["statusCode"] == 403
    assert _store().get_approval(run_id, "quarantine_user").state == "pending"
    assert any(e["event"] == "approval_refused" for e in _store().audit_log(run_id))
    body = click_body(run_id, "quarantine_user", user_id=ONCALL, username="oncall")  # member of S0ONCALL
    assert _click(body, sign(body, SECRET))["statusCode"] == 200
    approval = _store().get_approval(run_id, "quarantine_user")
    assert approval.state == "approved" and approval.decided_by == ONCALL
    assert [p["usergroup"] for p in drill.slack.of("usergroups.users.list")] == ["S0ONCALL"]  # cached


def test_approver_matched_by_id_never_by_the_name_the_payload_carries(drill: Drill) -> None:
    """A validly signed click from a stranger who set their username/name to the approver's id is refused."""
    run_id = _waiting(drill)
    body = click_body(run_id, "quarantine_user", user_id=STRANGER, username=APPROVER)
    reply = _click(body, sign(body, SECRET))
    assert reply["statusCode"] == 403
    assert _store().get_approval(run_id, "quarantine_user").state == "pending"
    refused = [e for e in _store().audit_log(run_id) if e["event"] == "approval_refused"]
    assert refused and refused[0]["actor"] == f"slack:{STRANGER}"
    assert "responder-quarantine" not in user_policies(drill)
    body = click_body(run_id, "quarantine_user", user_id=APPROVER, username="someone-else")  # the id decides
    assert _click(body, sign(body, SECRET))["statusCode"] == 200
    assert _store().get_approval(run_id, "quarantine_user").decided_by == APPROVER


def test_group_members_cached_briefly(slack: Any) -> None:
    from slack_sdk import WebClient

    clock = [0.0]
    members = GroupMembers(WebClient(token=slack.token, base_url=slack.base_url), ttl=60, monotonic=lambda: clock[0])
    assert members("S0ONCALL") == {ONCALL}
    assert members("S0ONCALL") == {ONCALL}
    assert len(slack.of("usergroups.users.list")) == 1
    clock[0] = 61
    members("S0ONCALL")
    assert len(slack.of("usergroups.users.list")) == 2


def test_two_concurrent_approvals_exactly_one_applied(drill: Drill) -> None:
    """Two people click at once (different signed requests): one decision, one containment."""
    run_id = _waiting(drill)
    store = _store()
    bodies = [
        click_body(run_id, "quarantine_user", user_id=APPROVER),
        click_body(run_id, "quarantine_user", approve=False, user_id=ONCALL, username="oncall"),
    ]
    barrier = threading.Barrier(2)
    replies: list[Any] = [None, None]

    def click(i: int) -> None:
        barrier.wait()
        replies[i] = handle(
            bodies[i],
            sign(bodies[i], SECRET),
            store=store,
            secret=SECRET,
            now=lambda_handler._wired()["engine"].clock.now(),
            client=None,
            members=lambda group: frozenset({ONCALL}),
        )

    threads = [threading.Thread(target=click, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.applied for r in replies) == [False, True]
    winner = next(r for r in replies if r.applied)
    loser = next(r for r in replies if not r.applied)
    assert "already" in loser.text
    # both try to resume, as two Lambdas would (each its own engine and lease owner): one runs the step
    from responder.app import build_engine
    from responder.config import load_settings

    loaded = lambda_handler._wired()["playbooks"][0]
    engines = [build_engine(load_settings()) for _ in range(2)]
    results: list[Any] = []
    resumers = [threading.Thread(target=lambda e=e: results.append(e.resume(run_id, loaded))) for e in engines]
    for t in resumers:
        t.start()
    for t in resumers:
        t.join(60)
    step = store.get_step(run_id, "quarantine_user")
    assert step.state.value == ("succeeded" if winner.approval.state == "approved" else "denied")
    assert step.attempts <= 1
    assert len(
        [e for e in store.audit_log(run_id) if e["event"] == "step_applied" and e.get("step") == "quarantine_user"]
    ) == (1 if winner.approval.state == "approved" else 0)
    assert lambda_handler._resume(run_id, None)["status"] in ("succeeded", "failed")


def test_click_after_timeout_refused_and_sweep_applies_default(drill: Drill) -> None:
    run_id = _waiting(drill)
    store = _store()
    past = iso(lambda_handler._wired()["engine"].clock.now() - timedelta(seconds=1))
    store.update_approval(run_id, "quarantine_user", timeout_at=past)  # the 30 minutes have passed
    body = click_body(run_id, "quarantine_user", user_id=APPROVER)
    assert _click(body, sign(body, SECRET))["statusCode"] == 410
    swept = lambda_handler.on_schedule({"source": "aws.scheduler"})
    assert swept["approvals"] == [
        {"run_id": run_id, "step_id": "quarantine_user", "decision": "denied", "status": "succeeded"}
    ]
    approval = store.get_approval(run_id, "quarantine_user")
    assert approval.decided_by == "timeout" and approval.via == "timeout"
    assert "responder-quarantine" not in user_policies(drill)
    (update,) = drill.slack.of("chat.update")
    assert "*Denied* by timeout" in update["blocks"][-1]["text"]["text"]
    assert lambda_handler.on_schedule({})["approvals"] == []  # nothing left to sweep


def test_timeout_escalates_then_only_the_new_group_decides(
    moto_endpoint: str, slack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from tests.approval_drill import start

    drill = start(monkeypatch, moto_endpoint, slack, playbooks=Path(__file__).parent / "escalation")
    run_id = _waiting(drill)
    store = _store()
    now = lambda_handler._wired()["engine"].clock.now()  # the 30 minutes have passed:
    store.update_approval(
        run_id,
        "quarantine_user",
        requested_at=iso(now - timedelta(minutes=31)),
        timeout_at=iso(now - timedelta(minutes=1)),
    )
    swept = lambda_handler.on_schedule({})
    assert swept["approvals"][0]["decision"] == "pending"
    approval = store.get_approval(run_id, "quarantine_user")
    assert approval.allowed_groups == ["S0LEADS"] and approval.on_timeout == "deny"
    (update,) = slack.of("chat.update")  # the same prompt, now naming the leads
    assert "<!subteam^S0LEADS>" in json.dumps(update["blocks"])
    assert any("Escalated" in p["text"] for p in slack.of("chat.postMessage") if p.get("thread_ts"))
    body = click_body(run_id, "quarantine_user", user_id=ONCALL, username="oncall")  # no longer enough
    assert _click(body, sign(body, SECRET))["statusCode"] == 403
    body = click_body(run_id, "quarantine_user", user_id="U0LEAD", username="lead")
    assert _click(body, sign(body, SECRET))["statusCode"] == 200
    assert store.get_run(run_id).status == "succeeded"
