"""Notification commands: ``aware``, ``deadlines``, ``register`` and ``notify draft|decide|sent``.

Deadlines are computed in UTC and shown in the organisation's time zone (``notify.timezone``); overdue
clocks are red. ``--json`` prints UTC ISO 8601 for machines. Nothing here sends a notice: drafts go to
the evidence locker and a person records what was decided and sent.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..clock import SystemClock, iso
from ..config import Settings, load_settings
from ..errors import BadInput
from .render import console, print_json, text

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
SandboxOpt = Annotated[bool, typer.Option("--sandbox", help="runs made with --sandbox")]
ByOpt = Annotated[str | None, typer.Option("--by", help="who records this (default: your user name)")]


def _settings(sandbox: bool) -> Settings:
    settings = load_settings()
    if sandbox:
        from .core import sandbox_settings

        settings = sandbox_settings(settings)
    return settings


def _store(settings: Settings) -> Any:
    from ..state import open_store

    return open_store(settings.store_url)


def _by(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def _now() -> datetime:
    return SystemClock().now()


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "without undue delay"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    body = f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"
    return f"{sign}{body}" + (" overdue" if sign else "")


def _local(value: str | None, zone: Any) -> str:
    if not value:
        return "no fixed limit"
    at = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone)
    return f"{at:%Y-%m-%d %H:%M} {at.tzname()}"


def _run(store: Any, run_id: str) -> Any:
    run = store.get_run(run_id)
    if run is None:
        raise BadInput(f"no run {run_id!r}", hint="`responder runs` lists runs (add --sandbox for drills)")
    return run


def _clock_table(clocks_: list[dict[str, Any]], zone: Any, now: datetime, title: str) -> Table:
    from ..notify.clocks import time_left

    table = Table(title=title, title_justify="left")
    for column in ("run", "regime", "milestone", "recipient", "due", "time left", "status"):
        table.add_column(column, overflow="fold")
    for clock in clocks_:
        left = time_left(clock, now)
        overdue = left is not None and left < 0 and clock.get("status") == "open"
        style = "bold red" if overdue else ("yellow" if left is not None and left < 12 * 3600 else "")
        due = text(_local(clock.get("due"), zone))
        table.add_row(
            text(clock.get("run_id")),
            text(clock.get("regime")),
            text(clock.get("milestone")),
            text(str(clock.get("recipient") or "").split(" (")[0]),
            f"[{style}]{due}[/]" if style else due,
            f"[{style}]{_human(left)}[/]" if style else _human(left),
            text(clock.get("status")) + ("*" if clock.get("assumed_start") else ""),
        )
    if any(c.get("assumed_start") for c in clocks_):
        table.caption = "* counted from the latest time the earlier notice may be sent; record it with `notify sent`"
    return table


def register(app: typer.Typer) -> None:
    """Add ``aware``, ``deadlines``, ``register`` and the ``notify`` group to the main app."""
    notify_app = typer.Typer(help="Notification drafts and decisions (never sent automatically).", no_args_is_help=True)
    app.add_typer(notify_app, name="notify")

    @app.command()
    def aware(
        run_id: Annotated[str, typer.Argument(help="the run whose clock starts")],
        at: Annotated[
            str | None, typer.Option("--at", help="ISO 8601 time (default: when the finding was received)")
        ] = None,
        reason: Annotated[
            str | None, typer.Option("--reason", help="why, when --at differs from when the finding was received")
        ] = None,
        event: Annotated[
            str, typer.Option("--event", help="awareness | discovery (HIPAA) | materiality (SEC 8-K)")
        ] = "awareness",
        by: ByOpt = None,
        sandbox: SandboxOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Record when the organisation became aware (or discovered, or determined materiality): starts clocks."""
        from ..notify import clocks
        from ..notify import register as breach_register
        from ..notify.model import StartEvent
        from ..notify.settings import notify_settings

        settings = _settings(sandbox)
        nset = notify_settings(settings.notify)
        valid = [e.value for e in StartEvent if e != StartEvent.SENT]
        if event not in valid:
            raise BadInput(f"unknown event {event!r}; valid: {', '.join(valid)}")
        store = _store(settings)
        run = _run(store, run_id)
        now = _now()
        when = clocks.parse_time(at, zone=nset.zone) if at else None
        record = clocks.record_start(store, run_id, event, at=when, reason=reason, by=_by(by), now=now)
        if breach_register.get_entry(store, run_id) is None:
            breach_register.record_run(
                store,
                run_id,
                now=now,
                regimes=list(nset.regimes),
                summary={
                    "finding_id": run.finding_id,
                    "finding_type": run.finding_type,
                    "account_id": run.account_id,
                    "received_at": run.created_at,
                },
            )
        if event == "awareness":
            breach_register.record_run(store, run_id, now=now, summary={"aware_at": record["at"]})
        result = clocks.refresh(store, run_id, nset, now=now)
        if as_json:
            print_json(
                {
                    "start": {k: record.get(k) for k in ("run_id", "event", "at", "reason", "recorded_by")},
                    "clocks": result,
                }
            )
            return
        console().print(
            f"{text(event)} of run {text(run_id)} recorded at {text(_local(record['at'], nset.zone))}"
            f" ({text(record['at'])}): {text(record.get('reason') or '')}"
        )
        console().print(_clock_table([c for c in result if c["status"] == "open"], nset.zone, now, "open clocks"))

    @app.command()
    def deadlines(
        regime: Annotated[
            str | None,
            typer.Option("--regime", help="a regime id: gdpr-33, gdpr-34, uk-gdpr, nis2, hipaa, sec-8k, lgpd"),
        ] = None,
        start: Annotated[
            str | None,
            typer.Option("--from", help="plan one regime for a clock started at this ISO 8601 time, without a run"),
        ] = None,
        jurisdiction: Annotated[
            str | None, typer.Option("--jurisdiction", help="holiday calendar for business days, e.g. US, BR-SP")
        ] = None,
        timezone: Annotated[
            str | None,
            typer.Option(
                "--timezone", help="IANA zone that decides the day for day-based periods (default: notify.timezone)"
            ),
        ] = None,
        show_all: Annotated[bool, typer.Option("--all", help="also sent, waiting and not-required clocks")] = False,
        sandbox: SandboxOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """List open notification clocks (overdue in red), or plan one regime with --regime and --from."""
        from ..notify import calendars, clocks
        from ..notify.deadlines import plan
        from ..notify.regimes import get_regime
        from ..notify.settings import notify_settings

        settings = _settings(sandbox)
        nset = notify_settings({**settings.notify, **({"timezone": timezone} if timezone else {})})
        chosen = get_regime(regime) if regime else None
        if jurisdiction:
            calendars.validate(jurisdiction)
        if start is not None:
            if chosen is None:
                raise BadInput(
                    "--from needs --regime",
                    hint="e.g. responder deadlines --regime gdpr-33 --from 2026-03-27T18:30:00+01:00 --json",
                )
            began = clocks.parse_time(start, zone=nset.zone)
            code = calendars.regime_calendar(
                chosen.calendar,
                chosen.id,
                override=jurisdiction,
                per_regime=nset.calendars,
                organisation=nset.jurisdiction,
            )
            dues = plan(chosen, began, organisation_zone=nset.zone, jurisdiction=code)
            rows = [d.as_plan() for d in dues]
            if as_json:
                print_json(rows)
                return
            table = Table(title=f"{chosen.id}: clock started {iso(began)}", title_justify="left")
            for column in ("milestone", "recipient", "due (UTC)", "due (local)", "rule"):
                table.add_column(column, overflow="fold")
            for due, milestone in zip(dues, chosen.milestones, strict=True):
                table.add_row(
                    text(due.milestone),
                    text(due.recipient),
                    text(iso(due.due) or "—"),
                    text(_local(iso(due.due), nset.zone)),
                    text(f"{milestone.standard} ({milestone.citation})"),
                )
            console().print(table)
            return
        store = _store(settings)
        statuses = ("open", "waiting", "sent", "not-required") if show_all else ("open",)
        items = clocks.all_clocks(store, statuses=statuses, regime=regime)
        now = _now()
        if as_json:
            for clock in items:
                left = clocks.time_left(clock, now)
                clock["time_left_s"] = left
                clock["overdue"] = bool(left is not None and left < 0 and clock["status"] == "open")
                clock["due_local"] = _local(clock.get("due"), nset.zone) if clock.get("due") else None
            print_json(items)
            return
        console().print(_clock_table(items, nset.zone, now, f"notification clocks ({nset.timezone})"))
        if not items:
            console().print("no open clocks")

    @app.command("register")
    def register_cmd(
        fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
        output: Annotated[Path | None, typer.Option("--output", "-o", help="write to a file")] = None,
        sandbox: SandboxOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """The breach register (GDPR Art. 33(5)): every breach, notified or not, with decisions and reasons."""
        from ..notify import register as breach_register

        fmt = "json" if as_json else fmt
        if fmt not in ("table", "csv", "json"):
            raise BadInput(f"unknown format {fmt!r}; valid: table, csv, json")
        items = breach_register.entries(_store(_settings(sandbox)))
        if fmt in ("csv", "json"):
            body = breach_register.to_csv(items) if fmt == "csv" else breach_register.to_json(items) + "\n"
            if output:
                output.write_text(body, encoding="utf-8")
                console().print(f"{len(items)} entr{'y' if len(items) == 1 else 'ies'} written to {text(output)}")
            else:
                typer.echo(body, nl=False)
            return
        table = Table(title="breach register (GDPR Art. 33(5))", title_justify="left")
        for column in ("run", "finding", "aware", "regime", "proposal", "decision", "reason"):
            table.add_column(column, overflow="fold")
        for row in breach_register.rows(items):
            table.add_row(
                text(row["run_id"]),
                text(row["finding_type"]),
                text(row["aware_at"]),
                text(row["regime"]),
                text(row["proposal"]),
                text(row["decision"]),
                text(row["reason"]),
            )
        console().print(table)

    @notify_app.command("draft")
    def draft(
        run_id: Annotated[str, typer.Argument()],
        regime: Annotated[list[str] | None, typer.Option("--regime", help="only these regimes")] = None,
        delay_reason: Annotated[
            str | None, typer.Option("--delay-reason", help="reasons for the delay, for late notices")
        ] = None,
        by: ByOpt = None,
        sandbox: SandboxOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Draft the notices of a run's open deadlines into its evidence locker (never sent)."""
        from ..evidence.local import open_locker
        from ..notify import workflow
        from ..notify.regimes import get_regime
        from ..notify.settings import notify_settings

        settings = _settings(sandbox)
        nset = notify_settings(settings.notify)
        for regime_id in regime or []:
            get_regime(regime_id)
        store = _store(settings)
        run = _run(store, run_id)
        made = workflow.draft(
            store,
            open_locker(settings.evidence_url, store=store),
            run_id,
            run.finding_model(),
            workflow.scope_from_steps(store, run_id),
            nset,
            now=_now(),
            by=_by(by),
            regimes=list(regime or []) or None,
            delay_reason=delay_reason,
        )
        if made:
            store.mark_milestone(run_id, "drafted", _now())
        if as_json:
            print_json(made)
            return
        table = Table(title=f"drafts for {run_id} (evidence locker; not sent)", title_justify="left")
        for column in ("regime", "milestone", "artifact", "to be completed", "due"):
            table.add_column(column, overflow="fold")
        for item in made:
            table.add_row(
                text(item["regime"]),
                text(item["milestone"]),
                text(item["name"]),
                str(item["to_be_completed"]),
                text(_local(item.get("due"), nset.zone)),
            )
        console().print(table)
        if not made:
            console().print("no open deadline needs a draft (see `responder deadlines --all`)")

    @notify_app.command("decide")
    def decide(
        run_id: Annotated[str, typer.Argument()],
        regime: Annotated[str, typer.Option("--regime", help="regime id")],
        decision: Annotated[str, typer.Option("--decision", help="notify | not-required")],
        reason: Annotated[str | None, typer.Option("--reason", help="why (required for not-required)")] = None,
        exemption: Annotated[str | None, typer.Option("--exemption", help="e.g. 34(3)(a) for GDPR Art. 34")] = None,
        by: ByOpt = None,
        sandbox: SandboxOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Record the human decision for one regime in the breach register."""
        from ..notify import clocks
        from ..notify import register as breach_register
        from ..notify.settings import notify_settings

        settings = _settings(sandbox)
        store = _store(settings)
        _run(store, run_id)
        now = _now()
        entry = breach_register.decide(
            store, run_id, regime, decision, reason=reason, by=_by(by), at=now, exemption=exemption
        )
        clocks.refresh(store, run_id, notify_settings(settings.notify), now=now)
        state = (entry.get("regimes") or {}).get(regime, {})
        if as_json:
            print_json({"run_id": run_id, "regime": regime, **state})
            return
        console().print(f"{text(regime)}: {text(state.get('decision'))} — {text(state.get('reason') or '')}")

    @notify_app.command("sent")
    def sent(
        run_id: Annotated[str, typer.Argument()],
        regime: Annotated[str, typer.Option("--regime", help="regime id")],
        milestone: Annotated[str, typer.Option("--milestone", help="e.g. authority-notice, early-warning")],
        at: Annotated[str | None, typer.Option("--at", help="ISO 8601 time of submission (default: now)")] = None,
        reference: Annotated[str | None, typer.Option("--reference", help="the recipient's case number")] = None,
        by: ByOpt = None,
        sandbox: SandboxOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Record that a person submitted a notice: closes its clock and starts any that follow it."""
        from ..notify import clocks
        from ..notify.settings import notify_settings

        settings = _settings(sandbox)
        nset = notify_settings(settings.notify)
        store = _store(settings)
        _run(store, run_id)
        now = _now()
        when = clocks.parse_time(at, zone=nset.zone) if at else now
        item = clocks.mark_sent(store, run_id, regime, milestone, at=when, by=_by(by), reference=reference, now=now)
        result = clocks.refresh(store, run_id, nset, now=now)
        if as_json:
            print_json({"sent": item, "clocks": result})
            return
        console().print(f"{text(regime)} {text(milestone)} recorded as sent at {text(item['at'])}")
