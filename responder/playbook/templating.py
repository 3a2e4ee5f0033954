"""Render playbook templates safely.

Only the playbook's own strings are templates. Finding fields enter as *variables* of a sandboxed
Jinja2 environment with ``StrictUndefined``: a finding value such as ``{{ 7*7 }}`` or ``{% for %}`` stays
literal text because Jinja never renders its output again. A value that is exactly one expression
(``"{{ finding.resource }}"``) yields the native Python object rather than its text, without any
``literal_eval`` of attacker data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import SandboxedEnvironment

from ..errors import ActionFailed

_SINGLE = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)
ROOT_NAMES = ("finding", "inputs", "steps", "run", "config")


def _tojson(value: Any) -> str:
    import json

    return json.dumps(value, default=str, sort_keys=True)


class _DataFirstEnvironment(SandboxedEnvironment):
    """``x.keys`` on a dict means the key ``keys``, not the method: outputs and findings are data."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = _DataFirstEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters["tojson"] = _tojson
    return env


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def single_expression(value: str) -> str | None:
    match = _SINGLE.match(value)
    if match and "{{" not in match.group("expr") and "}}" not in match.group("expr"):
        return match.group("expr").strip()
    return None


def check_syntax(value: str, *, expression: bool = False) -> str | None:
    """The syntax error in a template (or expression), or None."""
    env = environment()
    try:
        if expression:
            env.parse("{{ " + value + " }}")
        else:
            env.parse(value)
    except TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    return None


def references(value: str, *, expression: bool = False) -> Iterator[tuple[str, ...]]:
    """Dotted name chains a template reads, e.g. ``('steps', 'capture', 'output', 'user_name')``."""
    source = "{{ " + value + " }}" if expression else value
    try:
        tree = environment().parse(source)
    except TemplateSyntaxError:
        return
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        chain = _chain(node)
        if chain:
            yield chain


def _chain(node: nodes.Node) -> tuple[str, ...] | None:
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return tuple(reversed(parts))
        else:
            return None


@lru_cache(maxsize=4096)
def _expression(source: str) -> Any:
    """Compiled once per distinct expression: playbook text is a small, trusted set."""
    return environment().compile_expression(source, undefined_to_none=False)


@lru_cache(maxsize=4096)
def _template(source: str) -> Any:
    return environment().from_string(source)


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render a ``with``/``inputs`` value: dicts and lists recursively, strings as templates."""
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if not is_template(value):
        return value
    try:
        expr = single_expression(value)
        if expr is not None:
            result = _expression(expr)(**context)
            if isinstance(result, Undefined):
                str(result)  # raises UndefinedError with Jinja's own message
            return result
        return _template(value).render(**context)
    except TemplateSyntaxError as exc:
        raise ActionFailed(f"template syntax error in {value!r}: {exc.message}") from None
    except Exception as exc:  # StrictUndefined, sandbox violations, type errors inside expressions
        raise ActionFailed(f"cannot render {value!r}: {exc}") from None


def evaluate(expression: str, context: dict[str, Any]) -> bool:
    """A ``when`` condition: a Jinja2 expression, with or without ``{{ }}``."""
    expr = single_expression(expression) or expression
    try:
        result = _expression(expr)(**context)
        return bool(result)  # inside the try: bool() of a StrictUndefined raises too
    except Exception as exc:
        raise ActionFailed(f"cannot evaluate when: {expression!r}: {exc}") from None
