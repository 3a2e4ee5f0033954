"""A crash between an effect and its record, then resume and release: Lambda, ECS and RDS containment.

Each test runs a shipped playbook through the real Engine (boto3 → moto over HTTP, real SQLite, a real
evidence folder), cut after the step under test, and crashes it at the instant right after that step's
effect — after its only write, or after the first of several. The run store is copied at that instant,
while the interrupted attempt waits for the answer to its write, and put back once it has stopped: the
store is then exactly what a SIGKILL there leaves (the step claimed with its "before" written ahead, not
finished, the run's lease held by a process that is gone). A fresh engine resumes the run; the step must
be recorded ``changed`` with the state before the first attempt, and release must put the resource back
as it was. ``test_real_sigkill_between_the_isolation_moves`` kills a real ``responder run`` process instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from responder.actions.aws import _ec2_groups as groups
from responder.actions.registry import default_registry
from responder.app import build_responder
from responder.aws.sessions import AwsAccess
from responder.config import load_settings
from responder.engine.release import release
from responder.engine.results import RunResult
from responder.engine.runner import Engine
from responder.findings import load_file
from responder.findings.model import Finding
from responder.playbook.validate import LoadedPlaybook, validate_file
from responder.sandbox import Sandbox, seed
from responder.state.records import StepState
from tests.conftest import FIXTURES
from tests.helpers import ROOT, engine
from tests.throttle_proxy import ThrottleProxy

GUARDDUTY = FIXTURES / "findings" / "guardduty"
ACCOUNT = "123456789012"
OUTSIDE = "444455556666"  # the account the sandbox's seeding shares things with


# ---------------------------------------------------------------------------------------------
# the crash: the store as a SIGKILL right after the effect leaves it
class Killed(Exception):
    """Raised where the interrupted attempt would have died: nothing of it runs past the effect."""


class Crash:
    """Copies the run store at the crash instant and puts that copy back after the attempt stopped.

    SQLite's backup API copies what is committed at that instant, which is what survives a SIGKILL.
    """

    def __init__(self, folder: Path) -> None:
        self.store: Path | None = None
        self.copy = folder / "store-at-crash.sqlite3"
        self.fired = 0

    def now(self) -> None:
        assert self.store is not None and not self.fired, "one crash per test"
        with closing(sqlite3.connect(self.store)) as src, closing(sqlite3.connect(self.copy)) as dst:
            src.backup(dst)
        self.fired += 1

    def restore(self) -> None:
        assert self.store is not None and self.fired == 1, "the crash point was never reached"
        with closing(sqlite3.connect(self.copy)) as src, closing(sqlite3.connect(self.store)) as dst:
            src.backup(dst)


def dead_owner() -> str:
    """An owner string as the crashed process held the lease: this host, a pid that no longer runs."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:crashed0"


def crash_after(crash: Crash, event: str, nth: int = 1, armed: Callable[[], bool] = lambda: True) -> AwsAccess:
    """AWS access whose ``nth`` call answering ``event`` (``after-call.SERVICE.Operation``) is the crash."""
    aws = AwsAccess(load_settings().aws)
    seen: list[str] = []

    def handler(**_: Any) -> None:
        if not armed():
            return
        seen.append(event)
        if len(seen) == nth:
            crash.now()
            raise Killed(f"killed after call {nth} of {event}")

    aws.hooks.append((event, handler))
    return aws


def cut_after(playbook_id: str, step_id: str, folder: Path) -> LoadedPlaybook:
    """The shipped playbook up to and including ``step_id``: nothing of the run comes after the crash."""
    text = (ROOT / "playbooks" / f"{playbook_id}.yaml").read_text()
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {step_id}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("- id: ")), len(lines))
    path = folder / "playbooks" / f"{playbook_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines[:end]))
    loaded, problems = validate_file(path, default_registry())
    assert loaded is not None, problems
    assert loaded.playbook.steps[-1].id == step_id
    return loaded


def crashed_engine(crash: Crash, aws: AwsAccess | None = None) -> Engine:
    """The engine of the process that will crash: it holds leases as a process that is gone by resume."""
    eng = engine(owner=dead_owner(), **({"aws": aws} if aws is not None else {}))
    crash.store = Path(eng.store.path)
    return eng


def resume_after_crash(crash: Crash, run_id: str, step_id: str, loaded: LoadedPlaybook) -> tuple[Engine, dict]:
    """Put the store back as the crash left it, check that it is the crash state, resume in a new engine."""
    crash.restore()
    fresh = engine()
    rec = fresh.store.get_step(run_id, step_id)
    assert rec is not None and rec.state == StepState.RUNNING and rec.finished_at is None, rec
    assert rec.pending_before is not None, "the before was not written ahead of the effect"
    result = fresh.resume(run_id, loaded)
    return fresh, step_of(result, step_id)


def step_of(result: RunResult, step_id: str) -> dict[str, Any]:
    return next(s for s in result.steps if s["id"] == step_id)


def released(eng: Engine, run_id: str) -> dict[str, str]:
    result = release(eng, run_id)
    return {s["id"]: s["status"] for s in result.steps if s["id"].startswith("release:")}


def seeded(name: str, moto_endpoint: str) -> Finding:
    """The fixture finding, and the resource it names seeded in moto the way the sandbox does."""
    finding = load_file(GUARDDUTY / name)[0]
    seed(Sandbox(endpoint=moto_endpoint, account_id=ACCOUNT, region="us-east-1"), finding)
    return finding


# ---------------------------------------------------------------------------------------------
# Lambda
FUNCTION = "lambda-function-compromise-bitcointool.json"


def _function_state(name: str) -> dict[str, Any]:
    lam = boto3.client("lambda", region_name="us-east-1")
    try:
        statements = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    except lam.exceptions.ResourceNotFoundException:  # every statement removed: no policy at all
        statements = []
    return {
        "auth": lam.get_function_url_config(FunctionName=name)["AuthType"],
        "grants": sorted((s["Sid"], json.dumps(s["Principal"], sort_keys=True)) for s in statements),
        "concurrency": lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions"),
    }


@pytest.fixture
def function(moto_endpoint: str, responder_home: Path) -> tuple[Finding, str]:
    finding = seeded(FUNCTION, moto_endpoint)
    return finding, finding.resource.function_name


@pytest.mark.parametrize(
    ("step_id", "event", "nth", "expected"),
    [
        ("restrict_function_url", "after-call.lambda.UpdateFunctionUrlConfig", 1, {"auth_type": "NONE"}),
        ("throttle_function", "after-call.lambda.PutFunctionConcurrency", 1, {"reserved_concurrency": None}),
        ("remove_foreign_permissions", "after-call.lambda.RemovePermission", 2, None),  # after both removals
        ("remove_foreign_permissions", "after-call.lambda.RemovePermission", 1, None),  # between them
    ],
)
def test_lambda_step_crashed_after_its_effect_is_released(
    function: tuple[Finding, str], tmp_path: Path, step_id: str, event: str, nth: int, expected: dict | None
) -> None:
    finding, name = function
    original = _function_state(name)
    assert original["auth"] == "NONE" and len(original["grants"]) == 2 and original["concurrency"] is None
    loaded = cut_after("lambda-function-compromise", step_id, tmp_path)
    crash = Crash(tmp_path)
    first = crashed_engine(crash, crash_after(crash, event, nth))
    run_id = first.run(loaded, finding).run_id
    assert _function_state(name) != original  # the effect happened; its record did not

    eng, step = resume_after_crash(crash, run_id, step_id, loaded)
    assert step["status"] == "succeeded" and step["changed"] is True, step
    if expected is not None:
        assert step["before"] == expected
    else:  # both statements, whole: what undo adds back
        assert sorted(s["Sid"] for s in step["before"]["statements"]) == ["outside-account", "public-url"]
        assert sorted(step["output"]["removed"]) == ["outside-account", "public-url"]
    assert set(released(eng, run_id).values()) == {"succeeded"}
    assert _function_state(name) == original


# ---------------------------------------------------------------------------------------------
# ECS
TASK = "ecs-task-compromise-cryptominer.json"


def _eni_groups(eni: str) -> list[str]:
    found = boto3.client("ec2", region_name="us-east-1").describe_network_interfaces(NetworkInterfaceIds=[eni])
    return sorted(g["GroupId"] for g in found["NetworkInterfaces"][0]["Groups"])


@pytest.fixture
def task(moto_endpoint: str, responder_home: Path) -> tuple[Finding, dict[str, Any]]:
    finding = load_file(GUARDDUTY / TASK)[0]
    box = Sandbox(endpoint=moto_endpoint, account_id=ACCOUNT, region="us-east-1")
    seed(box, finding)
    return finding, box.seeded["tasks"][0]


def _untracking(vpc: str) -> str:
    found = groups.find_group(boto3.client("ec2", region_name="us-east-1"), groups.UNTRACKING, vpc)
    assert found is not None
    return str(found["GroupId"])


@pytest.mark.parametrize("nth", [1, 2], ids=["between-the-moves", "after-both-moves"])
def test_ecs_isolation_crashed_is_released_to_the_tasks_own_groups(
    task: tuple[Finding, dict[str, Any]], tmp_path: Path, nth: int
) -> None:
    finding, seeded_task = task
    eni = seeded_task["eni"]
    original = _eni_groups(eni)
    loaded = cut_after("ecs-task-compromise", "isolate_task", tmp_path)
    crash = Crash(tmp_path)
    first = crashed_engine(crash, crash_after(crash, "after-call.ec2.ModifyNetworkInterfaceAttribute", nth))
    run_id = first.run(loaded, finding).run_id
    if nth == 1:  # left on the allow-all untracking group: the group release must never put back
        assert _eni_groups(eni) == [_untracking(seeded_task["vpc_id"])]

    eng, step = resume_after_crash(crash, run_id, "isolate_task", loaded)
    assert step["changed"] is True and step["before"] == {"network_interfaces": {eni: original}}, step
    iso = step["output"]["isolation_group_id"]
    assert _eni_groups(eni) == [iso]
    assert released(eng, run_id) == {"release:isolate_task": "succeeded"}
    assert _eni_groups(eni) == original


def test_real_sigkill_between_the_isolation_moves(task: tuple[Finding, dict[str, Any]], moto_endpoint: str) -> None:
    """A real process, killed by SIGKILL as soon as its first ENI move is answered (before it reads it)."""
    _, seeded_task = task
    eni = seeded_task["eni"]
    original = _eni_groups(eni)
    box: dict[str, int] = {}
    proxy = ThrottleProxy(
        moto_endpoint,
        "ModifyNetworkInterfaceAttribute",
        times=1,
        after_forward=lambda: os.kill(box["pid"], signal.SIGKILL),
    )
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "responder", "run", str(GUARDDUTY / TASK), "--json", "-q"],
            env={**os.environ, "AWS_ENDPOINT_URL": proxy.url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        box["pid"] = proc.pid
        proc.communicate(timeout=180)
    finally:
        proxy.close()
    assert proc.returncode == -signal.SIGKILL
    assert _eni_groups(eni) == [_untracking(seeded_task["vpc_id"])]  # half isolated, on the allow-all group

    service = build_responder(load_settings(), engine=engine())
    [run] = [r for r in service.engine.store.list_runs() if r.playbook_id == "ecs-task-compromise"]
    result = service.resume(run.run_id)
    step = step_of(result, "isolate_task")
    assert step["changed"] is True and step["before"] == {"network_interfaces": {eni: original}}, step
    assert _eni_groups(eni) == [step["output"]["isolation_group_id"]]
    outcome = released(service.engine, run.run_id)
    assert outcome["release:isolate_task"] == "succeeded", outcome
    assert _eni_groups(eni) == original


# ---------------------------------------------------------------------------------------------
# RDS
DATABASE = "rds-compromise-successful-bruteforce.json"


def _db(ident: str) -> dict[str, Any]:
    return boto3.client("rds", region_name="us-east-1").describe_db_instances(DBInstanceIdentifier=ident)[
        "DBInstances"
    ][0]


def _db_state(ident: str) -> dict[str, Any]:
    """Exposure, groups and who each snapshot is shared with (the run's own evidence snapshot left out)."""
    rds = boto3.client("rds", region_name="us-east-1")
    db = _db(ident)
    shares = {}
    for snap in rds.describe_db_snapshots(DBInstanceIdentifier=ident, SnapshotType="manual")["DBSnapshots"]:
        if snap["DBSnapshotIdentifier"].startswith("responder-"):
            continue
        attrs = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=snap["DBSnapshotIdentifier"])
        values = [
            v
            for a in attrs["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
            if a["AttributeName"] == "restore"
            for v in a.get("AttributeValues", [])
        ]
        shares[snap["DBSnapshotIdentifier"]] = sorted(values)
    return {
        "public": db["PubliclyAccessible"],
        "groups": sorted(g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]),
        "shares": shares,
    }


@pytest.fixture
def database(moto_endpoint: str, responder_home: Path) -> tuple[Finding, str]:
    """The sandbox's public database with one snapshot shared outside, and a second one shared too."""
    finding = seeded(DATABASE, moto_endpoint)
    ident = finding.resource.db_instance_identifier
    rds = boto3.client("rds", region_name="us-east-1")
    rds.create_db_snapshot(DBInstanceIdentifier=ident, DBSnapshotIdentifier=f"{ident}-copy")
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier=f"{ident}-copy", AttributeName="restore", ValuesToAdd=[OUTSIDE, "all"]
    )
    return finding, ident


def _approve(eng: Engine, run_id: str, step_id: str) -> None:
    eng.store.decide(run_id, step_id, approved=True, by="U0SECLEAD", reason="drill", at=datetime.now(UTC), via="test")


@pytest.mark.parametrize(
    ("step_id", "event", "nth"),
    [
        ("remove_public_access", "after-call.rds.ModifyDBInstance", 1),
        ("unshare_snapshots", "after-call.rds.ModifyDBSnapshotAttribute", 1),  # between the two snapshots
        ("unshare_snapshots", "after-call.rds.ModifyDBSnapshotAttribute", 2),  # after both
    ],
)
def test_rds_step_crashed_after_its_effect_is_released(
    database: tuple[Finding, str], tmp_path: Path, step_id: str, event: str, nth: int
) -> None:
    finding, ident = database
    original = _db_state(ident)
    assert original["public"] and sum(bool(v) for v in original["shares"].values()) == 2
    loaded = cut_after("rds-compromise", step_id, tmp_path)
    crash = Crash(tmp_path)
    first = crashed_engine(crash, crash_after(crash, event, nth))
    run_id = first.run(loaded, finding).run_id
    assert _db_state(ident) != original

    eng, step = resume_after_crash(crash, run_id, step_id, loaded)
    assert step["changed"] is True, step
    if step_id == "remove_public_access":
        assert step["before"] == {"publicly_accessible": True}
    else:
        removed = {snap: sorted(values) for snap, values in step["before"]["removed"].items()}
        assert removed == {snap: values for snap, values in original["shares"].items() if values}
    assert set(released(eng, run_id).values()) == {"succeeded"}
    assert _db_state(ident) == original


@pytest.mark.parametrize("nth", [1, 2], ids=["between-the-moves", "after-both-moves"])
def test_rds_isolation_crashed_is_released_to_the_databases_own_groups(
    database: tuple[Finding, str], tmp_path: Path, nth: int
) -> None:
    finding, ident = database
    original = _db_state(ident)
    loaded = cut_after("rds-compromise", "isolate_db", tmp_path)
    crash = Crash(tmp_path)
    approved = [False]  # remove_public_access calls ModifyDBInstance too: only isolation's calls count
    first = crashed_engine(crash, crash_after(crash, "after-call.rds.ModifyDBInstance", nth, lambda: approved[0]))
    waiting = first.run(loaded, finding)
    assert waiting.status == "waiting" and waiting.waiting_for == ["isolate_db"]
    _approve(first, waiting.run_id, "isolate_db")
    approved[0] = True
    first.resume(waiting.run_id, loaded)
    if nth == 1:  # left on the allow-all untracking group: the group release must never put back
        assert _db_state(ident)["groups"] == [_untracking(_db(ident)["DBSubnetGroup"]["VpcId"])]

    eng, step = resume_after_crash(crash, waiting.run_id, "isolate_db", loaded)
    assert step["changed"] is True and step["before"] == {"security_group_ids": original["groups"]}, step
    assert _db_state(ident)["groups"] == [step["output"]["isolation_group_id"]]
    assert set(released(eng, waiting.run_id).values()) == {"succeeded"}
    assert _db_state(ident) == original


def _secret_version(arn: str) -> str:
    stages = boto3.client("secretsmanager", region_name="us-east-1").describe_secret(SecretId=arn)["VersionIdsToStages"]
    return next(v for v, names in stages.items() if "AWSCURRENT" in names)


def test_master_secret_rotated_before_a_crash_is_not_rotated_again(
    database: tuple[Finding, str], tmp_path: Path
) -> None:
    """Rotation is not reversible: what crash consistency owes it is no second rotation on resume."""
    finding, ident = database
    arn = _db(ident)["MasterUserSecret"]["SecretArn"]
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 7})  # rotation configured
    configured = _secret_version(arn)
    loaded = cut_after("rds-compromise", "rotate_master_secret", tmp_path)
    crash = Crash(tmp_path)
    first = crashed_engine(crash, crash_after(crash, "after-call.secretsmanager.RotateSecret"))
    run_id = first.run(loaded, finding).run_id
    rotated = _secret_version(arn)
    assert rotated != configured  # the rotation happened; its record did not

    eng, step = resume_after_crash(crash, run_id, "rotate_master_secret", loaded)
    assert step["changed"] is True and step["before"] == {"version": configured}, step
    assert step["output"]["rotated"] is True
    assert _secret_version(arn) == rotated  # not rotated a second time
    outcome = released(eng, run_id)
    assert outcome.pop("release:rotate_master_secret") == "skipped"  # a compromised value never comes back
    assert set(outcome.values()) == {"succeeded"}
    assert _secret_version(arn) == rotated
