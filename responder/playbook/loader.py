"""Load playbook YAML with the line of every key, so every error names ``path:line: field``."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem
from ..findings.limits import MAX_INT_DIGITS, MAX_PLAYBOOK_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES

Path_ = tuple[str | int, ...]


@dataclass
class Source:
    """A playbook file's data, its key positions and its digest (resume refuses a changed playbook)."""

    path: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    digest: str = ""

    def line_of(self, loc: Path_) -> int:
        """The line of the deepest known prefix of ``loc``."""
        for cut in range(len(loc), -1, -1):
            key = tuple(loc[:cut])
            if key in self.lines:
                return self.lines[key]
        return 1


_BRACKETS = re.compile(r"[^\[\]{}]+")


def _flow_depth(text: str) -> int:
    """An upper bound of the flow nesting (``[[[…`` / ``{{{…``), brackets in strings counted too.

    PyYAML's scanner re-examines every open flow level at every token, so deep flow nesting costs it
    quadratic time before its composer ever gets to refuse the depth: this linear pass refuses it first."""
    brackets = _BRACKETS.sub("", text)
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def _separators(text: str) -> int:
    """At least one of these stands between any two YAML nodes: more of them than MAX_YAML_NODES means more
    nodes than that, refused before the composer spends time building them."""
    return sum(text.count(c) for c in ",\n[{")


# libyaml's composer (when PyYAML ships with it) is ten times faster and refuses deep nesting itself.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Budget:
    """Bounds on one file's YAML: nodes converted (aliases count each time they are used) and depth."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes = 0
        self.constructor = yaml.SafeLoader("")  # one scalar constructor per file (creating one is not free)


class _Refused(Exception):
    """One problem that ends the conversion: a limit exceeded, a recursive alias, a value that cannot be held."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _convert(
    node: yaml.Node,
    path: Path_,
    lines: dict[Path_, int],
    problems: list[Problem],
    budget: _Budget,
    active: frozenset[int] = frozenset(),
) -> Any:
    """YAML nodes → plain data, recording each key's line; held to MAX_YAML_NODES / MAX_YAML_DEPTH and
    refusing an alias that contains itself, so a "billion laughs" or a recursive alias ends at once."""
    name = budget.name
    line = node.start_mark.line + 1
    budget.nodes += 1
    if budget.nodes > MAX_YAML_NODES:
        raise _Refused(
            Problem(
                name,
                line,
                _dotted(path) or "(root)",
                f"more than {MAX_YAML_NODES} YAML nodes once aliases "
                "are expanded (limit MAX_YAML_NODES): a 'billion laughs' or an oversized anchor?",
            )
        )
    if len(path) > MAX_YAML_DEPTH:
        raise _Refused(
            Problem(name, line, _dotted(path[:8]) + "…", f"nested deeper than the limit of {MAX_YAML_DEPTH} levels")
        )
    if id(node) in active:
        raise _Refused(Problem(name, line, _dotted(path) or "(root)", "recursive alias: the anchor contains itself"))
    lines.setdefault(path, line)
    if isinstance(node, yaml.MappingNode):
        inside = active | {id(node)}
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, path, budget) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int | float | bool) or key is None:
                problems.append(
                    Problem(name, key_node.start_mark.line + 1, _dotted(path) or "(root)", "keys must be plain strings")
                )
                continue
            key = str(key)
            if key in out:
                problems.append(
                    Problem(
                        name,
                        key_node.start_mark.line + 1,
                        _dotted((*path, key)),
                        "duplicate key: the later value would silently win",
                    )
                )
                continue
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, (*path, key), lines, problems, budget, inside)
        return out
    if isinstance(node, yaml.SequenceNode):
        inside = active | {id(node)}
        return [_convert(item, (*path, i), lines, problems, budget, inside) for i, item in enumerate(node.value)]
    return _scalar(node, path, budget)


def _scalar(node: yaml.Node, path: Path_, budget: _Budget) -> Any:
    """One scalar, refusing what cannot be held: integers beyond MAX_INT_DIGITS, lone surrogates."""
    value = node.value if isinstance(node.value, str) else ""
    where = _dotted(path) or "(root)"
    line = node.start_mark.line + 1
    if node.tag.endswith(":int") and len(value.lstrip("+-").replace("_", "")) > MAX_INT_DIGITS:
        raise _Refused(
            Problem(
                budget.name,
                line,
                where,
                f"a number of more than {MAX_INT_DIGITS} digits exceeds the limit (MAX_INT_DIGITS)",
            )
        )
    try:
        result = budget.constructor.construct_object(node)
    except Exception as exc:  # PyYAML's constructors fail in many ways on odd scalars (e.g. year 999999)
        raise _Refused(Problem(budget.name, line, where, f"invalid YAML value {value[:40]!r}: {exc}")) from None
    if isinstance(result, str) and not result.isascii():
        try:
            result.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused(Problem(budget.name, line, where, "holds a lone surrogate (not valid Unicode)")) from None
    return result


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted


def load_source(path: str | Path, text: str | None = None) -> tuple[Source, list[Problem]]:
    name = str(path)
    problems: list[Problem] = []
    if text is None:
        try:
            if Path(path).stat().st_size > MAX_PLAYBOOK_BYTES:
                return Source(name, None), [
                    Problem(
                        name, 1, "(file)", f"larger than the limit of {MAX_PLAYBOOK_BYTES} bytes (MAX_PLAYBOOK_BYTES)"
                    )
                ]
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return Source(name, None), [Problem(name, 1, "(file)", "no such file")]
        except (UnicodeDecodeError, OSError) as exc:
            return Source(name, None), [Problem(name, 1, "(file)", f"cannot read: {exc}")]
    if len(text) > MAX_PLAYBOOK_BYTES:
        return Source(name, None), [
            Problem(name, 1, "(file)", f"larger than the limit of {MAX_PLAYBOOK_BYTES} bytes (MAX_PLAYBOOK_BYTES)")
        ]
    try:
        digest = hashlib.sha256(text.encode()).hexdigest()
    except UnicodeEncodeError:
        return Source(name, None), [Problem(name, 1, "(file)", "holds a lone surrogate (not valid Unicode)")]
    if _flow_depth(text) > 4 * MAX_YAML_DEPTH:
        return Source(name, None, digest=digest), [
            Problem(name, 1, "(yaml)", f"nested deeper than the limit of {MAX_YAML_DEPTH} levels")
        ]
    separators = _separators(text)
    if separators > MAX_YAML_NODES:
        return Source(name, None, digest=digest), [
            Problem(
                name,
                1,
                "(yaml)",
                f"more than {MAX_YAML_NODES} YAML nodes (limit MAX_YAML_NODES): "
                f"{separators} lines, commas and brackets",
            )
        ]
    try:
        nodes = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = f"invalid YAML: {exc.problem}"
        if "nesting depth" in str(exc.problem):  # libyaml's own bound (1000) is far above ours
            message = f"nested deeper than the limit of {MAX_YAML_DEPTH} levels"
        return Source(name, None, digest=digest), [Problem(name, line, "(yaml)", message)]
    except yaml.YAMLError as exc:
        return Source(name, None, digest=digest), [Problem(name, 1, "(yaml)", f"invalid YAML: {exc}")]
    except RecursionError:
        return Source(name, None, digest=digest), [
            Problem(name, 1, "(yaml)", f"nested deeper than the limit of {MAX_YAML_DEPTH} levels")
        ]
    if len(nodes) != 1 or nodes[0] is None:
        return Source(name, None, digest=digest), [Problem(name, 1, "(root)", "expected exactly one YAML document")]
    lines: dict[Path_, int] = {}
    try:
        data = _convert(nodes[0], (), lines, problems, _Budget(name))
    except _Refused as exc:
        return Source(name, None, digest=digest), [exc.problem]
    except (yaml.YAMLError, ValueError) as exc:
        return Source(name, None, digest=digest), [Problem(name, 1, "(yaml)", f"invalid YAML: {exc}")]
    if not isinstance(data, dict):
        problems.append(Problem(name, 1, "(root)", "expected a mapping with id, title, triggers and steps"))
    return Source(name, data, lines, digest), problems


def discover(paths: list[str | Path]) -> list[Path]:
    """Playbook files under the given files or folders (``*.yaml``/``*.yml``), sorted."""
    found: list[Path] = []
    for entry in paths:
        p = Path(entry)
        if p.is_dir():
            found.extend(sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")]))
        else:
            found.append(p)
    return found
