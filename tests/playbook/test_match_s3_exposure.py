"""Severity floors do not hide exposure: a Low ``Policy:S3/BucketBlockPublicAccessDisabled`` finding is
answered by the shipped s3-exposure playbook, which blocks public access only when the bucket is really
public. Real engine, real SQLite, boto3 against a moto server over HTTP.

Fixture: tests/fixtures/findings/guardduty/s3-block-public-access-disabled-low.json (severity 2, published
shape ``resourceType: AccessKey`` + ``s3BucketDetails``), basis in tests/fixtures/findings/SOURCES.md.
"""

from __future__ import annotations

import json

import boto3
import pytest

from responder.actions.registry import default_registry
from responder.findings import load_file
from responder.findings.model import Finding
from responder.playbook.match import evaluate
from responder.playbook.validate import LoadedPlaybook, load_playbooks
from tests.conftest import FIXTURES
from tests.helpers import ROOT, engine

LOW = FIXTURES / "findings" / "guardduty" / "s3-block-public-access-disabled-low.json"
BUCKET = "example-analytics-exports"


def s3_exposure() -> LoadedPlaybook:
    (loaded,) = load_playbooks([ROOT / "playbooks" / "s3-exposure.yaml"], default_registry())
    return loaded


def low_finding() -> Finding:
    (finding,) = load_file(LOW)
    assert finding.severity == 2.0 and finding.resource.bucket_name == BUCKET
    return finding


def make_bucket(public: bool) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    if public:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{BUCKET}/*",
                }
            ],
        }
        s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))


def block(s3_client) -> dict[str, bool]:
    return s3_client.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]


def test_low_policy_finding_is_answered_below_the_floor() -> None:
    result = evaluate(s3_exposure().playbook, low_finding())
    assert result.matched and result.below_floor


@pytest.mark.parametrize(("public", "blocked"), [(True, True), (False, False)])
def test_low_finding_blocks_only_a_really_public_bucket(
    moto_endpoint: str, responder_home, public: bool, blocked: bool
) -> None:
    make_bucket(public)
    run = engine().run(s3_exposure(), low_finding())
    steps = {s["id"]: s for s in run.steps}
    assert steps["capture_bucket"]["status"] == "succeeded", [(s["id"], s["error"]) for s in run.steps]
    assert steps["capture_bucket"]["output"]["public"] is public
    assert steps["block_public_access"]["status"] == ("succeeded" if blocked else "skipped")
    assert all(block(boto3.client("s3", region_name="us-east-1")).values()) is blocked


def test_a_high_policy_finding_still_blocks_on_the_findings_word(moto_endpoint: str, responder_home) -> None:
    make_bucket(public=False)
    finding = low_finding().model_copy(update={"severity": 8.0, "type": "Policy:S3/BucketAnonymousAccessGranted"})
    run = engine().run(s3_exposure(), finding)
    steps = {s["id"]: s for s in run.steps}
    assert steps["block_public_access"]["status"] == "succeeded"
