"""Lambda cold import: a fresh interpreter importing ``responder.lambda_handler`` vs. ``import boto3``.

    .venv/bin/python benchmarks/lambda_cold_import.py [--repeat 15] [--json]

Each sample is a new process (``python -c 'import X'``), so nothing is cached in memory; the two are
interleaved in one run so disk cache and CPU frequency treat them alike. The handler imports only the
standard library at module level (the engine, boto3 and slack-sdk load on the first event), so the
figure also shows what a warm container no longer pays. A second pair times what the first event
needs anyway (handler + boto3 + the engine's modules) against boto3 alone. Target: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "boto3": "import boto3",
    "handler": "import responder.lambda_handler",
    "handler+first-event imports": "import responder.lambda_handler, boto3, responder.app, responder.findings, "
    "responder.state.dynamodb",
}


def _once(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    _once("pass")  # warm the disk cache for the interpreter itself
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    interpreter: list[float] = []
    for _ in range(args.repeat):
        interpreter.append(_once("pass"))
        for name, code in CASES.items():
            samples[name].append(_once(code))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    bare = statistics.median(interpreter)
    result = {
        "repeat": args.repeat,
        "python_startup_s": round(bare, 4),
        "median_s": {k: round(v, 4) for k, v in medians.items()},
        "import_only_s": {k: round(v - bare, 4) for k, v in medians.items()},
        "ratio_handler_vs_boto3": round(medians["handler"] / medians["boto3"], 3),
        "ratio_first_event_vs_boto3": round(medians["handler+first-event imports"] / medians["boto3"], 3),
        "target": "handler / boto3 <= 1.3",
    }
    result["ok"] = result["ratio_handler_vs_boto3"] <= 1.3
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"fresh-process import, median of {args.repeat} (python startup {bare * 1000:.0f} ms):")
    for name, value in medians.items():
        print(f"  {name:<30} {value * 1000:7.0f} ms   (import alone {(value - bare) * 1000:6.0f} ms)")
    print(f"  handler / boto3                {result['ratio_handler_vs_boto3']:.2f}x  (target <= 1.3x)")
    print(f"  first-event imports / boto3    {result['ratio_first_event_vs_boto3']:.2f}x")


if __name__ == "__main__":
    main()
