"""Engine overhead: the leaked-key playbook through responder vs. a plain boto3 script making the same
AWS calls against the same moto server, in one process run, repeated (median of each, interleaved).

The playbook's AWS-facing steps (evidence, enrichment, containment) are measured; its scope and
notification steps make no AWS calls and have their own benchmark (benchmarks/scope.py).

    .venv/bin/python benchmarks/engine_overhead.py [--repeat 15] [--json]

responder's calls are recorded with a botocore ``before-parameter-build`` hook; the baseline replays exactly that
sequence (same operations, same parameters) with one plain boto3 client per service. Both start from
the same freshly seeded state; seeding is outside the timed region. Target: ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    import boto3
    import requests
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    home = Path(tempfile.mkdtemp(prefix="responder-bench-"))
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        RESPONDER_HOME=str(home),
    )

    from responder.actions.registry import default_registry
    from responder.app import build_engine, load_shipped
    from responder.aws.sessions import AwsAccess
    from responder.config import load_settings
    from tests.helpers import finding_of, sample_event, seed_user

    full = next(
        p
        for p in load_shipped(default_registry(), [ROOT / "playbooks"])
        if p.playbook.id == "iam-credential-compromise"
    )
    registry = default_registry()
    # The AWS-facing part of the playbook (evidence, enrichment, containment): scope and notification
    # steps make no AWS calls, so a plain boto3 script has nothing to compare them with.
    aws_steps = [
        s for s in full.playbook.steps if registry.get(s.action).category.value in ("evidence", "enrich", "contain")
    ]
    from responder.playbook.validate import LoadedPlaybook

    playbook = LoadedPlaybook(full.playbook.model_copy(update={"steps": aws_steps}), full.path, full.digest)

    def reset_and_seed() -> None:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        seed_user()

    def run_responder(index: int, record: list[tuple[str, str, dict[str, Any]]] | None = None) -> float:
        event = sample_event(id=f"bench{index:06d}")
        finding = finding_of(event)
        start = time.perf_counter()
        settings = load_settings()
        aws = AwsAccess(settings.aws)
        if record is not None:

            def hook(model: Any, params: dict[str, Any], **_kw: Any) -> None:
                import copy

                record.append((model.service_model.service_name, model.name, copy.deepcopy(params)))

            aws.hooks.append(("before-parameter-build.*.*", hook))
        engine = build_engine(settings, aws=aws)
        result = engine.run(playbook, finding)
        elapsed = time.perf_counter() - start
        assert result.status == "succeeded", result.steps
        return elapsed

    def run_plain(calls: list[tuple[str, str, dict[str, Any]]]) -> float:
        import botocore

        start = time.perf_counter()
        clients: dict[str, Any] = {}
        for service, operation, params in calls:
            client = clients.get(service)
            if client is None:
                client = clients[service] = boto3.client(service, region_name="us-east-1")
            try:
                client._make_api_call(operation, params)
            except botocore.exceptions.ClientError:
                pass  # e.g. NoSuchEntity for a policy that does not exist yet: same as responder saw
        return time.perf_counter() - start

    # warm-up (imports, first calls) and the recording of responder's calls
    reset_and_seed()
    run_responder(0)
    reset_and_seed()
    calls: list[tuple[str, str, dict[str, Any]]] = []
    run_responder(1, calls)
    reset_and_seed()
    run_plain(calls)

    ours: list[float] = []
    plain: list[float] = []
    for i in range(args.repeat):
        reset_and_seed()
        ours.append(run_responder(100 + i))
        reset_and_seed()
        plain.append(run_plain(calls))
    server.stop()

    responder_ms = statistics.median(ours) * 1000
    boto3_ms = statistics.median(plain) * 1000
    ratio = responder_ms / boto3_ms
    result = {
        "ratio": round(ratio, 3),
        "responder_median_ms": round(responder_ms, 2),
        "boto3_median_ms": round(boto3_ms, 2),
        "aws_calls": len(calls),
        "repeat": args.repeat,
        "target": 1.2,
        "met": ratio <= 1.2,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"leaked-key playbook, {len(calls)} AWS calls, median of {args.repeat} runs each (moto server, HTTP)")
        print(f"  responder engine : {responder_ms:8.2f} ms")
        print(f"  plain boto3      : {boto3_ms:8.2f} ms")
        print(f"  ratio            : {ratio:8.3f}  (target <= 1.2: {'met' if ratio <= 1.2 else 'NOT met'})")


if __name__ == "__main__":
    main()
