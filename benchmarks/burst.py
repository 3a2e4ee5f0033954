"""Burst: 1,000 EventBridge events through ``on_event`` against the moto server, twice — without
faults, then with 10% of AWS calls throttled — printing events lost, duplicate containments and the
throughput of the faulty run relative to the clean one.

    .venv/bin/python benchmarks/burst.py [--events 1000] [--workers 4] [--throttle 0.1] [--json]

Set-up, as in AWS: worker *processes* play concurrent Lambda containers (each its own warm engine and
lease owner), the run store is DynamoDB (``dynamodb://``) on the moto server, the locker a folder.
30% of the events are repeats of earlier findings — half exact duplicate deliveries (EventBridge is
at least once), half GuardDuty updates of the same finding (later ``updatedAt``, higher count) — all
shuffled into the stream so duplicates race their originals. The event is the published GuardDuty
TorIPCaller EventBridge event, as the project's fixture composes it in the published shape
(tests/fixtures/guardduty/iam-tor-ipcaller-sample-eventbridge.json, basis in that folder's SOURCES.md),
with a distinct finding id, IAM user and access key per finding, moved into the emulator's account.

Throttling is injected by a small HTTP proxy in front of moto (every client goes through it in both
runs): it answers a random 10% of requests with the service's own throttling error (Query/EC2 XML
``Throttling``, JSON ``ThrottlingException``, S3 ``SlowDown``). A worker whose ``on_event`` raises is
retried like a Lambda async invocation (2 more tries). Afterwards:

* lost = findings with no run in the store, or whose event still raised after the retries;
* duplicate containments = (run, step) pairs with more than one ``step_applied`` audit record that
  changed something;
* throughput = events / wall-clock second; the target is >= 50% of the clean run's.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EVENT = ROOT / "tests" / "fixtures" / "guardduty" / "iam-tor-ipcaller-sample-eventbridge.json"
ACCOUNT = "123456789012"


class ThrottlingProxy:
    """Forwards to moto; a fraction of requests get the service's throttling error instead."""

    def __init__(self, upstream: str, rate: float, seed: int = 7) -> None:
        import http.client
        from urllib.parse import urlsplit

        target = urlsplit(upstream)
        self.rate = rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = {"forwarded": 0, "throttled": 0}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.throttle():
                    status, headers, data = proxy.throttled(self.headers, self.path)
                else:
                    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                    conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                    answer = conn.getresponse()
                    data = answer.read()
                    status = answer.status
                    headers = [(k, v) for k, v in answer.getheaders()
                               if k.lower() not in ("transfer-encoding", "connection", "content-length")]
                    conn.close()
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def throttle(self) -> bool:
        with self.lock:
            hit = self.random.random() < self.rate
            self.counts["throttled" if hit else "forwarded"] += 1
            return hit

    @staticmethod
    def throttled(headers: Any, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        if headers.get("X-Amz-Target"):  # JSON protocol (DynamoDB, ...)
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
            return 400, [("Content-Type", "application/x-amz-json-1.0"),
                         ("x-amzn-ErrorType", "ThrottlingException")], body
        auth = headers.get("Authorization") or ""
        if "/s3/aws4_request" in auth:
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return 503, [("Content-Type", "application/xml")], body
        code = "RequestLimitExceeded" if "/ec2/aws4_request" in auth else "Throttling"
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded</Message>"
                f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>").encode()
        return 400, [("Content-Type", "text/xml")], body

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _events(n: int, repeat_share: float, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``n`` events over ``n * (1 - repeat_share)`` findings, each naming a user and access key created
    in the emulator first; returns (events, findings)."""
    import boto3

    iam = boto3.client("iam", region_name="us-east-1")
    base = json.loads(EVENT.read_text())
    rng = random.Random(seed)
    unique = int(n * (1 - repeat_share))
    findings, events = [], []
    for i in range(unique):
        user = f"burst-user-{i:05d}"
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        event = copy.deepcopy(base)
        event["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
        event["account"] = ACCOUNT
        detail = event["detail"]
        detail["id"] = f"burst{i:05d}{'0' * 20}"[:32]
        detail["accountId"] = ACCOUNT
        detail["arn"] = f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/burst/finding/{detail['id']}"
        detail["resource"]["accessKeyDetails"].update(userName=user, accessKeyId=key,
                                                      principalId=f"AIDABURST{i:011d}")
        findings.append({"user": user, "event": event})
        events.append(event)
    for j in range(n - unique):
        original = findings[rng.randrange(unique)]["event"]
        repeat = copy.deepcopy(original)
        repeat["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
        if j % 2:  # a GuardDuty update of the same finding
            repeat["detail"]["updatedAt"] = f"2099-11-01T00:{j % 60:02d}:00.000Z"  # later than any original
            repeat["detail"]["service"]["count"] = 2 + j
        events.append(repeat)
    rng.shuffle(events)
    return events, findings


def _worker_init(env: dict[str, str]) -> None:
    import logging

    os.environ.update(env)
    logging.disable(logging.WARNING)


def _deliver(event: dict[str, Any]) -> dict[str, Any]:
    """One Lambda invocation, retried twice on error as Lambda retries an async invocation."""
    from responder import lambda_handler

    error = None
    for attempt in range(3):
        try:
            out = lambda_handler.on_event(event)
            return {"ok": True, "attempts": attempt + 1, "finding": event["detail"]["id"],
                    "results": out.get("results", [])}
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
    return {"ok": False, "attempts": 3, "finding": event["detail"]["id"], "error": error}


def _run(label: str, moto: str, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    import boto3
    import requests

    requests.post(f"{moto}/moto-api/reset", timeout=30)
    os.environ["AWS_ENDPOINT_URL"] = moto
    events, findings = _events(args.events, 0.3, args.seed)
    from responder.state import open_store
    from responder.state.dynamodb import create_table

    home = Path(tempfile.mkdtemp(prefix=f"burst-{label}-"))
    table = f"burst-{label}"
    store_url = f"dynamodb://{table}" if args.store == "dynamodb" else f"sqlite:///{home / 'runs.sqlite3'}"
    if args.store == "dynamodb":
        create_table(table, boto3.client("dynamodb", region_name="us-east-1"))
    proxy = ThrottlingProxy(moto, rate, seed=args.seed)
    (home / "cloudtrail").mkdir(parents=True, exist_ok=True)  # the emulator records no trail: nothing to scope
    env = {"AWS_ENDPOINT_URL": proxy.url, "RESPONDER_STORE": store_url,
           "RESPONDER_CLOUDTRAIL": str(home / "cloudtrail"),
           "RESPONDER_EVIDENCE": f"file://{home / 'evidence'}", "RESPONDER_HOME": str(home),
           "RESPONDER_PLAYBOOKS": str(ROOT / "playbooks")}
    for key in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL", "RESPONDER_POSTURE"):
        os.environ.pop(key, None)
    ctx = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ctx.Pool(args.workers, initializer=_worker_init, initargs=(env,)) as pool:
        outcomes = pool.map(_deliver, events, chunksize=4)
    elapsed = time.perf_counter() - start
    proxy.close()

    from responder.engine.runner import run_id_for

    store = open_store(store_url)
    failed_events = [o for o in outcomes if not o["ok"]]
    lost, duplicates, statuses = 0, 0, {}
    reasons: dict[str, int] = {}
    for item in findings:
        run = store.get_run(run_id_for(item["event"]["detail"]["id"], "iam-credential-compromise"))
        if run is None:
            lost += 1
            continue
        statuses[run.status.value] = statuses.get(run.status.value, 0) + 1
        for step in store.steps(run.run_id) if run.status.value != "succeeded" else []:
            if step.error:
                reason = f"{step.step_id}: {step.error_type}: {step.error[:120]}"
                reasons[reason] = reasons.get(reason, 0) + 1
        applied: dict[str, int] = {}
        for entry in store.audit_log(run.run_id):
            if entry.get("event") == "step_applied" and entry.get("changed"):
                applied[entry["step"]] = applied.get(entry["step"], 0) + 1
        duplicates += sum(1 for count in applied.values() if count > 1)
    lost_events = len({o["finding"] for o in failed_events})
    return {"label": label, "events": len(events), "findings": len(findings), "seconds": round(elapsed, 2),
            "events_per_s": round(len(events) / elapsed, 1), "lost": lost + lost_events,
            "events_failed_after_retries": len(failed_events), "duplicate_containments": duplicates,
            "run_statuses": statuses, "proxy": proxy.counts,
            "redelivered_by_lambda_retry": sum(1 for o in outcomes if o["attempts"] > 1),
            "errors": sorted({o["error"] for o in failed_events})[:5],
            "step_failures": dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:5]), "store": args.store}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--throttle", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--store", choices=["sqlite", "dynamodb"], default="sqlite",
                        help="run store: one SQLite file shared by the workers (fast), or DynamoDB on the "
                             "emulator (as in AWS; ~90 store requests per event, so slower)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                       "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto = f"http://{host}:{port}"
    try:
        clean = _run("clean", moto, 0.0, args)
        faulty = _run("throttled", moto, args.throttle, args)
    finally:
        server.stop()
    result = {"clean": clean, "throttled": faulty,
              "throughput_ratio": round(faulty["events_per_s"] / clean["events_per_s"], 3),
              "targets": {"lost": 0, "duplicate_containments": 0, "throughput_ratio": ">= 0.5"}}
    result["ok"] = (faulty["lost"] == 0 and clean["lost"] == 0 and faulty["duplicate_containments"] == 0
                    and clean["duplicate_containments"] == 0 and result["throughput_ratio"] >= 0.5)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for run in (clean, faulty):
        print(f"{run['label']:>9}: {run['events']} events ({run['findings']} findings), {run['seconds']} s, "
              f"{run['events_per_s']} events/s; lost {run['lost']}, duplicate containments "
              f"{run['duplicate_containments']}, runs {run['run_statuses']}, AWS requests {run['proxy']}")
        for error in run["errors"]:
            print(f"           error: {error}")
        for reason, count in run["step_failures"].items():
            print(f"           {count} x {reason}")
    print(f"throughput with {args.throttle:.0%} throttled / clean: {result['throughput_ratio']:.2f} (target >= 0.50)")


if __name__ == "__main__":
    main()
