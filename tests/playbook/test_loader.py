"""Playbook YAML loading: lines of every key, legitimate anchors expanded, hostile YAML refused as a problem
(never an exception, never a hang). The CLI-level cases and timings are in tests/findings/test_limits.py."""

from __future__ import annotations

import time
from pathlib import Path

from responder.findings.limits import MAX_YAML_DEPTH, MAX_YAML_NODES
from responder.playbook.loader import load_source

ANCHORED = """\
id: p
approval: &ask
  timeout: 30m
  on_timeout: deny
steps:
  - id: a
    approval: *ask
  - id: b
    approval: *ask
"""


def test_anchors_within_the_budget_are_expanded_with_lines(tmp_path: Path) -> None:
    source, problems = load_source(tmp_path / "p.yaml", ANCHORED)
    assert problems == []
    assert source.data["steps"][1]["approval"] == {"timeout": "30m", "on_timeout": "deny"}
    assert source.line_of(("steps", 1, "id")) == 8


def test_alias_expansion_is_counted_every_time_an_alias_is_used(tmp_path: Path) -> None:
    items = ",".join(["1"] * 100)
    uses = ",".join(["*a"] * (MAX_YAML_NODES // 100 + 1))
    started = time.perf_counter()
    source, problems = load_source(tmp_path / "p.yaml", f"a: &a [{items}]\nb: [{uses}]\n")
    assert source.data is None and len(problems) == 1
    assert f"more than {MAX_YAML_NODES} YAML nodes once aliases are expanded" in problems[0].message
    assert time.perf_counter() - started < 1.0


def test_a_recursive_alias_names_where_it_recurses(tmp_path: Path) -> None:
    _, problems = load_source(tmp_path / "p.yaml", "id: p\nsteps:\n  - &s {id: a, next: *s}\n")
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'p.yaml'}:3: steps[0].next: recursive alias: the anchor contains itself"
    ]


def test_depth_just_inside_the_limit_loads_and_just_beyond_is_refused(tmp_path: Path) -> None:
    inside = "a: " + "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1) + "\n"
    assert load_source(tmp_path / "p.yaml", inside)[1] == []
    beyond = "a: " + "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1) + "\n"
    (problem,) = load_source(tmp_path / "p.yaml", beyond)[1]
    assert f"nested deeper than the limit of {MAX_YAML_DEPTH} levels" in problem.message
