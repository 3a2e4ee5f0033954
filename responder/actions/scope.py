"""Scope as a playbook step: after containment, answer what the attacker did, touched and took.

Read-only by nature (it reads logs and describes the log configuration, never changes the account), so it
is safe at any posture; its output is what later steps and the notification drafts use
(``data_categories``, ``objects_read``, ``egress_bytes``, ``persistence``, ``techniques``,
``external_accounts``), and its report lands in the evidence locker as JSON and Markdown.

Where the logs are: the step's ``with:``, then RESPONDER_CLOUDTRAIL / RESPONDER_FLOW_LOGS, then config
``scope.cloudtrail`` / ``scope.flow_logs``; with none of them, the finding account's trails and flow logs are
discovered (:mod:`responder.scope.discover`) and the window's partitions fetched into the cache. A step that
finds no log at all fails with the reason (``Refused``), so the run is not reported as a clean success.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ..errors import BadInput, Refused
from .base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext


class InvestigateInput(ActionInput):
    """Where the logs are and, optionally, a subject other than the finding's."""

    cloudtrail: str | None = Field(
        None,
        description="CloudTrail folder (AWSLogs layout) or file; default: "
        "RESPONDER_CLOUDTRAIL, then config scope.cloudtrail",
    )
    flow_logs: str | None = Field(
        None, description="VPC Flow Logs folder or file; default: RESPONDER_FLOW_LOGS, then config scope.flow_logs"
    )
    backend: Literal["local", "athena"] | None = Field(
        None, description="default: RESPONDER_SCOPE_BACKEND, then config scope.backend, then local"
    )
    access_key_id: str | None = Field(None, description="scope this key instead of the finding's")
    principal_arn: str | None = Field(None, description="scope this principal instead of the finding's")
    role_name: str | None = Field(
        None,
        description="also scope every session of this role (name or ARN) in the "
        "finding's account: an instance's or a pod's (IRSA) role",
    )
    bucket_name: str | None = Field(None, description="also list who read and wrote this bucket (bucket_access)")
    interface_ids: list[str] = Field(default_factory=list, description="also follow these ENIs in the flow logs")
    since: datetime | None = Field(
        None,
        description="default: the finding's first evidence minus lookback_hours (a leaked secret: its commit time)",
    )
    until: datetime | None = Field(None, description="default: now")
    lookback_hours: float = Field(24.0, ge=0, le=24 * 400)
    top: int = Field(25, ge=1, le=1000, description="rows kept per list in the output")
    discover: bool = Field(
        True,
        description="with no configured location, find the account's trails and flow "
        "logs (DescribeTrails, DescribeFlowLogs) and fetch the window's partitions",
    )


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
    data_categories: list[str] = Field(
        default_factory=list,
        description="personal_data, health_data, payment_data, credentials — hinted by names of what was read",
    )
    persistence: list[dict[str, Any]] = Field(
        default_factory=list,
        description="what the subject left behind: kind, "
        "resource_type, resource_ids, new_key, policy_document, "
        "external_accounts (see responder.scope.attribution)",
    )
    techniques: list[dict[str, Any]] = Field(
        default_factory=list,
        description="ATT&CK techniques seen: tactic, "
        "technique_id, technique, event_names, count, first, last, resources",
    )
    external_accounts: list[dict[str, Any]] = Field(
        default_factory=list,
        description="accounts outside the organisation granted access: account_id, event_name, resource",
    )
    sources: list[dict[str, Any]] = Field(default_factory=list, description="logs read and not read, and why")
    bucket_access: list[dict[str, Any]] = Field(default_factory=list, description="who read and wrote the bucket")
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
    permissions = frozenset(
        {
            "athena:StartQueryExecution",
            "athena:GetQueryExecution",
            "athena:GetQueryResults",
            "athena:StopQueryExecution",
            "athena:GetWorkGroup",
            "glue:GetTable",
            "glue:GetDatabase",
            "glue:GetPartitions",
            "glue:CreateTable",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:GetBucketLocation",
            "s3:PutObject",
            # discovery: the account's trails and flow logs, their objects (KMS-encrypted trails), the fallback
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:LookupEvents",
            "ec2:DescribeFlowLogs",
            "ec2:DescribeNetworkInterfaces",
            "logs:FilterLogEvents",
            "kms:Decrypt",
        }
    )

    def _subject(self, ctx: StepContext, inp: InvestigateInput) -> tuple[Any, Any]:
        from ..scope import Window, subject_for_finding, subject_for_key, subject_for_principal, window_for_finding
        from ..scope.subject import widen

        extra = bool(inp.role_name or inp.bucket_name or inp.interface_ids)
        if inp.access_key_id:
            subject = subject_for_key(inp.access_key_id)
        elif inp.principal_arn:
            subject = subject_for_principal(inp.principal_arn)
        else:
            try:
                subject = subject_for_finding(ctx.finding)
            except BadInput:
                if not extra:  # nothing else to go on: say so
                    raise
                subject = None
        if extra:
            subject = widen(
                subject,
                account=ctx.finding.account_id,
                role_name=inp.role_name,
                buckets=(inp.bucket_name,) if inp.bucket_name else (),
                interface_ids=tuple(inp.interface_ids),
            )
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
        if self._backend(ctx, inp) == "local" and not ct and not (inp.discover and ctx.connectors.has("aws")):
            raise Refused(
                "scope has no CloudTrail logs to read",
                hint="set scope.cloudtrail in config.yaml or RESPONDER_CLOUDTRAIL, or pass "
                "cloudtrail: in the step's with:",
            )
        return ct, fl

    def _discover(self, ctx: StepContext, inp: InvestigateInput, subject: Any, window: Any) -> Any:
        """No configured location: find the finding account's logs and fetch the window's partitions."""
        from ..scope.discover import DEFAULT_MAX_BYTES, discover

        res = ctx.finding.resource
        found = discover(
            lambda service, region=None: ctx.aws(service, region=region),
            account=ctx.finding.account_id,
            region=ctx.finding.region or "us-east-1",
            window=window,
            cache_dir=ctx.settings.cache_dir,
            interface_ids=list(subject.interface_ids),
            subnet_ids=[v for v in (getattr(res, "subnet_id", None),) if v],
            vpc_ids=[v for v in (getattr(res, "vpc_id", None),) if v],
            keys=subject.access_key_ids,
            max_bytes=int(ctx.settings.scope.get("max_download_bytes", DEFAULT_MAX_BYTES)),
            now=ctx.now,
        )
        if found.cloudtrail is None:
            reasons = "; ".join(f"{s.kind}: {s.why}" for s in found.sources if not s.read) or "nothing found"
            raise Refused(
                f"scope found no CloudTrail logs to read ({reasons})",
                hint="give the trail's location (scope.cloudtrail) or grant cloudtrail:DescribeTrails, "
                "s3:ListBucket and s3:GetObject on the trail bucket (kms:Decrypt for its key)",
            )
        return found

    @staticmethod
    def _athena_tables(ctx: StepContext, backend: Any, ct: str | None, fl: str | None) -> Any:
        """Athena at scale, allowed to create its tables: over the configured location, else the discovered one."""
        from ..scope.discover import athena_locations

        sources = None
        location = ct if ct and ct.startswith("s3://") else None
        if location is None:
            location, sources = athena_locations(
                lambda service, region=None: ctx.aws(service, region=region),
                account=ctx.finding.account_id,
                region=ctx.finding.region or "us-east-1",
            )
        if location is None:
            reasons = "; ".join(f"{s.kind}: {s.why}" for s in sources or [] if not s.read)
            raise Refused(
                f"scope found no CloudTrail location for its Athena table ({reasons})",
                hint="set scope.cloudtrail: s3://BUCKET/PREFIX, or create the table with --print-ddl",
            )
        backend.create_tables(location, fl if fl and fl.startswith("s3://") else None)
        return sources

    def plan(self, ctx: StepContext, inp: InvestigateInput) -> Change:
        try:
            subject, window = self._subject(ctx, inp)
        except BadInput as exc:
            return Change(will_change=False, summary=f"would scope, but: {exc}", notes=[exc.hint or ""])
        try:
            ct, fl = self._where(ctx, inp)
        except Refused as exc:
            return Change(
                will_change=False, summary=f"would scope {subject.label}, but: {exc.message}", notes=[exc.hint or ""]
            )
        kind = self._backend(ctx, inp)
        where = ct if kind == "local" else "Athena"
        if kind == "local" and not ct:
            where = f"the trails and flow logs discovered in {ctx.finding.account_id} {ctx.finding.region}"
        return Change(
            will_change=False,
            summary=f"would scope {subject.label} over {where} "
            f"({window.as_json()['since'] or 'all data'} → {window.as_json()['until']})",
            after={"cloudtrail": ct, "flow_logs": fl, "backend": kind},
        )

    def apply(self, ctx: StepContext, inp: InvestigateInput) -> Outcome:
        from ..scope import investigate, open_backend

        try:
            subject, window = self._subject(ctx, inp)
        except BadInput as exc:
            raise Refused(str(exc), hint=exc.hint) from None
        kind = self._backend(ctx, inp)
        injected = f"scope.{kind}"
        sources = None
        if ctx.connectors.has(injected):  # the engine's builder may hand a backend in (e.g. Athena per account)
            backend, owned = ctx.connectors.get(injected), False
        else:
            ct, fl = self._where(ctx, inp)
            if kind == "local" and not ct:
                found = self._discover(ctx, inp, subject, window)
                ct, sources = str(found.cloudtrail), found.sources
                fl = fl or (str(found.flow_logs) if found.flow_logs else None)
            backend, owned = (
                open_backend(
                    kind, cloudtrail=ct, flow_logs=fl, settings=ctx.settings, cache_dir=ctx.settings.cache_dir
                ),
                True,
            )
            if kind == "athena" and (ctx.settings.scope.get("athena") or {}).get("create_tables"):
                sources = self._athena_tables(ctx, backend, ct, fl)
        organization = frozenset(str(a) for a in ctx.settings.scope.get("organization_accounts") or [])
        try:
            report = investigate(
                backend, subject, window, top=inp.top, now=ctx.now, organization=organization, sources=sources
            )
        finally:
            close = getattr(backend, "close", None)
            if owned and close:
                close()
        actor = f"responder:{self.name}"
        body = report.to_json()
        details = {"subject": subject.label, "events": report.events, "backend": report.backend}
        js = ctx.evidence.put_json(
            ctx.run_id, f"{ctx.step_id}/scope-report.json", body, collected_by=actor, at=ctx.now, details=details
        )
        md = ctx.evidence.put(
            ctx.run_id,
            f"{ctx.step_id}/scope-report.md",
            report.markdown().encode(),
            collected_by=actor,
            at=ctx.now,
            content_type="text/markdown",
            details=details,
        )
        out = InvestigateOutput(
            events=report.events,
            keys=report.keys,
            pivots=report.pivots,
            api_calls=[a.model_dump() for a in report.api_calls[: inp.top]],
            access_denied=report.access_denied,
            regions=report.regions,
            source_ips=[s.model_dump() for s in report.source_ips[: inp.top]],
            resources=[r.model_dump() for r in report.resources[: inp.top]],
            buckets=report.buckets,
            objects_read=report.objects_read,
            bytes_read=report.bytes_read,
            secrets_read=report.secrets_read,
            data_categories=report.data_categories,
            persistence=[p.model_dump() for p in report.persistence],
            persistence_found=bool(report.persistence),
            egress_bytes=report.egress_bytes,
            techniques=[t.model_dump() for t in report.techniques],
            bucket_access=report.bucket_access[: inp.top],
            external_accounts=[e.model_dump() for e in report.external_accounts],
            sources=[s.model_dump() for s in report.sources],
            egress=[e.model_dump() for e in report.egress[: inp.top]],
            first_activity=report.first_activity,
            last_activity=report.last_activity,
            window=report.window,
            report_artifact=js.name,
            markdown_artifact=md.name,
        )
        pivots = sum(1 for p in report.pivots if p.get("pivot") != "seed")
        tactics = list(dict.fromkeys(t.tactic for t in report.techniques))
        summary = (
            f"scoped {subject.label}: {report.events} records, {len(report.keys)} keys ({pivots} by pivot), "
            f"{len(report.objects_read)} objects read, {len(report.persistence)} persistence events, "
            f"{len(report.external_accounts)} outside-account grants, {report.egress_bytes:,} bytes egress; "
            f"tactics: {', '.join(tactics) or 'none'}"
        )
        return Outcome(
            changed=False, summary=summary, output=out.model_dump(mode="json"), artifacts=[js.as_dict(), md.as_dict()]
        )
