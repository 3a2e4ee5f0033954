"""deploy/: both templates pass cfn-lint, carry the generated least-privilege policy, and the
EventBridge rules match what they should: real GuardDuty and Security Hub events put on a bus in the
emulator, with an SQS target, read back (moto notes §15: test_event_pattern is a stub there).

Events are the project's own fixtures in the published shapes (tests/fixtures/guardduty and
tests/fixtures/findings/guardduty, each folder's SOURCES.md names its basis): every GuardDuty finding
there, in its EventBridge envelope where it has one, otherwise wrapped the way GuardDuty publishes to
EventBridge ("GuardDuty Finding", source aws.guardduty, the finding as detail); a Security Hub
"Findings - Imported" envelope (control EC2.7) and a "Custom Action" one, which must not match.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GUARDDUTY = (FIXTURES / "guardduty", FIXTURES / "findings" / "guardduty")
SECURITYHUB = FIXTURES / "securityhub"


def _template(name: str) -> dict[str, Any]:
    from cfnlint.decode import decode

    template, matches = decode(str(DEPLOY / name))
    assert not matches, matches
    return template  # type: ignore[return-value]


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """Replace ``Ref`` to parameters by their values (defaults), the way CloudFormation would."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        return {k: _resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, parameters) for v in value]
    return value


def _pattern(event_name: str) -> dict[str, Any]:
    template = _template("template.yaml")
    defaults = {k: v.get("Default") for k, v in template["Parameters"].items()}
    events = template["Resources"]["EventFunction"]["Properties"]["Events"]
    return _resolve(dict(events[event_name]["Properties"]["Pattern"]), defaults)


@pytest.mark.parametrize("name", ["template.yaml", "member-role.yaml"])
def test_cfn_lint_passes(name: str) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    out = subprocess.run([str(cfn_lint), str(DEPLOY / name)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _sync_policy() -> Any:
    sys.path.insert(0, str(DEPLOY))
    try:
        import sync_policy  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(DEPLOY))
    return sync_policy


def _plain(value: Any) -> Any:
    """The decoded template's value with ``!Sub "text"`` read as its text (the generator's own form)."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return str(value["Fn::Sub"])
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def _rendered(name: str, role: str) -> list[dict[str, Any]]:
    """The statements of the generated block (ResponderPolicy1, 2, ... in order), each attached to ``role``
    through the role's own ManagedPolicyArns (so the role exists only with its permissions)."""
    resources = _template(name)["Resources"]
    policies = sorted((n for n in resources if re.fullmatch(r"ResponderPolicy\d+", n)), key=lambda n: int(n[15:]))
    assert policies, f"{name}: no generated policy"
    attached = resources[role]["Properties"]["ManagedPolicyArns"]
    assert [a["Ref"] for a in attached if "Ref" in a] == policies, name
    statements: list[dict[str, Any]] = []
    for policy in policies:
        assert resources[policy]["Type"] == "AWS::IAM::ManagedPolicy"
        assert set(resources[policy]["Properties"]) == {"Description", "PolicyDocument"}, policy
        statements += _plain(resources[policy]["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


ROLES = {"template.yaml": "ExecutionRole", "member-role.yaml": "ResponderRole"}
READ = re.compile(r"^[a-z0-9-]+:(Get|List|Describe|Head|Lookup|Filter|Search)")
WRITES_ON_ANY_RESOURCE = {
    # reviewed: IAM's Service Authorization Reference lists no resource type for these, so "*" is the only grant
    "iam:GenerateCredentialReport": "an account-wide report; IAM offers no resource type",
    "organizations:CreatePolicy": "the policy's ARN does not exist before the call; only tag condition keys apply",
}
EVIDENCE_OBJECTS = "arn:${AWS::Partition}:s3:::${EvidenceBucket}/evidence/*"


def test_templates_carry_the_generated_policy() -> None:
    """Both templates hold exactly what sync_policy generates, as parsed by CloudFormation's reader."""
    sync_policy = _sync_policy()
    assert sync_policy.main(["--check"]) == 0, "run: python deploy/sync_policy.py"
    generated = sync_policy.generated_statements()
    for target in sync_policy.TARGETS:
        name = target.path.name
        defined = sync_policy.defined_names(_template(name))
        wanted, _ = sync_policy.fitted(sync_policy.generated_statements(target.assumes), defined)
        assert _rendered(name, target.role) == wanted, name
        # every generated grant is there, but for resources the template does not have (the member account
        # holds no evidence bucket, neither template an Athena results bucket)
        granted = {a for s in wanted for a in _list(s["Action"])}
        missing = {a for s in generated for a in _list(s["Action"])} - granted
        elsewhere = {
            a
            for s in generated
            if "${EvidenceBucket}" in str(s["Resource"]) or "${AthenaResultsBucket}" in str(s["Resource"])
            for a in _list(s["Action"])
        }
        assert missing <= elsewhere, (name, sorted(missing - elsewhere))
    member = _rendered("member-role.yaml", "ResponderRole")
    assert not [s for s in member if "EvidenceBucket" in str(s) or s["Sid"].startswith("ResponderEvidence")]


def test_rendered_statements_are_scoped_and_partition_neutral() -> None:
    """No write on Resource "*" but the reviewed ones; ARNs for any partition; own-account ARNs pinned."""
    assert not [a for a in WRITES_ON_ANY_RESOURCE if a in _iam_policy_resources()], "reviewed yet scoped"
    for name, role in ROLES.items():
        statements = _rendered(name, role)
        assert "arn:aws:" not in (DEPLOY / name).read_text().split("# BEGIN responder iam-policy")[1]
        on_any = {a for s in statements if "*" in _list(s["Resource"]) for a in _list(s["Action"])}
        writes = {a for a in on_any if not READ.match(a)}
        assert writes <= set(WRITES_ON_ANY_RESOURCE), (name, sorted(writes - set(WRITES_ON_ANY_RESOURCE)))
        assert all(s["Effect"] == "Allow" for s in statements)
        arns = [r for s in statements for r in _list(s["Resource"]) if r != "*"]
        assert arns and all(r.startswith("arn:${AWS::Partition}:") for r in arns), name
        for arn in arns:
            if ":iam::" in arn and not arn.endswith(":role/${MemberRoleName}"):  # AssumeRole reaches members
                assert ":iam::${AWS::AccountId}:" in arn, arn
        pass_role = [s for s in statements if "iam:PassRole" in _list(s["Action"])]
        assert [s["Condition"] for s in pass_role] == [{"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}]


def _iam_policy_resources() -> dict[str, Any]:
    from responder.iam_policy import RESOURCES

    return RESOURCES


def test_evidence_locker_writes_are_on_the_evidence_bucket_only() -> None:
    template = _template("template.yaml")
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert _plain(env["RESPONDER_EVIDENCE"]) == _sync_policy().EVIDENCE_URL, "the grant follows the locker's prefix"
    statements = _rendered("template.yaml", "ExecutionRole")
    for action in ("s3:PutObject", "s3:PutObjectRetention"):
        granted = [r for s in statements if action in _list(s["Action"]) for r in _list(s["Resource"])]
        assert granted == [EVIDENCE_OBJECTS], (action, granted)
    (lock,) = [s for s in statements if s["Sid"] == "ResponderEvidenceLockerBucket"]
    assert lock["Resource"] == "arn:${AWS::Partition}:s3:::${EvidenceBucket}"
    assert not [a for a in _list(lock["Action"]) if not READ.match(a)], "the bucket itself: reads only"
    # the platform's inline policies add no S3 grant of their own
    inline = template["Resources"]["ExecutionRole"]["Properties"]["Policies"]
    assert "s3:" not in json.dumps(_plain(inline))
    member = _rendered("member-role.yaml", "ResponderRole")
    assert not [s for s in member if {"s3:PutObject", "s3:PutObjectRetention"} & set(_list(s["Action"]))]


def test_policies_fit_iam_size_limits() -> None:
    """Measured as IAM counts (no whitespace), with every name at its longest and the GovCloud partition."""
    sync_policy = _sync_policy()
    for target in sync_policy.TARGETS:
        sizes = sync_policy.sizes(target)
        assert sizes["inline"] <= sync_policy.ROLE_INLINE_LIMIT, sizes
        assert sizes["managed"] and all(n <= sync_policy.MANAGED_POLICY_LIMIT for n in sizes["managed"].values()), sizes
        role = _template(target.path.name)["Resources"][target.role]["Properties"]
        assert len(role["ManagedPolicyArns"]) <= 10, "IAM's default quota of managed policies per role"
    # the measure counts what it should: one statement more is that statement's size more
    statement = {"Sid": "X", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:${AWS::Partition}:s3:::*"}
    assert sync_policy.policy_size({"Statement": [statement]}) == len(
        '{"Statement":[{"Sid":"X","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws-us-gov:s3:::*"}]}'
    )


def test_statements_naming_what_a_template_lacks_are_left_out() -> None:
    sync_policy = _sync_policy()
    statements = [
        {
            "Sid": "A",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": ["arn:${AWS::Partition}:s3:::${Missing}/*", "arn:${AWS::Partition}:s3:::${Bucket.Arn}/x"],
        },
        {
            "Sid": "B",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": "arn:${AWS::Partition}:s3:::${Missing}",
        },
    ]
    kept, dropped = sync_policy.fitted(statements, {"Bucket"})
    assert kept == [{**statements[0], "Resource": "arn:${AWS::Partition}:s3:::${Bucket.Arn}/x"}]
    assert dropped == ["A: arn:${AWS::Partition}:s3:::${Missing}/*", "B: arn:${AWS::Partition}:s3:::${Missing}"]


def _as_deployed(name: str, role: str, values: dict[str, str]) -> dict[str, Any]:
    """The generated statements as IAM receives them from CloudFormation, ``${...}`` substituted."""
    text = json.dumps(_rendered(name, role))
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    assert "${" not in text, text
    return {"Version": "2012-10-17", "Statement": json.loads(text)}


def test_the_deployed_roles_are_enough_for_a_drill(moto_endpoint: str, tmp_path: Path) -> None:
    """A leaked-key run on moto (tests/test_iam_policy.py's drill) under the templates' own statements, with
    the account and the bucket CloudFormation would substitute: every call is granted on the resource it
    names (an ARN pinned to another account would not be), and the run ends as it does as an admin. The
    member role runs with the execution role's evidence statements beside it, as a deployed Lambda does
    (the locker writes with the execution role, the playbook acts with the member role)."""
    from tests import test_iam_policy as kit
    from tests.helpers import finding_of, sample_event, seed_user

    drill = kit.Drill("iam-credential-compromise", lambda: finding_of(sample_event()), lambda: seed_user())
    bucket = kit.EVIDENCE_URL.removeprefix("s3://").split("/")[0]
    assert _sync_policy().EVIDENCE_URL.replace("${EvidenceBucket}", bucket) == kit.EVIDENCE_URL
    values = {
        "AWS::Partition": "aws",
        "AWS::AccountId": kit.ACCOUNT,
        "EvidenceBucket": bucket,
        "MemberRoleName": "ResponderRole",
    }
    execution = _as_deployed("template.yaml", "ExecutionRole", values)
    member = _as_deployed("member-role.yaml", "ResponderRole", values)
    locker = [s for s in execution["Statement"] if s["Sid"].startswith("ResponderEvidence")]
    admin = kit._run(moto_endpoint, drill, None, tmp_path / "admin")
    assert admin.calls and admin.targets
    for label, document in (
        ("execution", execution),
        ("member", {**member, "Statement": member["Statement"] + locker}),
    ):
        assert admin.calls <= kit._granted(document), (label, sorted(admin.calls - kit._granted(document)))
        assert not kit._uncovered(document, admin.targets), label
        held = kit._run(moto_endpoint, drill, document, tmp_path / label)
        assert held.states == admin.states, (label, held.errors)
    elsewhere = _as_deployed("template.yaml", "ExecutionRole", {**values, "AWS::AccountId": "111122223333"})
    assert kit._uncovered(elsewhere, admin.targets), "ARNs pinned to another account must not cover these calls"


def test_member_role_requires_external_id_and_names_one_principal() -> None:
    role = _template("member-role.yaml")["Resources"]["ResponderRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Ref": "ResponderPrincipalArn"}}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}


def test_evidence_bucket_has_object_lock() -> None:
    bucket = _template("template.yaml")["Resources"]["EvidenceBucket"]["Properties"]
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"


def _guardduty_events() -> list[dict[str, Any]]:
    """Every published GuardDuty finding in the datasets, as EventBridge carries it."""
    out = []
    for path in sorted(p for folder in GUARDDUTY for p in folder.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("detail-type") == "GuardDuty Finding":
            out.append((path.name, data["detail"]))
            continue
        items = data if isinstance(data, list) else data.get("Findings") if isinstance(data, dict) else None
        items = items if isinstance(items, list) else [data]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("severity", item.get("Severity")), int | float):
                detail = item if "severity" in item else {k[0].lower() + k[1:]: v for k, v in item.items()}
                out.append((path.name, detail))
    return [{"name": name, "detail": detail} for name, detail in out]


def _deliver(pattern: dict[str, Any], entries: list[dict[str, Any]]) -> set[str]:
    """Put entries on a bus with one rule → SQS; return the ``id`` of every detail that arrived."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName="matched")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.create_event_bus(Name="findings")
    events.put_rule(Name="responder", EventBusName="findings", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="responder", EventBusName="findings", Targets=[{"Id": "q", "Arn": arn}])
    for start in range(0, len(entries), 10):
        out = events.put_events(Entries=[{**e, "EventBusName": "findings"} for e in entries[start : start + 10]])
        assert out["FailedEntryCount"] == 0, out
    got: set[str] = set()
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return got
        for message in messages:
            detail = json.loads(message["Body"])["detail"]
            got.add(str(detail.get("id") or detail.get("findings", [{}])[0].get("Id")))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def test_guardduty_rule_matches_by_severity(moto_endpoint: str) -> None:
    pattern = _pattern("GuardDuty")
    assert pattern["detail"]["severity"] == [{"numeric": [">=", 4]}]
    published = _guardduty_events()
    assert len(published) >= 8
    entries, expected = [], set()
    for n, event in enumerate(published):
        for severity in (event["detail"]["severity"], 2.0, 8.0):  # as published, then Low and High
            detail = copy.deepcopy(event["detail"])
            detail["id"] = f"{detail.get('id')}-{n}-{severity}"
            detail["severity"] = severity
            entries.append({"Source": "aws.guardduty", "DetailType": "GuardDuty Finding", "Detail": json.dumps(detail)})
            if severity >= 4:
                expected.add(detail["id"])
    other = {
        "Source": "aws.securityhub",
        "DetailType": "GuardDuty Finding",
        "Detail": json.dumps({"id": "wrong-source", "severity": 8}),
    }
    assert _deliver(pattern, [*entries, other]) == expected


def test_security_hub_rule_matches_active_new_findings_above_floor(moto_endpoint: str) -> None:
    """The published envelopes as they are (all below the floor or not 'Imported'), then the EC2.7
    envelope re-rated High, archived, and resolved, as Security Hub re-publishes a finding."""
    pattern = _pattern("SecurityHubAsff")
    envelopes = [
        json.loads((SECURITYHUB / name).read_text())
        for name in ("securityhub-control-ec2-7-imported-envelope.json", "guardduty-consolelogin-custom-action.json")
    ]
    variants = []
    for suffix, changes in (
        ("high", {}),
        ("archived", {"RecordState": "ARCHIVED"}),
        ("resolved", {"Workflow": {"Status": "RESOLVED"}}),
    ):
        envelope = copy.deepcopy(envelopes[0])
        finding = envelope["detail"]["findings"][0]
        finding.update(Id=f"{finding['Id']}/{suffix}", Severity={"Label": "HIGH", "Normalized": 70}, **changes)
        variants.append(envelope)
    entries = [
        {"Source": "aws.securityhub", "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"])}
        for e in envelopes + variants
    ]
    imported = {
        e["detail"]["findings"][0].get("Id")
        for e in envelopes + variants
        if e["detail-type"] == "Security Hub Findings - Imported"
    }
    # moto matches source/detail-type, but does not descend into arrays of objects (detail.findings[]),
    # which EventBridge does: the severity/state part is checked in the test below, expected to fail
    # in moto until it does (strict, so the day moto learns it the test says so).
    top = {k: v for k, v in pattern.items() if k != "detail"}
    assert _deliver(top, entries) == imported
    assert pattern["detail"]["findings"]["Severity"]["Normalized"] == [{"numeric": [">=", 40]}]


@pytest.mark.xfail(
    strict=True,
    reason="moto 5.2.5 does not match patterns inside arrays of objects "
    "(moto/events/models.py EventPattern); EventBridge does",
)
def test_security_hub_nested_pattern_in_moto(moto_endpoint: str) -> None:
    envelope = json.loads((SECURITYHUB / "securityhub-control-ec2-7-imported-envelope.json").read_text())
    finding = envelope["detail"]["findings"][0]
    finding["Severity"] = {"Label": "HIGH", "Normalized": 70}
    entry = {
        "Source": "aws.securityhub",
        "DetailType": envelope["detail-type"],
        "Detail": json.dumps(envelope["detail"]),
    }
    assert _deliver(_pattern("SecurityHubAsff"), [entry]) == {finding["Id"]}
