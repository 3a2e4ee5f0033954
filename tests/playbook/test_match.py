"""Trigger matching: resource kinds against any resource of the finding, primary kinds against the one it is
about, severity floors that do not drop a floor-exempt type, and the plain-words explanation."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from responder.cli import app
from responder.findings.model import AccessKey, Bucket, Finding, Instance, Pod, Source
from responder.playbook.match import describe_resources, evaluate, explain, why_not
from responder.playbook.model import Playbook, Trigger
from tests.conftest import FIXTURES
from tests.helpers import ROOT


def finding(ftype: str, severity: float, resource, *others) -> Finding:
    return Finding(
        id="f-1",
        source=Source.GUARDDUTY,
        product="GuardDuty",
        type=ftype,
        severity=severity,
        resource=resource,
        resources=tuple(others),
    )


S3_FINDING = finding(
    "Policy:S3/BucketBlockPublicAccessDisabled", 2.0, Bucket(bucket_name="logs"), AccessKey(access_key_id="AKIAX")
)


def playbook(**trigger) -> Playbook:
    return Playbook.model_validate(
        {"id": "p", "title": "p", "triggers": [trigger], "steps": [{"id": "r", "action": "evidence.record_finding"}]}
    )


def test_resource_kinds_match_any_resource_of_the_finding() -> None:
    assert why_not(Trigger(resource_kinds=["access_key"]), S3_FINDING) is None
    reason = why_not(Trigger(resource_kinds=["ec2_instance"]), S3_FINDING)
    assert reason == "names no ec2_instance (it names s3_bucket, access_key)"


def test_primary_kinds_match_only_what_the_finding_is_about() -> None:
    assert why_not(Trigger(primary_kinds=["s3_bucket"]), S3_FINDING) is None
    assert why_not(Trigger(primary_kinds=["access_key"]), S3_FINDING) == "is about a s3_bucket, not a access_key"


def test_floor_exempt_types_are_answered_below_the_floor() -> None:
    floored = Trigger(types=["Policy:S3/*"], min_severity=7.0)
    assert why_not(floored, S3_FINDING) == "severity 2 below 7"
    exempt = Trigger(types=["Policy:S3/*"], min_severity=7.0, floor_exempt_types=["Policy:S3/*"])
    assert why_not(exempt, S3_FINDING) is None
    result = evaluate(playbook(types=["Policy:S3/*"], min_severity=7.0, floor_exempt_types=["Policy:S3/*"]), S3_FINDING)
    assert result.matched and result.below_floor
    other = finding("Exfiltration:S3/MaliciousIPCaller", 2.0, Bucket(bucket_name="logs"))
    assert why_not(exempt, other) is not None  # the exemption is per type, not a second floor


def test_match_paths_read_the_derived_views() -> None:
    pod = finding("Execution:Kubernetes/ExecInKubeSystemPod", 5.0, Pod(namespace="kube-system", pod_name="p-1"))
    assert why_not(Trigger(match={"target.k8s_pod.pod_name": "?*"}), pod) is None
    cluster_only = finding("Execution:Kubernetes/ExecInKubeSystemPod", 5.0, Pod(namespace="kube-system"))
    assert why_not(Trigger(match={"target.k8s_pod.pod_name": "?*"}), cluster_only) is not None
    key = finding("Recon:IAMUser/UserPermissions", 5.0, AccessKey(access_key_id="AKIAX", user_type="IAMUser"))
    assert why_not(Trigger(match={"principal.user_type": "IAMUser"}), key) is None


def test_unknown_kinds_and_bad_globs_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown resource kind"):
        Trigger(primary_kinds=["bukket"])
    with pytest.raises(ValidationError, match="bad type glob"):
        Trigger(floor_exempt_types=["Policy:S3/["])


def test_explanation_names_the_resources_seen_and_each_decision() -> None:
    instance = Instance(instance_id="i-0abc")
    text = describe_resources(finding("Backdoor:EC2/C&CActivity.B", 8.0, instance, AccessKey(access_key_id="AKIAX")))
    assert text == "ec2_instance i-0abc (target, primary); access_key AKIAX (actor)"
    results = [
        evaluate(playbook(types=["Policy:S3/*"], min_severity=7.0, floor_exempt_types=["Policy:S3/*"]), S3_FINDING),
        evaluate(playbook(types=["Backdoor:EC2/*"]), S3_FINDING),
    ]
    lines = explain(S3_FINDING, results).splitlines()
    assert lines[0] == (
        "Policy:S3/BucketBlockPublicAccessDisabled (severity 2) names: s3_bucket logs (target, primary); "
        "access_key AKIAX (actor)"
    )
    assert lines[1].startswith("  answers: p (below its severity floor")
    assert lines[2].startswith("  declines: p: type Policy:S3/BucketBlockPublicAccessDisabled matches none of")
    assert "no playbook answers" in explain(S3_FINDING, results[1:])


def test_match_command_prints_the_explanation() -> None:
    event = FIXTURES / "findings" / "guardduty" / "s3-block-public-access-disabled-low.json"
    args = ["match", str(event), "-p", str(ROOT / "playbooks" / "s3-exposure.yaml")]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["resource_kinds"] == ["s3_bucket", "access_key"]
    assert (
        "names: s3_bucket example-analytics-exports (target, primary); access_key AKIAIOSFODNN7EXAMPLE (actor)"
        in (row["explanation"])
    )
    assert "answers: s3-exposure (below its severity floor" in row["explanation"]
    table = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert "answers: s3-exposure" in table.stdout
