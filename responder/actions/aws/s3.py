"""S3 exposure: record how a bucket was exposed, then block public access at the bucket.

Evidence first: the bucket policy, ACL, ownership controls and public-access block are exactly what an
investigator needs to say *how* the data was public, and blocking access changes what they report.
Blocking uses the bucket-level public-access block (all four settings) rather than editing the policy
or ACL: it overrides both, keeps them intact as evidence, and release restores the previous block exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pydantic import Field, field_validator

from ...aws import parallel
from ...errors import TargetChanged
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext
from .common import jsonable

BLOCK_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
             "RestrictPublicBuckets": True}
PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers",
                   "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
# "not configured" answers: evidence of absence, not errors
_ABSENT = ("NoSuchBucketPolicy", "NoSuchPublicAccessBlockConfiguration", "OwnershipControlsNotFoundError",
           "ServerSideEncryptionConfigurationNotFoundError", "NoSuchTagSet", "ObjectLockConfigurationNotFoundError",
           "NoSuchLifecycleConfiguration", "NoSuchWebsiteConfiguration")


class BucketInput(ActionInput):
    """Bucket names (legacy ones included) are letters, digits, dots, hyphens and underscores."""

    bucket_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{1,254}$")


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _no_bucket(exc: Exception, bucket: str) -> None:
    if _code(exc) in ("NoSuchBucket", "404"):
        raise TargetChanged(f"bucket {bucket} does not exist (deleted, or in another account)") from None


def public_access_block(s3: Any, bucket: str) -> dict[str, bool] | None:
    try:
        return dict(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"])
    except Exception as exc:
        _no_bucket(exc, bucket)
        if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise


# ---------------------------------------------------------------------------------------------
class CaptureBucketOutput(ActionOutput):
    bucket_name: str = ""
    artifact: str = ""
    sha256: str = ""
    public: bool = False
    public_policy: bool = False
    public_acl: bool = False
    public_access_block: dict[str, bool] | None = None
    object_lock: bool = False


class CaptureBucket(Action[BucketInput]):
    """Preserve a bucket's access configuration as evidence before anything changes it.

    Captures location, policy and policy status, ACL, ownership controls, public-access block,
    versioning, encryption, tags, logging and Object Lock configuration; each "not configured" answer is
    recorded as ``null``, and each read that fails is named in the notes.
    """

    name = "aws.s3.capture_bucket"
    Input = BucketInput
    Output = CaptureBucketOutput
    category = Category.EVIDENCE
    permissions = frozenset({
        "s3:GetBucketLocation", "s3:GetBucketPolicy", "s3:GetBucketPolicyStatus", "s3:GetBucketAcl",
        "s3:GetBucketOwnershipControls", "s3:GetBucketPublicAccessBlock", "s3:GetBucketVersioning",
        "s3:GetEncryptionConfiguration", "s3:GetBucketTagging", "s3:GetBucketLogging",
        "s3:GetBucketObjectLockConfiguration",
    })

    def plan(self, ctx: StepContext, inp: BucketInput) -> Change:
        return Change(will_change=False, summary=f"capture the access configuration of bucket {inp.bucket_name}")

    def _collect(self, ctx: StepContext, inp: BucketInput, notes: list[str]) -> dict[str, Any]:
        s3 = ctx.aws("s3")
        b = inp.bucket_name
        reads: dict[str, Callable[[], Any]] = {
            "location": lambda: s3.get_bucket_location(Bucket=b).get("LocationConstraint"),
            "policy": lambda: json.loads(s3.get_bucket_policy(Bucket=b)["Policy"]),
            "policy_status": lambda: s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"],
            "acl": lambda: {k: v for k, v in s3.get_bucket_acl(Bucket=b).items() if k != "ResponseMetadata"},
            "ownership_controls": lambda: s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"],
            "public_access_block": lambda: s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"],
            "versioning": lambda: {k: v for k, v in s3.get_bucket_versioning(Bucket=b).items()
                                   if k != "ResponseMetadata"},
            "encryption": lambda: s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"],
            "tags": lambda: {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=b)["TagSet"]},
            "logging": lambda: s3.get_bucket_logging(Bucket=b).get("LoggingEnabled"),
            "object_lock": lambda: s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"],
        }
        state: dict[str, Any] = {"bucket": b, "captured_at": ctx.now.isoformat()}
        # issued at once (one round trip, not eleven); settled results are read in declared order, so the
        # document, the notes and a missing bucket's error are what the reads one by one would give
        for key, settled in parallel.settle(reads).items():
            try:
                state[key] = settled.get()
            except Exception as exc:
                _no_bucket(exc, b)
                code = _code(exc)
                state[key] = None
                if code not in _ABSENT and not (key == "object_lock" and code == "InvalidRequest"):
                    notes.append(f"{key} not captured: {code or type(exc).__name__}: {str(exc)[:160]}")
        return jsonable(state)

    @staticmethod
    def _public(state: dict[str, Any]) -> tuple[bool, bool]:
        policy = bool((state.get("policy_status") or {}).get("IsPublic"))
        if not policy and state.get("policy"):
            for stmt in state["policy"].get("Statement", []):
                principal = stmt.get("Principal")
                if stmt.get("Effect") == "Allow" and not stmt.get("Condition") and (
                        principal == "*" or (isinstance(principal, dict) and principal.get("AWS") in ("*", ["*"]))):
                    policy = True
        grants = (state.get("acl") or {}).get("Grants", [])
        acl = any((g.get("Grantee") or {}).get("URI") in PUBLIC_GRANTEES for g in grants)
        return policy, acl

    def apply(self, ctx: StepContext, inp: BucketInput) -> Outcome:
        notes: list[str] = []
        state = self._collect(ctx, inp, notes)
        artifact = ctx.evidence.put_json(ctx.run_id, f"{ctx.step_id}/s3-{inp.bucket_name}.json", state,
                                         collected_by=f"responder:{self.name}", at=ctx.now,
                                         details={"step": ctx.step_id, "api": "s3", "bucket": inp.bucket_name})
        policy, acl = self._public(state)
        out = CaptureBucketOutput(bucket_name=inp.bucket_name, artifact=artifact.name, sha256=artifact.sha256,
                                  public=policy or acl, public_policy=policy, public_acl=acl,
                                  public_access_block=state.get("public_access_block"),
                                  object_lock=bool(state.get("object_lock")))
        return Outcome(changed=False, summary=f"captured bucket {inp.bucket_name} → {artifact.name} "
                       f"({'public' if out.public else 'not public'} by policy/ACL)", output=out.model_dump(),
                       artifacts=[artifact.as_dict()], notes=notes)


# ---------------------------------------------------------------------------------------------
class BlockPublicAccessOutput(ActionOutput):
    bucket_name: str = ""
    previous: dict[str, bool] | None = None


class BlockPublicAccess(Action[BucketInput]):
    """Turn on all four public-access-block settings of the bucket.

    Overrides any public policy or ACL without editing them (they stay as evidence). The previous block
    (or its absence) is the before state; release restores it if the block is still responder's.
    """

    name = "aws.s3.block_public_access"
    Input = BucketInput
    Output = BlockPublicAccessOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"})
    undo_permissions = permissions

    def plan(self, ctx: StepContext, inp: BucketInput) -> Change:
        current = public_access_block(ctx.aws("s3"), inp.bucket_name)
        return Change(will_change=current != BLOCK_ALL, summary=f"block all public access to bucket {inp.bucket_name}",
                      before={"public_access_block": current}, after={"public_access_block": BLOCK_ALL},
                      notes=["an intentionally public bucket (static website, public dataset) stops serving"])

    def apply(self, ctx: StepContext, inp: BucketInput) -> Outcome:
        s3 = ctx.aws("s3")
        current = public_access_block(s3, inp.bucket_name)
        out = BlockPublicAccessOutput(bucket_name=inp.bucket_name, previous=current).model_dump()
        if current == BLOCK_ALL:
            return Outcome(changed=False, summary=f"public access to {inp.bucket_name} is already blocked",
                           before={"public_access_block": current}, after={"public_access_block": current}, output=out)
        ctx.record_before({"public_access_block": current})
        s3.put_public_access_block(Bucket=inp.bucket_name, PublicAccessBlockConfiguration=dict(BLOCK_ALL))
        return Outcome(changed=True, summary=f"blocked public access to bucket {inp.bucket_name} (was {current})",
                       before={"public_access_block": current}, after={"public_access_block": BLOCK_ALL}, output=out)

    def undo(self, ctx: StepContext, inp: BucketInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        s3 = ctx.aws("s3")
        current = public_access_block(s3, inp.bucket_name)
        left = applied.after.get("public_access_block")
        if current != left and not force:
            diff = {k: (current or {}).get(k) for k in BLOCK_ALL if (current or {}).get(k) != (left or {}).get(k)}
            raise TargetChanged(f"public-access block of {inp.bucket_name} changed since responder set it: now "
                                f"{diff or current}; use --force to release anyway")
        previous = applied.before.get("public_access_block")
        if previous:
            s3.put_public_access_block(Bucket=inp.bucket_name, PublicAccessBlockConfiguration=previous)
        else:
            s3.delete_public_access_block(Bucket=inp.bucket_name)
        return Outcome(changed=True, summary=f"restored the public-access block of {inp.bucket_name} ({previous})",
                       before={"public_access_block": current}, after={"public_access_block": previous})


# =============================================================================================
# Bucket-policy containment and ransomware guards (issue 17). Appended as one block.
# Each guard is one statement with a fixed Sid that responder owns: apply adds or widens it, release
# puts the whole previous policy back (or deletes the policy if there was none) — only if the policy is
# still exactly as responder left it.
# =============================================================================================
DENY_EXTERNAL_SID = "ResponderDenyExternalAccounts"
DENY_DELETION_SID = "ResponderDenyObjectDeletion"
DELETION_ACTIONS = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration",
                    "s3:PutBucketVersioning", "s3:BypassGovernanceRetention", "s3:PutObjectRetention",
                    "s3:PutBucketObjectLockConfiguration"]


def bucket_policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except Exception as exc:
        _no_bucket(exc, bucket)
        if _code(exc) == "NoSuchBucketPolicy":
            return None
        raise


def _with_statement(policy: dict[str, Any] | None, statement: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(policy)) if policy else {"Version": "2012-10-17", "Statement": []}
    stmts = doc.get("Statement") or []
    stmts = [stmts] if isinstance(stmts, dict) else list(stmts)
    doc["Statement"] = [s for s in stmts if s.get("Sid") != statement["Sid"]] + [statement]
    return doc


def _find(policy: dict[str, Any] | None, sid: str) -> dict[str, Any] | None:
    stmts = (policy or {}).get("Statement") or []
    stmts = [stmts] if isinstance(stmts, dict) else stmts
    return next((s for s in stmts if isinstance(s, dict) and s.get("Sid") == sid), None)


class _PolicyGuard(Action[Any]):
    """Shared apply/undo for a responder-owned bucket-policy statement."""

    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"s3:GetBucketPolicy", "s3:PutBucketPolicy"})
    undo_permissions = frozenset({"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"})
    sid = ""

    def _statement(self, ctx: StepContext, inp: Any, current: dict[str, Any] | None) -> dict[str, Any]:
        raise NotImplementedError

    def _describe(self, statement: dict[str, Any]) -> str:
        raise NotImplementedError

    def plan(self, ctx: StepContext, inp: Any) -> Change:
        current = bucket_policy(ctx.aws("s3"), inp.bucket_name)
        wanted = _with_statement(current, self._statement(ctx, inp, current))
        return Change(will_change=wanted != current, summary=f"bucket {inp.bucket_name}: "
                      f"{self._describe(self._statement(ctx, inp, current))}", before={"policy": current},
                      after={"policy": wanted})

    def apply(self, ctx: StepContext, inp: Any) -> Outcome:
        s3 = ctx.aws("s3")
        current = bucket_policy(s3, inp.bucket_name)
        statement = self._statement(ctx, inp, current)
        wanted = _with_statement(current, statement)
        out = {"bucket_name": inp.bucket_name, "statement": statement}
        if _find(current, self.sid) == statement:
            return Outcome(changed=False, summary=f"bucket {inp.bucket_name} already has {self.sid}",
                           before={"policy": current}, after={"policy": current}, output=out)
        ctx.record_before({"policy": current})
        s3.put_bucket_policy(Bucket=inp.bucket_name, Policy=json.dumps(wanted))
        return Outcome(changed=True, summary=f"bucket {inp.bucket_name}: {self._describe(statement)}",
                       before={"policy": current}, after={"policy": bucket_policy(s3, inp.bucket_name)}, output=out)

    def undo(self, ctx: StepContext, inp: Any, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        s3 = ctx.aws("s3")
        current = bucket_policy(s3, inp.bucket_name)
        if current != applied.after.get("policy") and not force:
            raise TargetChanged(f"the policy of bucket {inp.bucket_name} was edited since responder added "
                                f"{self.sid}; use --force to release anyway")
        previous = applied.before.get("policy")
        if previous:
            s3.put_bucket_policy(Bucket=inp.bucket_name, Policy=json.dumps(previous))
        else:
            s3.delete_bucket_policy(Bucket=inp.bucket_name)
        return Outcome(changed=True, summary=f"restored the policy of bucket {inp.bucket_name} "
                       f"({'none' if not previous else len(previous.get('Statement', []))} statement(s))",
                       before={"policy": current}, after={"policy": previous})


# ---------------------------------------------------------------------------------------------
class DenyExternalAccountsInput(BucketInput):
    accounts: list[str] = Field(min_length=1, description="12-digit ids of the outside accounts to deny")

    @field_validator("accounts")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        for account in value:
            if not re.fullmatch(r"\d{12}", str(account)):
                raise ValueError(f"{account!r} is not a 12-digit account id")
        return sorted(set(value))


class DenyExternalAccounts(_PolicyGuard):
    """Deny named outside accounts every S3 action on the bucket, whatever the policy or ACL grants them.

    An explicit Deny wins over the Allow the attacker added, which stays in the policy as evidence.
    Accounts already denied are kept (the statement only widens). The bucket owner's account is refused:
    denying it would lock the owner — and responder — out.
    """

    name = "aws.s3.deny_external_accounts"
    Input = DenyExternalAccountsInput
    sid = DENY_EXTERNAL_SID

    def _statement(self, ctx: StepContext, inp: DenyExternalAccountsInput,
                   current: dict[str, Any] | None) -> dict[str, Any]:
        from ...errors import Refused

        own = ctx.finding.account_id
        if own in inp.accounts:
            raise Refused(f"account {own} owns bucket {inp.bucket_name}: denying it would lock the owner (and "
                          "responder) out; nothing changed")
        existing = _find(current, self.sid) or {}
        principals = (existing.get("Principal") or {}).get("AWS") or []
        principals = [principals] if isinstance(principals, str) else list(principals)
        wanted = sorted({*principals, *(f"arn:aws:iam::{a}:root" for a in inp.accounts)})
        return {"Sid": self.sid, "Effect": "Deny", "Principal": {"AWS": wanted}, "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{inp.bucket_name}", f"arn:aws:s3:::{inp.bucket_name}/*"]}

    def _describe(self, statement: dict[str, Any]) -> str:
        return f"deny {', '.join(a.split(':')[4] for a in statement['Principal']['AWS'])} every S3 action"


class DenyObjectDeletion(_PolicyGuard):
    """Deny everyone deleting object versions, or changing lifecycle, versioning or retention, on the bucket.

    Ransomware and mass deletion destroy data through exactly these calls (a delete with a version id, an
    expiring lifecycle rule, suspended versioning). Plain deletes still only add delete markers while
    versioning is on, so applications keep working; nothing is deleted while the guard stands. Bucket
    policy changes stay allowed, so release (or a person) can lift it.
    """

    name = "aws.s3.deny_object_deletion"
    Input = BucketInput
    sid = DENY_DELETION_SID

    def _statement(self, ctx: StepContext, inp: BucketInput, current: dict[str, Any] | None) -> dict[str, Any]:
        return {"Sid": self.sid, "Effect": "Deny", "Principal": "*", "Action": list(DELETION_ACTIONS),
                "Resource": [f"arn:aws:s3:::{inp.bucket_name}", f"arn:aws:s3:::{inp.bucket_name}/*"]}

    def _describe(self, statement: dict[str, Any]) -> str:
        return "deny deleting versions and changing lifecycle/versioning/retention, to everyone"


# ---------------------------------------------------------------------------------------------
class EnableVersioning(Action[BucketInput]):
    """Turn versioning on, so an overwrite or delete keeps the previous version.

    Release sets it back to ``Suspended`` if it was not enabled before (S3 cannot turn versioning off
    once on; suspended keeps every version already made).
    """

    name = "aws.s3.enable_versioning"
    Input = BucketInput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"s3:GetBucketVersioning", "s3:PutBucketVersioning"})
    undo_permissions = permissions

    @staticmethod
    def _status(s3: Any, bucket: str) -> str | None:
        try:
            return s3.get_bucket_versioning(Bucket=bucket).get("Status")
        except Exception as exc:
            _no_bucket(exc, bucket)
            raise

    def plan(self, ctx: StepContext, inp: BucketInput) -> Change:
        status = self._status(ctx.aws("s3"), inp.bucket_name)
        return Change(will_change=status != "Enabled", summary=f"turn versioning on for {inp.bucket_name} "
                      f"(now {status or 'never enabled'})", before={"versioning": status},
                      after={"versioning": "Enabled"})

    def apply(self, ctx: StepContext, inp: BucketInput) -> Outcome:
        s3 = ctx.aws("s3")
        status = self._status(s3, inp.bucket_name)
        if status == "Enabled":
            return Outcome(changed=False, summary=f"versioning of {inp.bucket_name} is already on",
                           before={"versioning": status}, after={"versioning": status})
        ctx.record_before({"versioning": status})
        s3.put_bucket_versioning(Bucket=inp.bucket_name, VersioningConfiguration={"Status": "Enabled"})
        return Outcome(changed=True, summary=f"turned versioning on for {inp.bucket_name} (was "
                       f"{status or 'never enabled'})", before={"versioning": status}, after={"versioning": "Enabled"})

    def undo(self, ctx: StepContext, inp: BucketInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        s3 = ctx.aws("s3")
        status = self._status(s3, inp.bucket_name)
        if status != "Enabled" and not force:
            raise TargetChanged(f"versioning of {inp.bucket_name} is {status} (responder left it Enabled); "
                                "use --force to release anyway")
        s3.put_bucket_versioning(Bucket=inp.bucket_name, VersioningConfiguration={"Status": "Suspended"})
        return Outcome(changed=True, summary=f"versioning of {inp.bucket_name} suspended again (versions kept)",
                       before={"versioning": status}, after={"versioning": "Suspended"},
                       notes=["S3 cannot turn versioning off once on: suspended keeps every version made"])


# ---------------------------------------------------------------------------------------------
class ListVersionsInput(BucketInput):
    prefix: str = ""
    max_keys: int = Field(100_000, ge=1, le=5_000_000)


class ListVersionsOutput(ActionOutput):
    bucket_name: str = ""
    versions: int = 0
    delete_markers: int = 0
    truncated: bool = False
    artifact: str = ""


class ListObjectVersions(Action[ListVersionsInput]):
    """Record every object version and delete marker (key, version id, size, time, ETag) as evidence.

    After mass deletion or encryption, this is the list a restore starts from: which version of each
    key was the last good one, and when the destruction began. Object bodies are not copied.
    """

    name = "aws.s3.list_object_versions"
    Input = ListVersionsInput
    Output = ListVersionsOutput
    category = Category.EVIDENCE
    permissions = frozenset({"s3:ListBucketVersions"})

    def plan(self, ctx: StepContext, inp: ListVersionsInput) -> Change:
        return Change(will_change=False, summary=f"list object versions of {inp.bucket_name} as evidence")

    def apply(self, ctx: StepContext, inp: ListVersionsInput) -> Outcome:
        s3 = ctx.aws("s3")
        versions: list[dict[str, Any]] = []
        markers: list[dict[str, Any]] = []
        truncated = False
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=inp.bucket_name, Prefix=inp.prefix):
                for v in page.get("Versions", []):
                    versions.append({k: v.get(k) for k in ("Key", "VersionId", "IsLatest", "LastModified", "Size",
                                                           "ETag", "StorageClass")})
                for m in page.get("DeleteMarkers", []):
                    markers.append({k: m.get(k) for k in ("Key", "VersionId", "IsLatest", "LastModified")})
                if len(versions) + len(markers) >= inp.max_keys:
                    truncated = True
                    break
        except Exception as exc:
            _no_bucket(exc, inp.bucket_name)
            raise
        record = jsonable({"bucket": inp.bucket_name, "listed_at": ctx.now.isoformat(), "prefix": inp.prefix,
                           "truncated": truncated, "versions": versions, "delete_markers": markers})
        artifact = ctx.evidence.put_json(ctx.run_id, f"{ctx.step_id}/s3-{inp.bucket_name}-versions.json", record,
                                         collected_by=f"responder:{self.name}", at=ctx.now,
                                         details={"step": ctx.step_id, "api": "s3", "bucket": inp.bucket_name})
        out = ListVersionsOutput(bucket_name=inp.bucket_name, versions=len(versions), delete_markers=len(markers),
                                 truncated=truncated, artifact=artifact.name)
        return Outcome(changed=False, summary=f"{len(versions)} version(s), {len(markers)} delete marker(s) in "
                       f"{inp.bucket_name} → {artifact.name}" + (" (truncated)" if truncated else ""),
                       output=out.model_dump(), artifacts=[artifact.as_dict()])
