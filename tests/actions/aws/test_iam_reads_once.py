"""Nothing asked twice on the way to containment: in one run of the leaked-key playbook ``ListAccessKeys``
and ``GetAccessKeyLastUsed`` (per key) are each asked once; deactivation reuses the keys the evidence
step listed moments before, and reads them again when that list is stale (a resumed or approved run).
Finding: the shipped GuardDuty sample (responder/data/samples, basis in the README there), moved into
moto's default account by ``tests.helpers.sample_event``."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from responder.actions.aws.iam import DeactivateAccessKey, DeactivateAccessKeyInput, RevokeSessions, RevokeSessionsInput
from responder.actions.base import Connectors, StepContext
from responder.actions.registry import default_registry
from responder.aws.retry import CallRetryPolicy
from responder.aws.sessions import AwsAccess
from responder.clock import FixedClock
from responder.config import load_settings
from responder.errors import Refused
from responder.evidence.local import LocalLocker
from responder.playbook.validate import load_playbooks
from tests.helpers import ROOT, engine, finding_of, key_status, sample_event, seed_user

KEY = "AKIA2E0A8F3B244C9986"
AT = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


class Asked:
    """Each AWS operation a client of ``access`` sends, with its parameters."""

    def __init__(self, access: AwsAccess) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        lock = threading.Lock()

        def record(model: Any = None, params: Any = None, **_: Any) -> None:
            with lock:
                self.calls.append((model.name, dict(params or {})))

        access.hooks.append(("before-parameter-build.*.*", record))

    def count(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls)


def test_leaked_key_run_asks_each_read_once(moto_endpoint: str, responder_home: Path, tmp_path: Path) -> None:
    seed_user()
    other = boto3.client("iam").create_access_key(UserName="ci-deploy")["AccessKey"]["AccessKeyId"]
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "runbooks").mkdir()
    shutil.copy(ROOT / "playbooks" / "iam-credential-compromise.yaml", tmp_path / "playbooks")
    shutil.copy(ROOT / "runbooks" / "iam-credential-compromise.md", tmp_path / "runbooks")
    (loaded,) = load_playbooks([tmp_path / "playbooks"], default_registry())
    access = AwsAccess(load_settings().aws, retry=CallRetryPolicy(sleep=lambda _s: None))
    asked = Asked(access)
    result = engine(aws=access).run(loaded, finding_of(sample_event()))
    states = {s["id"]: s["status"] for s in result.steps}
    assert states["capture_user"] == states["deactivate_key"] == "succeeded"
    assert key_status("ci-deploy", KEY) == "Inactive"
    counts = asked.count()
    assert counts["ListAccessKeys"] == 1
    last_used = sorted(p["AccessKeyId"] for name, p in asked.calls if name == "GetAccessKeyLastUsed")
    assert last_used == sorted([KEY, other])  # the leaked key by the resolve step, the other by the capture
    assert counts["GetCallerIdentity"] <= 1
    capture = next(s for s in result.steps if s["id"] == "capture_user")
    assert any(KEY in note and "resolve_key" in note for note in capture["notes"])


def _ctx(tmp_path: Path, access: AwsAccess, captured_at: datetime, status: str) -> StepContext:
    capture = {"kind": "user", "name": "ci-deploy", "captured_at": captured_at.isoformat(),
               "access_keys": [{"access_key_id": KEY, "status": status, "last_used": None}]}
    return StepContext(run_id="run-reuse", step_id="deactivate_key", playbook_id="pb",
                       finding=finding_of(sample_event()), clock=FixedClock(AT),
                       evidence=LocalLocker(tmp_path / "ev"), settings=load_settings(),
                       connectors=Connectors(aws=access), outputs={"capture_user": capture})


@pytest.mark.parametrize(("age", "reads"), [(timedelta(seconds=1), 0), (timedelta(minutes=5), 1)])
def test_deactivation_reuses_a_fresh_key_list_only(
    moto_endpoint: str, tmp_path: Path, age: timedelta, reads: int
) -> None:
    seed_user()
    access = AwsAccess(load_settings().aws)
    asked = Asked(access)
    ctx = _ctx(tmp_path, access, AT - age, "Active")
    outcome = DeactivateAccessKey().apply(ctx, DeactivateAccessKeyInput(access_key_id=KEY, user_name="ci-deploy"))
    assert outcome.changed and outcome.before["status"] == "Active"
    assert key_status("ci-deploy", KEY) == "Inactive"
    assert asked.count()["ListAccessKeys"] == reads


def test_a_stale_list_never_hides_a_change_made_since(moto_endpoint: str, tmp_path: Path) -> None:
    seed_user()
    boto3.client("iam").update_access_key(UserName="ci-deploy", AccessKeyId=KEY, Status="Inactive")  # by a person
    access = AwsAccess(load_settings().aws)
    ctx = _ctx(tmp_path, access, AT - timedelta(hours=2), "Active")  # e.g. a run resumed after an approval
    outcome = DeactivateAccessKey().apply(ctx, DeactivateAccessKeyInput(access_key_id=KEY, user_name="ci-deploy"))
    assert not outcome.changed and outcome.before["status"] == "Inactive"


def test_an_observation_that_the_key_is_inactive_is_checked_not_trusted(moto_endpoint: str, tmp_path: Path) -> None:
    seed_user()  # the key is active now (e.g. re-enabled right after the capture saw it inactive)
    access = AwsAccess(load_settings().aws)
    asked = Asked(access)
    ctx = _ctx(tmp_path, access, AT - timedelta(seconds=1), "Inactive")
    outcome = DeactivateAccessKey().apply(ctx, DeactivateAccessKeyInput(access_key_id=KEY, user_name="ci-deploy"))
    assert outcome.changed and key_status("ci-deploy", KEY) == "Inactive"
    assert asked.count()["ListAccessKeys"] == 1


def _role_ctx(tmp_path: Path, access: AwsAccess, arn: str, age: timedelta, inline: list[str]) -> StepContext:
    capture = {"kind": "role", "name": arn.rsplit("/", 1)[-1], "principal_arn": arn,
               "captured_at": (AT - age).isoformat(), "inline_policies": inline}
    return StepContext(run_id="run-revoke", step_id="revoke", playbook_id="pb", finding=finding_of(sample_event()),
                       clock=FixedClock(AT), evidence=LocalLocker(tmp_path / "ev"), settings=load_settings(),
                       connectors=Connectors(aws=access), outputs={"capture_role": capture})


@pytest.mark.parametrize(("age", "inline", "reads"), [
    (timedelta(seconds=1), ["app"], 0),  # captured moments ago, no revocation policy yet: write it
    (timedelta(minutes=5), ["app"], 2),  # stale: GetRole and GetRolePolicy again
    (timedelta(seconds=1), ["app", "responder-revoke-sessions"], 2),  # one exists: read what it says
])
def test_revocation_reuses_a_fresh_capture_that_calls_for_it(
    moto_endpoint: str, tmp_path: Path, age: timedelta, inline: list[str], reads: int
) -> None:
    iam = boto3.client("iam")
    arn = iam.create_role(RoleName="web", Path="/payments/", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    access = AwsAccess(load_settings().aws)
    asked = Asked(access)
    ctx = _role_ctx(tmp_path, access, arn, age, inline)
    outcome = RevokeSessions().apply(ctx, RevokeSessionsInput(role_name="web"))
    assert outcome.changed and "responder-revoke-sessions" in iam.list_role_policies(RoleName="web")["PolicyNames"]
    assert asked.count()["GetRole"] + asked.count()["GetRolePolicy"] == reads


def test_a_service_linked_role_is_refused_from_the_capture_too(moto_endpoint: str, tmp_path: Path) -> None:
    access = AwsAccess(load_settings().aws)
    asked = Asked(access)
    arn = "arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    ctx = _role_ctx(tmp_path, access, arn, timedelta(seconds=1), [])
    with pytest.raises(Refused, match="service-linked"):
        RevokeSessions().apply(ctx, RevokeSessionsInput(role_name="AWSServiceRoleForECS"))
    assert not [name for name, _ in asked.calls if name.startswith("Put")]
