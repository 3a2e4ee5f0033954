"""The sandbox is an extra: without moto, ``demo`` / ``run --sandbox`` / ``plan --sandbox`` say how to get it.

Each command runs in a fresh interpreter whose import system refuses ``moto`` (a meta-path finder
installed before responder is imported), as on a production install made without the ``sandbox``
extra. Nothing of responder's is replaced: the real CLI entry point runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "responder" / "data" / "samples" / "guardduty-iam-exfiltration.json"

# A finder that makes `import moto` (and every moto.* submodule) fail as if moto were not installed.
_WITHOUT_MOTO = """
import sys

class _NoMoto:
    def find_spec(self, name, path=None, target=None):
        if name == "moto" or name.startswith("moto."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoMoto())
from responder.cli import main
sys.argv = ["responder", *sys.argv[1:]]
main()
"""


def _responder_without_moto(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_MOTO, *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


@pytest.mark.parametrize(
    "args",
    [["demo"], ["demo", "--json"], ["run", str(SAMPLE), "--sandbox"], ["plan", str(SAMPLE), "--sandbox"]],
    ids=" ".join,
)
def test_sandbox_commands_without_moto_say_how_to_install_it(args: list[str]) -> None:
    done = _responder_without_moto(*args)
    assert done.returncode == 2, done.stderr
    assert "pip install 'responder[sandbox]'" in done.stderr
    assert "emulator" in done.stderr
    assert "Traceback" not in done.stderr
    if "--json" in args:  # the refusal itself, as JSON, and nothing else
        assert json.loads(done.stdout) == {**json.loads(done.stdout), "ok": False, "exit_code": 2}
    else:
        assert done.stdout == ""  # refused before anything was read, printed or run


def test_commands_that_need_no_emulator_work_without_moto(tmp_path: Path) -> None:
    """The blocker is what trips the sandbox commands: the rest of the CLI imports and runs without moto."""
    done = _responder_without_moto("match", str(SAMPLE), "--json")
    assert done.returncode == 0, done.stderr
    assert "iam-credential-compromise" in done.stdout
