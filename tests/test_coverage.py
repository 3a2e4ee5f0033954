"""``responder coverage``: every documented GuardDuty type, answered by a playbook (through the real
trigger matcher) or notify-only; the type list is data with its source."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from responder.actions.registry import default_registry
from responder.app import load_shipped
from responder.cli import app
from responder.coverage import coverage, documented_types, summary
from tests.helpers import ROOT

PLAYBOOKS = [p.playbook for p in load_shipped(default_registry(), [ROOT / "playbooks"])]


def _rows() -> dict[str, dict]:
    return {r.type: r.as_dict() for r in coverage(PLAYBOOKS)}


def test_the_type_list_is_data_with_a_source() -> None:
    from importlib import resources

    text = (resources.files("responder") / "data" / "guardduty_finding_types.txt").read_text()
    assert "docs.aws.amazon.com/guardduty/latest/ug" in text and "WITHOUT network access" in text
    types = [t for _, t in documented_types()]
    assert len(types) == len(set(types)) > 150
    sections = {s for s, _ in documented_types()}
    assert {"ec2", "iam", "s3", "eks-audit-log", "runtime", "malware-protection", "rds", "lambda",
            "attack-sequence"} <= sections
    assert all(":" in t and "/" in t for t in types)


def test_each_class_is_answered_by_its_playbook() -> None:
    rows = _rows()
    def answered(t: str) -> set[str]:
        return {a["playbook"] for a in rows[t]["answered_by"]}
    assert "ec2-instance-compromise" in answered("Backdoor:EC2/C&CActivity.B!DNS")
    assert "ec2-instance-compromise" in answered("Execution:EC2/MaliciousFile")
    assert "ec2-instance-compromise" in answered("CryptoCurrency:Runtime/BitcoinTool.B")
    assert answered("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS") == {
        "iam-role-session-compromise"}
    both = {"iam-credential-compromise", "iam-role-session-compromise"}
    assert both <= answered("UnauthorizedAccess:IAMUser/TorIPCaller")
    assert "s3-exposure" in answered("Policy:S3/BucketPublicAccessGranted")
    assert "s3-exposure" in answered("Exfiltration:S3/AnomalousBehavior")
    floors = {a["min_severity"] for a in rows["Policy:S3/BucketPublicAccessGranted"]["answered_by"]}
    assert floors == {7.0}


def test_unanswered_types_are_notify_only() -> None:
    rows = _rows()
    for t in ("Recon:EC2/PortProbeUnprotectedPort", "Policy:IAMUser/RootCredentialUsage",
              "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin", "Backdoor:Lambda/C&CActivity.B",
              "Discovery:S3/MaliciousIPCaller"):
        assert rows[t]["notify_only"] and rows[t]["answered_by"] == [], t
    totals = summary(list(coverage(PLAYBOOKS)))
    assert totals["answered"] + totals["notify_only"] == totals["types"]


def test_cli_json_and_table(responder_home) -> None:
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["coverage", "--json", "--section", "s3"], catch_exceptions=False).stdout)
    assert {r["type"] for r in data["types"]} >= {"Policy:S3/BucketAnonymousAccessGranted"}
    assert all(r["type"].split(":", 1)[1].startswith("S3/") for r in data["types"])
    assert data["summary"]["types"] == len(data["types"])
    table = runner.invoke(app, ["coverage"], catch_exceptions=False)
    assert table.exit_code == 0 and "notify-only" in table.stdout
