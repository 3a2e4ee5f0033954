"""Templates render playbook text only; finding values are data and are never rendered."""

from __future__ import annotations

import pytest

from responder.errors import ActionFailed
from responder.playbook import templating


@pytest.mark.parametrize(
    "hostile", ["{{ 7*7 }}", "{% raw %}x", "{{ cycler.__init__.__globals__ }}", "'\"\n\\", "<!channel>", "' OR 1=1 --"]
)
def test_finding_values_are_never_rendered(hostile: str) -> None:
    context = {"finding": {"title": hostile}}
    assert templating.render("{{ finding.title }}", context) == hostile
    assert templating.render("title: {{ finding.title }}", context) == f"title: {hostile}"


def test_single_expression_keeps_native_types() -> None:
    context = {"steps": {"a": {"output": {"n": 3, "keys": ["x"]}}}}
    assert templating.render("{{ steps.a.output.n }}", context) == 3
    assert templating.render({"k": ["{{ steps.a.output.keys }}"]}, context) == {"k": [["x"]]}


def test_strict_undefined_fails_clearly() -> None:
    with pytest.raises(ActionFailed, match="missing"):
        templating.render("{{ finding.missing }}", {"finding": {}})


def test_sandbox_blocks_unsafe_access() -> None:
    with pytest.raises(ActionFailed):
        templating.render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_when_expression() -> None:
    assert templating.evaluate("finding.severity >= 7", {"finding": {"severity": 8}}) is True
    assert templating.evaluate("{{ finding.severity >= 7 }}", {"finding": {"severity": 2}}) is False


def test_references() -> None:
    refs = set(templating.references("{{ steps.a.output.x }} {{ inputs['k'] }}"))
    assert ("steps", "a", "output", "x") in refs
    assert ("inputs", "k") in refs
