"""Helpers shared by tests: sample findings, seeded moto principals, an engine on real parts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3

from responder.actions.registry import default_registry
from responder.app import build_engine, load_shipped
from responder.config import load_settings
from responder.engine.runner import Engine
from responder.findings import parse_event
from responder.findings.model import Finding
from responder.playbook.validate import LoadedPlaybook

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "responder" / "data" / "samples" / "guardduty-iam-exfiltration.json"
ACCOUNT = "123456789012"  # moto's default account: responder's own in these tests


def sample_event(**detail_changes: Any) -> dict[str, Any]:
    """The shipped GuardDuty sample, moved into moto's default account, with optional changes."""
    event = json.loads(SAMPLE.read_text())
    event["account"] = ACCOUNT
    event["detail"]["accountId"] = ACCOUNT
    event["detail"]["arn"] = event["detail"]["arn"].replace("111122223333", ACCOUNT)
    for path, value in detail_changes.items():
        target = event["detail"]
        parts = path.split("__")
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value
    return event


def finding_of(event: dict[str, Any]) -> Finding:
    return parse_event(copy.deepcopy(event), "test-event")[0]


def seed_user(user: str = "ci-deploy", key_id: str | None = "AKIA2E0A8F3B244C9986", account: str = ACCOUNT) -> str:
    """Create an IAM user with a key in moto; give the key the wanted id (as the sandbox does)."""
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="app",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
        ),
    )
    created = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    if key_id:
        from responder.sandbox import _rekey

        return _rekey(account, created, key_id)
    return created


def seed_irsa_role(name: str = "web-irsa", path: str = "/payments/", account: str = ACCOUNT) -> str:
    """The IAM role a pod's service account assumes through EKS's OIDC provider (IRSA)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {
                    "Federated": f"arn:aws:iam::{account}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EX"
                },
            }
        ],
    }
    role = boto3.client("iam").create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust))
    return str(role["Role"]["Arn"])


def key_status(user: str, key_id: str) -> str:
    iam = boto3.client("iam", region_name="us-east-1")
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    return next(k["Status"] for k in keys if k["AccessKeyId"] == key_id)


def inline_policies(user: str) -> list[str]:
    return sorted(boto3.client("iam", region_name="us-east-1").list_user_policies(UserName=user)["PolicyNames"])


def engine(**overrides: Any) -> Engine:
    return build_engine(load_settings(), sleep=lambda _s: None, **overrides)


def shipped(playbook_id: str = "iam-credential-compromise") -> LoadedPlaybook:
    return next(p for p in load_shipped(default_registry(), [ROOT / "playbooks"]) if p.playbook.id == playbook_id)
