"""``responder samples``: realistic CloudTrail and VPC Flow Logs with a known attack story, for drills,
tests and benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import BadInput, ResponderError
from .render import err_console, text


def register(app: typer.Typer) -> None:
    @app.command("samples")
    def samples(
        out: Annotated[Path, typer.Option("--out", help="folder to write cloudtrail/ and flowlogs/ into")],
        records: Annotated[
            int, typer.Option("--records", help="records in all (80% CloudTrail, 20% flow logs)")
        ] = 20_000,
        seed: Annotated[int, typer.Option("--seed", help="same seed, same data")] = 7,
        parquet: Annotated[bool, typer.Option("--parquet", help="write flow logs as Parquet")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print the ground truth as JSON")] = False,
    ) -> None:
        """Generate logs in the real S3 layouts with a leaked-key story hidden in benign noise (every ATT&CK
        tactic scope names is played once: see responder/samples/story.py)."""
        from ..samples import generate

        try:
            if records < 1 or records > 50_000_000:
                raise BadInput(f"--records {records} is out of range", hint="use 1 … 50,000,000")
            truth = generate(out, records, seed=seed, flow_format="parquet" if parquet else "text")
        except ResponderError as exc:
            err_console().print(f"[bold red]error:[/] {text(str(exc))}")
            if exc.hint:
                err_console().print(f"[dim]→ {text(exc.hint)}[/]")
            raise typer.Exit(exc.exit_code) from None
        if as_json:
            typer.echo(json.dumps(truth.model_dump(mode="json"), indent=2))
            return
        typer.echo(
            f"wrote {truth.cloudtrail_records:,} CloudTrail records in {truth.cloudtrail_files} files to "
            f"{truth.cloudtrail_dir}"
        )
        typer.echo(
            f"wrote {truth.flow_records:,} flow-log records in {truth.flow_files} files to {truth.flow_logs_dir}"
        )
        typer.echo(
            f"story: leaked key {truth.story.access_key_id} → {len(truth.keys)} keys, "
            f"{len(truth.story_event_ids)} story records across {len(truth.tactics)} ATT&CK tactics "
            f"({', '.join(truth.tactics)}); try: responder scope --access-key "
            f"{truth.story.access_key_id} --cloudtrail {truth.cloudtrail_dir} --flow-logs {truth.flow_logs_dir}"
        )
