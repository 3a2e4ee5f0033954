"""Notify steps: start the legal clocks, propose regimes, draft the notices. Nothing is ever sent.

``notify.assess_regimes`` records awareness (default: when the finding was received), proposes which
of the organisation's regimes likely apply from the scope step's output, writes the breach register
entry (GDPR Art. 33(5)) and starts the clocks. ``notify.breach_drafts`` does the same if needed, then
fills the templates of every open deadline and puts the drafts in the evidence locker for people to
review. Both read the scope as a plain dict (``with: {scope: "{{ steps.scope.output }}"}``) whose fields
are all optional, and neither calls AWS, so they declare no permissions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from ..errors import Refused
from ..notify import clocks, decision, register, workflow
from ..notify.deadlines import plan as plan_regime
from ..notify.regimes import get_regime
from ..notify.settings import notify_settings
from .base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext


class NotifyInput(ActionInput):
    scope: dict[str, Any] = Field(default_factory=dict, description="the scope step's output")
    regimes: list[str] = Field(default_factory=list, description="regime ids; default: notify.regimes")
    aware_at: str | None = Field(None, description="ISO 8601 awareness time, if not when the finding was received")
    aware_reason: str | None = Field(None, description="why awareness differs from when the finding was received")
    lookup_bucket_tags: bool = Field(False, description="read the tags of the scope's buckets (S3 GetBucketTagging) "
                                     "so notify.personal_data_tags can mark personal data")


class DraftInput(NotifyInput):
    delay_reason: str | None = Field(None, description="reasons for the delay, for late notices")


class Deadline(ActionOutput):
    regime: str
    milestone: str
    recipient: str
    due: str | None
    status: str
    standard: str


class AssessOutput(ActionOutput):
    aware_at: str | None
    proposals: dict[str, dict[str, Any]] = Field(default_factory=dict)
    likely: list[str] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)


class DraftOutput(AssessOutput):
    drafts: list[dict[str, Any]] = Field(default_factory=list)
    to_be_completed: int = 0


def _by(ctx: StepContext) -> str:
    return f"responder:{ctx.playbook_id}/{ctx.step_id}"


def _deadlines(items: list[dict[str, Any]]) -> list[Deadline]:
    keep = [c for c in items if c.get("status") in ("open", "waiting")]
    return [
        Deadline(
            regime=c["regime"],
            milestone=c["milestone"],
            recipient=c["recipient"],
            due=c.get("due"),
            status=c["status"],
            standard=c["standard"],
        )
        for c in keep
    ]


_MAX_BUCKETS = 50


def with_bucket_tags(ctx: StepContext, scope: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The scope with each named bucket's tags, so tags that mark personal data count as a signal.

    The scope reports bucket names only. A bucket whose tags cannot be read (no tag set, access denied,
    another account) simply stays untagged; the reason is noted, never fatal: notification must not
    wait on a tag lookup."""
    names = [b for b in scope.get("buckets") or [] if isinstance(b, str)][:_MAX_BUCKETS]
    if not names or not ctx.connectors.has("aws"):
        return scope, []
    notes: list[str] = []
    try:
        s3 = ctx.aws("s3")
    except Exception as exc:  # no credentials or role: decide without tags
        return scope, [f"bucket tags not read: {type(exc).__name__}: {exc}"]
    enriched: list[dict[str, Any]] = []
    for name in names:
        tags: dict[str, str] = {}
        try:
            tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name).get("TagSet", [])}
        except Exception as exc:  # botocore ClientError: NoSuchTagSet, AccessDenied, NoSuchBucket
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
            if code != "NoSuchTagSet":
                notes.append(f"tags of bucket {name} not read: {code}")
        enriched.append({"name": name, "tags": tags})
    return {**scope, "buckets": enriched}, notes


def _scope(ctx: StepContext, inp: NotifyInput) -> tuple[dict[str, Any], list[str]]:
    return with_bucket_tags(ctx, dict(inp.scope)) if inp.lookup_bucket_tags else (dict(inp.scope), [])


def _prepare(ctx: StepContext, inp: NotifyInput) -> Any:
    if ctx.store is None:
        raise Refused(
            "notify steps need the run store to keep clocks and the breach register",
            hint="run the playbook through the engine, which passes its store",
        )
    settings = notify_settings(ctx.settings.notify)
    for regime_id in inp.regimes:
        get_regime(regime_id)
    if inp.aware_at:
        at = clocks.parse_time(inp.aware_at, zone=settings.zone)
        clocks.record_start(
            ctx.store, ctx.run_id, "awareness", at=at, reason=inp.aware_reason, by=_by(ctx), now=ctx.clock.now()
        )
    return settings


def _plan(ctx: StepContext, inp: NotifyInput, what: str) -> Change:
    """Read-only preview: proposals and the deadlines awareness would set, computed in memory."""
    settings = notify_settings(ctx.settings.notify)
    chosen = list(inp.regimes or settings.regimes)
    aware: datetime = ctx.clock.now()
    run = ctx.store.get_run(ctx.run_id) if ctx.store else None
    if inp.aware_at:
        aware = clocks.parse_time(inp.aware_at, zone=settings.zone)
    elif run is not None:
        aware = clocks.parse_time(run.created_at)
    proposals = decision.propose(chosen, ctx.finding, inp.scope, settings)  # plan reads no tags: no AWS calls
    dues = [d.as_plan() for r in chosen for d in plan_regime(get_regime(r), aware, organisation_zone=settings.zone)]
    return Change(
        will_change=False,
        summary=f"would {what} for {', '.join(chosen)}",
        after={"proposals": proposals, "deadlines": dues},
        notes=["drafts are written to the evidence locker and never sent"],
    )


class AssessRegimes(Action[NotifyInput]):
    """Start the legal clocks and propose which regimes likely apply, for a person to decide.

    The proposal is recorded in the breach register next to an empty decision: responder never decides
    that a notification is not required."""

    name = "notify.assess_regimes"
    Input = NotifyInput
    Output = AssessOutput
    category = Category.NOTIFY
    mutates = False
    permissions = frozenset({"s3:GetBucketTagging"})  # only with lookup_bucket_tags

    def plan(self, ctx: StepContext, inp: NotifyInput) -> Change:
        return _plan(ctx, inp, "start clocks and propose regimes")

    def apply(self, ctx: StepContext, inp: NotifyInput) -> Outcome:
        settings = _prepare(ctx, inp)
        scope, notes = _scope(ctx, inp)
        result = workflow.assess(
            ctx.store,
            ctx.run_id,
            ctx.finding,
            scope,
            settings,
            now=ctx.clock.now(),
            by=_by(ctx),
            regimes=inp.regimes or None,
        )
        likely = [r for r, p in result["proposals"].items() if p["likelihood"] == decision.LIKELY]
        out = AssessOutput(
            aware_at=result["aware_at"],
            proposals=result["proposals"],
            likely=likely,
            deadlines=_deadlines(result["clocks"]),
        )
        summary = f"clocks started from {out.aware_at}; likely: {', '.join(likely) or 'none'}"
        ctx.log(summary)
        return Outcome(changed=False, summary=summary, output=out.model_dump(mode="json"), notes=notes)


class BreachDrafts(Action[DraftInput]):
    """Draft the breach notices every open deadline needs, from the scope's facts, for review.

    Unknown facts are marked "to be completed", never guessed; late drafts carry a reasons-for-delay
    section. Drafts go to the evidence locker with their hash; sending stays a human act."""

    name = "notify.breach_drafts"
    Input = DraftInput
    Output = DraftOutput
    category = Category.NOTIFY
    mutates = False
    permissions = frozenset({"s3:GetBucketTagging"})  # only with lookup_bucket_tags

    def plan(self, ctx: StepContext, inp: DraftInput) -> Change:
        return _plan(ctx, inp, "draft notices")

    def apply(self, ctx: StepContext, inp: DraftInput) -> Outcome:
        settings = _prepare(ctx, inp)
        now = ctx.clock.now()
        scope, notes = _scope(ctx, inp)
        before = register.get_entry(ctx.store, ctx.run_id)
        if before is None or scope:  # a later, fuller scope refreshes the proposals; decisions are kept
            workflow.assess(ctx.store, ctx.run_id, ctx.finding, scope, settings, now=now, by=_by(ctx),
                            regimes=inp.regimes or None)
        known = {(d.get("name"), d.get("sha256")) for d in (before or {}).get("drafts") or []}
        made = workflow.draft(ctx.store, ctx.evidence, ctx.run_id, ctx.finding, scope, settings, now=now,
                              by=_by(ctx), regimes=inp.regimes or None, delay_reason=inp.delay_reason)
        entry = register.get_entry(ctx.store, ctx.run_id) or {}
        proposals = {
            r: {"likelihood": s.get("proposal"), "reasons": s.get("reasons") or []}
            for r, s in (entry.get("regimes") or {}).items()
        }
        likely = [r for r, p in proposals.items() if p["likelihood"] == decision.LIKELY]
        out = DraftOutput(
            aware_at=entry.get("aware_at"),
            proposals=proposals,
            likely=likely,
            deadlines=_deadlines(clocks.run_clocks(ctx.store, ctx.run_id)),
            drafts=made,
            to_be_completed=sum(d["to_be_completed"] for d in made),
        )
        if made:
            ctx.store.mark_milestone(ctx.run_id, "drafted", now)
        summary = f"{len(made)} draft(s) in the evidence locker, {out.to_be_completed} item(s) to be completed"
        ctx.log(summary)
        return Outcome(
            changed=any((d["name"], d["sha256"]) not in known for d in made),
            summary=summary,
            output=out.model_dump(mode="json"),
            artifacts=[{"name": d["name"], "sha256": d["sha256"]} for d in made],
            notes=notes,
        )
