"""Parse batches of GuardDuty findings (a ``GetFindings`` answer, ``{"Findings": [...]}``) of growing size
through ``responder.findings.load_text`` and print the time per finding, next to a baseline measured in the
same run: ``json.loads`` of the same text. Linear parsing shows as a flat time per finding; the limit
check (``MAX_FINDINGS``) shows as an oversized batch refused in about the time ``json.loads`` takes.

    .venv/bin/python benchmarks/parse_batch.py [--sizes 500,1000,2000,5000]

The findings are the composed fixtures in tests/fixtures/findings/guardduty (SOURCES.md there), cycled,
each with its own id.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from responder.errors import FindingInvalid
from responder.findings import load_text
from responder.findings.limits import MAX_FINDINGS

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "findings" / "guardduty"


def batch(size: int) -> str:
    details = [json.loads(p.read_text())["detail"] for p in sorted(FIXTURES.glob("*.json"))]
    findings = [dict(details[i % len(details)], id=f"{i:032x}") for i in range(size)]
    return json.dumps({"Findings": findings})


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,1000,2000,5000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'findings':>9} {'MB':>6} {'json.loads s':>13} {'load_text s':>12} {'µs/finding':>11}")
    for size in sizes:
        body = batch(size)
        baseline = timed(lambda body=body: json.loads(body))
        parsed = timed(lambda body=body: load_text(body, "batch.json"))
        print(f"{size:>9} {len(body) / 1e6:>6.1f} {baseline:>13.3f} {parsed:>12.3f} {parsed / size * 1e6:>11.0f}")
    over = MAX_FINDINGS * 2
    body = json.dumps({"Findings": [{"Id": f"f-{i}"} for i in range(over)]})
    baseline = timed(lambda: json.loads(body))
    started = time.perf_counter()
    try:
        load_text(body, "oversized.json")
    except FindingInvalid as exc:
        refused = time.perf_counter() - started
        print(f"{over} findings refused in {refused:.3f} s (json.loads alone {baseline:.3f} s): {exc}")


if __name__ == "__main__":
    main()
