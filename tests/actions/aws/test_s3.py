"""S3 evidence and public-access blocking against moto over HTTP, with release and drift checks.

The bucket is the one a GuardDuty ``Exfiltration:S3/AnomalousBehavior`` finding names
(tests/fixtures/guardduty/s3-exfiltration-anomalousbehavior-list.json, basis in SOURCES.md there), seeded
by responder's sandbox seeding with a public-read policy.
"""

from __future__ import annotations

import json

import boto3
import pytest

from responder.actions.aws.s3 import BLOCK_ALL, BlockPublicAccess, BucketInput, CaptureBucket
from responder.actions.base import Connectors, StepContext
from responder.aws.sessions import AwsAccess
from responder.clock import SystemClock
from responder.config import load_settings
from responder.errors import TargetChanged
from responder.evidence.local import LocalLocker
from responder.findings import load_file
from responder.sandbox import Sandbox
from responder.sandbox.resources import seed_resources
from tests.conftest import FIXTURES

EXFIL = FIXTURES / "guardduty" / "s3-exfiltration-anomalousbehavior-list.json"
BUCKET = "example-analytics-exports"


@pytest.fixture
def ctx(moto_endpoint: str, tmp_path) -> StepContext:
    finding = load_file(EXFIL)[0]
    seed_resources(Sandbox(endpoint=moto_endpoint, account_id="123456789012", region="us-east-1"), finding)
    return StepContext(run_id="run-s3-test", step_id="step", playbook_id="pb", finding=finding,
                       clock=SystemClock(), evidence=LocalLocker(tmp_path / "ev"), settings=load_settings(),
                       connectors=Connectors(aws=AwsAccess(load_settings().aws)))


def test_capture_bucket_records_how_it_was_exposed(ctx: StepContext) -> None:
    s3 = boto3.client("s3")
    s3.put_bucket_ownership_controls(Bucket=BUCKET,
                                     OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    out = CaptureBucket().apply(ctx, BucketInput(bucket_name=BUCKET))
    assert not out.changed
    assert out.output["public"] and out.output["public_policy"] and not out.output["public_acl"]
    assert out.output["public_access_block"] is None
    saved = json.loads(ctx.evidence.read("run-s3-test", out.output["artifact"]))
    assert saved["policy"]["Statement"][0]["Principal"] == "*"
    assert saved["ownership_controls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
    assert saved["acl"]["Owner"] and saved["public_access_block"] is None
    assert "captured_at" in saved


def test_public_acl_is_seen(ctx: StepContext) -> None:
    boto3.client("s3").put_bucket_acl(Bucket=BUCKET, ACL="public-read")
    out = CaptureBucket().apply(ctx, BucketInput(bucket_name=BUCKET))
    assert out.output["public_acl"]


def test_block_public_access_is_idempotent_and_released_exactly(ctx: StepContext) -> None:
    s3 = boto3.client("s3")
    action, inp = BlockPublicAccess(), BucketInput(bucket_name=BUCKET)
    applied = action.apply(ctx, inp)
    assert applied.changed and applied.before == {"public_access_block": None}
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == BLOCK_ALL
    assert not action.apply(ctx, inp).changed
    action.undo(ctx, inp, applied)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchPublicAccessBlockConfiguration"):
        s3.get_public_access_block(Bucket=BUCKET)


def test_a_partial_block_is_restored_as_it_was(ctx: StepContext) -> None:
    s3 = boto3.client("s3")
    partial = {**BLOCK_ALL, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=partial)
    action, inp = BlockPublicAccess(), BucketInput(bucket_name=BUCKET)
    applied = action.apply(ctx, inp)
    action.undo(ctx, inp, applied)
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == partial


def test_release_refused_after_drift_naming_the_setting(ctx: StepContext) -> None:
    s3 = boto3.client("s3")
    action, inp = BlockPublicAccess(), BucketInput(bucket_name=BUCKET)
    applied = action.apply(ctx, inp)
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={**BLOCK_ALL, "IgnorePublicAcls": False})
    with pytest.raises(TargetChanged, match="IgnorePublicAcls"):
        action.undo(ctx, inp, applied)
    action.undo(ctx, inp, applied, force=True)
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_public_access_block(Bucket=BUCKET)


def test_a_missing_bucket_is_target_changed(ctx: StepContext) -> None:
    with pytest.raises(TargetChanged, match="does not exist"):
        CaptureBucket().apply(ctx, BucketInput(bucket_name="no-such-bucket-here"))
    with pytest.raises(TargetChanged, match="does not exist"):
        BlockPublicAccess().plan(ctx, BucketInput(bucket_name="no-such-bucket-here"))
