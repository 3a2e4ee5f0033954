from __future__ import annotations

from responder.findings.model import Bucket, Finding, Source
from responder.notify.decision import DETERMINE, LIKELY, POSSIBLE, UNLIKELY, propose
from responder.notify.settings import notify_settings

from .conftest import SCOPE, leaked_key

ALL = ["gdpr-33", "gdpr-34", "uk-gdpr", "nis2", "hipaa", "sec-8k", "lgpd"]


def _likelihood(scope, finding=None, **config):
    result = propose(ALL, finding or leaked_key(), scope, notify_settings(config))
    return {k: v["likelihood"] for k, v in result.items()}, result


def test_tagged_bucket_with_reads_makes_gdpr_likely() -> None:
    got, result = _likelihood(SCOPE, personal_data_buckets=["customers-*"])
    assert got["gdpr-33"] == LIKELY and got["uk-gdpr"] == LIKELY and got["lgpd"] == LIKELY
    assert got["gdpr-34"] == LIKELY  # payment card data and egress: high risk indicated
    assert got["hipaa"] == UNLIKELY and got["sec-8k"] == DETERMINE and got["nis2"] == POSSIBLE
    assert any("customers-prod" in r for r in result["gdpr-33"]["reasons"])
    assert any(r.startswith("objects read from them: customers-prod") for r in result["gdpr-33"]["reasons"])


def test_no_scope_yet_means_possible_not_unlikely() -> None:
    got, result = _likelihood({})
    assert got["gdpr-33"] == POSSIBLE
    assert any("cannot be excluded" in r for r in result["gdpr-33"]["reasons"])


def test_scope_without_personal_data_for_a_non_credential_finding() -> None:
    finding = Finding(id="f", source=Source.GUARDDUTY, type="Policy:S3/BucketPublicAccessGranted",
                      resource=Bucket(bucket_name="logs"))
    got, _ = _likelihood({"buckets": [{"name": "logs", "tags": {"team": "ops"}}], "events": 3}, finding)
    assert got["gdpr-33"] == UNLIKELY and got["gdpr-34"] == UNLIKELY


def test_configured_tags_and_health_data() -> None:
    scope = {"buckets": [{"name": "ehr", "tags": [{"Key": "classification", "Value": "PHI"}], "objects_read": 9}],
             "data_categories": ["patient records"]}
    got, _ = _likelihood(scope, personal_data_tags=["classification=phi"])
    assert got["hipaa"] == LIKELY and got["gdpr-33"] == LIKELY


def test_credentials_alone_are_not_personal_data() -> None:
    finding = Finding(id="f", source=Source.GUARDDUTY, type="Policy:S3/BucketPublicAccessGranted",
                      resource=Bucket(bucket_name="logs"))
    got, _ = _likelihood({"events": 5, "data_categories": ["credentials"], "secrets_read": ["prod/db"]}, finding)
    assert got["gdpr-33"] == UNLIKELY


def test_tagged_bucket_without_reads_is_possible() -> None:
    finding = Finding(id="f", source=Source.GUARDDUTY, type="Policy:S3/BucketPublicAccessGranted",
                      resource=Bucket(bucket_name="crm"))
    got, result = _likelihood({"buckets": [{"name": "crm", "tags": {"pii": "true"}}], "events": 2}, finding)
    assert got["gdpr-33"] == POSSIBLE
    assert "no reads seen on them (yet)" in result["gdpr-33"]["reasons"]
