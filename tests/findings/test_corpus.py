"""Every real published finding in ../shared/datasets parses and goes through `responder match`.

The cheapest guard against a parser that only knows its own fixtures. This is the published-corpus tier:
it reads every file under ``DATASETS/findings`` in place when the corpus is beside the checkout (CI has it)
and is skipped, with one reason, on a clone that has only the project's own fixtures. Sources of each file:
../shared/datasets/findings/SOURCES.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from responder.cli import app
from responder.findings import load_file
from tests.conftest import DATASETS, DATASETS_ABSENT, DATASETS_PRESENT

FINDINGS = sorted((DATASETS / "findings").rglob("*.json*")) if (DATASETS / "findings").exists() else []
pytestmark = pytest.mark.skipif(not DATASETS_PRESENT, reason=DATASETS_ABSENT)  # the corpus tier


def test_the_corpus_holds_findings() -> None:
    """A present corpus with no findings is a broken checkout of it, not a reason to pass quietly."""
    assert FINDINGS, f"no *.json* under {DATASETS.name}/findings"


@pytest.mark.parametrize("path", FINDINGS, ids=lambda p: p.name)
def test_published_finding_parses_and_matches(path: Path) -> None:
    findings = load_file(path)
    assert findings
    for finding in findings:
        assert finding.id and finding.type
        assert 0 <= finding.severity <= 10
        assert finding.raw
    result = CliRunner().invoke(app, ["match", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = data["findings"] if isinstance(data, dict) else data
    assert len(rows) == len(findings)


EXPECTED = {
    "iam-tor-ipcaller.json": ("UnauthorizedAccess:IAMUser/TorIPCaller", "access_key", "883606788610"),
    "ec2-backdoor-cc-activity-dns.json": ("Backdoor:EC2/C&CActivity.B!DNS", "ec2_instance", "883606788610"),
    "iam-recon-userpermissions-getfindings-cli.json": ("Recon:IAMUser/UserPermissions", "access_key", "111122223333"),
    "s3-discovery-maliciousipcaller-pascalcase.json": ("Discovery:S3/MaliciousIPCaller", "s3_bucket", "971379943828"),
    "guardduty-ssh-bruteforce-asff-docs.json": ("UnauthorizedAccess:EC2/SSHBruteForce", "ec2_instance", "193043430472"),
    "guardduty-cloudtrail-logging-disabled-asff.json": (
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "role_session",
        "111111111111",
    ),
}


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_published_findings_normalise_as_documented(name: str, expected: tuple[str, str, str]) -> None:
    path = next(p for p in FINDINGS if p.name == name)
    finding = load_file(path)[0]
    assert (finding.type, finding.resource.kind, finding.account_id) == expected


def test_secret_scanner_reports_start_at_commit_time_and_drop_secrets() -> None:
    path = next(p for p in FINDINGS if p.name == "gitleaks-v8-readme-finding-aws.json")
    finding = load_file(path)[0]
    assert finding.resource.access_key_id == "AKIAIMNOJVGFDXXXE4OA"
    assert finding.incident_start.isoformat() == "2018-01-28T22:39:00+00:00"
    truffle = load_file(next(p for p in FINDINGS if p.name == "trufflehog-v3-git-aws-readme.jsonl"))[0]
    assert truffle.incident_start.isoformat() == "2022-06-16T17:17:40+00:00"
    assert truffle.account_id == "595918472158"


FAMILY_KINDS = {
    "S3": {"s3_bucket"},
    "EC2": {"ec2_instance"},
    "IAMUser": {"access_key", "role_session", "iam_user"},
    "Kubernetes": {"k8s_pod", "eks_cluster"},
    "Runtime": {"k8s_pod", "ecs_task", "eks_cluster", "ecs_cluster", "ec2_instance"},
}


@pytest.mark.parametrize("path", FINDINGS, ids=lambda p: p.name)
def test_published_findings_name_their_primary_resource_by_type(path: Path) -> None:
    from responder.findings.roles import family

    for finding in load_file(path):
        assert all(r.role in ("actor", "target") for r in finding.all_resources())
        expected = FAMILY_KINDS.get(family(finding.type) or "", set())
        if expected & set(finding.resource_kinds) and finding.product == "GuardDuty":
            assert finding.resource.kind in expected, (finding.type, finding.resource_kinds)
