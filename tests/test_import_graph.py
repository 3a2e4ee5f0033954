"""The core knows steps, actions and state only; heavy libraries stay out of cold paths."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "responder"
FORBIDDEN_FOR_ENGINE = (
    "responder.aws",
    "responder.notify",
    "responder.actions.aws",
    "responder.actions.k8s",
    "responder.actions.slack",
    "responder.slack",
    "responder.k8s",
    "responder.cli",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = path.relative_to(PACKAGE.parent).with_suffix("").parts
            if node.level:
                prefix = ".".join(base[: len(base) - node.level])
                found.add(f"{prefix}.{node.module}" if node.module else prefix)
            elif node.module:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_engine_imports_no_edge_modules() -> None:
    for path in (PACKAGE / "engine").glob("*.py"):
        for module in _imports(path):
            assert not module.startswith(FORBIDDEN_FOR_ENGINE), f"{path.name} imports {module}"


def test_only_cli_imports_typer_and_rich() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        for module in _imports(path):
            assert not module.startswith(("typer", "rich")), f"{path} imports {module}"


def test_state_package_imports_no_backend() -> None:
    code = "import sys, responder.state; print(','.join(m for m in sys.modules if m.startswith('responder.state.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert "sqlite" not in out and "dynamodb" not in out


def test_engine_import_is_light() -> None:
    code = (
        "import sys, responder.engine.runner, responder.findings; "
        "print(','.join(m for m in ('pandas', 'duckdb', 'kubernetes', 'slack_sdk', 'moto') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
