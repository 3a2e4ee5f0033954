"""Write ``responder iam-policy --undo`` for the shipped playbooks into both templates, scoped.

The execution role (template.yaml) and the member-account role (member-role.yaml) carry the statements
``responder.iam_policy.policy_for`` computes — each IAM action on the resource types IAM lets a policy
name for it, with its conditions, ``Resource: "*"`` only where IAM offers nothing narrower — as managed
policies between ``# BEGIN responder iam-policy`` and ``# END responder iam-policy`` (among the
resources), listed by the role between ``# BEGIN responder iam-policy-arns`` and its END (in its
``ManagedPolicyArns``). This script rewrites both blocks, and ``tests/deploy/test_templates.py`` fails
when a template is out of date (a new action or permission without a redeploy would fail with
AccessDenied in AWS).

    python deploy/sync_policy.py          # rewrite
    python deploy/sync_policy.py --check  # exit 1 if a template differs
    python deploy/sync_policy.py --sizes  # the policy sizes IAM would count, worst case

How the statements become CloudFormation:

* every ARN is written for ``${AWS::Partition}`` (``aws``, ``aws-cn``, ``aws-us-gov``), and a string
  naming ``${...}`` is a ``!Sub``;
* the account in ARNs is ``${AWS::AccountId}`` in both templates (see ``ACCOUNT``);
* a statement's resources that name something the template does not define (a parameter or resource) are
  left out, and a statement left with no resource is left out: the member role holds no evidence bucket
  (``${EvidenceBucket}`` is the security account's, and the Lambda writes evidence with its own role) and
  neither template defines ``${AthenaResultsBucket}`` (the deployed Lambda scopes with the local backend;
  a deployment that sets ``RESPONDER_SCOPE_BACKEND=athena`` adds an ``AthenaResultsBucket`` parameter to
  the template of the role that runs the queries, and the grant appears on the next sync);
* IAM counts at most 10,240 characters of inline policy per role in aggregate, and the scoped statements
  alone come close to that (``--sizes``), so they are customer managed policies (6,144 characters each,
  whitespace not counted) attached to the role, as many as the statements need: ``ResponderPolicy1``, ...
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
_MARK = "(deploy/sync_policy.py; do not edit by hand)"


def _block(name: str) -> re.Pattern[str]:
    """``# BEGIN responder <name> ...`` to ``# END responder <name>``, both at the same indentation."""
    return re.compile(
        rf"(?P<indent>[ ]*)# BEGIN responder {name}(?: [^\n]*)?\n(?:.*?\n)?(?P=indent)# END responder {name}\n",
        re.DOTALL,
    )


POLICIES = _block("iam-policy")
"""Where the policies go: among the template's resources."""
ATTACHED = _block("iam-policy-arns")
"""Where the role lists them: in its ``ManagedPolicyArns``, so that the role (and every function using it)
is created only once its policies exist, never as a role without its permissions."""

PARTITION = "${AWS::Partition}"
ACCOUNT = "${AWS::AccountId}"
"""The account in ARNs, for both roles: each role's own calls only ever reach its own account. IAM, EC2,
Lambda, RDS, ... act on the caller's account, and responder reaches another account only by assuming
the member role there (``responder.aws.sessions``) — so the member role (deployed per account by the
StackSet) acts only in its member account, and the execution role, whose own credentials are used only
for findings about the security account, acts only in the security account. The cross-account reach is
``sts:AssumeRole`` on ``arn:...:iam::*:role/${MemberRoleName}``, which keeps ``*``: the member accounts are
not known when the stack is deployed. ARNs naming resources another account owns keep their wildcard
(``responder.iam_policy``): a trail's KMS key may live in the logging account, Organizations ARNs name the
management account, S3 and EC2 snapshot/image ARNs carry no account at all."""

EVIDENCE_URL = "s3://${EvidenceBucket}/evidence"
"""template.yaml's ``RESPONDER_EVIDENCE``: the evidence writes are granted under this prefix only."""

MANAGED_POLICY_LIMIT = 6144
ROLE_INLINE_LIMIT = 10240
WORST_CASE = {
    "AWS::Partition": "aws-us-gov",
    "AWS::AccountId": "123456789012",
    "AWS::Region": "ap-southeast-4",
    "AWS::StackName": "s" * 128,
    "EvidenceBucket": "b" * 63,
    "AthenaResultsBucket": "b" * 63,
    "MemberRoleName": "r" * 64,
    "RoleName": "r" * 64,
}
"""The longest value each name can take (S3 bucket names 63, role names 64, stack names 128 characters):
sizes are measured with these, so a deployment with longer names than the defaults still fits."""
_OTHER_WORST_CASE = "x" * 128


@dataclass(frozen=True)
class Target:
    """A template, the role its generated policies attach to, and whether that role assumes member roles."""

    path: Path
    role: str
    assumes: str | None = None


TARGETS = (
    Target(HERE / "template.yaml", "ExecutionRole", assumes="${MemberRoleName}"),
    Target(HERE / "member-role.yaml", "ResponderRole"),
)


# ------------------------------------------------------------------------------------- generate
def generated_statements(assumes: str | None = None) -> list[dict[str, Any]]:
    """The statements of ``responder iam-policy --undo`` for the shipped playbooks, for CloudFormation."""
    sys.path.insert(0, str(HERE.parent))
    from responder.actions.registry import default_registry
    from responder.app import load_shipped
    from responder.iam_policy import policy_for

    registry = default_registry()
    playbooks = load_shipped(registry, [HERE.parent / "playbooks"])
    document = policy_for(
        playbooks,
        registry,
        undo=True,
        role_name=assumes,
        evidence_url=EVIDENCE_URL,
        account=ACCOUNT,
        partition=PARTITION,
    )
    return list(document["Statement"])


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _names(text: str) -> set[str]:
    """The names a ``!Sub`` string refers to: ``${Bucket}``, ``${Bucket.Arn}`` → Bucket; not ``${!Literal}``."""
    return {m.split(".")[0] for m in re.findall(r"\$\{([^}!][^}]*)\}", text)}


def fitted(statements: Iterable[dict[str, Any]], defined: set[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The statements without the resources that name what the template does not define, and those left out."""
    kept: list[dict[str, Any]] = []
    dropped: list[str] = []
    for statement in statements:
        resources = _listed(statement["Resource"])
        ok = [r for r in resources if {n for n in _names(r) if not n.startswith("AWS::")} <= defined]
        dropped += [f"{statement['Sid']}: {r}" for r in resources if r not in ok]
        if ok:
            kept.append({**statement, "Resource": ok[0] if len(ok) == 1 else ok})
    return kept, dropped


# ------------------------------------------------------------------------------------- size
def worst_case(text: str) -> str:
    """``text`` as IAM would see it after ``!Sub``, with every name at its longest."""
    return re.sub(r"\$\{([^}!][^}]*)\}", lambda m: WORST_CASE.get(m.group(1), _OTHER_WORST_CASE), text)


def policy_size(document: Any) -> int:
    """Characters IAM counts for a policy document (JSON without whitespace), names at their longest."""
    return len(worst_case(json.dumps(resolve(document), separators=(",", ":"))))


def chunked(statements: list[dict[str, Any]], limit: int = MANAGED_POLICY_LIMIT) -> list[list[dict[str, Any]]]:
    """Statements in order, in as few documents of at most ``limit`` characters as greedy filling gives."""
    chunks: list[list[dict[str, Any]]] = [[]]
    for statement in statements:
        if chunks[-1] and policy_size(_document(chunks[-1] + [statement])) > limit:
            chunks.append([])
        chunks[-1].append(statement)
        if policy_size(_document(chunks[-1])) > limit:
            raise SystemExit(f"statement {statement['Sid']} alone exceeds {limit} characters")
    return chunks


def _document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


# ------------------------------------------------------------------------------------- CloudFormation YAML
class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags, read as their long form (``!Sub x`` → ``{"Fn::Sub": x}``)."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tagged)


def load(text: str) -> dict[str, Any]:
    """A template as CloudFormation reads it (intrinsic functions in their long form)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader, plus the CloudFormation tags


def defined_names(template: dict[str, Any]) -> set[str]:
    """What ``${...}`` may name in this template besides the pseudo parameters: its parameters, its resources."""
    return {*template.get("Parameters", {}), *template.get("Resources", {})}


_NO_VALUE = object()


def resolve(value: Any) -> Any:
    """Intrinsic functions replaced by worst-case text (the longer branch of an ``Fn::If``), for measuring."""
    if isinstance(value, list):
        return [v for v in (resolve(v) for v in value) if v is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return _NO_VALUE if arg == "AWS::NoValue" else "${" + arg + "}"
        if key == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
        if key == "Fn::GetAtt":
            return "${" + ".".join(_listed(arg)) + "}"
        if key == "Fn::If":
            branches = [resolve(b) for b in arg[1:]]
            return max(branches, key=lambda b: 0 if b is _NO_VALUE else len(worst_case(json.dumps(b))))
    return {k: v for k, v in ((k, resolve(v)) for k, v in value.items()) if v is not _NO_VALUE}


def _scalar(value: Any) -> str:
    if isinstance(value, str) and "${" in value:
        return "!Sub " + json.dumps(value)
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*(:[A-Za-z0-9-]+)?", value):
        return value  # Sids, Effect, actions: plain, as a reader expects
    return json.dumps(value)


def _yaml(value: Any, indent: str) -> list[str]:
    """``value`` as block YAML lines at ``indent``; strings naming ``${...}`` as ``!Sub``."""
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                lines += [f"{indent}{key}:", *_yaml(item, indent + "  ")]
            else:
                lines.append(f"{indent}{key}: {_scalar(item)}")
    else:
        for item in value:
            if isinstance(item, dict):
                inner = _yaml(item, indent + "  ")
                lines += [f"{indent}- {inner[0].lstrip()}", *inner[1:]]
            else:
                lines.append(f"{indent}- {_scalar(item)}")
    return lines


def render(indent: str, chunks: list[list[dict[str, Any]]]) -> str:
    """The policies block: one ``AWS::IAM::ManagedPolicy`` per chunk."""
    lines = [f"{indent}# BEGIN responder iam-policy {_MARK}"]
    for n, statements in enumerate(chunks, 1):
        description = f"responder iam-policy --undo for the shipped playbooks, part {n} of {len(chunks)}"
        lines += [
            f"{indent}ResponderPolicy{n}:",
            f"{indent}  Type: AWS::IAM::ManagedPolicy",
            f"{indent}  Properties:",
            f"{indent}    Description: {json.dumps(description)}",
            f"{indent}    PolicyDocument:",
            *_yaml(_document(statements), indent + "      "),
        ]
    return "\n".join([*lines, f"{indent}# END responder iam-policy", ""])


def render_arns(indent: str, chunks: list[list[dict[str, Any]]]) -> str:
    """The role's block: a ``!Ref`` (the policy's ARN) per managed policy."""
    refs = [f"{indent}- !Ref ResponderPolicy{n}" for n in range(1, len(chunks) + 1)]
    lines = [f"{indent}# BEGIN responder iam-policy-arns {_MARK}", *refs, f"{indent}# END responder iam-policy-arns"]
    return "\n".join([*lines, ""])


# ------------------------------------------------------------------------------------- sync
def planned(target: Target, text: str) -> tuple[list[list[dict[str, Any]]], list[str]]:
    """The managed policies' statements for this template, and the resources left out (undefined names)."""
    statements, dropped = fitted(generated_statements(target.assumes), defined_names(load(text)))
    return chunked(statements), dropped


def synced(text: str, chunks: list[list[dict[str, Any]]]) -> str:
    for block, name in ((POLICIES, "iam-policy"), (ATTACHED, "iam-policy-arns")):
        if len(block.findall(text)) != 1:
            raise SystemExit(f"need exactly one '# BEGIN responder {name}' ... '# END responder {name}' block")
    text = POLICIES.sub(lambda m: render(m.group("indent"), chunks), text)
    return ATTACHED.sub(lambda m: render_arns(m.group("indent"), chunks), text)


def sizes(target: Target) -> dict[str, Any]:
    """What IAM would count for the role: its inline policies in aggregate, each managed policy of the block."""
    template = load(target.path.read_text())
    resources = template["Resources"]
    inline = resources[target.role]["Properties"].get("Policies", [])
    managed = {
        name: policy_size(r["Properties"]["PolicyDocument"])
        for name, r in resources.items()
        if r.get("Type") == "AWS::IAM::ManagedPolicy" and name.startswith("ResponderPolicy")
    }
    return {
        "role": target.role,
        "inline": sum(policy_size(p["PolicyDocument"]) for p in resolve(inline)),
        "managed": managed,
    }


def main(argv: list[str]) -> int:
    stale = []
    for target in TARGETS:
        text = target.path.read_text()
        chunks, dropped = planned(target, text)
        new = synced(text, chunks)
        if dropped and "--check" not in argv:
            print(f"{target.path.name}: left out (names the template does not define): " + "; ".join(dropped))
        if new != text:
            stale.append(target.path.name)
            if "--check" not in argv:
                target.path.write_text(new)
    if "--sizes" in argv:
        for target in TARGETS:
            print(
                f"{target.path.name}: {json.dumps(sizes(target))} (limits: inline {ROLE_INLINE_LIMIT} "
                f"per role, managed {MANAGED_POLICY_LIMIT} each)"
            )
    if stale:
        print(("out of date: " if "--check" in argv else "updated: ") + ", ".join(stale))
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
