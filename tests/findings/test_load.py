"""Malformed and truncated events: a clear error naming the event and the field; nothing parsed half."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from responder.errors import FindingInvalid
from responder.findings import load_text, parse_event
from tests.helpers import SAMPLE, sample_event


def test_truncated_event_names_the_position() -> None:
    body = SAMPLE.read_text()[:400]
    with pytest.raises(FindingInvalid) as info:
        load_text(body, "cut.json")
    assert str(info.value).startswith("cut.json: line ")
    assert "truncated" in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e["detail"].pop("id"), "detail.id"),
        (lambda e: e["detail"].pop("type"), "detail.type"),
        (lambda e: e["detail"].__setitem__("severity", "very"), "detail.severity"),
        (lambda e: e.__setitem__("detail", "nope"), "detail"),
    ],
)
def test_missing_or_wrong_fields_are_named(mutate, field: str) -> None:
    event = sample_event()
    mutate(event)
    with pytest.raises(FindingInvalid) as info:
        parse_event(event, "evt.json")
    assert info.value.field == field
    assert info.value.exit_code == 2


def test_unknown_shapes_are_refused_with_what_was_expected() -> None:
    with pytest.raises(FindingInvalid, match="not a recognised finding"):
        parse_event({"hello": "world"}, "x.json")
    with pytest.raises(FindingInvalid, match="expected a JSON object"):
        parse_event([1, 2], "x.json")


def test_every_field_may_be_null() -> None:
    event = sample_event()
    detail = event["detail"]
    for key in ("resource", "service", "title", "region", "createdAt", "updatedAt", "partition"):
        detail[key] = None
    finding = parse_event(event, "nulls.json")[0]
    assert finding.resource.kind == "other"
    assert finding.region is None


def test_unknown_resource_kind_keeps_the_raw_event() -> None:
    event = sample_event()
    event["detail"]["resource"] = {"resourceType": "QuantumComputer", "quantumDetails": {"qubits": 7}}
    finding = parse_event(event, "new.json")[0]
    assert finding.resource.kind == "other"
    assert finding.resource.resource_type == "QuantumComputer"
    assert finding.raw["resource"]["quantumDetails"]["qubits"] == 7


def test_json_lines_and_sns_wrapping(tmp_path: Path) -> None:
    event = sample_event()
    lines = "\n".join(json.dumps(event) for _ in range(2))
    assert len(load_text(lines, "lines.jsonl")) == 2
    sns = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(event)}}]}
    assert parse_event(sns, "sns.json")[0].type == event["detail"]["type"]


@pytest.mark.parametrize(
    "family",
    [
        (
            "Execution:Runtime/NewBinaryExecuted",
            {
                "resourceType": "EKSCluster",
                "eksClusterDetails": {"name": "prod"},
                "kubernetesDetails": {
                    "kubernetesWorkloadDetails": {
                        "name": "web-1",
                        "type": "pods",
                        "namespace": "shop",
                        "containers": [{"name": "app", "image": "nginx"}],
                    }
                },
            },
            "k8s_pod",
        ),
        (
            "Execution:Lambda/SuspiciousToolInvoked",
            {"resourceType": "Lambda", "lambdaDetails": {"functionName": "f"}},
            "lambda_function",
        ),
        (
            "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin",
            {"resourceType": "RDSDBInstance", "rdsDbInstanceDetails": {"dbInstanceIdentifier": "db1"}},
            "rds_instance",
        ),
        (
            "Execution:EC2/MaliciousFile",
            {
                "resourceType": "Instance",
                "instanceDetails": {"instanceId": "i-0abc"},
                "ebsVolumeDetails": {"scannedVolumeDetails": []},
            },
            "ec2_instance",
        ),
        (
            "Policy:S3/BucketBlockPublicAccessDisabled",
            {"resourceType": "S3Bucket", "s3BucketDetails": [{"name": "b"}]},
            "s3_bucket",
        ),
    ],
)
def test_every_guardduty_family_parses(family) -> None:
    ftype, resource, kind = family
    event = sample_event(type=ftype, resource=resource)
    finding = parse_event(event, "family.json")[0]
    assert finding.type == ftype
    assert finding.resource.kind == kind
