"""Build the Lambda artifact exactly as it is deployed: arm64, Python 3.12, wheels only.

    python deploy/build_lambda.py [--out deploy/build/lambda] [--cache DIR] [--json]

``deploy/template.yaml`` points every function's ``CodeUri`` at the folder this writes, so what is
measured (``benchmarks/lambda_package.py``, ``tests/deploy/test_lambda_package.py``) is what
``sam deploy`` uploads. The folder holds:

- the dependencies of ``requirements.txt``, installed by pip for the Lambda platform
  (``--platform manylinux2014_aarch64 --python-version 3.12 --implementation cp --only-binary=:all:``):
  binary wheels built for Amazon Linux on Graviton, never a source build for the build machine;
- ``responder/``, ``playbooks/`` and ``runbooks/`` — and nothing else of the repository (no tests,
  notebooks, benchmarks or fixtures);
- bytecode compiled by a Python 3.12 interpreter when one is on ``PATH``, in ``unchecked-hash`` mode:
  ``/var/task`` is read-only, so without it every cold start would compile every module again, and
  timestamps do not survive the zip.

It also writes ``lambda.zip`` beside the folder (deterministic: sorted entries, fixed times), the
form Lambda counts against its limits: 250 MB unzipped, 50 MB zipped for a direct upload.

The dependency install is cached under ``--cache`` by a digest of requirements.txt and the target
platform, so a rebuild after a code change takes seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
SOURCES = ("responder", "playbooks", "runbooks")
DEFAULT_OUT = ROOT / "deploy" / "build" / "lambda"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "responder-lambda-deps"
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.12"
LIMIT_UNZIPPED = 250 * 1024 * 1024  # Lambda: deployment package (and layers), unzipped
LIMIT_ZIPPED_UPLOAD = 50 * 1024 * 1024  # Lambda: zip uploaded directly (larger zips go through S3)
_SKIP = {"__pycache__", ".pytest_cache", ".ruff_cache"}


class BuildError(Exception):
    """pip could not install the requirements for the Lambda platform (``output`` says why)."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class Artifact:
    folder: Path
    zip_path: Path
    unzipped_bytes: int
    zipped_bytes: int
    compiled_by: str | None  # the interpreter that wrote the bytecode, if any

    def sizes_by_package(self) -> dict[str, int]:
        """Bytes per top-level entry (a package, a module, a dist-info folder), largest first."""
        sizes: dict[str, int] = {}
        for path in self.folder.rglob("*"):
            if path.is_file():
                top = path.relative_to(self.folder).parts[0]
                sizes[top] = sizes.get(top, 0) + path.stat().st_size
        return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def _digest(requirements: Path, platform: str, python_version: str) -> str:
    text = requirements.read_text() + f"\n{platform}\n{python_version}\n"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def install_dependencies(
    cache: Path, *, requirements: Path = REQUIREMENTS, platform: str = PLATFORM, python_version: str = PYTHON_VERSION
) -> Path:
    """The requirements installed for the target platform, into a cached folder (reused when present)."""
    target = cache / f"deps-{platform}-py{python_version}-{_digest(requirements, platform, python_version)}"
    if (target / ".complete").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".partial", dir=cache))  # one per build
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(partial), "--platform", platform, "--python-version", python_version,
        "--implementation", "cp", "--only-binary=:all:", "-r", str(requirements),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise BuildError(
            f"pip could not install {requirements.name} for {platform} / Python {python_version}",
            done.stdout + done.stderr,
        )
    shutil.rmtree(partial / "bin", ignore_errors=True)  # console scripts: nothing runs them in Lambda
    (partial / ".complete").write_text("")
    try:
        partial.rename(target)
    except OSError:  # another build finished first (or a stale incomplete folder is in the way)
        if (target / ".complete").is_file():
            shutil.rmtree(partial, ignore_errors=True)
            return target
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target


def _copy_tree(source: Path, destination: Path) -> None:
    shutil.copytree(
        source,
        destination,
        dirs_exist_ok=True,
        ignore=lambda _dir, names: [n for n in names if n in _SKIP or n.endswith((".pyc", ".pyo"))],
    )


def _interpreter(python_version: str, explicit: str | None) -> str | None:
    """The interpreter that compiles the bytecode: ``--python``/``RESPONDER_LAMBDA_PYTHON``, else
    ``python3.12`` on PATH; only if it really is that version (bytecode is version-specific)."""
    interpreter = explicit or os.environ.get("RESPONDER_LAMBDA_PYTHON") or shutil.which(f"python{python_version}")
    if not interpreter:
        return None
    probe = subprocess.run(
        [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return interpreter if probe.returncode == 0 and probe.stdout.strip() == python_version else None


def _compile(folder: Path, python_version: str, explicit: str | None) -> str | None:
    interpreter = _interpreter(python_version, explicit)
    if interpreter is None:
        return None
    subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(folder)],
        check=True,
        capture_output=True,
    )
    return f"Python {python_version} ({Path(interpreter).name}), unchecked-hash"


def _zip(folder: Path, zip_path: Path) -> None:
    """Deterministic: same inputs, same bytes (sorted names, fixed times, fixed permissions)."""
    tmp = zip_path.with_suffix(".zip.partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    tmp.replace(zip_path)


def build(
    out: Path = DEFAULT_OUT,
    *,
    cache: Path = DEFAULT_CACHE,
    platform: str = PLATFORM,
    python_version: str = PYTHON_VERSION,
    compile_bytecode: bool = True,
    python: str | None = None,
) -> Artifact:
    """Build the artifact folder and its zip; return their measured sizes."""
    deps = install_dependencies(cache, platform=platform, python_version=python_version)
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(deps, out, ignore=shutil.ignore_patterns(".complete"))
    for name in SOURCES:
        _copy_tree(ROOT / name, out / name)
    compiled = _compile(out, python_version, python) if compile_bytecode else None
    zip_path = out.with_name(out.name + ".zip")
    _zip(out, zip_path)
    unzipped = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return Artifact(out, zip_path, unzipped, zip_path.stat().st_size, compiled)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("RESPONDER_LAMBDA_CACHE", DEFAULT_CACHE)))
    parser.add_argument("--python", help=f"a Python {PYTHON_VERSION} interpreter to compile the bytecode with")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        artifact = build(args.out, cache=args.cache, python=args.python)
    except BuildError as exc:
        print(f"{exc}\n{exc.output[-2000:]}", file=sys.stderr)
        return 1
    figures = {
        "folder": str(artifact.folder),
        "zip": str(artifact.zip_path),
        "unzipped_mb": round(artifact.unzipped_bytes / 2**20, 1),
        "zipped_mb": round(artifact.zipped_bytes / 2**20, 1),
        "bytecode": artifact.compiled_by,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{artifact.folder}: {figures['unzipped_mb']} MB unzipped, {artifact.zip_path.name} "
            f"{figures['zipped_mb']} MB (bytecode: {artifact.compiled_by or 'none: no Python 3.12 found'})"
        )
    return 0 if artifact.unzipped_bytes <= LIMIT_UNZIPPED else 1


if __name__ == "__main__":
    sys.exit(main())
