"""The least-privilege IAM policy responder needs, computed from the playbooks it runs.

Each action declares the IAM actions every call of it may make (``permissions``; ``undo_permissions``
for ``responder release``). The policy is their union over the actions the chosen playbooks use, each
IAM action granted on the narrowest resources IAM lets a policy name for it (the Service Authorization
Reference's resource types), grouped into one statement per set of resources, sorted, so it is stable
to review and to diff:

* IAM writes (``iam:PutUserPolicy``, ``iam:UpdateAccessKey``, ``iam:PutRolePolicy``,
  ``iam:UpdateAssumeRolePolicy``, ...) on ``arn:aws:iam::<account>:user/*`` or ``role/*`` only;
  ``iam:PassRole`` (putting an instance profile back on release) only to EC2 (``iam:PassedToService``).
  IAM has no condition key for an inline policy's *name*, so the names responder writes
  (``responder-quarantine``, ``responder-revoke-sessions``, ``responder-deny-session``) cannot be pinned
  in the policy; the actions only ever put and delete those names.
* Evidence-locker writes (``s3:PutObject`` with retention) only under the evidence bucket and prefix
  (``evidence_url``); with no S3 locker configured, under the placeholder ``${EvidenceBucket}``, to be
  replaced (the CloudFormation ``!Sub`` convention) before the document is attached.
* The scope step's ``s3:PutObject`` (Athena query results) only under ``scope.athena.output`` (else the
  placeholder ``${AthenaResultsBucket}``); ``kms:Decrypt`` of trail objects only through S3
  (``kms:ViaService``).
* EC2, Auto Scaling, ELB, CloudTrail, Lambda, RDS, Glue, Athena and Secrets Manager writes on their
  resource types in the account.
* ``Resource: "*"`` only for reads IAM cannot scope (``Describe*``, ``LookupEvents``, ...) or chooses not
  to here (reads of any bucket, instance or log the finding names), and for the few writes IAM offers no
  resource type for (``iam:GenerateCredentialReport``, ``organizations:CreatePolicy``).

``<account>`` is ``*`` unless given: IAM and EC2 calls only ever reach the caller's own account, and the
same document serves every member account's ``ResponderRole``. Cross-account deployments add
``sts:AssumeRole`` on the member-account role. The guard rails beyond IAM stay in code: responder refuses
to contain itself, and containment writes only deny policies it names ``responder-*``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .actions.registry import Registry
from .playbook.validate import LoadedPlaybook

ASSUME_SID = "ResponderAssumeMemberRole"
EVIDENCE_SID = "ResponderEvidenceLocker"
EVIDENCE_BUCKET_PLACEHOLDER = "${EvidenceBucket}"
ATHENA_RESULTS_PLACEHOLDER = "${AthenaResultsBucket}"

# ARN templates ({partition}, {account}); each names one IAM resource type.
_USER = "arn:{partition}:iam::{account}:user/*"
_ROLE = "arn:{partition}:iam::{account}:role/*"
_INSTANCE_PROFILE = "arn:{partition}:iam::{account}:instance-profile/*"
_BUCKET = "arn:{partition}:s3:::*"
_OBJECT = "arn:{partition}:s3:::*/*"
_INSTANCE = "arn:{partition}:ec2:*:{account}:instance/*"
_SECURITY_GROUP = "arn:{partition}:ec2:*:{account}:security-group/*"
_SG_RULE = "arn:{partition}:ec2:*:{account}:security-group-rule/*"
_VPC = "arn:{partition}:ec2:*:{account}:vpc/*"
_ENI = "arn:{partition}:ec2:*:{account}:network-interface/*"
_VOLUME = "arn:{partition}:ec2:*:{account}:volume/*"
_SNAPSHOT = "arn:{partition}:ec2:*::snapshot/*"  # EC2 snapshot and image ARNs carry no account
_IMAGE = "arn:{partition}:ec2:*::image/*"
_ASG = "arn:{partition}:autoscaling:*:{account}:autoScalingGroup:*:autoScalingGroupName/*"
_TARGET_GROUP = "arn:{partition}:elasticloadbalancing:*:{account}:targetgroup/*/*"
_TRAIL = "arn:{partition}:cloudtrail:*:{account}:trail/*"
_FUNCTION = "arn:{partition}:lambda:*:{account}:function:*"
_RDS_DB = "arn:{partition}:rds:*:{account}:db:*"
_RDS_SNAPSHOT = "arn:{partition}:rds:*:{account}:snapshot:*"
_RDS_CLUSTER = "arn:{partition}:rds:*:{account}:cluster:*"
_RDS_CLUSTER_SNAPSHOT = "arn:{partition}:rds:*:{account}:cluster-snapshot:*"
_RDS_GROUPS = tuple(f"arn:{{partition}}:rds:*:{{account}}:{kind}:*" for kind in ("og", "pg", "secgrp", "subgrp"))
_SECRET = "arn:{partition}:secretsmanager:*:{account}:secret:*"
_GLUE = (
    "arn:{partition}:glue:*:{account}:catalog",
    "arn:{partition}:glue:*:{account}:database/*",
    "arn:{partition}:glue:*:{account}:table/*/*",
)
_WORKGROUP = "arn:{partition}:athena:*:{account}:workgroup/*"
_KMS_KEY = "arn:{partition}:kms:*:*:key/*"  # a trail's key may live in the logging account
_ORG = tuple(f"arn:{{partition}}:organizations::*:{kind}/*" for kind in ("policy", "account", "ou", "root"))

_IAM_USER_ACTIONS = (
    "GetUser",
    "ListGroupsForUser",
    "ListAttachedUserPolicies",
    "ListUserPolicies",
    "GetUserPolicy",
    "PutUserPolicy",
    "DeleteUserPolicy",
    "ListAccessKeys",
    "UpdateAccessKey",
    "GetAccessKeyLastUsed",
    "GetLoginProfile",
    "DeleteLoginProfile",
    "ListUserTags",
    "TagUser",
    "UntagUser",
    "ListMFADevices",
    "ListSSHPublicKeys",
    "ListServiceSpecificCredentials",
    "ListSigningCertificates",
)
_IAM_ROLE_ACTIONS = (
    "GetRole",
    "ListAttachedRolePolicies",
    "ListRolePolicies",
    "GetRolePolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
    "UpdateAssumeRolePolicy",
    "ListRoleTags",
    "TagRole",
    "UntagRole",
    "ListInstanceProfilesForRole",
    "PassRole",
)
_S3_BUCKET_ACTIONS = (
    "ListBucket",
    "ListBucketVersions",
    "GetBucketAcl",
    "GetBucketLocation",
    "GetBucketLogging",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketPublicAccessBlock",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetEncryptionConfiguration",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketVersioning",
    "PutLifecycleConfiguration",
    "PutBucketObjectLockConfiguration",
)
_S3_OBJECT_ACTIONS = (
    "GetObject",
    "GetObjectVersion",
    "PutObject",
    "DeleteObject",
    "DeleteObjectVersion",
    "PutObjectRetention",
    "BypassGovernanceRetention",
    "GetObjectRetention",
)

RESOURCES: dict[str, tuple[str, ...]] = {
    **{f"iam:{a}": (_USER,) for a in _IAM_USER_ACTIONS},
    **{f"iam:{a}": (_ROLE,) for a in _IAM_ROLE_ACTIONS},
    "iam:GetInstanceProfile": (_INSTANCE_PROFILE,),
    **{f"s3:{a}": (_BUCKET,) for a in _S3_BUCKET_ACTIONS},
    **{f"s3:{a}": (_OBJECT,) for a in _S3_OBJECT_ACTIONS},
    "ec2:AssociateIamInstanceProfile": (_INSTANCE,),
    "ec2:DisassociateIamInstanceProfile": (_INSTANCE,),
    "ec2:AuthorizeSecurityGroupEgress": (_SECURITY_GROUP, _SG_RULE),
    "ec2:AuthorizeSecurityGroupIngress": (_SECURITY_GROUP, _SG_RULE),
    "ec2:RevokeSecurityGroupEgress": (_SECURITY_GROUP, _SG_RULE),
    "ec2:RevokeSecurityGroupIngress": (_SECURITY_GROUP, _SG_RULE),
    "ec2:CreateSecurityGroup": (_SECURITY_GROUP, _VPC),
    "ec2:CreateSnapshot": (_SNAPSHOT, _VOLUME),
    "ec2:CreateTags": (_INSTANCE, _SECURITY_GROUP, _VOLUME, _SNAPSHOT, _ENI, _IMAGE, _VPC),
    "ec2:DeleteTags": (_INSTANCE, _SECURITY_GROUP, _VOLUME, _SNAPSHOT, _ENI, _IMAGE, _VPC),
    "ec2:ModifyImageAttribute": (_IMAGE,),
    "ec2:ModifyInstanceAttribute": (_INSTANCE, _SECURITY_GROUP),
    "ec2:ModifyNetworkInterfaceAttribute": (_ENI, _SECURITY_GROUP, _INSTANCE),
    "ec2:ModifySnapshotAttribute": (_SNAPSHOT,),
    "autoscaling:AttachInstances": (_ASG,),
    "autoscaling:DetachInstances": (_ASG,),
    "elasticloadbalancing:RegisterTargets": (_TARGET_GROUP,),
    "elasticloadbalancing:DeregisterTargets": (_TARGET_GROUP,),
    "cloudtrail:StartLogging": (_TRAIL,),
    "cloudtrail:StopLogging": (_TRAIL,),
    "cloudtrail:PutEventSelectors": (_TRAIL,),
    **{
        f"lambda:{a}": (_FUNCTION,)
        for a in (
            "AddPermission",
            "RemovePermission",
            "PutFunctionConcurrency",
            "DeleteFunctionConcurrency",
            "UpdateFunctionUrlConfig",
        )
    },
    "rds:AddTagsToResource": (_RDS_DB, _RDS_SNAPSHOT, _RDS_CLUSTER, _RDS_CLUSTER_SNAPSHOT),
    "rds:CreateDBSnapshot": (_RDS_DB, _RDS_SNAPSHOT),
    "rds:ModifyDBInstance": (_RDS_DB, *_RDS_GROUPS),
    "rds:ModifyDBSnapshotAttribute": (_RDS_SNAPSHOT,),
    "rds:ModifyDBClusterSnapshotAttribute": (_RDS_CLUSTER_SNAPSHOT,),
    "secretsmanager:RotateSecret": (_SECRET,),
    "glue:CreateTable": _GLUE,
    "athena:StartQueryExecution": (_WORKGROUP,),
    "athena:StopQueryExecution": (_WORKGROUP,),
    "kms:Decrypt": (_KMS_KEY,),
    "organizations:AttachPolicy": _ORG,
    "organizations:DetachPolicy": _ORG,
}
"""IAM action → the resource types a policy may name for it. Actions absent here get ``"*"``."""

CONDITIONS: dict[str, dict[str, Any]] = {
    # responder passes a role only to put an instance profile back on an instance (release)
    "iam:PassRole": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    # trail objects encrypted with KMS are decrypted by S3 on responder's behalf, never directly
    "kms:Decrypt": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
}

# Where one responder action's IAM action lands somewhere configuration decides (a named place).
PLACED: dict[tuple[str, str], str] = {
    ("scope.investigate", "s3:PutObject"): "athena_results",  # Athena writes query results there
}

EVIDENCE_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectRetention")
EVIDENCE_BUCKET_ACTIONS = ("s3:GetBucketObjectLockConfiguration", "s3:ListBucket", "s3:ListBucketVersions")
"""What the S3 evidence locker calls (responder/evidence/s3.py): it checks Object Lock on the bucket, writes
each artifact once with retention (PutObject + PutObjectRetention), reads and lists them back (verify,
export: GetObject, GetObjectVersion, ListBucket, ListBucketVersions). Nothing else, and only there."""


def actions_used(playbooks: Iterable[LoadedPlaybook]) -> list[str]:
    """The action names the playbooks' steps use, sorted."""
    return sorted({step.action for loaded in playbooks for step in loaded.playbook.steps})


def permissions(playbooks: Iterable[LoadedPlaybook], registry: Registry, *, undo: bool = False) -> dict[str, list[str]]:
    """IAM actions per responder action (only those that need any)."""
    out: dict[str, list[str]] = {}
    for name in actions_used(playbooks):
        cls = registry.get(name)
        needed = set(cls.permissions) | (set(cls.undo_permissions) if undo else set())
        if needed:
            out[name] = sorted(needed)
    return out


def s3_location(url: str | None) -> tuple[str, str] | None:
    """``s3://bucket/prefix`` → (bucket, prefix without slashes at either end); None for anything else."""
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", url or "")
    return (match.group(1), match.group(2).strip("/")) if match else None


def _objects_under(location: tuple[str, str] | None, placeholder: str, partition: str) -> str:
    bucket, prefix = location or (placeholder, "")
    return f"arn:{partition}:s3:::{bucket}/{prefix + '/' if prefix else ''}*"


def evidence_statement(evidence_url: str | None, *, partition: str = "aws") -> list[dict[str, Any]]:
    """The evidence locker's grants: objects under the evidence prefix, the bucket's lock and listings."""
    location = s3_location(evidence_url)
    bucket = location[0] if location else EVIDENCE_BUCKET_PLACEHOLDER
    return [
        {
            "Sid": EVIDENCE_SID,
            "Effect": "Allow",
            "Action": sorted(EVIDENCE_OBJECT_ACTIONS),
            "Resource": _objects_under(location, EVIDENCE_BUCKET_PLACEHOLDER, partition),
        },
        {
            "Sid": f"{EVIDENCE_SID}Bucket",
            "Effect": "Allow",
            "Action": sorted(EVIDENCE_BUCKET_ACTIONS),
            "Resource": f"arn:{partition}:s3:::{bucket}",
        },
    ]


def _sid(resources: tuple[str, ...], taken: set[str]) -> str:
    """A readable, unique Sid from the resource types (``ResponderIamUser``, ``ResponderEc2InstanceVolume``)."""
    words: list[str] = []
    service_before = ""
    for arn in resources:
        # CloudFormation pseudo parameters (``${AWS::Partition}``, ``${AWS::AccountId}``) hold colons
        parts = re.sub(r"\$\{AWS::\w+\}", "AWS", arn).split(":")
        if len(parts) < 6:
            words.append("AnyResource")
            continue
        service, rest = parts[2], ":".join(parts[5:])
        named = re.search(r"\$\{(\w+)\}", rest)
        if named:
            kind = named.group(1)
        elif service == "s3":
            kind = "Object" if "/" in rest else "Bucket"
        else:
            kind = re.split(r"[/:]", rest)[0]
        word = "".join(p[0].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", kind) if p)
        if service != service_before:
            word = service.capitalize() + word
            service_before = service
        if word not in words:
            words.append(word)
    base = "Responder" + "".join(words[:2]) + ("AndMore" if len(words) > 2 else "")
    sid, n = base, 2
    while sid in taken:
        sid, n = f"{base}{n}", n + 1
    taken.add(sid)
    return sid


def grants(
    iam_actions: Iterable[str],
    *,
    placed: Mapping[str, tuple[str, ...]] | None = None,
    partition: str = "aws",
    account: str = "*",
) -> list[dict[str, Any]]:
    """Allow statements for ``iam_actions``, one per set of resources (and condition), sorted.

    ``placed`` overrides the resources of single IAM actions with final ARNs (a configured bucket instead
    of any bucket).
    """
    groups: dict[tuple[tuple[str, ...], str], list[str]] = {}
    for action in sorted(set(iam_actions)):
        if placed and action in placed:
            resources = tuple(sorted(set(placed[action])))
        else:
            templates = RESOURCES.get(action) or ("*",)
            resources = tuple(sorted({t.format(partition=partition, account=account) for t in templates}))
        condition = json.dumps(CONDITIONS.get(action) or {}, sort_keys=True)
        groups.setdefault((resources, condition), []).append(action)
    statements: list[dict[str, Any]] = []
    taken: set[str] = set()
    for (resources, condition), actions in sorted(groups.items()):
        statement: dict[str, Any] = {
            "Sid": _sid(resources, taken),
            "Effect": "Allow",
            "Action": actions,
            "Resource": resources[0] if len(resources) == 1 else list(resources),
        }
        if condition != "{}":
            statement["Condition"] = json.loads(condition)
        statements.append(statement)
    return statements


def policy_document(
    iam_actions: Iterable[str],
    *,
    role_name: str | None = None,
    partition: str = "aws",
    account: str = "*",
    evidence_url: str | None = None,
    evidence: bool = False,
    placed: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """An IAM policy document: the scoped grants, the evidence locker if asked, AssumeRole into members."""
    statements = grants(iam_actions, placed=placed, partition=partition, account=account)
    if evidence:
        statements += evidence_statement(evidence_url, partition=partition)
    if role_name:
        statements.append(
            {
                "Sid": ASSUME_SID,
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": f"arn:{partition}:iam::*:role/{role_name}",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def policy_for(
    playbooks: Iterable[LoadedPlaybook],
    registry: Registry,
    *,
    undo: bool = False,
    role_name: str | None = None,
    evidence_url: str | None = None,
    athena_output: str | None = None,
    account: str = "*",
    partition: str = "aws",
) -> dict[str, Any]:
    """The policy for these playbooks; ``evidence_url`` and ``athena_output`` narrow the S3 writes to the
    configured places (placeholders otherwise)."""
    chosen = list(playbooks)
    per_action = permissions(chosen, registry, undo=undo)
    places = {"athena_results": (_objects_under(s3_location(athena_output), ATHENA_RESULTS_PLACEHOLDER, partition),)}
    union: set[str] = set()
    placed: dict[str, tuple[str, ...]] = {}
    for name, perms in per_action.items():
        for perm in perms:
            where = PLACED.get((name, perm))
            if where:
                placed[perm] = (*placed.get(perm, ()), *places[where])
            union.add(perm)
    # an IAM action placed for one responder action but needed unplaced by another keeps its wide grant
    for name, perms in per_action.items():
        for perm in perms:
            if perm in placed and (name, perm) not in PLACED:
                wide = (t.format(partition=partition, account=account) for t in RESOURCES.get(perm, ("*",)))
                placed[perm] = (*placed[perm], *wide)
    return policy_document(
        union,
        role_name=role_name,
        partition=partition,
        account=account,
        evidence_url=evidence_url,
        evidence=bool(chosen),
        placed=placed,
    )
