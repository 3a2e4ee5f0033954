"""``responder scope``: what did the attacker do, touch and take, and since when — for on-call.

Tables for people, ``--json`` for machines (one object on stdout), a progress bar on stderr while log
files are read into the cache. Exit 2 on bad input (no such path, no subject, bad time), 1 on failure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.table import Table

from ..errors import BadInput, ResponderError
from .render import console, err_console, print_json, text


def _subject_and_window(
    access_key: str | None,
    principal: str | None,
    run: str | None,
    event: Path | None,
    since: str | None,
    until: str | None,
    settings: Any,
) -> tuple[Any, Any]:
    from ..scope import (
        Window,
        parse_time,
        subject_for_finding,
        subject_for_key,
        subject_for_principal,
        window_for_finding,
    )

    given = [
        name
        for name, value in (
            ("--access-key", access_key),
            ("--principal", principal),
            ("--run", run),
            ("--event", event),
        )
        if value
    ]
    if not given:
        raise BadInput(
            "scope needs a subject", hint="pass one of --access-key ID, --principal ARN, --run RUN_ID, --event FILE"
        )
    if len(given) > 1:
        raise BadInput(f"pass one subject, not {' and '.join(given)}", hint="choose the one you started from")
    now = datetime.now(UTC)
    finding = None
    if access_key:
        subject = subject_for_key(access_key)
    elif principal:
        subject = subject_for_principal(principal)
    elif event is not None:
        from ..findings import load_file

        findings = load_file(event)
        finding = findings[0]
        subject = subject_for_finding(finding)
    else:
        finding = _finding_of_run(str(run), settings)
        subject = subject_for_finding(finding)
    lookback = float(settings.scope.get("lookback_hours", 24))
    window = window_for_finding(finding, now, lookback) if finding is not None else Window(until=now)
    if since or until:
        window = Window(
            since=parse_time(since, "--since") if since else window.since,
            until=parse_time(until, "--until") if until else window.until,
        )
    return subject, window


def _finding_of_run(run_id: str, settings: Any) -> Any:
    try:
        from ..state import open_store
    except ImportError:  # the run store is not part of this build
        raise BadInput(
            "--run needs the run store, which this installation lacks",
            hint="pass --event FILE with the finding instead",
        ) from None
    store = open_store(settings.store_url)
    record = store.get_run(run_id)
    if record is None:
        raise BadInput(f"no run {run_id!r} in {settings.store_url}", hint="`responder runs` lists the runs")
    model = getattr(record, "finding_model", None)
    if callable(model):
        return model()
    from ..findings.model import Finding

    return record.finding if isinstance(record.finding, Finding) else Finding.model_validate(record.finding)


def _discover(
    settings: Any,
    subject: Any,
    window: Any,
    account: str | None,
    event: Path | None,
    run: str | None,
    quiet: bool = False,
) -> tuple[str, str | None, list[Any]]:
    """No location configured: find the account's trails and flow logs and fetch the window's partitions."""
    from ..aws.sessions import AwsAccess
    from ..scope.discover import DEFAULT_MAX_BYTES, discover

    access = AwsAccess(settings.aws)
    finding = None
    if event is not None:
        from ..findings import load_file

        finding = load_file(event)[0]
    elif run:
        finding = _finding_of_run(run, settings)
    target = account or (finding.account_id if finding is not None else None)
    if not target:
        try:
            target = access.home_account()
        except Exception as exc:  # no credentials, no endpoint: say what to pass instead
            raise BadInput(
                f"no CloudTrail location given, and the account's logs cannot be discovered: {exc}",
                hint="pass --cloudtrail DIR (and --flow-logs DIR), or configure AWS credentials",
            ) from None
    region = (finding.region if finding is not None else None) or access.default_region
    with _FileProgress(quiet) as progress:
        found = discover(
            lambda service, region=None: access.client(service, account=target, region=region),
            account=target,
            region=region,
            window=window,
            cache_dir=settings.cache_dir,
            interface_ids=list(subject.interface_ids),
            keys=subject.access_key_ids,
            max_bytes=int(settings.scope.get("max_download_bytes", DEFAULT_MAX_BYTES)),
            progress=progress,
        )
    if found.cloudtrail is None:
        reasons = "; ".join(f"{s.kind}: {s.why}" for s in found.sources if not s.read) or "nothing found"
        raise BadInput(
            f"no CloudTrail logs found for {target} {region} ({reasons})",
            hint="pass --cloudtrail DIR, or grant cloudtrail:DescribeTrails and read access to the trail bucket",
        )
    return str(found.cloudtrail), str(found.flow_logs) if found.flow_logs else None, found.sources


class _FileProgress:
    """A rich progress bar fed by the cache's (kind, done, total) callback."""

    def __init__(self, quiet: bool) -> None:
        self.bar = (
            None
            if quiet
            else Bar(
                TextColumn("reading {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console(),
                transient=True,
            )
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _FileProgress:
        if self.bar:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.__exit__(None, None, None)

    def __call__(self, kind: str, done: int, total: int) -> None:
        if not self.bar:
            return
        label = "CloudTrail files" if kind == "cloudtrail" else "Flow Log files"
        if kind not in self.tasks:
            self.tasks[kind] = self.bar.add_task(label, total=total)
        self.bar.update(self.tasks[kind], completed=done, total=total)


def _tables(report: Any) -> None:
    out = console()
    w = report.window
    out.print(
        f"[bold]Scope of {text(report.subject.get('label'))}[/]  {w.get('since') or 'all data'} → "
        f"{w.get('until')}  ({report.backend})"
    )
    out.print(
        f"{report.events} records attributed, {report.errors} errors ({report.access_denied} access denied); "
        f"activity {report.first_activity or '-'} → {report.last_activity or '-'}; regions "
        f"{', '.join(report.regions) or '-'}"
    )
    if report.data_categories:
        out.print(f"[yellow]data categories: {', '.join(report.data_categories)}[/]")

    def table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
        if not rows:
            return
        t = Table(title=title, title_justify="left")
        for h in headers:
            t.add_column(h)
        for row in rows:
            t.add_row(*[text("" if v is None else v) for v in row])
        out.print(t)

    table(
        "Log sources",
        ["source", "location", "read", "files", "why not / limits"],
        [[x.kind, x.location, "yes" if x.read else "no", x.files, x.why] for x in report.sources],
    )
    table(
        "Tactic timeline (MITRE ATT&CK)",
        ["first", "last", "tactic", "technique", "calls", "count"],
        [
            [t.first, t.last, t.tactic, f"{t.technique_id} {t.technique}", ", ".join(t.event_names), t.count]
            for t in report.techniques
        ],
    )
    table(
        "Accounts outside the organisation granted access",
        ["account", "how", "resource", "time"],
        [[e.account_id, e.event_name, e.resource_id, e.time] for e in report.external_accounts],
    )
    table(
        "Keys and pivots",
        ["key", "pivot", "from", "detail"],
        [[p["key"], p["pivot"], p.get("from_key"), p.get("detail")] for p in report.pivots],
    )
    table(
        "API calls",
        ["service", "API", "count", "errors", "denied"],
        [[a.event_source, a.event_name, a.count, a.errors, a.access_denied] for a in report.api_calls],
    )
    table(
        "Source IPs",
        ["ip", "count", "user agents"],
        [[s.ip, s.count, "; ".join(str(u) for u in s.user_agents)[:120]] for s in report.source_ips],
    )
    table(
        "Resources touched",
        ["kind", "id", "actions", "count", "bytes out"],
        [[r.kind, r.id, ", ".join(str(a) for a in r.actions), r.count, r.bytes_out] for r in report.resources],
    )
    table(
        "Persistence and other things left behind",
        ["time", "kind", "event", "target", "new key", "outside accounts"],
        [
            [p.time, p.kind, p.event_name, p.target, p.new_key, ", ".join(p.external_accounts)]
            for p in report.persistence
        ],
    )
    if report.objects_deleted or report.objects_encrypted:
        table(
            "Impact on data",
            ["what", "object"],
            [["deleted", o] for o in report.objects_deleted[:50]]
            + [["re-encrypted with a customer key (SSE-C)", o] for o in report.objects_encrypted[:50]],
        )
    if report.bucket_access:
        table(
            "Bucket readers and writers",
            ["bucket", "principal", "key", "actions", "count", "bytes out"],
            [
                [
                    b.get("bucket"),
                    b.get("principal_arn"),
                    b.get("access_key_id"),
                    ", ".join(str(a) for a in b.get("actions") or []),
                    b.get("count"),
                    b.get("bytes_out"),
                ]
                for b in report.bucket_access
            ],
        )
    table(
        "Egress",
        ["destination", "port", "bytes", "packets"],
        [[e.destination, e.port, f"{e.bytes:,}", e.packets] for e in report.egress],
    )
    if not report.egress:
        from ..scope.report import no_egress_sentence

        out.print(text(no_egress_sentence(report)))
    for note in report.notes:
        out.print(f"[dim]note: {text(note)}[/]")


def register(app: typer.Typer) -> None:
    @app.command("scope")
    def scope(
        access_key: Annotated[str | None, typer.Option("--access-key", help="access key id (AKIA…/ASIA…)")] = None,
        principal: Annotated[str | None, typer.Option("--principal", help="IAM/STS principal ARN")] = None,
        run: Annotated[str | None, typer.Option("--run", help="a run id: its finding gives the subject")] = None,
        event: Annotated[Path | None, typer.Option("--event", help="a finding/event file")] = None,
        cloudtrail: Annotated[str | None, typer.Option("--cloudtrail", help="CloudTrail folder/file or s3://")] = None,
        flow_logs: Annotated[str | None, typer.Option("--flow-logs", help="VPC Flow Logs folder/file or s3://")] = None,
        since: Annotated[
            str | None, typer.Option("--since", help="ISO-8601 start (default: finding - look-back)")
        ] = None,
        until: Annotated[str | None, typer.Option("--until", help="ISO-8601 end (default: now)")] = None,
        backend: Annotated[str, typer.Option("--backend", help="local | athena")] = "local",
        as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
        print_ddl: Annotated[
            bool,
            typer.Option(
                "--print-ddl", help="print the Athena DDL for --cloudtrail s3://… (and --flow-logs s3://…) and exit"
            ),
        ] = False,
        account: Annotated[
            str | None,
            typer.Option(
                "--account",
                help="account id for --print-ddl, and whose logs to discover (default: the finding's, else your own)",
            ),
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")] = False,
    ) -> None:
        """What the attacker did, touched and took, and since when: calls, regions, IPs, data, persistence, egress."""
        try:
            if print_ddl:
                from ..scope.ddl import print_ddl as ddl

                typer.echo(ddl(cloudtrail=cloudtrail, flow_logs=flow_logs, account=account))
                return
            from ..config import load_settings
            from ..scope import investigate, locations, open_backend

            settings = load_settings()
            subject, window = _subject_and_window(access_key, principal, run, event, since, until, settings)
            ct, fl = locations(settings, cloudtrail=cloudtrail, flow_logs=flow_logs)
            sources = None
            if backend == "local" and not ct:
                ct, found_fl, sources = _discover(settings, subject, window, account, event, run, quiet or as_json)
                fl = fl or found_fl
            if backend == "local":
                for value in (ct, fl):
                    if value and not value.startswith("s3://") and not Path(value).expanduser().exists():
                        raise BadInput(
                            f"no such file or folder: {value}",
                            hint="pass the folder that holds AWSLogs/ (or one log file)",
                        )
            with _FileProgress(quiet or as_json) as progress:
                engine = open_backend(backend, cloudtrail=ct, flow_logs=fl, settings=settings, progress=progress)
                try:
                    organization = frozenset(str(a) for a in settings.scope.get("organization_accounts") or [])
                    report = investigate(engine, subject, window, organization=organization, sources=sources)
                finally:
                    getattr(engine, "close", lambda: None)()
        except ResponderError as exc:
            err_console().print(f"[bold red]error:[/] {text(str(exc))}", highlight=False, soft_wrap=True)
            if exc.hint:
                err_console().print(f"[dim]→ {text(exc.hint)}[/]", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        if as_json:
            print_json(report.to_json())
        else:
            _tables(report)
