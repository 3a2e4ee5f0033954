"""``responder iam-policy``: the policy is the union of what the actions declare, and it is exactly
enough: checked with the AWS emulator's IAM enforcement (moto notes §4).

For each shipped playbook (Kubernetes excepted: its cluster side needs the Kubernetes double, and its
AWS side is the IAM actions covered here), a drill runs four ways on one moto server:

1. under an admin user (Allow ``*``), recording every AWS call (a botocore ``before-call`` hook on the
   clients AwsAccess hands out) and the outcome of each step;
2. every call made is covered by the generated policy (an undeclared call would fail in AWS);
3. under a user holding exactly the generated policy, with enforcement on: the same step outcomes;
4. for each IAM action the drill exercised, under the policy minus that action: a step fails with
   ``Denied`` naming it (or the operation, for JSON services whose AccessDenied comes back as "403").

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
from responder.findings.model import Finding
from responder.iam_policy import actions_used, permissions, policy_document, policy_for
from tests.conftest import FIXTURES
from tests.helpers import finding_of, sample_event, seed_user

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
SUBSET = 6
_S3_ACTION = {"HeadBucket": "ListBucket", "ListObjectsV2": "ListBucket", "HeadObject": "GetObject",
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
def test_policy_is_the_sorted_union_of_declared_permissions() -> None:
    registry = default_registry()
    loaded = list(_shipped().values())
    per_action = permissions(loaded, registry)
    document = policy_for(loaded, registry)
    (statement,) = document["Statement"]
    assert statement["Action"] == sorted({p for perms in per_action.values() for p in perms})
    assert all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a) for a in statement["Action"])
    for name in actions_used(loaded):
        assert set(registry.get(name).permissions) <= set(statement["Action"])
    with_undo = policy_for(loaded, registry, undo=True)["Statement"][0]["Action"]
    assert set(statement["Action"]) <= set(with_undo)


def test_cross_account_adds_only_assume_role() -> None:
    document = policy_document(["iam:GetUser"], role_name="ResponderRole")
    assert document["Statement"][1] == {"Sid": "ResponderAssumeMemberRole", "Effect": "Allow",
                                        "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/ResponderRole"}


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


def _iam_action(model: Any, operation: str) -> str:
    prefix = model.signing_name or model.endpoint_prefix
    if prefix == "s3":
        operation = _S3_ACTION.get(operation, operation)
    return f"{prefix}:{operation}"


def _auth(endpoint: str, value: str) -> None:
    requests.post(f"{endpoint}/moto-api/reset-auth", data=value, headers={"Content-Type": "text/plain"}, timeout=10)


def _run(endpoint: str, drill: Drill, allowed: list[str] | None, tmp: Path) -> Outcome:
    """Seed as the emulator's default user, then run the playbook as a user holding ``allowed``."""
    _auth(endpoint, "inf")
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    drill.seed()
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="responder-under-test")
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]} \
        if allowed is None else policy_document(_as_moto_checks(allowed))
    iam.put_user_policy(UserName="responder-under-test", PolicyName="responder", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName="responder-under-test")["AccessKey"]
    session = boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                            region_name="us-east-1")
    access = AwsAccess(session=session)
    calls: set[str] = set()
    operations: dict[str, set[str]] = {}

    def record(model: Any, params: Any, context: Any, **kw: Any) -> None:
        action = _iam_action(model.service_model, model.name)
        calls.add(action)
        operations.setdefault(action, set()).add(model.name)

    access.hooks.append(("before-call.*.*", record))
    settings = load_settings().model_copy(update={"store_url": f"sqlite:///{tmp / 'runs.sqlite3'}",
                                                  "evidence_url": f"file://{tmp / 'evidence'}"})
    engine = build_engine(settings, aws=access, sleep=lambda _s: None, approval_notifiers=[lambda *a: None])
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
                   operations=operations, notes={s.step_id: " ".join(s.notes) for s in steps if s.notes})


def _fixture_drill(playbook_id: str) -> Drill | None:
    """The first fixture finding (tests/fixtures, sorted by path) the playbook matches, moved into moto's
    default account (responder's own here) and seeded by the sandbox's own seeding."""
    from responder.findings import parse_event
    from responder.playbook.match import matching
    from responder.sandbox import Sandbox, seed

    playbook = _shipped()[playbook_id].playbook
    for path in sorted(p for folder in ("guardduty", "securityhub") for p in (FIXTURES / folder).glob("*.json*")):
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
        reason = "needs the Kubernetes double" if uses_k8s else "no fixture finding matches it"
        drills.append(drill or pytest.param(Drill(playbook_id, lambda: None, lambda: None),  # type: ignore[arg-type, return-value]
                                            marks=pytest.mark.skip(reason=reason)))
    return drills


@pytest.mark.parametrize("drill", _drills(), ids=lambda d: d.playbook)
def test_generated_policy_is_exactly_enough(drill: Drill, moto_endpoint: str, tmp_path: Path) -> None:
    policy = policy_for([_shipped()[drill.playbook]], default_registry())["Statement"][0]["Action"]
    admin = _run(moto_endpoint, drill, None, tmp_path / "admin")
    assert admin.calls, "the drill made no AWS call"
    undeclared = admin.calls - set(policy)
    assert not undeclared, f"calls not declared by any action: {sorted(undeclared)}"
    exact = _run(moto_endpoint, drill, policy, tmp_path / "exact")
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
        cut = _run(moto_endpoint, drill, [a for a in policy if a != missing], tmp_path / f"minus{i}")
        denied = [e for e in cut.errors.values() if e.startswith("Denied")]
        # a tolerant read (capture steps note what they could not read) reports it in its notes
        noted = [n for n in cut.notes.values() if "AccessDenied" in n or "access denied" in n or "403" in n]
        names = {missing, *admin.operations.get(missing, set())}
        assert any(name in text for text in denied + noted for name in names), \
            f"without {missing} no step reported AccessDenied for it: {cut.states} {cut.errors} {cut.notes}"
        assert not denied or any("responder iam-policy" in e for e in denied)
