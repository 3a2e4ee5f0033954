"""``responder iam-policy``: the policy is the union of what the actions declare, and it is exactly
enough: checked with the AWS emulator's IAM enforcement (moto notes §4).

For each shipped playbook (Kubernetes excepted: its cluster side needs the Kubernetes double, and its
AWS side is the IAM actions covered here), a drill runs four ways on one moto server:

1. under an admin user (Allow ``*``), recording every AWS call (a botocore ``before-call`` hook on the
   clients AwsAccess hands out) and the outcome of each step;
2. every call made is covered by the generated policy (an undeclared call would fail in AWS), and the
   resource each call named (the user, role, instance, group, volume... read from its parameters) is one
   the statement granting that action names (moto notes §4: moto itself checks resources for S3 only);
3. under a user holding exactly the generated policy, with enforcement on: the same step outcomes. The
   evidence locker is S3 (Object Lock) under the drill user's credentials, so moto enforces the evidence
   statement's bucket/prefix scoping for real; non-S3 statements are widened to ``*`` for moto, which
   checks those services against ``*`` (point 2 checks their resources instead);
4. for each IAM action the drill exercised, under the policy minus that action: a step fails with
   ``Denied`` naming it (or the operation, for JSON services whose AccessDenied comes back as "403"),
   or a tolerant step reports the denial in its notes or its refusal.

Declared permissions the drill does not exercise (branches for roles vs. users, optional lookups) are
reported by the test, not removable one by one: no drill can prove them necessary.
Enforcement is switched on only around the run (``POST /moto-api/reset-auth``); responder's deny
policies land on the compromised principal, never on the user responder runs as, so moto's loose
condition evaluation (TokenIssueTime denies everything) does not affect responder itself.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from typer.testing import CliRunner

from responder.actions.registry import default_registry
from responder.app import build_engine, load_shipped
from responder.aws.sessions import AwsAccess
from responder.cli import app
from responder.config import load_settings
from responder.evidence.s3 import S3Locker
from responder.findings.model import Finding
from responder.iam_policy import (
    EVIDENCE_SID,
    RESOURCES,
    actions_used,
    grants,
    permissions,
    policy_document,
    policy_for,
)
from tests.conftest import FIXTURES
from tests.helpers import finding_of, sample_event, seed_user

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
SUBSET = 6
_S3_ACTION = {"HeadBucket": "ListBucket", "ListObjectsV2": "ListBucket", "HeadObject": "GetObject",
              "ListObjectVersions": "ListBucketVersions",
              "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
              "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
              "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
              "GetBucketEncryption": "GetEncryptionConfiguration",
              "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration"}
# moto checks some S3 calls under names that differ from AWS's IAM actions (moto/s3/responses.py
# ACTION_MAP, whose "public_access_block" key never matches the "publicAccessBlock" query string):
# unmapped subresources fall back to its DEFAULT, "ListBucket" for GET and "CreateBucket" for PUT.
# The drill's user gets these names too, so moto lets through what AWS would let through.
_MOTO_S3 = {"s3:GetBucketPublicAccessBlock": ["s3:GetPublicAccessBlock", "s3:ListBucket"],
            "s3:PutBucketPublicAccessBlock": ["s3:PutPublicAccessBlock", "s3:CreateBucket"],
            "s3:GetEncryptionConfiguration": ["s3:ListBucket"], "s3:GetBucketOwnershipControls": ["s3:ListBucket"],
            "s3:GetBucketObjectLockConfiguration": ["s3:ListBucket"]}


def _moto_names(actions: list[str]) -> set[str]:
    """The names moto checks for these permissions."""
    return {name for a in actions for name in _MOTO_S3.get(a, [a])}


def _as_moto_checks(actions: list[str]) -> list[str]:
    return sorted({*actions, *(alias for a in actions for alias in _MOTO_S3.get(a, []))})


@functools.cache
def _shipped() -> dict[str, Any]:
    return {p.playbook.id: p for p in load_shipped(default_registry(), [ROOT / "playbooks"])}


# ------------------------------------------------------------------------------------- unit
READ = re.compile(r"^[a-z0-9-]+:(Get|List|Describe|Head|Lookup|Filter|Search)")

# Writes IAM offers no resource type for (Service Authorization Reference): they can only be granted on "*".
# Add one here only with that reason; every other write must be scoped by responder.iam_policy.RESOURCES.
WRITES_WITHOUT_RESOURCE_TYPE = {
    "iam:GenerateCredentialReport",  # account-wide report; IAM lists no resource type
    "organizations:CreatePolicy",  # the policy's ARN does not exist yet; only tag condition keys apply
}


def _actions(statement: dict[str, Any]) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def _resources(statement: dict[str, Any]) -> list[str]:
    return [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]


def _granted(document: dict[str, Any]) -> set[str]:
    return {a for s in document["Statement"] for a in _actions(s)}


def _all_declared() -> set[str]:
    registry = default_registry()
    return {p for name in registry.names for cls in [registry.get(name)] for p in {*cls.permissions,
                                                                                  *cls.undo_permissions}}


def _valid_policy(document: dict[str, Any]) -> None:
    """The IAM grammar's shape: what IAM would accept as an identity policy (and `aws iam` would attach)."""
    assert document["Version"] == "2012-10-17" and document["Statement"]
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids)) and all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids)
    for statement in document["Statement"]:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"} and statement["Effect"] == "Allow"
        assert all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a) for a in _actions(statement))
        assert _actions(statement) == sorted(_actions(statement)) or isinstance(statement["Action"], str)
        assert all(r == "*" or re.fullmatch(r"arn:aws:[a-z0-9-]+:[^:]*:[^:]*:.+", r) for r in _resources(statement))
        assert isinstance(statement.get("Condition", {}), dict)


def test_policy_grants_the_union_of_declared_permissions_in_valid_statements() -> None:
    registry = default_registry()
    loaded = list(_shipped().values())
    per_action = permissions(loaded, registry)
    document = policy_for(loaded, registry)
    _valid_policy(document)
    playbook_statements = [s for s in document["Statement"] if not s["Sid"].startswith(EVIDENCE_SID)]
    assert _granted({"Statement": playbook_statements}) == {p for perms in per_action.values() for p in perms}
    for name in actions_used(loaded):
        assert set(registry.get(name).permissions) <= _granted(document)
    assert _granted(document) <= _granted(policy_for(loaded, registry, undo=True))
    assert policy_for(loaded, registry) == policy_for(list(reversed(loaded)), registry), "stable to diff"


def test_no_write_is_granted_on_every_resource_unless_iam_has_no_resource_type_for_it() -> None:
    """Every write any registered action declares (not only the shipped playbooks') is scoped."""
    document = policy_document(_all_declared(), evidence=True, role_name="ResponderRole")
    _valid_policy(document)
    on_everything = {a for s in document["Statement"] if "*" in _resources(s) for a in _actions(s)}
    writes = {a for a in on_everything if not READ.match(a)}
    assert writes == WRITES_WITHOUT_RESOURCE_TYPE & _all_declared(), sorted(writes)
    assert not [a for a in WRITES_WITHOUT_RESOURCE_TYPE if a in RESOURCES], "allow-listed yet scoped"


def _statements_with(document: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in document["Statement"] if action in _actions(s)]


def test_iam_writes_only_on_the_accounts_users_and_roles() -> None:
    for account in ("*", "111122223333"):
        document = policy_document(_all_declared(), account=account)
        for action in ("iam:PutUserPolicy", "iam:DeleteUserPolicy", "iam:UpdateAccessKey", "iam:DeleteLoginProfile",
                       "iam:TagUser"):
            (statement,) = _statements_with(document, action)
            assert statement["Resource"] == f"arn:aws:iam::{account}:user/*", action
        for action in ("iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:TagRole"):
            (statement,) = _statements_with(document, action)
            assert statement["Resource"] == f"arn:aws:iam::{account}:role/*", action
        (pass_role,) = _statements_with(document, "iam:PassRole")
        assert pass_role["Action"] == ["iam:PassRole"]  # alone: its condition must not narrow anything else
        assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_evidence_writes_only_under_the_evidence_prefix_or_a_placeholder() -> None:
    registry, loaded = default_registry(), list(_shipped().values())
    configured = policy_for(loaded, registry, evidence_url="s3://ir-evidence-111122223333/runs/",
                            athena_output="s3://ir-athena-results/q/")
    puts = {r for s in _statements_with(configured, "s3:PutObject") for r in _resources(s)}
    assert puts == {"arn:aws:s3:::ir-evidence-111122223333/runs/*", "arn:aws:s3:::ir-athena-results/q/*"}
    (retention,) = _statements_with(configured, "s3:PutObjectRetention")
    assert retention["Resource"] == "arn:aws:s3:::ir-evidence-111122223333/runs/*"
    locks = _statements_with(configured, "s3:GetBucketObjectLockConfiguration")
    assert any("arn:aws:s3:::ir-evidence-111122223333" in _resources(s) for s in locks)
    local = policy_for(loaded, registry, evidence_url="file:///var/lib/responder/evidence")
    puts = {r for s in _statements_with(local, "s3:PutObject") for r in _resources(s)}
    assert puts == {"arn:aws:s3:::${EvidenceBucket}/*", "arn:aws:s3:::${AthenaResultsBucket}/*"}
    _valid_policy(local)


def test_cross_account_adds_only_assume_role() -> None:
    document = policy_document(["iam:GetUser"], role_name="ResponderRole")
    assert document["Statement"][-1] == {"Sid": "ResponderAssumeMemberRole", "Effect": "Allow",
                                         "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/ResponderRole"}
    assert document["Statement"][:-1] == grants(["iam:GetUser"])


def test_cli_prints_the_policy() -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["iam-policy", "iam-credential-compromise", "-p", str(ROOT / "playbooks"), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["playbooks"] == ["iam-credential-compromise"]
    assert data["policy"] == policy_for([_shipped()["iam-credential-compromise"]], default_registry())
    plain = runner.invoke(app, ["iam-policy", "-p", str(ROOT / "playbooks"), "--role-name", "ResponderRole"])
    assert json.loads(plain.stdout)["Statement"][-1]["Action"] == "sts:AssumeRole"
    bad = runner.invoke(app, ["iam-policy", "no-such-playbook", "-p", str(ROOT / "playbooks")])
    assert bad.exit_code != 0


# ------------------------------------------------------------------------------------- enforcement
@dataclass
class Drill:
    playbook: str
    finding: Callable[[], Finding]
    seed: Callable[[], None]
    source: str = ""
    full: bool = False  # remove every exercised permission; otherwise a representative subset


@dataclass
class Outcome:
    states: dict[str, str]
    errors: dict[str, str]
    calls: set[str] = field(default_factory=set)
    operations: dict[str, set[str]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    targets: set[tuple[str, str]] = field(default_factory=set)  # (IAM action, ARN named by the call)


def _iam_action(model: Any, operation: str) -> str:
    prefix = model.signing_name or model.endpoint_prefix
    if prefix == "s3":
        operation = _S3_ACTION.get(operation, operation)
    return f"{prefix}:{operation}"


def _auth(endpoint: str, value: str) -> None:
    requests.post(f"{endpoint}/moto-api/reset-auth", data=value, headers={"Content-Type": "text/plain"}, timeout=10)


EVIDENCE_URL = "s3://responder-drill-evidence/evidence"
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
_EC2 = "arn:aws:ec2:{region}:{account}:"
_EC2_IDS = {"i-": _EC2 + "instance/{id}", "sg-": _EC2 + "security-group/{id}", "vol-": _EC2 + "volume/{id}",
            "eni-": _EC2 + "network-interface/{id}", "vpc-": _EC2 + "vpc/{id}",
            "snap-": "arn:aws:ec2:{region}::snapshot/{id}", "ami-": "arn:aws:ec2:{region}::image/{id}"}


def _for_moto(document: dict[str, Any]) -> dict[str, Any]:
    """The document as moto can enforce it: moto's own names for some S3 actions beside AWS's, and non-S3
    statements on "*" (moto checks every service but S3 against "*", whatever a policy names; the drill
    checks those resources itself, ``_uncovered``). S3 statements (the evidence locker's bucket and prefix)
    are kept exactly: moto enforces them."""
    statements = []
    for statement in document["Statement"]:
        s3_only = all(r.startswith("arn:aws:s3:::") for r in _resources(statement))
        statements.append({"Sid": statement["Sid"], "Effect": "Allow",
                           "Action": _as_moto_checks(_actions(statement)),
                           "Resource": statement["Resource"] if s3_only else "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def _without(document: dict[str, Any], action: str) -> dict[str, Any]:
    statements = [{**s, "Action": [a for a in _actions(s) if a != action]} for s in document["Statement"]]
    return {**document, "Statement": [s for s in statements if s["Action"]]}


def _targets(action: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    """The ARNs a call names in its parameters (IAM, EC2, Auto Scaling, ELB, S3); other services: none."""
    service = action.split(":")[0]
    if service == "iam":
        return [f"arn:aws:iam::{account}:{kind}/{params[key]}" for key, kind in
                (("UserName", "user"), ("RoleName", "role"), ("InstanceProfileName", "instance-profile"))
                if params.get(key)]
    if service == "ec2":
        ids = [params.get(k) for k in ("InstanceId", "GroupId", "VolumeId", "NetworkInterfaceId", "SnapshotId",
                                       "ImageId", "VpcId")]
        ids += [*params.get("InstanceIds", []), *params.get("Resources", []), *params.get("Groups", []),
                *params.get("GroupIds", [])]
        return [template.format(region=region, account=account, id=i) for i in ids if isinstance(i, str)
                for prefix, template in _EC2_IDS.items() if i.startswith(prefix)]
    if service == "autoscaling" and params.get("AutoScalingGroupName"):
        return [f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:00000000-0000-0000-0000-000000000000:"
                f"autoScalingGroupName/{params['AutoScalingGroupName']}"]
    if service == "elasticloadbalancing" and params.get("TargetGroupArn"):
        return [params["TargetGroupArn"]]
    if service == "s3" and params.get("Bucket"):
        return [f"arn:aws:s3:::{params['Bucket']}" + (f"/{params['Key']}" if params.get("Key") else "")]
    return []


def _matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: ``*`` any run of characters, ``?`` one, everything else literal."""
    return re.fullmatch("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), arn) \
        is not None


def _uncovered(document: dict[str, Any], targets: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (IAM action, ARN) pairs no statement of the document allows."""
    return sorted((action, arn) for action, arn in targets if not any(
        action in _actions(s) and any(_matches(r, arn) for r in _resources(s)) for s in document["Statement"]))


def _run(endpoint: str, drill: Drill, document: dict[str, Any] | None, tmp: Path) -> Outcome:
    """Seed as the emulator's default user, then run the playbook as a user holding ``document`` (adapted
    for moto) with an Object Lock evidence bucket written with that user's credentials."""
    _auth(endpoint, "inf")
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    drill.seed()
    bucket = EVIDENCE_URL.removeprefix("s3://").split("/")[0]
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="responder-under-test")
    held = ADMIN if document is None else _for_moto(document)
    iam.put_user_policy(UserName="responder-under-test", PolicyName="responder", PolicyDocument=json.dumps(held))
    key = iam.create_access_key(UserName="responder-under-test")["AccessKey"]
    session = boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                            region_name="us-east-1")
    access = AwsAccess(session=session)
    calls: set[str] = set()
    operations: dict[str, set[str]] = {}
    targets: set[tuple[str, str]] = set()

    def record(model: Any, params: Any, context: Any, **kw: Any) -> None:
        action = _iam_action(model.service_model, model.name)
        calls.add(action)
        operations.setdefault(action, set()).add(model.name)

    def named(model: Any, params: Any, **kw: Any) -> None:  # the API parameters, before serialisation
        action = _iam_action(model.service_model, model.name)
        targets.update((action, arn) for arn in _targets(action, params or {}, ACCOUNT, "us-east-1"))

    access.hooks.append(("before-call.*.*", record))
    access.hooks.append(("before-parameter-build.*.*", named))
    settings = load_settings().model_copy(update={"store_url": f"sqlite:///{tmp / 'runs.sqlite3'}",
                                                  "evidence_url": EVIDENCE_URL})
    locker = S3Locker.from_url(EVIDENCE_URL, client=session.client("s3"))
    engine = build_engine(settings, aws=access, evidence=locker, sleep=lambda _s: None,
                          approval_notifiers=[lambda *a: None])
    finding = drill.finding()
    _auth(endpoint, "0")
    try:
        engine.run(_shipped()[drill.playbook], finding)
    finally:
        _auth(endpoint, "inf")
    steps = engine.store.steps(engine.store.list_runs()[0].run_id)
    engine.store.close()  # type: ignore[attr-defined]
    calls.discard("sts:GetCallerIdentity")  # always allowed, in AWS as in moto
    return Outcome(states={s.step_id: s.state.value for s in steps},
                   errors={s.step_id: f"{s.error_type}: {s.error}" for s in steps if s.error}, calls=calls,
                   operations=operations, notes={s.step_id: " ".join(s.notes) for s in steps if s.notes},
                   targets=targets)


def _fixture_drill(playbook_id: str) -> Drill | None:
    """The first fixture finding (tests/fixtures/guardduty, securityhub) the playbook matches, moved into moto's
    default account (responder's own here) and seeded by the sandbox's own seeding."""
    from responder.findings import parse_event
    from responder.playbook.match import matching
    from responder.sandbox import Sandbox, seed

    playbook = _shipped()[playbook_id].playbook
    # the issue-17 playbooks are drilled on their own findings in tests/test_iam_policy_new_playbooks.py
    paths = [p for folder in ("guardduty", "securityhub") for p in sorted((FIXTURES / folder).glob("*.json*"))]
    for path in paths:
        try:
            text = path.read_text()
            findings = [f for line in (text.splitlines() if path.suffix == ".jsonl" else [text]) if line.strip()
                        for f in parse_event(json.loads(line), path.name)]
        except Exception:  # unreadable samples are the findings tests' business
            continue
        for index, found in enumerate(findings):
            if not found.account_id or not matching([playbook], found):
                continue
            moved = text.replace(found.account_id, ACCOUNT)
            lines = moved.splitlines() if path.suffix == ".jsonl" else [moved]

            def finding(lines: list[str] = lines, index: int = index, name: str = path.name) -> Finding:
                return [f for line in lines if line.strip() for f in parse_event(json.loads(line), name)][index]

            def seed_it(finding: Callable[[], Finding] = finding) -> None:
                seed(Sandbox(endpoint=os.environ["AWS_ENDPOINT_URL"], account_id=ACCOUNT, region="us-east-1"),
                     finding())

            return Drill(playbook_id, finding, seed_it, source=str(path.relative_to(FIXTURES)))
    return None


def _drills() -> list[Any]:
    drills: list[Any] = [Drill("iam-credential-compromise", lambda: finding_of(sample_event()), lambda: seed_user(),
                               source="responder/data/samples/guardduty-iam-exfiltration.json", full=True)]
    for playbook_id in sorted(_shipped()):
        if playbook_id == "iam-credential-compromise":
            continue
        uses_k8s = any(s.action.startswith("k8s.") for s in _shipped()[playbook_id].playbook.steps)
        drill = None if uses_k8s else _fixture_drill(playbook_id)
        reason = "needs the Kubernetes double" if uses_k8s else \
            "no finding in tests/fixtures/{guardduty,securityhub} matches it (tests/test_iam_policy_new_playbooks.py)"
        drills.append(drill or pytest.param(Drill(playbook_id, lambda: None, lambda: None),  # type: ignore[arg-type, return-value]
                                            marks=pytest.mark.skip(reason=reason)))
    return drills


def test_the_resource_check_catches_a_call_outside_the_named_resources() -> None:
    """The drill's own check of non-S3 resources can fail: a user's policy written on roles only is caught."""
    calls = {("iam:PutUserPolicy", "arn:aws:iam::123456789012:user/ci-deploy"),
             ("ec2:ModifyInstanceAttribute", "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0abc")}
    assert not _uncovered(policy_document(["iam:PutUserPolicy", "ec2:ModifyInstanceAttribute"]), calls)
    on_roles = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Roles", "Effect": "Allow", "Action": ["iam:PutUserPolicy"], "Resource": "arn:aws:iam::*:role/*"},
        {"Sid": "Instances", "Effect": "Allow", "Action": ["ec2:ModifyInstanceAttribute"],
         "Resource": "arn:aws:ec2:*:*:instance/*"}]}
    assert _uncovered(on_roles, calls) == sorted(calls)


@pytest.mark.parametrize("drill", _drills(), ids=lambda d: d.playbook)
def test_generated_policy_is_exactly_enough(drill: Drill, moto_endpoint: str, tmp_path: Path) -> None:
    document = policy_for([_shipped()[drill.playbook]], default_registry(), evidence_url=EVIDENCE_URL)
    policy = sorted(_granted(document))
    admin = _run(moto_endpoint, drill, None, tmp_path / "admin")
    assert admin.calls, "the drill made no AWS call"
    undeclared = admin.calls - set(policy)
    assert not undeclared, f"calls not declared by any action: {sorted(undeclared)}"
    scoped_writes = [c for c in admin.calls if c in RESOURCES and not READ.match(c)
                     and c.split(":")[0] in ("iam", "ec2", "s3", "autoscaling", "elasticloadbalancing")]
    assert admin.targets or not scoped_writes, f"no resource read from the parameters of {scoped_writes}"
    assert not _uncovered(document, admin.targets), "calls on resources the policy does not name"
    exact = _run(moto_endpoint, drill, document, tmp_path / "exact")
    assert exact.states == admin.states, exact.errors
    assert not [e for e in exact.errors.values() if e.startswith("Denied")]
    print(f"{drill.playbook}: {len(admin.calls)} of {len(policy)} permissions exercised; not exercised: "
          f"{sorted(set(policy) - admin.calls)}")
    # a permission moto checks under a name another permission also grants cannot be removed alone
    exercised = [a for a in sorted(admin.calls) if _moto_names([p for p in policy if p != a]) != _moto_names(policy)]
    if not drill.full:  # representative subset, to keep the suite fast: the changes first, then reads
        writes = [a for a in exercised if not a.split(":", 1)[1].startswith(("Get", "List", "Describe", "Head"))]
        exercised = (writes + [a for a in exercised if a not in writes])[:SUBSET]
    for i, missing in enumerate(exercised):
        cut = _run(moto_endpoint, drill, _without(document, missing), tmp_path / f"minus{i}")
        denied = [e for e in cut.errors.values() if e.startswith("Denied")]
        # a tolerant step (capture notes what it could not read; scope refuses naming the denied discovery
        # call) reports it in its notes or its refusal
        said = [t for t in [*cut.notes.values(), *cut.errors.values()]
                if "AccessDenied" in t or "access denied" in t or "(403)" in t or "403" in t]
        names = {missing, *admin.operations.get(missing, set())}
        assert any(name in text for text in denied + said for name in names), \
            f"without {missing} no step reported AccessDenied for it: {cut.states} {cut.errors} {cut.notes}"
        assert not denied or any("responder iam-policy" in e for e in denied)


def test_evidence_is_written_only_where_the_policy_names(moto_endpoint: str, tmp_path: Path) -> None:
    """moto enforces S3 resources: the same run with the evidence statement naming another bucket cannot
    write its evidence (the scoping is real, not decoration); with the right bucket it can."""
    drill = Drill("iam-credential-compromise", lambda: finding_of(sample_event()), lambda: seed_user())
    loaded = [_shipped()[drill.playbook]]
    elsewhere = _run(moto_endpoint, drill, policy_for(loaded, default_registry(),
                                                      evidence_url="s3://another-bucket/evidence"), tmp_path / "x")
    assert elsewhere.states["record_finding"] == "failed", elsewhere.states
    assert "AccessDenied" in elsewhere.errors["record_finding"] or "403" in elsewhere.errors["record_finding"]
    right = _run(moto_endpoint, drill, policy_for(loaded, default_registry(), evidence_url=EVIDENCE_URL),
                 tmp_path / "ok")
    assert right.states["record_finding"] == "succeeded", right.errors
