"""Sandbox replays of the issue-17 playbooks: each composed GuardDuty finding (tests/fixtures/findings,
see SOURCES.md) is run with ``responder run --sandbox``, which seeds the emulated account from the
finding; the run's records and the sandbox's before/after rows show what changed, and release (where the
playbook has reversible steps) puts it back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from responder.cli import app
from tests.conftest import FIXTURES

GUARDDUTY = FIXTURES / "findings" / "guardduty"


@pytest.fixture
def drill(responder_home: Path) -> Iterator[None]:
    """The drill daemon ``--sandbox`` starts lives in this test's home; it is stopped afterwards."""
    yield
    CliRunner().invoke(app, ["sandbox", "down"])


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _run(name: str) -> dict[str, Any]:
    result = _invoke("run", str(GUARDDUTY / name), "--sandbox", "--json", "--quiet")
    assert result.exit_code in (0, 3, 4), result.output
    return json.loads(result.stdout)


def _steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in run["steps"]}


def _row(rows: list[dict[str, Any]], principal: str) -> dict[str, Any]:
    return next(r for r in rows if r["principal"] == principal)


def _release(run_id: str) -> dict[str, Any]:
    result = _invoke("release", run_id, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{") :])


def test_lambda_function_compromise(drill: None) -> None:
    run = _run("lambda-function-compromise-bitcointool.json")
    assert run["playbook"] == "lambda-function-compromise" and run["status"] == "succeeded", run["steps"]
    steps = _steps(run)
    assert steps["capture_function"]["output"]["environment_variable_names"] == ["DB_PASSWORD", "STAGE"]
    before = _row(run["sandbox"]["before"], "function/report-exporter")
    after = _row(run["sandbox"]["after"], "function/report-exporter")
    assert before["url_auth"] == "NONE" and after["url_auth"] == "AWS_IAM"
    assert before["policy_statements"] == ["outside-account", "public-url"] and after["policy_statements"] == []
    assert after["reserved_concurrency"] == 0
    assert steps["revoke_role_sessions"]["status"] == "succeeded"
    released = _release(run["run_id"])
    assert not released["refused"]
    assert {s["id"] for s in released["released"]} >= {
        "release:throttle_function",
        "release:restrict_function_url",
        "release:remove_foreign_permissions",
    }


def test_rds_compromise_waits_for_isolation_then_releases(drill: None) -> None:
    run = _run("rds-compromise-successful-bruteforce.json")
    assert run["playbook"] == "rds-compromise" and run["status"] == "waiting"
    steps = _steps(run)
    assert steps["snapshot_db"]["status"] == "succeeded" and steps["isolate_db"]["status"] == "waiting"
    after = _row(run["sandbox"]["after"], "db/billing-db")
    assert after["publicly_accessible"] is False and after["snapshot_shared_with"] == []
    approved = _invoke("approve", run["run_id"], "isolate_db", "--by", "tester", "--reason", "drill", "--json")
    assert approved.exit_code == 0, approved.output
    done = json.loads(approved.stdout[approved.stdout.index("{") :])
    assert done["status"] == "succeeded" and _steps(done)["isolate_db"]["status"] == "succeeded"
    released = _release(run["run_id"])
    assert not released["refused"]
    assert {s["id"] for s in released["released"]} >= {
        "release:isolate_db",
        "release:remove_public_access",
        "release:unshare_snapshots",
    }


def test_ecs_task_compromise(drill: None) -> None:
    run = _run("ecs-task-compromise-cryptominer.json")
    assert run["playbook"] == "ecs-task-compromise" and run["status"] in ("succeeded", "partial"), run["steps"]
    steps = _steps(run)
    task = "task/5f4e3d2c1b0a49687f6e5d4c3b2a1908"
    iso = steps["isolate_task"]["output"]["isolation_group_id"]
    assert _row(run["sandbox"]["after"], task)["security_groups"] == [iso]
    assert _row(run["sandbox"]["before"], task)["security_groups"] != [iso]
    assert steps["revoke_task_role_sessions"]["status"] == "succeeded"
    assert _release(run["run_id"])["refused"] == []


def test_root_account_compromise_pages_at_once(drill: None) -> None:
    run = _run("root-account-compromise-root-usage.json")
    assert run["playbook"] == "root-account-compromise" and run["status"] == "waiting"
    steps = _steps(run)
    assert steps["capture_root"]["status"] == "succeeded"
    assert steps["deny_root_scp"]["status"] == "waiting", "the approval prompt is the page"


def test_s3_ransomware(drill: None) -> None:
    run = _run("s3-ransomware-anomalous-delete.json")
    ours = next(r for r in run.get("runs", [run]) if r["playbook"] == "s3-ransomware")
    assert ours["status"] in ("succeeded", "partial"), ours["steps"]
    steps = _steps(ours)
    assert steps["list_versions"]["output"]["versions"] >= 1
    assert steps["deny_deletion"]["changed"] and steps["keep_versioning_on"]["changed"]
    assert steps["deactivate_actor_key"]["status"] == "succeeded"
    released = _release(ours["run_id"])
    assert {s["id"] for s in released["released"]} >= {"release:deny_deletion", "release:keep_versioning_on"}


def test_attack_sequence_is_one_incident_with_linked_children(drill: None) -> None:
    run = _run("attack-sequence-iam-compromised-credentials.json")
    assert run["playbook"] == "attack-sequence" and run["status"] in ("succeeded", "partial"), run["steps"]
    steps = _steps(run)
    seq = steps["record_sequence"]["output"]
    assert [s["name"] for s in seq["signals"]] == [
        "UnauthorizedAccess:IAMUser/TorIPCaller",
        "CreateAccessKey",
        "GetObject",
    ]
    children = seq["children"]
    assert [c["resource"]["resourceType"] for c in children] == ["S3Bucket", "Instance"]
    assert {c["service"]["additionalInfo"]["attackSequence"] for c in children} == {seq["sequence_uid"]}
    assert len({c["id"] for c in children}) == 2, "each child is its own finding (its own run)"
    assert steps["deactivate_actor_key"]["status"] == "succeeded"
    assert steps["revoke_user_sessions"]["status"] == "succeeded"


def test_s3_malicious_caller_contains_the_role(drill: None) -> None:
    run = _run("s3-malicious-caller-tor.json")
    assert run["playbook"] == "s3-malicious-caller" and run["status"] in ("succeeded", "partial"), run["steps"]
    steps = _steps(run)
    assert steps["capture_bucket"]["status"] == "succeeded"
    assert steps["revoke_role_sessions"]["status"] == "succeeded"
    assert steps["deactivate_caller_key"]["status"] == "skipped"
    assert _release(run["run_id"])["refused"] == []


def test_custom_detection_asks_before_containing(drill: None) -> None:
    run = _run("custom-detection-flow-logs-deleted.json")
    assert run["playbook"] == "custom-detection" and run["status"] == "waiting"
    steps = _steps(run)
    assert steps["capture_user"]["status"] == "succeeded" and steps["deactivate_key"]["status"] == "waiting"
