"""Drafting notices from Jinja2 templates in ``runbooks/notifications/``: filled, never sent.

Templates are trusted files; facts are not. The environment is a ``SandboxedEnvironment`` with
``StrictUndefined`` (a template asking for a fact that does not exist fails loudly rather than printing
nothing), autoescaping off because the output is Markdown for people, and every fact is passed as a
variable already flattened to one line by :func:`responder.notify.facts.literal`. Jinja2 never renders
a variable's value as a template, so ``{{ 7*7 }}`` in a finding title stays ``{{ 7*7 }}`` in the draft.
Unknown facts print as "[to be completed: ...]"; a draft made after its deadline gets a reasons-for-delay
section (GDPR Art. 33(1), LGPD art. 48 §1 V).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..clock import iso
from .facts import HINTS, TBC, tbc
from .model import Milestone, Regime

DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "runbooks" / "notifications"
FALLBACK = "_base.md.j2"


@dataclass(frozen=True)
class Draft:
    regime: str
    milestone: str
    name: str  # the evidence locker name
    text: str
    to_be_completed: int
    late: bool


@lru_cache(maxsize=4)
def environment(folder: str) -> Any:
    """One sandboxed environment per template folder (templates are parsed once)."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def when(value: str | None, zone: ZoneInfo) -> str:
    """``2026-03-30T09:00:00Z`` → ``2026-03-30 11:00 CEST (2026-03-30T09:00:00Z)``: local first, UTC exact."""
    if not value:
        return f"[{TBC}]"
    at = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone)
    return f"{at:%Y-%m-%d %H:%M} {at.tzname()} ({value})"


_BLOCK_START = re.compile(r"^(?=[#>*+=|`~-]|\d+[.)]\s)")


def markdown_text(text: str) -> str:
    """Keep a one-line value inert in Markdown: no table cell breaks, no heading/quote/list at line start."""
    return _BLOCK_START.sub("\\\\", text.replace("|", "\\|"))


def shown(facts: dict[str, Any]) -> dict[str, str]:
    """Every fact as the text a draft prints, unknown ones as the marker with a hint."""
    return {key: markdown_text(tbc(value, HINTS.get(key))) for key, value in facts.items()}


def render(
    regime: Regime,
    milestone: Milestone,
    facts: dict[str, Any],
    clock: dict[str, Any],
    *,
    now: datetime,
    zone: ZoneInfo,
    templates: Path | None = None,
) -> Draft:
    """Fill one milestone's template. ``clock`` is the milestone's clock (``started_at``, ``due``)."""
    folder = str(templates or DEFAULT_TEMPLATES)
    env = environment(folder)
    due = clock.get("due")
    late = bool(due) and iso(now) > due  # type: ignore[operator]
    show = shown(facts)
    items = [
        {
            "label": item.label,
            "citation": item.citation,
            "text": show.get(item.fact, tbc(None, HINTS.get(item.fact))),
        }
        for item in milestone.content
    ]
    context = {
        "regime": regime.model_dump(mode="json"),
        "milestone": milestone.model_dump(mode="json"),
        "items": items,
        "show": show,
        "late": late,
        "generated_at": when(iso(now), zone),
        "clock": {
            "started_at": when(clock.get("started_at"), zone),
            "starts_on": clock.get("starts_on", ""),
            "due_text": when(due, zone) if due else f"no fixed limit: {milestone.standard}",
        },
    }
    text = env.get_template(milestone.template or FALLBACK).render(**context)
    return Draft(
        regime=regime.id,
        milestone=milestone.id,
        name=f"notifications/{regime.id}-{milestone.id}.md",
        text=text,
        to_be_completed=text.count(TBC),
        late=late,
    )
