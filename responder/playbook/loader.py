"""Load playbook YAML with the line of every key, so every error names ``path:line: field``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem

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


def _convert(node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[Problem], name: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
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
            out[key] = _convert(value_node, (*path, key), lines, problems, name)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), lines, problems, name) for i, item in enumerate(node.value)]
    return yaml.SafeLoader(" ").construct_object(node)


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
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return Source(name, None), [Problem(name, 1, "(file)", "no such file")]
        except (UnicodeDecodeError, OSError) as exc:
            return Source(name, None), [Problem(name, 1, "(file)", f"cannot read: {exc}")]
    digest = hashlib.sha256(text.encode()).hexdigest()
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        return Source(name, None, digest=digest), [Problem(name, line, "(yaml)", f"invalid YAML: {exc.problem}")]
    except yaml.YAMLError as exc:
        return Source(name, None, digest=digest), [Problem(name, 1, "(yaml)", f"invalid YAML: {exc}")]
    if len(nodes) != 1 or nodes[0] is None:
        return Source(name, None, digest=digest), [Problem(name, 1, "(root)", "expected exactly one YAML document")]
    lines: dict[Path_, int] = {}
    try:
        data = _convert(nodes[0], (), lines, problems, name)
    except yaml.YAMLError as exc:
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
