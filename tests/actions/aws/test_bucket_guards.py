"""Bucket-policy guards (deny outside accounts, deny deletion), versioning and the version list as evidence,
against moto over HTTP, with release restoring the policy exactly."""

from __future__ import annotations

import json

import boto3
import pytest

from responder.actions.aws.s3 import (
    BucketInput,
    DenyExternalAccounts,
    DenyExternalAccountsInput,
    DenyObjectDeletion,
    EnableVersioning,
    ListObjectVersions,
    ListVersionsInput,
    bucket_policy,
)
from responder.errors import Refused, TargetChanged
from tests.actions.aws.action_ctx import ACCOUNT, OUTSIDE, step_context

BUCKET = "payroll-exports"
GRANT = {
    "Sid": "AttackerRead",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"},
    "Action": "s3:GetObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
}


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [GRANT]}))
    return BUCKET


def test_outside_account_denied_then_released(bucket: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    s3 = boto3.client("s3", region_name="us-east-1")
    inp = DenyExternalAccountsInput(bucket_name=bucket, accounts=[OUTSIDE])
    done = DenyExternalAccounts().apply(ctx, inp)
    policy = bucket_policy(s3, bucket)
    deny = next(s for s in policy["Statement"] if s["Sid"] == "ResponderDenyExternalAccounts")
    assert deny["Effect"] == "Deny" and deny["Principal"]["AWS"] == [f"arn:aws:iam::{OUTSIDE}:root"]
    assert GRANT in policy["Statement"], "the attacker's grant stays as evidence"
    assert not DenyExternalAccounts().apply(ctx, inp).changed
    DenyExternalAccounts().undo(ctx, inp, done)
    assert bucket_policy(s3, bucket)["Statement"] == [GRANT]


def test_the_owner_account_is_never_denied(bucket: str, tmp_path) -> None:
    with pytest.raises(Refused):
        DenyExternalAccounts().apply(
            step_context(tmp_path), DenyExternalAccountsInput(bucket_name=bucket, accounts=[ACCOUNT])
        )


def test_deletion_guard_on_a_bucket_without_policy_release_deletes_it(moto_endpoint: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="plain")
    done = DenyObjectDeletion().apply(ctx, BucketInput(bucket_name="plain"))
    assert done.changed and done.before == {"policy": None}
    stmt = bucket_policy(s3, "plain")["Statement"][0]
    assert "s3:DeleteObjectVersion" in stmt["Action"] and stmt["Principal"] == "*"
    DenyObjectDeletion().undo(ctx, BucketInput(bucket_name="plain"), done)
    assert bucket_policy(s3, "plain") is None


def test_guard_release_refuses_an_edited_policy(bucket: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    done = DenyObjectDeletion().apply(ctx, BucketInput(bucket_name=bucket))
    boto3.client("s3", region_name="us-east-1").put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [GRANT]})
    )
    with pytest.raises(TargetChanged):
        DenyObjectDeletion().undo(ctx, BucketInput(bucket_name=bucket), done)


def test_versioning_on_and_versions_listed(bucket: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    s3 = boto3.client("s3", region_name="us-east-1")
    done = EnableVersioning().apply(ctx, BucketInput(bucket_name=bucket))
    assert done.changed and s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_object(Bucket=bucket, Key="a.csv", Body=b"1")
    s3.put_object(Bucket=bucket, Key="a.csv", Body=b"encrypted")
    s3.delete_object(Bucket=bucket, Key="a.csv")
    listed = ListObjectVersions().apply(ctx, ListVersionsInput(bucket_name=bucket))
    assert listed.output["versions"] == 2 and listed.output["delete_markers"] == 1
    saved = json.loads(ctx.evidence.read(ctx.run_id, listed.output["artifact"]))
    assert {v["Key"] for v in saved["versions"]} == {"a.csv"}
    EnableVersioning().undo(ctx, BucketInput(bucket_name=bucket), done)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
