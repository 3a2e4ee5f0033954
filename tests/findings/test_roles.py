"""The rules every adapter shares: the primary resource by finding type, principals by what they are."""

from __future__ import annotations

import pytest

from responder.findings.model import AccessKey, Bucket, Cluster, IamUser, Instance, Other, Pod, RoleSession
from responder.findings.roles import choose_primary, credential_principal, dedupe, family, parse_principal_arn


@pytest.mark.parametrize(
    ("finding_type", "expected"),
    [
        ("Policy:S3/BucketBlockPublicAccessDisabled", "S3"),
        ("[beta]Exfiltration:S3/AnomalousBehavior", "S3"),
        ("TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce", "EC2"),
        ("Execution:Kubernetes/ExecInKubeSystemPod", "Kubernetes"),
        ("AttackSequence:IAM/CompromisedCredentials", "IAM"),
        ("Software and Configuration Checks", None),
        ("", None),
    ],
)
def test_family_of_a_type(finding_type: str, expected: str | None) -> None:
    assert family(finding_type) == expected


KEY = AccessKey(access_key_id="AKIAX", user_type="IAMUser")
BUCKET = Bucket(bucket_name="b")
INSTANCE = Instance(instance_id="i-1")


@pytest.mark.parametrize(
    ("finding_type", "found", "resource_type", "expected"),
    [
        ("Policy:S3/BucketBlockPublicAccessDisabled", [KEY, BUCKET], "AccessKey", BUCKET),
        ("CryptoCurrency:EC2/BitcoinTool.B", [KEY, INSTANCE], "AccessKey", INSTANCE),
        ("UnauthorizedAccess:IAMUser/TorIPCaller", [INSTANCE, KEY], "Instance", KEY),
        (
            "Execution:Kubernetes/X",
            [Pod(namespace="n"), Cluster(cluster_name="c")],
            "EKSCluster",
            Cluster(cluster_name="c"),
        ),
        ("Execution:Kubernetes/X", [Cluster(cluster_name="c"), Pod(pod_name="p")], "EKSCluster", Pod(pod_name="p")),
        ("Weird:Thing/New", [KEY, Other(resource_type="Q"), INSTANCE], "Q", INSTANCE),
        ("Weird:Thing/New", [Other(resource_type="Q")], "Q", Other(resource_type="Q")),
    ],
)
def test_primary_is_what_the_type_is_about(finding_type, found, resource_type, expected) -> None:
    assert choose_primary(finding_type, found, resource_type) == expected


def test_a_finding_about_a_principal_prefers_its_credentials_to_a_named_user() -> None:
    user, session = IamUser(user_name="u"), RoleSession(role_name="r")
    assert choose_primary("Persistence:IAMUser/AnomalousBehavior", [user, session]) == session


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:sts::123456789012:assumed-role/admin/alice@example.com", ("admin", "alice@example.com")),
        ("arn:aws-us-gov:iam::123456789012:role/path/to/deploy", ("deploy", None)),
        ("arn:aws:iam::123456789012:user/bob", (None, None)),
        (None, (None, None)),
    ],
)
def test_principal_arns(arn: str | None, expected: tuple[str | None, str | None]) -> None:
    assert parse_principal_arn(arn) == expected


def test_an_account_id_is_not_a_role_name() -> None:
    session = credential_principal(
        finding_type="Exfiltration:S3/AnomalousBehavior",
        access_key_id=None,
        principal_id="AROAEXAMPLE:i-0abc",
        user_name="987654321023",
        user_type="AWSAccount",
    )
    assert (session.kind, session.role_name, session.session_name) == ("role_session", None, "i-0abc")


def test_user_session_tokens_stay_the_users() -> None:
    key = credential_principal(
        finding_type="Recon:IAMUser/UserPermissions",
        access_key_id="ASIAEXAMPLE",
        principal_id="AIDAEXAMPLE",
        user_name="bob",
        user_type="IAMUser",
    )
    assert key.kind == "access_key" and key.user_name == "bob"


def test_dedupe_keeps_the_first_mention_of_a_resource() -> None:
    rich = Bucket(bucket_name="b", owner="o")
    assert dedupe(
        [rich, Bucket(bucket_name="b"), Pod(pod_name="p", namespace="n"), Pod(pod_name="p", namespace="m")]
    ) == [
        rich,
        Pod(pod_name="p", namespace="n"),
        Pod(pod_name="p", namespace="m"),
    ]
