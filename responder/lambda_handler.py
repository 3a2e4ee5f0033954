"""Lambda entry points: EventBridge findings, Slack interactions, and the schedule.

* ``on_event``   — GuardDuty / Security Hub (ASFF and OCSF) / custom-bus events → the same
  ``Finding → Run`` path as the CLI. EventBridge delivers at least once and GuardDuty re-publishes
  aggregated findings: both join the existing run (deterministic run id + conditional write) and
  every new version of the finding is kept. Archived/suppressed findings are recorded, not run.
* ``on_slack``   — a function URL (payload format 2.0) for Slack's Approve / Deny clicks: verify,
  record the decision, answer within Slack's 3 seconds, and resume the run *asynchronously* by
  invoking this function again with ``InvocationType=Event`` (``{"responder": "resume", ...}``).
* ``on_schedule`` — approval timeouts (the declared default: approve, deny or escalate) and
  regulatory deadline reminders.

Cold start stays light: this module imports only the standard library at import time. The engine
(with Jinja2), slack-sdk, boto3 and the findings adapters are imported inside the functions; a test
imports this module in a fresh interpreter and checks that pandas, duckdb, jinja2, kubernetes and
slack_sdk are absent from ``sys.modules``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from typing import Any

log = logging.getLogger("responder")

RESUME = "resume"
_CACHE: dict[str, Any] = {}


def _env_key() -> tuple[str | None, ...]:
    names = ("RESPONDER_HOME", "RESPONDER_STORE", "RESPONDER_EVIDENCE", "RESPONDER_CONFIG", "RESPONDER_POSTURE",
             "RESPONDER_ROLE_NAME", "RESPONDER_EXTERNAL_ID", "RESPONDER_PLAYBOOKS", "AWS_ENDPOINT_URL",
             "AWS_ACCESS_KEY_ID", "SLACK_API_URL", "SLACK_CHANNEL", "SLACK_BOT_TOKEN")
    return tuple(os.environ.get(n) for n in names)


def _wired() -> dict[str, Any]:
    """Settings and the respond service, built once per warm container (rebuilt if the environment changes)."""
    key = _env_key()
    if _CACHE.get("key") != key:
        from .app import build_responder
        from .config import load_settings

        settings = load_settings()
        service = build_responder(settings, via="lambda", aws=_aws_access(settings))
        _CACHE.clear()
        _CACHE.update(key=key, settings=settings, service=service, engine=service.engine, playbooks=service.playbooks)
    return _CACHE


def _aws_access(settings: Any) -> Any:
    """AWS clients for unattended bursts. Throttled calls are retried per call, with jittered backoff and
    a bound, by the one retry layer every client has (``responder.aws.retry``): retrying the one call is
    far cheaper than re-running an action's ten calls, and nothing retries a second time on top.
    """
    from .aws.sessions import AwsAccess

    return AwsAccess(settings.aws)


def reset() -> None:
    """Forget the warm engine (tests; a new deployment gets a new container anyway)."""
    _CACHE.clear()


def _slack() -> tuple[Any, str | None]:
    from .slack import client as slack_client

    settings = _wired()["settings"]
    if "slack" not in _CACHE:
        _CACHE["slack"] = slack_client.web_client(settings)
    return _CACHE["slack"], slack_client.channel(settings)


# ---------------------------------------------------------------------------------------------- events
def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Run (or join) every matching playbook for the findings in one EventBridge event.

    An event that cannot be parsed is logged and answered ``{"ok": false}``, never raised: raising would
    make Lambda retry an event that can never parse. Errors of AWS or the store do raise, so Lambda's
    retry and the DLQ apply.
    """
    from .errors import BadInput

    name = str(event.get("id") or "event") if isinstance(event, dict) else "event"
    try:
        from .findings import parse_event

        findings = parse_event(event, name)
    except (BadInput, ValueError, TypeError, RecursionError) as exc:
        log.warning("unreadable event %s: %s", name, exc)
        return {"ok": False, "error": str(exc)[:1000], "results": []}
    service = _wired()["service"]
    results: list[dict[str, Any]] = []
    for finding in findings:
        for result in service.respond_one(finding):
            result = service.settle(result, attempts=int(os.environ.get("RESPONDER_TRANSIENT_RESUMES", "2")))
            # a sequence's child answers its own (child) finding, linked to the incident's run
            results.append({"finding_id": result.finding_id or finding.id, "run_id": result.run_id,
                            "playbook": result.playbook, "status": result.status, "created": result.created,
                            "joined": result.joined, "waiting_for": result.waiting_for, "message": result.message,
                            "parent_run_id": getattr(result, "parent_run_id", None),
                            "incident": getattr(result, "incident", None)})
            if result.status == "planned" and result.created:
                _post_plan(result.run_id)
    return {"ok": True, "results": results}


def _post_plan(run_id: str) -> None:
    """Posture dry-run: the plan goes to Slack, since nobody is watching a terminal."""
    try:
        client, channel = _slack()
        if client is None or not channel:
            return
        from .slack.approvals import post_plan

        store = _wired()["engine"].store
        run = store.get_run(run_id)
        if run is not None:
            ref = post_plan(client, channel, run, store.steps(run_id))
            store.update_run(run_id, extra={"slack_plan": ref})
    except Exception as exc:  # posting is a courtesy; the run is recorded either way
        log.warning("could not post the plan of %s to Slack: %s", run_id, exc)


# ---------------------------------------------------------------------------------------------- slack
def on_slack(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Function URL for Slack interactions; also receives this function's own resume invocations."""
    if event.get("responder") == RESUME:
        return _resume(str(event.get("run_id")), event.get("step_id"))
    from .clock import SystemClock
    from .slack import client as slack_client
    from .slack import interactions

    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    headers = event.get("headers") or {}
    wired = _wired()
    secret = slack_client.signing_secret(wired["settings"])
    if not secret:
        log.error("no Slack signing secret configured (SLACK_SIGNING_SECRET or SLACK_SIGNING_SECRET_ID)")
        return _http(500, json.dumps({"text": "responder is not configured for Slack"}))
    client, _ = _slack()
    engine = wired["engine"]
    reply = interactions.handle(raw, headers, store=engine.store, secret=secret, now=SystemClock().now(),
                                client=client, members=_members(client))
    if reply.applied and reply.run_id:
        _resume_later(reply.run_id, reply.step_id, context)
    return _http(reply.status, reply.body())


def _members(client: Any) -> Any:
    """One user-group cache per warm container, so repeated clicks don't call Slack each time."""
    from .slack.interactions import GroupMembers

    cached = _CACHE.get("members")
    if cached is None or cached.client is not client:
        cached = _CACHE["members"] = GroupMembers(client)
    return cached


def _http(status: int, body: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": body}


def _resume_later(run_id: str, step_id: str | None, context: Any) -> None:
    """Slack waits 3 s: hand the resume to another invocation of this function (or do it inline).

    ``RESPONDER_RESUME=inline`` resumes in this process (the sandbox and tests); the default in Lambda
    invokes ``RESPONDER_RESUME_FUNCTION`` or this very function with ``InvocationType=Event``.
    """
    target = os.environ.get("RESPONDER_RESUME_FUNCTION") or getattr(context, "invoked_function_arn", None)
    if os.environ.get("RESPONDER_RESUME", "lambda" if target else "inline") == "inline" or not target:
        _resume(run_id, step_id)
        return
    import boto3

    boto3.client("lambda").invoke(FunctionName=target, InvocationType="Event",
                                  Payload=json.dumps({"responder": RESUME, "run_id": run_id,
                                                      "step_id": step_id}).encode())


def _resume(run_id: str, step_id: str | None) -> dict[str, Any]:
    """Continue the run after a decision; progress goes to the approval message's thread."""
    from .errors import BadInput

    service = _wired()["service"]
    engine = service.engine
    observer = _thread_observer(run_id, step_id)
    previous = engine.observer
    if observer is not None:
        engine.observer = observer
    try:
        result = service.resume(run_id)
    except BadInput as exc:
        return {"ok": False, "error": exc.message}
    finally:
        engine.observer = previous
    return {"ok": True, "run_id": run_id, "status": result.status, "waiting_for": result.waiting_for}


def _thread_observer(run_id: str, step_id: str | None) -> Any:
    client, _ = _slack()
    if client is None or not step_id:
        return None
    approval = _wired()["engine"].store.get_approval(run_id, step_id)
    ref = approval.message if approval else {}
    if not ref.get("channel") or not ref.get("ts"):
        return None
    from .slack.approvals import ThreadProgress

    progress = ThreadProgress(client, ref["channel"], ref["ts"])

    def observe(event: Any) -> None:
        try:
            progress(event)
        except Exception as exc:  # Slack being down must not stop a response
            log.warning("progress post failed: %s", exc)

    return observe


# ---------------------------------------------------------------------------------------------- schedule
def on_schedule(event: dict[str, Any] | None = None, context: Any = None) -> dict[str, Any]:
    """Apply the declared default to approvals past their timeout, then post deadline reminders."""
    wired = _wired()
    engine = wired["engine"]
    now = engine.clock.now()
    from .clock import iso

    swept: list[dict[str, Any]] = []
    for approval in engine.store.pending_approvals():
        if not approval.timeout_at or approval.timeout_at > (iso(now) or ""):
            continue
        outcome = _resume(approval.run_id, approval.step_id)
        after = engine.store.get_approval(approval.run_id, approval.step_id)
        if after is not None and after.state != "pending":
            _announce_decision(after)
        swept.append({"run_id": approval.run_id, "step_id": approval.step_id,
                      "decision": after.state.value if after else None, "status": outcome.get("status")})
    return {"ok": True, "approvals": swept, "reminders": _reminders(now)}


def _announce_decision(approval: Any) -> None:
    client, _ = _slack()
    if client is None:
        return
    from .slack.interactions import update_message

    try:
        update_message(client, approval)
    except Exception as exc:
        log.warning("could not update the approval message: %s", exc)


def _reminders(now: Any) -> int:
    """Deadline reminders (the notify subsystem owns the clocks)."""
    from .notify.clocks import reminders

    due = reminders(_wired()["engine"].store, now)
    client, channel = _slack()
    if due and client is not None and channel:
        from .slack.escape import mrkdwn

        lines = [f"• {mrkdwn(c.get('regime'), 60)} for run `{mrkdwn(c.get('run_id'), 40)}`: due "
                 f"{mrkdwn(c.get('due'), 40)}" for c in due[:30]]
        try:
            client.chat_postMessage(channel=channel, text="Notification deadlines due soon:\n" + "\n".join(lines),
                                    unfurl_links=False, unfurl_media=False)
        except Exception as exc:
            log.warning("could not post reminders: %s", exc)
    return len(due)
