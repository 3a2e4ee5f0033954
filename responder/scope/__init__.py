"""Scope: what did the attacker do, touch and take, and since when.

The same questions (:mod:`.questions`) run on DuckDB over local files through a Parquet cache
(:mod:`.duck`, :mod:`.cache`) or on Athena (:mod:`.athena`). :func:`investigate` resolves the subject's
pivots and builds the :class:`ScopeReport`. With no configured location, :mod:`.discover` finds the
account's trails and flow logs and fetches the window's partitions (LookupEvents as the fallback). The
report names the attack: ATT&CK techniques from the cited table in :mod:`.techniques`, and what the subject
left behind, in the machine-usable shape documented in :mod:`.attribution` (persistence items, outside
accounts). Heavy libraries (duckdb, pyathena) load only when a backend is opened, so importing this
package is cheap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from .report import ScopeReport
from .subject import (
    Subject,
    Window,
    parse_time,
    subject_for_finding,
    subject_for_key,
    subject_for_principal,
    window_for_finding,
)

if TYPE_CHECKING:
    from ..config import Settings
    from .cache import Progress

__all__ = [
    "ScopeReport",
    "Subject",
    "Window",
    "investigate",
    "locations",
    "open_backend",
    "parse_time",
    "subject_for_finding",
    "subject_for_key",
    "subject_for_principal",
    "window_for_finding",
]


def locations(
    settings: Settings | None, *, cloudtrail: str | Path | None = None, flow_logs: str | Path | None = None
) -> tuple[str | None, str | None]:
    """Where the logs are: explicit argument, then RESPONDER_CLOUDTRAIL / RESPONDER_FLOW_LOGS, then config."""
    scope = settings.scope if settings is not None else {}
    ct = cloudtrail or os.environ.get("RESPONDER_CLOUDTRAIL") or scope.get("cloudtrail")
    fl = flow_logs or os.environ.get("RESPONDER_FLOW_LOGS") or scope.get("flow_logs")
    return (str(ct) if ct else None, str(fl) if fl else None)


def open_backend(
    kind: str = "local",
    *,
    cloudtrail: str | Path | None,
    flow_logs: str | Path | None,
    settings: Settings | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    options: dict[str, Any] | None = None,
) -> Any:
    """A backend for ``kind`` ('local' or 'athena'); raises BadInput with what to do next."""
    if kind == "local":
        if not cloudtrail and not flow_logs:
            raise BadInput(
                "no CloudTrail or Flow Logs location given",
                hint="pass --cloudtrail PATH (and --flow-logs PATH), or set RESPONDER_CLOUDTRAIL",
            )
        for value in (cloudtrail, flow_logs):
            if value and str(value).startswith("s3://"):
                raise BadInput(
                    f"{value}: the local backend reads files on this machine",
                    hint="use --backend athena for logs in S3, or sync them locally first",
                )
        from .duck import LocalBackend

        if cache_dir is None:
            if settings is None:
                from ..config import load_settings

                settings = load_settings()
            cache_dir = settings.cache_dir
        return LocalBackend(
            cloudtrail=Path(cloudtrail) if cloudtrail else None,
            flow_logs=Path(flow_logs) if flow_logs else None,
            cache_dir=cache_dir,
            progress=progress,
        )
    if kind == "athena":
        from .athena import AthenaBackend

        conf = dict((settings.scope.get("athena") if settings is not None else None) or {})
        conf.update(options or {})
        return AthenaBackend.from_config(conf)
    raise BadInput(f"unknown scope backend {kind!r}", hint="use --backend local or --backend athena")


def investigate(backend: Any, subject: Subject, window: Window, **kwargs: Any) -> ScopeReport:
    from .assemble import investigate as run

    return run(backend, subject, window, **kwargs)
