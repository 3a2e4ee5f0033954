"""Evidence captures issue their reads concurrently and still write the very document the reads made one
by one would write: same bytes, same SHA-256 (so the custody chain's hashes do not depend on timing).

The expected IAM documents are computed here from the same moto state by the sequential algorithm the
capture used before (each read after the other, in its order); EC2 and S3 documents are compared between
``RESPONDER_READ_CONCURRENCY=1`` and the default pool. Fixtures: principals, an instance and a bucket seeded
into moto (the instance by responder's sandbox seeding from tests/fixtures/guardduty/ec2-bitcointool-bare.json,
basis in SOURCES.md there).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from responder.actions.aws.common import PrincipalRef, jsonable
from responder.actions.aws.ec2 import CaptureInstance, CaptureInstanceInput
from responder.actions.aws.iam import CapturePrincipal
from responder.actions.aws.s3 import BucketInput, CaptureBucket
from responder.actions.base import Connectors, StepContext
from responder.actions.base import Outcome as ActionOutcome
from responder.aws import parallel
from responder.aws.sessions import AwsAccess
from responder.clock import FixedClock
from responder.config import load_settings
from responder.evidence.local import LocalLocker
from responder.findings import load_file
from responder.sandbox import Sandbox
from responder.sandbox.resources import seed_resources
from tests.conftest import FIXTURES
from tests.helpers import finding_of, sample_event

AT = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


UNPARSED = "GetConsoleScreenshot"  # moto's HTTP 500 for it emits no response-received: not counted


class InFlight:
    """The most requests in flight at once, each held 50 ms (so overlap is visible)."""

    def __init__(self, access: AwsAccess) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()

        def before(event_name: str = "", **_: Any) -> None:
            if event_name.endswith(UNPARSED):
                return
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            time.sleep(0.05)

        def after(event_name: str = "", **_: Any) -> None:
            if event_name.endswith(UNPARSED):
                return
            with self.lock:
                self.now -= 1

        # per HTTP request, failed ones included (a 500 that cannot be parsed emits no after-call)
        access.hooks.extend([("before-send.*.*", before), ("response-received.*.*", after)])


def _ctx(tmp_path: Path, run_id: str, finding: Any = None) -> tuple[StepContext, AwsAccess]:
    access = AwsAccess(load_settings().aws)
    ctx = StepContext(run_id=run_id, step_id="capture", playbook_id="pb", finding=finding or finding_of(sample_event()),
                      clock=FixedClock(AT), evidence=LocalLocker(tmp_path / "ev"), settings=load_settings(),
                      connectors=Connectors(aws=access))
    return ctx, access


def _captured(ctx: StepContext, outcome: ActionOutcome) -> bytes:
    return ctx.evidence.read(ctx.run_id, outcome.artifacts[0]["name"])


def _both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capture: Any, finding: Any = None) -> tuple[bytes, bytes,
                                                                                                        int, int]:
    """The document captured one read at a time and with the pool; and the most reads in flight for each."""
    out = []
    for mode in ("1", ""):
        if mode:
            monkeypatch.setenv(parallel.ENV, mode)
        else:
            monkeypatch.delenv(parallel.ENV, raising=False)
        ctx, access = _ctx(tmp_path, f"run-pool-{mode or 'default'}", finding)
        access.home_identity()
        flight = InFlight(access)
        out.append((_captured(ctx, capture(ctx)), flight.most))
    (seq, seq_most), (par, par_most) = out
    return seq, par, seq_most, par_most


# ---------------------------------------------------------------------------------------------- IAM
def _seed_user() -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="ci-deploy", Path="/ci/", Tags=[{"Key": "team", "Value": "payments"}])
    for name in ("zeta-app", "alpha-app"):
        iam.put_user_policy(UserName="ci-deploy", PolicyName=name, PolicyDocument=json.dumps(POLICY))
    arn = iam.create_policy(PolicyName="deploy", PolicyDocument=json.dumps(POLICY))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="ci-deploy", PolicyArn=arn)
    iam.create_group(GroupName="developers")
    iam.add_user_to_group(GroupName="developers", UserName="ci-deploy")
    iam.create_access_key(UserName="ci-deploy")
    iam.create_access_key(UserName="ci-deploy")
    iam.create_login_profile(UserName="ci-deploy", Password="Not-A-Real-Passw0rd!")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="ci-deploy")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="ci-deploy", SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")


def _seed_role() -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(RoleName="web", Path="/payments/", AssumeRolePolicyDocument=json.dumps(TRUST),
                    Tags=[{"Key": "team", "Value": "payments"}])
    for name in ("zeta", "alpha"):
        iam.put_role_policy(RoleName="web", PolicyName=name, PolicyDocument=json.dumps(POLICY))
    arn = iam.create_policy(PolicyName="web-read", PolicyDocument=json.dumps(POLICY))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="web", PolicyArn=arn)
    iam.create_instance_profile(InstanceProfileName="web")
    iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="web")


def _sequential_user(user: str) -> dict[str, Any]:
    """The capture as it was: every read after the other, in this order."""
    iam = boto3.client("iam", region_name="us-east-1")
    out: dict[str, Any] = {"kind": "user", "name": user, "captured_at": AT.isoformat()}
    out["user"] = iam.get_user(UserName=user)["User"]
    out["attached_policies"] = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    names = iam.list_user_policies(UserName=user)["PolicyNames"]
    out["inline_policies"] = {n: dict(iam.get_user_policy(UserName=user, PolicyName=n)["PolicyDocument"])
                              for n in names}
    out["groups"] = iam.list_groups_for_user(UserName=user)["Groups"]
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    for key in keys:
        key["LastUsed"] = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed", {})
    out["access_keys"] = keys
    out["login_profile"] = iam.get_login_profile(UserName=user)["LoginProfile"]
    out["mfa_devices"] = iam.list_mfa_devices(UserName=user)["MFADevices"]
    out["tags"] = iam.list_user_tags(UserName=user).get("Tags", [])
    out["arn"] = out["user"].get("Arn")
    return jsonable(out)


def _sequential_role(role: str) -> dict[str, Any]:
    iam = boto3.client("iam", region_name="us-east-1")
    out: dict[str, Any] = {"kind": "role", "name": role, "captured_at": AT.isoformat()}
    out["role"] = iam.get_role(RoleName=role)["Role"]
    out["arn"] = out["role"].get("Arn")
    out["attached_policies"] = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    out["inline_policies"] = {n: dict(iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"])
                              for n in names}
    out["instance_profiles"] = iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]
    out["tags"] = iam.list_role_tags(RoleName=role).get("Tags", [])
    return jsonable(out)


def _as_written(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True, default=str, ensure_ascii=False).encode()


def test_user_evidence_is_the_sequential_document(moto_endpoint: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _seed_user()
    expected = _as_written(_sequential_user("ci-deploy"))
    seq, par, seq_most, par_most = _both(
        tmp_path, monkeypatch, lambda ctx: CapturePrincipal().apply(ctx, PrincipalRef(user_name="ci-deploy")))
    assert seq == par == expected
    assert hashlib.sha256(par).hexdigest() == hashlib.sha256(expected).hexdigest()
    doc = json.loads(par)
    assert len(doc["access_keys"]) == 2 and sorted(doc["inline_policies"]) == ["alpha-app", "zeta-app"]
    assert doc["mfa_devices"] and doc["login_profile"] and doc["groups"]  # every read had something to say
    assert seq_most == 1 and par_most >= 8  # the eight first-round reads were in flight together


def test_role_evidence_is_the_sequential_document(moto_endpoint: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _seed_role()
    expected = _as_written(_sequential_role("web"))
    seq, par, seq_most, par_most = _both(
        tmp_path, monkeypatch, lambda ctx: CapturePrincipal().apply(ctx, PrincipalRef(role_name="web")))
    assert seq == par == expected
    doc = json.loads(par)
    assert doc["instance_profiles"] and sorted(doc["inline_policies"]) == ["alpha", "zeta"]
    assert seq_most == 1 and par_most >= 5


# ---------------------------------------------------------------------------------------------- EC2, S3
def test_instance_evidence_is_the_same_whichever_read_came_back_first(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finding = load_file(FIXTURES / "guardduty" / "ec2-bitcointool-bare.json")[0]
    seed_resources(Sandbox(endpoint=moto_endpoint, account_id="123456789012", region="us-east-1"), finding)
    instance = finding.first("ec2_instance").instance_id
    seq, par, seq_most, par_most = _both(
        tmp_path, monkeypatch, lambda ctx: CaptureInstance().apply(ctx, CaptureInstanceInput(instance_id=instance)),
        finding)
    assert seq == par
    doc = json.loads(par)
    assert doc["instance"]["InstanceId"] == instance and doc["volumes"] and doc["security_groups"]
    assert doc["instance_profile"] and doc["autoscaling"] and doc["target_groups"]
    assert seq_most == 1 and par_most >= 6


def test_bucket_evidence_is_the_same_whichever_read_came_back_first(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exposed-reports")
    public = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
              "Resource": "arn:aws:s3:::exposed-reports/*"}
    s3.put_bucket_policy(Bucket="exposed-reports", Policy=json.dumps({"Version": "2012-10-17", "Statement": [public]}))
    s3.put_bucket_tagging(Bucket="exposed-reports", Tagging={"TagSet": [{"Key": "team", "Value": "finance"}]})
    s3.put_bucket_versioning(Bucket="exposed-reports", VersioningConfiguration={"Status": "Enabled"})
    seq, par, seq_most, par_most = _both(
        tmp_path, monkeypatch, lambda ctx: CaptureBucket().apply(ctx, BucketInput(bucket_name="exposed-reports")))
    assert seq == par
    doc = json.loads(par)
    assert doc["policy"] and doc["tags"] == {"team": "finance"} and doc["versioning"]["Status"] == "Enabled"
    assert seq_most == 1 and par_most >= 8
