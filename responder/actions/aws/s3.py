"""S3 exposure: record how a bucket was exposed, then block public access at the bucket.

Evidence first: the bucket policy, ACL, ownership controls and public-access block are exactly what an
investigator needs to say *how* the data was public, and blocking access changes what they report.
Blocking uses the bucket-level public-access block (all four settings) rather than editing the policy
or ACL: it overrides both, keeps them intact as evidence, and release restores the previous block exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import Field

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
