"""Lambda artifact size: the folder and zip ``deploy/build_lambda.py`` builds, as ``sam deploy`` uploads them.

    .venv/bin/python benchmarks/lambda_package.py [--json] [--no-baseline] [--top 12] [--python PATH]

Builds the artifact (arm64, Python 3.12, wheels only; the dependency install is cached in a temp
folder, so later runs take seconds) and prints its unzipped and zipped size against Lambda's limits
(250 MB unzipped, hard; 50 MB for a zip uploaded directly) and responder's target (100 MB unzipped),
with the largest packages in it. The baseline, measured in the same run with the same builder, is
the package as it was deployed before: the official ``kubernetes`` client and pandas in
requirements.txt, and ``CodeUri: ../`` shipping every file of the repository.

``--json`` prints ``{"unzipped_mb", "zipped_mb", "bytecode", "top_packages": [{"name", "mb"}], "limits": …,
"baseline": {"unzipped_mb", "added": [...], …}}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import build_lambda  # noqa: E402

TARGET_MB = 100
BASELINE_ADDED = ("kubernetes>=30.0", "pandas>=2.1")  # what requirements.txt carried before


def _mb(size: int) -> float:
    return round(size / 2**20, 1)


def _repository_bytes() -> int:
    """Every tracked file of the checkout: what ``CodeUri: ../`` put in the package."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return sum((ROOT / name).stat().st_size for name in listed.decode().split("\0") if name and (ROOT / name).is_file())


def baseline(cache: Path) -> dict[str, object]:
    requirements = cache / "baseline-requirements.txt"
    cache.mkdir(parents=True, exist_ok=True)
    requirements.write_text(build_lambda.REQUIREMENTS.read_text() + "\n".join(BASELINE_ADDED) + "\n")
    deps = build_lambda.install_dependencies(cache, requirements=requirements)
    deps_bytes = sum(p.stat().st_size for p in deps.rglob("*") if p.is_file())
    repo = _repository_bytes()
    return {
        "unzipped_mb": _mb(deps_bytes + repo),
        "dependencies_mb": _mb(deps_bytes),
        "repository_mb": _mb(repo),
        "added": list(BASELINE_ADDED),
        "code_uri": "../ (the whole repository)",
        "bytecode": None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--python", help="a Python 3.12 interpreter to compile the bytecode with")
    parser.add_argument("--cache", type=Path, default=build_lambda.DEFAULT_CACHE)
    args = parser.parse_args()
    artifact = build_lambda.build(cache=args.cache, python=args.python)
    sizes = artifact.sizes_by_package()
    bytecode = sum(p.stat().st_size for p in artifact.folder.rglob("*.pyc"))
    result: dict[str, object] = {
        "unzipped_mb": _mb(artifact.unzipped_bytes),
        "zipped_mb": _mb(artifact.zipped_bytes),
        "unzipped_mb_without_bytecode": _mb(artifact.unzipped_bytes - bytecode),
        "bytecode": artifact.compiled_by,
        "files": sum(1 for p in artifact.folder.rglob("*") if p.is_file()),
        "top_packages": [{"name": k, "mb": _mb(v)} for k, v in list(sizes.items())[: args.top]],
        "limits": {
            "unzipped_mb": _mb(build_lambda.LIMIT_UNZIPPED),
            "zipped_direct_upload_mb": _mb(build_lambda.LIMIT_ZIPPED_UPLOAD),
            "target_unzipped_mb": TARGET_MB,
        },
        "folder": str(artifact.folder.relative_to(ROOT))
        if artifact.folder.is_relative_to(ROOT)
        else str(artifact.folder),
    }
    result["ok"] = artifact.unzipped_bytes <= build_lambda.LIMIT_UNZIPPED
    if not args.no_baseline:
        result["baseline"] = baseline(args.cache)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0 if result["ok"] else 1
    print(f"Lambda artifact ({result['folder']}, arm64, Python 3.12):")
    print(
        f"  unzipped  {result['unzipped_mb']:7.1f} MB   (limit 250 MB, target {TARGET_MB} MB; "
        f"{result['unzipped_mb_without_bytecode']} MB without bytecode)"
    )
    print(f"  zipped    {result['zipped_mb']:7.1f} MB   (direct upload limit 50 MB)")
    print(f"  bytecode  {artifact.compiled_by or 'none (no Python 3.12 found: --python PATH)'}")
    print("  largest:")
    for row in result["top_packages"]:  # type: ignore[union-attr]
        print(f"    {row['name']:<34} {row['mb']:6.1f} MB")
    if "baseline" in result:
        base = result["baseline"]
        print(f"baseline (requirements + {', '.join(BASELINE_ADDED)}, CodeUri ../, no bytecode):")
        print(
            f"  unzipped  {base['unzipped_mb']:7.1f} MB   (dependencies {base['dependencies_mb']} MB, "  # type: ignore[index]
            f"repository {base['repository_mb']} MB)"
        )  # type: ignore[index]
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
