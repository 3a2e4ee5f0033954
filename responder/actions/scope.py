"""Scope as a playbook step: after containment, answer what the attacker did, touched and took.

Read-only by nature (it reads logs, never the account), so it is safe at any posture; its output is
what later steps and the notification drafts use (``data_categories``, ``objects_read``,
``egress_bytes``, ``persistence``), and its report lands in the evidence locker as JSON and Markdown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ..errors import BadInput, Refused
from .base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext


class InvestigateInput(ActionInput):
    """Where the logs are and, optionally, a subject other than the finding's."""

    cloudtrail: str | None = Field(None, description="CloudTrail folder (AWSLogs layout) or file; default: "
                                   "RESPONDER_CLOUDTRAIL, then config scope.cloudtrail")
    flow_logs: str | None = Field(None, description="VPC Flow Logs folder or file; default: RESPONDER_FLOW_LOGS, "
                                  "then config scope.flow_logs")
    backend: Literal["local", "athena"] | None = Field(
        None, description="default: RESPONDER_SCOPE_BACKEND, then config scope.backend, then local")
    access_key_id: str | None = Field(None, description="scope this key instead of the finding's")
    principal_arn: str | None = Field(None, description="scope this principal instead of the finding's")
    since: datetime | None = Field(None, description="default: the finding's first evidence minus lookback_hours "
                                   "(a leaked secret: its commit time)")
    until: datetime | None = Field(None, description="default: now")
    lookback_hours: float = Field(24.0, ge=0, le=24 * 400)
    top: int = Field(25, ge=1, le=1000, description="rows kept per list in the output")


class InvestigateOutput(ActionOutput):
    """What later steps and notifications may reference (``steps.<id>.output.<field>``)."""

    events: int = Field(0, description="CloudTrail records attributed to the subject, pivots included")
    keys: list[str] = Field(default_factory=list, description="every access key id attributed to the subject")
    pivots: list[dict[str, Any]] = Field(default_factory=list, description="key → the pivot that brought it in")
    api_calls: list[dict[str, Any]] = Field(default_factory=list, description="top API calls with error counts")
    access_denied: int = 0
    regions: list[str] = Field(default_factory=list)
    source_ips: list[dict[str, Any]] = Field(default_factory=list)
    resources: list[dict[str, Any]] = Field(default_factory=list, description="kind, id, actions, count, bytes_out")
    buckets: list[str] = Field(default_factory=list)
    objects_read: list[str] = Field(default_factory=list, description="bucket/key of objects read (GetObject)")
    bytes_read: int = 0
    secrets_read: list[str] = Field(default_factory=list)
    data_categories: list[str] = Field(default_factory=list, description="personal_data, health_data, "
                                       "payment_data, credentials — hinted by names of what was read")
    persistence: list[dict[str, Any]] = Field(default_factory=list, description="time, event_name, target, new_key")
    persistence_found: bool = False
    egress_bytes: int = Field(0, description="bytes to flagged destinations in VPC Flow Logs")
    egress: list[dict[str, Any]] = Field(default_factory=list)
    first_activity: str | None = None
    last_activity: str | None = None
    window: dict[str, str | None] = Field(default_factory=dict)
    report_artifact: str = Field("", description="evidence-locker name of the JSON report")
    markdown_artifact: str = ""


class Investigate(Action[InvestigateInput]):
    """Scope the finding's subject through its pivots: calls, regions, addresses, data, persistence, egress.

    Keys are followed, not addresses: published data anonymises IPs and attackers share them, so only
    the access key and the credentials it minted say who did what.
    """

    name = "scope.investigate"
    Input = InvestigateInput
    Output = InvestigateOutput
    category = Category.SCOPE
    mutates = False
    permissions = frozenset({
        "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
        "athena:StopQueryExecution", "athena:GetWorkGroup", "glue:GetTable", "glue:GetDatabase",
        "glue:GetPartitions", "s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:PutObject",
    })

    def _subject(self, ctx: StepContext, inp: InvestigateInput) -> tuple[Any, Any]:
        from ..scope import Window, subject_for_finding, subject_for_key, subject_for_principal, window_for_finding

        if inp.access_key_id:
            subject = subject_for_key(inp.access_key_id)
        elif inp.principal_arn:
            subject = subject_for_principal(inp.principal_arn)
        else:
            subject = subject_for_finding(ctx.finding)
        window = window_for_finding(ctx.finding, ctx.now, inp.lookback_hours)
        if inp.since or inp.until:
            window = Window(since=inp.since or window.since, until=inp.until or window.until)
        return subject, window

    @staticmethod
    def _backend(ctx: StepContext, inp: InvestigateInput) -> str:
        """Local DuckDB on a laptop, Athena in a Lambda: the deployment decides, the playbook need not."""
        import os

        chosen = inp.backend or os.environ.get("RESPONDER_SCOPE_BACKEND") or ctx.settings.scope.get("backend")
        return chosen if chosen in ("local", "athena") else "local"

    def _where(self, ctx: StepContext, inp: InvestigateInput) -> tuple[str | None, str | None]:
        from ..scope import locations

        ct, fl = locations(ctx.settings, cloudtrail=inp.cloudtrail, flow_logs=inp.flow_logs)
        if self._backend(ctx, inp) == "local" and not ct:
            raise Refused("scope has no CloudTrail logs to read",
                          hint="set scope.cloudtrail in config.yaml or RESPONDER_CLOUDTRAIL, or pass "
                               "cloudtrail: in the step's with:")
        return ct, fl

    def plan(self, ctx: StepContext, inp: InvestigateInput) -> Change:
        subject, window = self._subject(ctx, inp)
        try:
            ct, fl = self._where(ctx, inp)
        except Refused as exc:
            return Change(will_change=False, summary=f"would scope {subject.label}, but: {exc.message}",
                          notes=[exc.hint or ""])
        kind = self._backend(ctx, inp)
        where = ct if kind == "local" else "Athena"
        return Change(will_change=False, summary=f"would scope {subject.label} over {where} "
                      f"({window.as_json()['since'] or 'all data'} → {window.as_json()['until']})",
                      after={"cloudtrail": ct, "flow_logs": fl, "backend": kind})

    def apply(self, ctx: StepContext, inp: InvestigateInput) -> Outcome:
        from ..scope import investigate, open_backend

        try:
            subject, window = self._subject(ctx, inp)
        except BadInput as exc:
            raise Refused(str(exc), hint=exc.hint) from None
        kind = self._backend(ctx, inp)
        injected = f"scope.{kind}"
        if ctx.connectors.has(injected):  # the engine's builder may hand a backend in (e.g. Athena per account)
            backend, owned = ctx.connectors.get(injected), False
        else:
            ct, fl = self._where(ctx, inp)
            backend, owned = open_backend(kind, cloudtrail=ct, flow_logs=fl, settings=ctx.settings,
                                          cache_dir=ctx.settings.cache_dir), True
        try:
            report = investigate(backend, subject, window, top=inp.top, now=ctx.now)
        finally:
            close = getattr(backend, "close", None)
            if owned and close:
                close()
        actor = f"responder:{self.name}"
        body = report.to_json()
        details = {"subject": subject.label, "events": report.events, "backend": report.backend}
        js = ctx.evidence.put_json(ctx.run_id, f"{ctx.step_id}/scope-report.json", body, collected_by=actor,
                                   at=ctx.now, details=details)
        md = ctx.evidence.put(ctx.run_id, f"{ctx.step_id}/scope-report.md", report.markdown().encode(),
                              collected_by=actor, at=ctx.now, content_type="text/markdown", details=details)
        out = InvestigateOutput(
            events=report.events, keys=report.keys, pivots=report.pivots,
            api_calls=[a.model_dump() for a in report.api_calls[: inp.top]], access_denied=report.access_denied,
            regions=report.regions, source_ips=[s.model_dump() for s in report.source_ips[: inp.top]],
            resources=[r.model_dump() for r in report.resources[: inp.top]], buckets=report.buckets,
            objects_read=report.objects_read, bytes_read=report.bytes_read, secrets_read=report.secrets_read,
            data_categories=report.data_categories, persistence=[p.model_dump() for p in report.persistence],
            persistence_found=bool(report.persistence), egress_bytes=report.egress_bytes,
            egress=[e.model_dump() for e in report.egress[: inp.top]], first_activity=report.first_activity,
            last_activity=report.last_activity, window=report.window, report_artifact=js.name,
            markdown_artifact=md.name)
        pivots = sum(1 for p in report.pivots if p.get("pivot") != "seed")
        summary = (f"scoped {subject.label}: {report.events} records, {len(report.keys)} keys ({pivots} by pivot), "
                   f"{len(report.objects_read)} objects read, {len(report.persistence)} persistence events, "
                   f"{report.egress_bytes:,} bytes egress")
        return Outcome(changed=False, summary=summary, output=out.model_dump(mode="json"),
                       artifacts=[js.as_dict(), md.as_dict()])
