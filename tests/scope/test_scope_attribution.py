"""What the subject left behind, parsed from request parameters in the shapes CloudTrail records them.

Each record below is composed by us after the AWS documentation's CloudTrail examples for the call
(EC2 ModifySnapshotAttribute / ModifyImageAttribute, RDS ModifyDBSnapshotAttribute, S3 PutBucketAcl /
PutBucketPolicy, KMS CreateGrant, RAM CreateResourceShare, Lambda AddPermission20150331v2, CloudTrail
PutEventSelectors), with documentation-range account ids.
"""

from __future__ import annotations

import json

import pytest

from responder.scope.attribution import attribute
from responder.scope.techniques import TACTICS, TECHNIQUES, normalise, rows_for, techniques_from

OWN, OUTSIDE, PARTNER = "111122223333", "444455556666", "777788889999"


def _row(name: str, source: str, request: dict, response: dict | None = None, error: str | None = None) -> dict:
    return {
        "time": "2026-03-01T10:00:00Z",
        "event_source": f"{source}.amazonaws.com",
        "event_name": name,
        "region": "us-east-1",
        "error_code": error,
        "access_key_id": "ASIAEXAMPLEEXAMPLE01",
        "principal_arn": f"arn:aws:sts::{OWN}:assumed-role/R/s",
        "event_id": f"id-{name}",
        "recipient_account_id": OWN,
        "request_parameters": json.dumps(request),
        "response_elements": json.dumps(response) if response is not None else None,
    }


def test_every_kind_of_grant_names_the_outside_account() -> None:
    rows = [
        _row(
            "ModifySnapshotAttribute",
            "ec2",
            {
                "snapshotId": "snap-1",
                "attributeType": "CREATE_VOLUME_PERMISSION",
                "createVolumePermission": {"add": {"items": [{"userId": OUTSIDE}]}},
            },
        ),
        _row(
            "ModifyImageAttribute",
            "ec2",
            {
                "imageId": "ami-1",
                "launchPermission": {"add": {"items": [{"group": "all"}]}},
                "attributeType": "launchPermission",
            },
        ),
        _row(
            "ModifyDBSnapshotAttribute",
            "rds",
            {"dBSnapshotIdentifier": "db-snap", "attributeName": "restore", "valuesToAdd": [OUTSIDE, PARTNER]},
        ),
        _row(
            "PutBucketPolicy",
            "s3",
            {
                "bucketName": "b",
                "bucketPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": [f"arn:aws:iam::{OUTSIDE}:root", f"arn:aws:iam::{OWN}:root"]},
                            "Action": "s3:GetObject",
                            "Resource": "arn:aws:s3:::b/*",
                        }
                    ],
                },
            },
        ),
        _row(
            "PutBucketAcl",
            "s3",
            {
                "bucketName": "b",
                "AccessControlPolicy": {
                    "AccessControlList": {
                        "Grant": [
                            {
                                "Grantee": {
                                    "xsi:type": "Group",
                                    "URI": "http://acs.amazonaws.com/groups/global/AllUsers",
                                },
                                "Permission": "READ",
                            }
                        ]
                    },
                    "Owner": {"ID": "abc"},
                },
            },
        ),
        _row(
            "CreateGrant",
            "kms",
            {
                "keyId": "arn:aws:kms:us-east-1:111122223333:key/k-1",
                "granteePrincipal": f"arn:aws:iam::{OUTSIDE}:role/x",
                "operations": ["Decrypt"],
            },
        ),
        _row(
            "CreateResourceShare",
            "ram",
            {
                "name": "share",
                "principals": [OUTSIDE],
                "resourceArns": ["arn:aws:ec2:us-east-1:111122223333:subnet/s-1"],
            },
        ),
        _row(
            "AddPermission20150331v2",
            "lambda",
            {"functionName": "fn", "statementId": "x", "action": "lambda:InvokeFunction", "principal": OUTSIDE},
        ),
        _row(
            "UpdateAssumeRolePolicy",
            "iam",
            {
                "roleName": "R",
                "policyDocument": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "ec2.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            },
                            {"Effect": "Allow", "Principal": {"AWS": OUTSIDE}, "Action": "sts:AssumeRole"},
                        ],
                    }
                ),
            },
        ),
    ]
    items, external, _ = attribute(rows, organization=frozenset({PARTNER}))
    kinds = {i["kind"]: i for i in items}
    assert kinds["snapshot_shared"]["external_accounts"] == [OUTSIDE] and kinds["snapshot_shared"]["target"] == "snap-1"
    assert kinds["image_shared"]["public"] and kinds["image_shared"]["external_accounts"] == []
    assert kinds["db_snapshot_shared"]["external_accounts"] == [OUTSIDE]  # the partner is inside the organisation
    assert kinds["bucket_policy_changed"]["external_accounts"] == [OUTSIDE]  # its own account is not outside
    assert kinds["bucket_acl_changed"]["public"]
    assert kinds["kms_grant_created"]["external_accounts"] == [OUTSIDE]
    assert kinds["resource_shared"]["external_accounts"] == [OUTSIDE]
    assert (
        kinds["lambda_permission_added"]["target"] == "fn"
        and kinds["lambda_permission_added"]["tactic"] == "persistence"
    )
    trust = kinds["trust_policy_changed"]
    assert trust["external_accounts"] == [OUTSIDE] and trust["policy_document"]["Statement"][1]["Principal"] == {
        "AWS": OUTSIDE
    }
    assert {(e["account_id"], e["event_name"]) for e in external} == {
        (OUTSIDE, "ModifySnapshotAttribute"),
        ("*", "ModifyImageAttribute"),
        (OUTSIDE, "ModifyDBSnapshotAttribute"),
        (OUTSIDE, "PutBucketPolicy"),
        ("*", "PutBucketAcl"),
        (OUTSIDE, "CreateGrant"),
        (OUTSIDE, "CreateResourceShare"),
        (OUTSIDE, "AddPermission20150331v2"),
        (OUTSIDE, "UpdateAssumeRolePolicy"),
    }


def test_a_removal_or_a_denied_grant_opens_nothing() -> None:
    removal = _row(
        "ModifySnapshotAttribute",
        "ec2",
        {"snapshotId": "snap-1", "createVolumePermission": {"remove": {"items": [{"userId": OUTSIDE}]}}},
    )
    denied = _row(
        "ModifySnapshotAttribute",
        "ec2",
        {"snapshotId": "snap-2", "createVolumePermission": {"add": {"items": [{"userId": OUTSIDE}]}}},
        error="UnauthorizedOperation",
    )
    items, external, _ = attribute([removal, denied])
    assert [i["target"] for i in items] == ["snap-2"] and items[0]["succeeded"] is False
    assert external == []  # an attempt is reported, but nothing was granted


def test_defense_evasion_items_carry_what_to_restore() -> None:
    rows = [
        _row(
            "PutEventSelectors",
            "cloudtrail",
            {
                "trailName": "arn:aws:cloudtrail:us-east-1:111122223333:trail/t",
                "eventSelectors": [{"includeManagementEvents": False}],
            },
        ),
        _row(
            "DeleteFlowLogs",
            "ec2",
            {
                "DeleteFlowLogsRequest": {
                    "FlowLogId": [{"tag": 1, "content": "fl-0abc"}, {"tag": 2, "content": "fl-0def"}]
                }
            },
        ),
        _row("StopLogging", "cloudtrail", {"name": "t"}),
        _row(
            "CreateAccessKey",
            "iam",
            {"userName": "u"},
            {"accessKey": {"accessKeyId": "AKIAEXAMPLEEXAMPLE9", "userName": "u", "status": "Active"}},
        ),
    ]
    items, _, _ = attribute(rows)
    kinds = {i["kind"]: i for i in items}
    assert kinds["event_selectors_changed"]["tactic"] == "defense-evasion"
    assert sorted(kinds["flow_logs_deleted"]["resource_ids"]) == ["fl-0abc", "fl-0def"]
    assert kinds["trail_stopped"]["target"] == "t" and kinds["trail_stopped"]["technique_id"] == "T1562.008"
    assert kinds["access_key_created"]["new_key"] == "AKIAEXAMPLEEXAMPLE9"


@pytest.mark.parametrize("request_parameters", [None, "not json", "[]", json.dumps({"names": "one"})])
def test_any_request_shape_is_data_not_a_crash(request_parameters) -> None:
    row = {**_row("GetParameters", "ssm", {}), "request_parameters": request_parameters}
    items, external, secrets = attribute([row, {**row, "event_name": "PutBucketPolicy"}])
    assert external == [] and isinstance(secrets, list)
    assert [i["kind"] for i in items] == ["bucket_policy_changed"] and items[0]["policy_document"] is None


def test_bulk_secret_reads_name_each_secret() -> None:
    rows = [
        _row("BatchGetSecretValue", "secretsmanager", {"secretIdList": ["a", "b"]}),
        _row("GetParameters", "ssm", {"names": ["/p/1", "/p/2"], "withDecryption": True}),
        _row("GetParameters", "ssm", {"names": ["/denied"]}, error="AccessDeniedException"),
    ]
    assert attribute(rows)[2] == ["a", "b", "/p/1", "/p/2"]


def test_the_table_is_cited_data_in_attack_terms() -> None:
    for row in TECHNIQUES:
        assert row.tactic in TACTICS and row.basis, row
        assert row.technique_id.startswith("T") and row.technique_id[1:5].isdigit(), row
        assert row.source.endswith(".amazonaws.com") and row.events
    assert normalise("UpdateFunctionCode20150331v2") == "UpdateFunctionCode" == normalise("UpdateFunctionCode")
    assert [r.tactic for r in rows_for("cloudtrail.amazonaws.com", "StopLogging", None)] == ["defense-evasion"]
    assert rows_for("s3.amazonaws.com", "CopyObject", None) == []  # a plain copy is nobody's technique
    assert [r.technique_id for r in rows_for("s3.amazonaws.com", "CopyObject", "sse_c")] == ["T1486"]


def test_techniques_merge_calls_and_keep_the_first_and_last_time() -> None:
    calls = [
        {
            "event_source": "ec2.amazonaws.com",
            "event_name": "DescribeInstances",
            "variant": None,
            "count": 3,
            "errors": 1,
            "first_seen": "2026-03-01T10:05:00Z",
            "last_seen": "2026-03-01T10:09:00Z",
        },
        {
            "event_source": "ec2.amazonaws.com",
            "event_name": "DescribeVolumes",
            "variant": None,
            "count": 1,
            "errors": 0,
            "first_seen": "2026-03-01T10:01:00Z",
            "last_seen": "2026-03-01T10:01:00Z",
        },
        {
            "event_source": "iam.amazonaws.com",
            "event_name": "CreateUser",
            "variant": None,
            "count": 1,
            "errors": 0,
            "first_seen": "2026-03-01T11:00:00Z",
            "last_seen": "2026-03-01T11:00:00Z",
        },
    ]
    found = techniques_from(calls, {"CreateUser": ["mallory"]})
    assert [t["tactic"] for t in found] == ["persistence", "discovery"]  # ATT&CK's tactic order
    discovery = found[1]
    assert (discovery["count"], discovery["errors"], discovery["first"], discovery["last"]) == (
        4,
        1,
        "2026-03-01T10:01:00Z",
        "2026-03-01T10:09:00Z",
    )
    assert found[0]["resources"] == ["mallory"]
