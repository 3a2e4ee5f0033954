"""Release undoes containment from recorded before-state, as recorded steps, refusing after drift."""

from __future__ import annotations

import boto3

from responder.engine.release import release
from tests.helpers import engine, finding_of, inline_policies, key_status, sample_event, seed_user, shipped


def _state() -> dict:
    iam = boto3.client("iam")
    return {
        "keys": {
            k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="ci-deploy")["AccessKeyMetadata"]
        },
        "policies": inline_policies("ci-deploy"),
        "tags": {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName="ci-deploy")["Tags"]},
    }


def test_release_restores_the_state_before_containment(moto_endpoint: str, responder_home) -> None:
    seed_user()
    before = _state()
    eng = engine()
    run = eng.run(shipped(), finding_of(sample_event()))
    assert _state() != before
    result = release(eng, run.run_id, options={"reenable_keys": True})
    released = {s["id"]: s for s in result.steps if s["id"].startswith("release:")}
    assert {"release:deactivate_key", "release:revoke_sessions", "release:quarantine_user", "release:tag_user"} <= set(
        released
    )
    assert all(s["status"] == "succeeded" for s in released.values()), released
    assert _state() == before
    again = release(eng, run.run_id, options={"reenable_keys": True})  # idempotent
    assert [s for s in again.steps if s["id"].startswith("release:")] == list(released.values())


def test_release_refuses_after_drift_naming_the_difference(moto_endpoint: str, responder_home) -> None:
    seed_user()
    eng = engine()
    run = eng.run(shipped(), finding_of(sample_event()))
    boto3.client("iam").tag_user(UserName="ci-deploy", Tags=[{"Key": "responder:incident", "Value": "someone"}])
    result = release(eng, run.run_id, step_id="tag_user")
    step = next(s for s in result.steps if s["id"] == "release:tag_user")
    assert step["status"] == "failed"
    assert "responder:incident" in step["error"] and "changed since" in step["error"]
    forced = release(eng, run.run_id, step_id="tag_user", force=True)
    assert next(s for s in forced.steps if s["id"] == "release:tag_user")["status"] == "succeeded"


def test_keys_stay_inactive_without_the_flag(moto_endpoint: str, responder_home) -> None:
    seed_user()
    eng = engine()
    run = eng.run(shipped(), finding_of(sample_event()))
    result = release(eng, run.run_id)
    step = next(s for s in result.steps if s["id"] == "release:deactivate_key")
    assert step["status"] == "kept" and "--reenable-keys" in step["summary"]
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Inactive"
