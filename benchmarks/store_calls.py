"""Store calls per event: how many run-store operations one leaked-key finding costs, SQLite and DynamoDB.

    .venv/bin/python benchmarks/store_calls.py [--json]

The leaked-key finding goes through the respond service (``Responder.respond_one``, what ``run`` and the
Lambda's ``on_event`` call) against a moto server. SQLite operations are counted at the store's five
primitives; DynamoDB operations are the real API calls botocore sends (a ``before-call`` hook on the store's
client). Each call is attributed to the layer that made it (the first responder frame outside ``responder/state``):
the engine's step records and audit, the evidence locker's custody anchor, the notification clocks and
register. The engine's per-run constant is measured in the same run with a one-step playbook
(``evidence.record_finding`` alone), so the engine's ``per step`` = (engine calls − constant) / (steps − 1).
Target: ≤ 3 per step plus a constant per run.
Reference: 155 DynamoDB calls for this event before the store wrote against the versions it holds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MINIMAL = """id: store-calls-constant
title: one evidence step (the per-run constant)
runbook: runbooks/iam-credential-compromise.md
triggers:
  - types: ["*"]
steps:
  - id: record_finding
    action: evidence.record_finding
"""


def _layer() -> str:
    """Which part of responder made the store call in progress."""
    for frame in reversed(traceback.extract_stack()):
        name = frame.filename.replace("\\", "/")
        if "/responder/" not in name or "/responder/state/" in name:
            continue
        for layer in ("engine", "evidence", "notify", "service"):
            if f"/responder/{layer}/" in name or name.endswith(f"/responder/actions/{layer}.py"):
                return layer
        return "other"
    return "other"


def _counting_sqlite(path: Path, counts: Counter) -> Any:
    from responder.state.sqlite import SqliteStore

    class Counting(SqliteStore):
        def _insert_if_absent(self, *a: Any, **k: Any) -> Any:
            counts[("insert_if_absent", _layer())] += 1
            return super()._insert_if_absent(*a, **k)

        def _get(self, *a: Any, **k: Any) -> Any:
            counts[("get", _layer())] += 1
            return super()._get(*a, **k)

        def _replace_if_version(self, *a: Any, **k: Any) -> Any:
            counts[("replace_if_version", _layer())] += 1
            return super()._replace_if_version(*a, **k)

        def _query(self, *a: Any, **k: Any) -> Any:
            counts[("query", _layer())] += 1
            return super()._query(*a, **k)

        def _scan(self, *a: Any, **k: Any) -> Any:
            counts[("scan", _layer())] += 1
            return super()._scan(*a, **k)

    return Counting(path)


def _counting_dynamo(table: str, counts: Counter) -> Any:
    from responder.state.dynamodb import DynamoStore, create_table

    create_table(table)
    store = DynamoStore(table)

    def count(model: Any, **_: Any) -> None:
        counts[(model.name, _layer())] += 1

    store.client.meta.events.register("before-call.dynamodb.*", count)
    return store


def _measure(store_factory: Any, event: dict[str, Any], playbook_dir: Path | None, home: Path) -> dict[str, Any]:
    from responder.app import build_engine, build_responder
    from responder.config import load_settings
    from tests.helpers import finding_of

    counts: Counter = Counter()
    settings = load_settings()
    engine = build_engine(settings, store=store_factory(counts), sleep=lambda _s: None)
    service = build_responder(settings, engine=engine, playbook_paths=[playbook_dir] if playbook_dir else None)
    counts.clear()  # building the store (table checks) is not the event's cost
    results = service.respond_one(finding_of(event))
    steps = sum(len(r.steps) for r in results)
    by_layer: Counter = Counter()
    by_operation: Counter = Counter()
    for (operation, layer), n in counts.items():
        by_layer[layer] += n
        by_operation[operation] += n
    return {
        "calls": sum(counts.values()),
        "by_operation": dict(by_operation),
        "by_layer": dict(by_layer),
        "steps": steps,
        "status": [r.status for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    home = Path(tempfile.mkdtemp(prefix="responder-store-calls-"))
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        RESPONDER_HOME=str(home),
    )
    import requests

    from tests.helpers import sample_event, seed_user

    minimal_dir = home / "minimal" / "playbooks"
    minimal_dir.mkdir(parents=True)
    (minimal_dir / "constant.yaml").write_text(MINIMAL)
    (home / "minimal" / "runbooks").mkdir()
    (home / "minimal" / "runbooks" / "iam-credential-compromise.md").write_text("constant\n")

    report: dict[str, Any] = {}
    for backend in ("sqlite", "dynamodb"):
        figures = {}
        for label, playbooks in (("constant", minimal_dir), ("leaked_key", None)):
            requests.post(f"http://{host}:{port}/moto-api/reset", timeout=10)
            seed_user()
            tag = f"{backend}-{label}"

            def factory(counts: Counter, tag: str = tag, backend: str = backend) -> Any:
                if backend == "sqlite":
                    return _counting_sqlite(home / f"{tag}.sqlite3", counts)
                return _counting_dynamo(f"responder-{tag}", counts)

            os.environ["RESPONDER_EVIDENCE"] = f"file://{home / tag / 'evidence'}"  # each measurement its own locker
            figures[label] = _measure(factory, sample_event(), playbooks, home)
        event, constant = figures["leaked_key"], figures["constant"]
        engine_constant = constant["by_layer"].get("engine", 0) + constant["by_layer"].get("service", 0)
        engine_calls = event["by_layer"].get("engine", 0) + event["by_layer"].get("service", 0)
        per_step = (engine_calls - engine_constant) / max(1, event["steps"] - 1)
        report[backend] = {
            "calls_per_event": event["calls"],
            "steps": event["steps"],
            "engine_per_step": round(per_step, 2),
            "engine_per_run_constant": engine_constant,
            "by_layer": event["by_layer"],
            "by_operation": event["by_operation"],
            "status": event["status"],
            "target_met": per_step <= 3,
        }
    server.stop()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("store operations for one leaked-key event (target: <= 3 per step + a constant per run)")
    print(f"{'backend':10} {'calls':>6} {'steps':>6} {'engine/step':>12} {'engine/run':>11}  by layer; by operation")
    for backend, row in report.items():
        layers = ", ".join(f"{k} {v}" for k, v in sorted(row["by_layer"].items()))
        ops = ", ".join(f"{k} {v}" for k, v in sorted(row["by_operation"].items()))
        print(
            f"{backend:10} {row['calls_per_event']:>6} {row['steps']:>6} {row['engine_per_step']:>12} "
            f"{row['engine_per_run_constant']:>11}  {layers}; {ops}"
        )
    print("reference before this change: 155 DynamoDB calls (74 PutItem, 66 GetItem, 15 Query)")


if __name__ == "__main__":
    main()
