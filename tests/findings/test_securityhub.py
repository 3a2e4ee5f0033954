"""GuardDuty findings relayed through Security Hub: ASFF ``Resources[]`` (in a ``Security Hub Findings -
Imported`` event and in a ``GetFindings`` answer) and OCSF ``resources[]`` + ``actor`` (``Findings Imported
V2``) name every resource with its role; the primary is chosen by the GuardDuty type.

Fixtures: tests/fixtures/findings/securityhub, basis in tests/fixtures/findings/SOURCES.md.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

from responder.actions.registry import default_registry
from responder.findings import load_file, parse_event
from responder.playbook.match import matching
from responder.playbook.model import Playbook
from responder.playbook.validate import load_playbooks
from tests.conftest import FIXTURES
from tests.helpers import ROOT

SECURITYHUB = FIXTURES / "findings" / "securityhub"

EXPECTED = {
    "asff-ec2-backdoor-cc": ("ec2_instance", "ec2-instance-compromise"),
    "asff-iam-user-key-maliciousipcaller": ("access_key", "iam-credential-compromise"),
    "asff-iam-anomalous-role-session": ("role_session", "iam-role-session-compromise"),
    "asff-iam-instance-credential-exfiltration": ("role_session", "iam-role-session-compromise"),
    "asff-s3-block-public-access-disabled-low": ("s3_bucket", "s3-exposure"),
    "asff-s3-exfiltration-maliciousipcaller": ("s3_bucket", "s3-exposure"),
    "ocsf-s3-block-public-access-disabled-low": ("s3_bucket", "s3-exposure"),
}


# The playbooks this normalisation was written for; playbooks for other families are tested by their owners.
CORE = (
    "ec2-instance-compromise",
    "iam-credential-compromise",
    "iam-role-session-compromise",
    "k8s-pod-compromise",
    "s3-exposure",
)


@cache
def shipped_playbooks() -> list[Playbook]:
    files = [ROOT / "playbooks" / f"{name}.yaml" for name in CORE]
    return [p.playbook for p in load_playbooks(files, default_registry())]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_envelope_primary_resource_and_answering_playbook(name: str) -> None:
    kind, playbook = EXPECTED[name]
    (finding,) = load_file(SECURITYHUB / f"{name}.json")
    assert finding.resource.kind == kind
    assert [p.id for p in matching(shipped_playbooks(), finding)] == [playbook]


def test_getfindings_answer_holds_the_same_findings() -> None:
    findings = load_file(SECURITYHUB / "asff-getfindings-all.json")
    by_type = {f.type: f.resource.kind for f in findings}
    assert by_type == {
        "Backdoor:EC2/C&CActivity.B": "ec2_instance",
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom": "access_key",
        "Discovery:IAMUser/AnomalousBehavior": "role_session",
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS": "role_session",
        "Policy:S3/BucketBlockPublicAccessDisabled": "s3_bucket",
        "Exfiltration:S3/MaliciousIPCaller": "s3_bucket",
    }


def test_asff_s3_finding_lists_the_key_first_but_is_about_the_bucket() -> None:
    (finding,) = load_file(SECURITYHUB / "asff-s3-exfiltration-maliciousipcaller.json")
    assert [r["Type"] for r in finding.raw["Resources"]] == ["AwsIamAccessKey", "AwsS3Bucket"]
    assert finding.resource.bucket_name == "example-analytics-exports"
    assert finding.principal.access_key_id == "AKIAIOSFODNN7EXAMPLE" and finding.principal.role == "actor"


def test_asff_session_issuer_names_the_role() -> None:
    (finding,) = load_file(SECURITYHUB / "asff-iam-anomalous-role-session.json")
    session = finding.resource
    assert (session.role_name, session.session_name, session.role_arn) == (
        "deploy-role",
        "build-7781",
        "arn:aws:iam::123456789012:role/deploy-role",
    )


def test_asff_instance_credentials_are_a_role_session_whatever_principal_type_says() -> None:
    (finding,) = load_file(SECURITYHUB / "asff-iam-instance-credential-exfiltration.json")
    assert finding.raw["Resources"][0]["Details"]["AwsIamAccessKey"]["PrincipalType"] == "IAMUser"
    assert (finding.resource.kind, finding.resource.session_name) == ("role_session", "i-0a1b2c3d4e5f60718")
    assert finding.target["ec2_instance"].instance_id == "i-0a1b2c3d4e5f60718"


def test_ocsf_actor_user_is_the_principal() -> None:
    (finding,) = load_file(SECURITYHUB / "ocsf-s3-block-public-access-disabled-low.json")
    assert finding.resource_kinds == ("s3_bucket", "access_key")
    assert (finding.principal.access_key_id, finding.principal.user_name) == ("AKIAIOSFODNN7EXAMPLE", "ci-deploy")


@pytest.mark.parametrize(
    ("resource", "kind"),
    [
        ({"Type": "AwsLambdaFunction", "Id": "arn:aws:lambda:us-east-1:123456789012:function:f"}, "lambda_function"),
        ({"Type": "AwsRdsDbInstance", "Id": "arn:aws:rds:us-east-1:123456789012:db:d"}, "rds_instance"),
        ({"Type": "AwsEcsTask", "Id": "arn:aws:ecs:us-east-1:123456789012:task/c/t"}, "ecs_task"),
        ({"Type": "AwsEcsCluster", "Id": "arn:aws:ecs:us-east-1:123456789012:cluster/c"}, "ecs_cluster"),
        ({"Type": "Container", "Id": "abc", "Details": {"Container": {"Name": "x", "ImageName": "i"}}}, "container"),
        ({"Type": "AwsEc2Volume", "Id": "arn:aws:ec2:us-east-1:123456789012:volume/vol-1"}, "ebs_volume"),
        ({"Type": "AwsEksCluster", "Id": "arn:aws:eks:us-east-1:123456789012:cluster/k"}, "eks_cluster"),
    ],
)
def test_asff_resource_types_are_typed(resource: dict[str, object], kind: str) -> None:
    doc = json.loads((SECURITYHUB / "asff-ec2-backdoor-cc.json").read_text())
    doc["detail"]["findings"][0]["Resources"] = [resource]
    (finding,) = parse_event(doc, "asff.json")
    assert finding.resource.kind == kind and finding.resource.role == "target"
