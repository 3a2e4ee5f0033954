"""``responder coverage``: every documented GuardDuty type, probed as GuardDuty publishes it (parsed by the
real adapter, matched by the real triggers), answered by a playbook or notify-only with a written reason;
the type list is data with its sources, retired types marked and not counted."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from responder.actions.registry import default_registry
from responder.app import load_shipped
from responder.cli import app
from responder.coverage import coverage, documented_types, probes, summary, type_list
from tests.helpers import ROOT

PLAYBOOKS = [p.playbook for p in load_shipped(default_registry(), [ROOT / "playbooks"])]
TARGET_PERCENT = 90.0


def _rows() -> dict[str, dict]:
    return {r.type: r.as_dict() for r in coverage(PLAYBOOKS)}


def _answered(rows: dict[str, dict], finding_type: str) -> set[str]:
    return {a["playbook"] for a in rows[finding_type]["answered_by"]}


def test_the_type_list_is_data_with_sources_and_retired_types_marked() -> None:
    from importlib import resources

    text = (resources.files("responder") / "data" / "guardduty_finding_types.txt").read_text()
    assert "docs.aws.amazon.com/guardduty/latest/ug" in text and "findings-custom-detection-rules" in text
    types = [t for _, t in documented_types()]
    assert len(types) == len(set(types)) >= 205
    sections = {s for s, _ in documented_types()}
    assert {
        "ec2",
        "iam",
        "s3",
        "eks-audit-log",
        "runtime",
        "malware-protection",
        "malware-protection-backup",
        "rds",
        "lambda",
        "attack-sequence",
        "custom-detection-rules",
    } <= sections
    assert all(":" in t and "/" in t and " " not in t for t in types)
    retired = {t for _, t in type_list().retired}
    assert retired == {
        "UnauthorizedAccess:EC2/TorIPCaller",
        "PrivilegeEscalation:Kubernetes/PrivilegedContainer",
        "Persistence:Kubernetes/ContainerWithSensitiveMount",
    }
    assert not retired & set(types)
    for added in (
        "Persistence:Runtime/SensitiveFileModified",
        "Execution:Runtime/MaliciousFileExecuted.Custom",
        "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS",
        "Execution:EC2/MaliciousFile!Snapshot",
        "Execution:S3/MaliciousFile!RecoveryPoint",
    ):
        assert added in types, added


def test_probes_are_published_shapes_parsed_by_the_adapter() -> None:
    s3 = dict(probes("s3", "Policy:S3/BucketPublicAccessGranted"))
    finding = s3["AccessKey+IAMUser+S3Bucket"]
    assert finding.resource.kind == "s3_bucket" and finding.principal.kind == "access_key"
    runtime = {label: f.resource.kind for label, f in probes("runtime", "Impact:Runtime/CryptoMinerExecuted")}
    assert runtime == {"Instance": "ec2_instance", "EKSCluster": "k8s_pod", "ECSCluster": "ecs_task"}
    assert [f.resource.kind for _, f in probes("lambda", "Backdoor:Lambda/C&CActivity.B")] == ["lambda_function"]
    assert [f.resource.kind for _, f in probes("rds", "CredentialAccess:RDS/TorIPCaller.SuccessfulLogin")] == [
        "rds_instance"
    ]


def test_each_family_is_answered_by_its_playbook() -> None:
    rows = _rows()
    assert "ec2-instance-compromise" in _answered(rows, "Backdoor:EC2/C&CActivity.B!DNS")
    assert {"ec2-instance-compromise", "k8s-pod-compromise", "ecs-task-compromise"} <= _answered(
        rows, "CryptoCurrency:Runtime/BitcoinTool.B"
    )
    assert "iam-role-session-compromise" in _answered(
        rows, "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    )
    assert "s3-exposure" in _answered(rows, "Policy:S3/BucketPublicAccessGranted")
    assert "lambda-function-compromise" in _answered(rows, "Backdoor:Lambda/C&CActivity.B")
    assert "rds-compromise" in _answered(rows, "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin")
    assert "ecs-task-compromise" in _answered(rows, "Execution:ECS/MaliciousFile")
    assert "root-account-compromise" in _answered(rows, "Policy:IAMUser/RootCredentialUsage")
    assert _answered(rows, "Impact:S3/AnomalousBehavior.Delete") == {"s3-ransomware"}  # one finding, one run
    assert "s3-exposure" in _answered(rows, "Exfiltration:S3/AnomalousBehavior")
    assert "s3-malicious-caller" in _answered(rows, "Discovery:S3/TorIPCaller")
    assert "attack-sequence" in _answered(rows, "AttackSequence:IAM/CompromisedCredentials")
    assert "custom-detection" in _answered(rows, "DefenseImpairment:EC2/DisableOrModifyTools")
    floors = {
        a["min_severity"]
        for a in rows["Policy:S3/BucketPublicAccessGranted"]["answered_by"]
        if a["playbook"] == "s3-exposure"
    }
    assert floors == {7.0}


def test_every_notify_only_type_carries_a_written_reason() -> None:
    rows = _rows()
    for t in ("Recon:EC2/PortProbeUnprotectedPort", "Execution:EC2/MaliciousFile!Snapshot", "Object:S3/MaliciousFile"):
        assert rows[t]["notify_only"] and rows[t]["answered_by"] == [] and rows[t]["reason"], t
    totals = summary(list(coverage(PLAYBOOKS)))
    assert totals["answered"] + totals["notify_only"] == totals["types"]
    assert totals["unexplained"] == [], "every notify-only type needs a reason in the data file"
    assert totals["retired"] == 3


def test_the_answered_figure() -> None:
    totals = summary(list(coverage(PLAYBOOKS)))
    print(f"coverage: {totals['answered']} of {totals['types']} ({totals['answered_percent']}%)")
    assert totals["answered_percent"] >= TARGET_PERCENT, totals["answered_percent"]


def test_cli_json_and_table(responder_home) -> None:
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["coverage", "--json", "--section", "s3"], catch_exceptions=False).stdout)
    assert {r["type"] for r in data["types"]} >= {"Policy:S3/BucketAnonymousAccessGranted"}
    assert all(r["type"].split(":", 1)[1].startswith("S3/") for r in data["types"])
    assert data["summary"]["types"] == len(data["types"])
    logging_off = next(r for r in data["types"] if r["type"] == "Stealth:S3/ServerAccessLoggingDisabled")
    assert logging_off["notify_only"] and "posture" in logging_off["reason"]
    table = runner.invoke(app, ["coverage"], catch_exceptions=False)
    assert table.exit_code == 0 and "notify-only:" in table.stdout and "active types answered" in table.stdout
