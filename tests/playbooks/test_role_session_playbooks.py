"""The shipped iam-role-session-compromise playbook through the real Engine against moto over HTTP:
deny the stolen session (or revoke all), lock the trust policy behind an approval, release; and a sandbox
replay of a role-session finding.

Finding: tests/fixtures/securityhub/guardduty-role-session-cloudtrail-disabled-asff.json (basis in SOURCES.md
there): GuardDuty Stealth:IAMUser/CloudTrailLoggingDisabled relayed as ASFF, by role session Admin/example, ASIA
key, severity 2. Engine tests move it into moto's home account and raise its severity where the test needs the
High path.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from typer.testing import CliRunner

from responder.actions.aws.iam_role import LOCKED_TRUST
from responder.cli import app
from responder.engine.release import release
from responder.findings import load_file
from responder.findings.model import Finding
from tests.conftest import FIXTURES
from tests.helpers import ACCOUNT, engine, shipped

PATH = FIXTURES / "securityhub" / "guardduty-role-session-cloudtrail-disabled-asff.json"
PLAYBOOK = "iam-role-session-compromise"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def _finding(**changes: Any) -> Finding:
    return load_file(PATH)[0].model_copy(update={"account_id": ACCOUNT, **changes})


def _role() -> str:
    iam = boto3.client("iam")
    role_id = iam.create_role(RoleName="Admin", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["RoleId"]
    iam.put_role_policy(RoleName="Admin", PolicyName="app", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    return role_id


def _state() -> dict[str, Any]:
    iam = boto3.client("iam")
    return {"policies": sorted(iam.list_role_policies(RoleName="Admin")["PolicyNames"]),
            "trust": iam.get_role(RoleName="Admin")["Role"]["AssumeRolePolicyDocument"],
            "tags": {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="Admin")["Tags"]}}


def test_stolen_session_denied_then_released(moto_endpoint: str, responder_home, with_scope_logs) -> None:
    role_id = _role()
    before = _state()
    eng = engine()
    run = eng.run(shipped(PLAYBOOK), _finding())
    steps = {s["id"]: s for s in run.steps}
    assert run.status == "succeeded", [(s["id"], s["error"]) for s in run.steps]
    assert steps["deny_stolen_session"]["output"]["denied_userids"] == [f"{role_id}:example"]
    assert steps["revoke_all_sessions"]["status"] == "skipped" and steps["lock_trust_policy"]["status"] == "skipped"
    assert "responder-deny-session" in _state()["policies"]
    result = release(eng, run.run_id)
    assert all(s["status"] == "succeeded" for s in result.steps if s["id"].startswith("release:"))
    assert _state() == before


def test_exfiltrated_instance_credentials_revoke_all_and_lock_behind_approval(moto_endpoint: str,
                                                                             responder_home,
                                                                             with_scope_logs) -> None:
    _role()
    before = _state()
    finding = _finding(type="UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", severity=8.0)
    eng = engine()
    loaded = shipped(PLAYBOOK)
    run = eng.run(loaded, finding)
    steps = {s["id"]: s for s in run.steps}
    assert run.status == "waiting" and steps["lock_trust_policy"]["status"] == "waiting"
    assert steps["deny_stolen_session"]["status"] == "skipped"
    assert steps["revoke_all_sessions"]["status"] == "succeeded"
    assert _state()["trust"] == TRUST, "nothing is locked before a person approves"
    eng.store.decide(run.run_id, "lock_trust_policy", approved=True, by="U-oncall", reason="confirmed",
                     at=eng.clock.now(), via="cli")
    done = eng.resume(run.run_id, loaded)
    assert done.status == "succeeded"
    assert _state()["trust"] == LOCKED_TRUST
    release(eng, run.run_id)
    assert _state() == before


def test_release_refused_after_the_trust_policy_was_edited(moto_endpoint: str, responder_home) -> None:
    _role()
    eng = engine()
    loaded = shipped(PLAYBOOK)
    run = eng.run(loaded, _finding(severity=8.0))
    eng.store.decide(run.run_id, "lock_trust_policy", approved=True, by="U-oncall", reason=None,
                     at=eng.clock.now(), via="cli")
    eng.resume(run.run_id, loaded)
    boto3.client("iam").update_assume_role_policy(RoleName="Admin", PolicyDocument=json.dumps(TRUST))
    result = release(eng, run.run_id, step_id="lock_trust_policy")
    step = next(s for s in result.steps if s["id"] == "release:lock_trust_policy")
    assert step["status"] == "failed" and "trust policy of role Admin was edited" in step["error"]


def test_sandbox_replay_of_the_role_session_finding(moto_endpoint: str, responder_home) -> None:
    matched = json.loads(CliRunner().invoke(app, ["match", str(PATH), "--json"]).stdout)
    assert "severity 2 below 4" in matched["not_matched"][PLAYBOOK]  # Low: notify-only unless a person asks
    result = CliRunner().invoke(app, ["run", str(PATH), "--sandbox", "--json", "--quiet", "--playbook", PLAYBOOK],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    steps = {s["id"]: s for s in data["steps"]}
    assert steps["deny_stolen_session"]["status"] == "succeeded"
    after = next(r for r in data["sandbox"]["after"] if r["principal"] == "role/Admin")
    assert "responder-deny-session" in after["inline_policies"]
