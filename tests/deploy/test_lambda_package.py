"""The Lambda artifact, built exactly as deployed (``deploy/build_lambda.py``: arm64, Python 3.12,
wheels only), fits Lambda's limits and holds only what the functions run; and the same requirements,
installed for this machine, import every module of responder but the CLI with nothing else on the path.

pip installs from the package index (the dependency folder is cached in the temp directory, so only the
first run downloads). Without a reachable index these tests are skipped, saying so.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
import build_lambda  # noqa: E402

_OFFLINE = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Max retries exceeded",
    "ConnectTimeout",
    "Could not fetch URL",
)
LEFT_OUT = {
    "kubernetes",
    "pandas",
    "numpy",
    "pyarrow",
    "duckdb",
    "moto",
    "typer",
    "rich",
    "aiohttp",
    "tests",
    "notebooks",
    "benchmarks",
    "deploy",
}


def _build(out: Path, **kwargs: object) -> build_lambda.Artifact:
    try:
        return build_lambda.build(out, **kwargs)  # type: ignore[arg-type]
    except build_lambda.BuildError as exc:
        if any(marker in exc.output for marker in _OFFLINE):
            pytest.skip(f"package index not reachable, the Lambda artifact cannot be built: {exc.output[-300:]}")
        raise


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> build_lambda.Artifact:
    return _build(tmp_path_factory.mktemp("lambda") / "lambda")


def test_artifact_is_within_lambdas_limits(artifact: build_lambda.Artifact) -> None:
    assert artifact.unzipped_bytes <= build_lambda.LIMIT_UNZIPPED, artifact.sizes_by_package()
    assert artifact.zipped_bytes <= build_lambda.LIMIT_ZIPPED_UPLOAD
    with zipfile.ZipFile(artifact.zip_path) as archive:
        entries = archive.infolist()
    assert sum(e.file_size for e in entries) == artifact.unzipped_bytes  # what Lambda counts, unzipped
    assert {e.filename for e in entries} == {
        p.relative_to(artifact.folder).as_posix() for p in artifact.folder.rglob("*") if p.is_file()
    }


def test_artifact_holds_the_handler_playbooks_and_runbooks_and_nothing_else_of_the_repository(
    artifact: build_lambda.Artifact,
) -> None:
    top = {p.name for p in artifact.folder.iterdir()}
    assert {"responder", "playbooks", "runbooks", "boto3", "botocore", "pydantic", "pyathena", "yaml"} <= top
    assert not top & LEFT_OUT
    assert (artifact.folder / "responder" / "lambda_handler.py").is_file()
    shipped = sorted(p.name for p in (ROOT / "playbooks").glob("*.yaml"))
    assert sorted(p.name for p in (artifact.folder / "playbooks").glob("*.yaml")) == shipped
    assert not list(artifact.folder.rglob("*.cpython-311.pyc"))  # no bytecode of the build machine's Python


def test_binary_wheels_are_for_graviton(artifact: build_lambda.Artifact) -> None:
    extensions = list(artifact.folder.rglob("*.so"))
    assert extensions  # pydantic_core, PyYAML, ...
    assert all("x86_64" not in p.name for p in extensions)
    assert any("aarch64" in p.name for p in extensions)
    tags = [
        line
        for w in artifact.folder.glob("pydantic_core-*.dist-info/WHEEL")
        for line in w.read_text().splitlines()
        if line.startswith("Tag:")
    ]
    assert tags and all("aarch64" in t and "cp312" in t for t in tags), tags


def test_the_lambda_requirements_import_every_module_but_the_cli(tmp_path: Path) -> None:
    """Same requirements.txt for this machine's platform and Python, then a bare interpreter (``-I -S``: no
    site-packages) imports all of responder and loads the shipped playbooks from the artifact alone."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    host = _build(tmp_path / "host", platform="manylinux2014_x86_64", python_version=version, compile_bytecode=False)
    code = (
        "import importlib, os, pkgutil, sys\n"
        "sys.path.insert(0, os.getcwd())\n"
        "import responder\n"
        "failed = []\n"
        "for m in pkgutil.walk_packages(responder.__path__, 'responder.'):\n"
        "    if m.name.startswith(('responder.cli', 'responder.__main__')):\n"
        "        continue\n"
        "    try:\n"
        "        importlib.import_module(m.name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{m.name}: {exc!r}')\n"
        "from responder.app import load_shipped\n"
        "print(len(load_shipped()))\n"
        "print('\\n'.join(failed))\n"
        "assert not failed\n"
        "assert not {'kubernetes', 'pandas', 'duckdb', 'moto'} & set(sys.modules), sorted(sys.modules)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "RESPONDER_PLAYBOOKS": str(host.folder / "playbooks"),
        "RESPONDER_HOME": str(tmp_path / "home"),
    }
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], cwd=host.folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert int(done.stdout.split()[0]) >= 5
