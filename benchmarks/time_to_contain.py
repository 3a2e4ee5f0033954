"""Time to contain: from receipt of a finding to the first containment call, behind a network delay.

A latency proxy (a small threaded HTTP proxy that waits ``--delay-ms`` before forwarding each request)
sits between responder and the emulators: moto for AWS, the Kubernetes API double for pods. Every call
then costs what a round trip from a Lambda costs (IAM: 50–150 ms), so what decides time to contain is
how many calls wait on each other, not how fast the emulator is.

    .venv/bin/python benchmarks/time_to_contain.py [--delay-ms 100] [--repeat 3] [--show-rounds] [--json]

Each finding goes through the real entry point (``responder.lambda_handler.on_event``, an EventBridge
event as Lambda receives it). AWS calls are recorded with botocore hooks (``before-call``/``after-call``:
operation, start, end) on every client responder makes; Kubernetes calls by the proxy. "Sequential round
trips" is the length of the longest chain of calls up to and including the first containment call, where
a call follows another when it started after the other ended: calls in flight together count once.

Two modes, measured in the same process, on the same freshly seeded state:

* ``before``: ``RESPONDER_READ_CONCURRENCY=1`` — every read one after another (the sequential capture);
* ``after``: the default bounded pool per action.

and two container states: ``cold`` (no caller identity cached: the first run of a new Lambda container)
and ``warm`` (a later run in the same container). Each playbook states its physical limit: the reads
that must precede the change given *evidence before change* (each dependent read adds a round trip),
plus the change itself. Targets (issue 20): leaked key ≤ 4, the others within 1 of their limit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOME_ACCOUNT = "123456789012"  # moto's default account: responder's own here
POOL_ENV = "RESPONDER_READ_CONCURRENCY"  # responder.aws.parallel.ENV, named here so older trees can be measured
READ_PREFIXES = ("Get", "List", "Describe", "Head")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


# ---------------------------------------------------------------------------------------------- the proxy
@dataclass
class Call:
    name: str  # "iam.UpdateAccessKey", "k8s PATCH /api/v1/namespaces/x/pods/y"
    start: float
    end: float

    @property
    def mutating(self) -> bool:
        if self.name.startswith("k8s "):
            return not self.name.startswith("k8s GET")
        return not self.name.split(".", 1)[1].startswith(READ_PREFIXES)


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()


class DelayProxy:
    """Forward every HTTP request to ``target`` after ``delay`` seconds (HTTP/1.1, keep-alive)."""

    def __init__(self, target: str, delay: float, recorder: Recorder | None = None) -> None:
        self.target = urlsplit(target)
        self.delay = delay
        self.recorder = recorder
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                started = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                time.sleep(proxy.delay)
                upstream = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
                upstream.close()
                self.send_response(reply.status, reply.reason)
                for key, value in reply.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                self.wfile.flush()
                if proxy.recorder is not None:
                    path = self.path.split("?", 1)[0]
                    proxy.recorder.add(Call(f"k8s {self.command} {path}", started, time.perf_counter()))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def start(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True, name="latency-proxy").start()
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()


def botocore_hooks(recorder: Recorder) -> list[tuple[str, Callable[..., None]]]:
    """``before-call`` stamps the start in the call's own context dict; ``after-call`` records the call."""

    def before(model: Any = None, context: Any = None, **_: Any) -> None:
        if context is not None:
            context["bench_started"] = time.perf_counter()

    def after(model: Any = None, context: Any = None, **_: Any) -> None:
        started = (context or {}).get("bench_started")
        if started is not None and model is not None:
            service = model.service_model.endpoint_prefix
            recorder.add(Call(f"{service}.{model.name}", started, time.perf_counter()))

    return [("before-call.*.*", before), ("after-call.*.*", after)]


def screenshot_as_aws(delay: float) -> tuple[str, Callable[..., Any]]:
    """moto lacks ``GetConsoleScreenshot`` (HTTP 500, which the retry layer retries with backoff for seconds);
    answer it as AWS does for an instance type without screenshots, after the same delay as any call."""
    from botocore.awsrequest import AWSResponse

    class _Raw:
        def stream(self, **_: Any) -> Any:
            yield (b"<Response><Errors><Error><Code>UnsupportedOperation</Code><Message>This instance type does "
                   b"not support console screenshots.</Message></Error></Errors><RequestID>x</RequestID></Response>")

    def answer(request: Any, **_: Any) -> Any:
        time.sleep(delay)
        return AWSResponse(request.url, 400, {}, _Raw())

    return ("before-send.ec2.GetConsoleScreenshot", answer)


# ---------------------------------------------------------------------------------------------- analysis
def round_trips(calls: list[Call], until: Call) -> int:
    """Longest chain of calls ending with ``until``; b follows a when b started after a ended."""
    ordered = sorted((c for c in calls if c.start <= until.start), key=lambda c: c.start)
    depth: dict[int, int] = {}
    for i, call in enumerate(ordered):
        before = [depth[j] for j in range(i) if ordered[j].end <= call.start]
        depth[i] = 1 + max(before, default=0)
    return next(depth[i] for i, c in enumerate(ordered) if c is until)


def chain(calls: list[Call], until: Call) -> list[list[str]]:
    """The calls before ``until`` grouped by their depth: what ran together, round by round."""
    ordered = sorted((c for c in calls if c.start <= until.start), key=lambda c: c.start)
    depth: dict[int, int] = {}
    for i, call in enumerate(ordered):
        depth[i] = 1 + max((depth[j] for j in range(i) if ordered[j].end <= call.start), default=0)
    rounds: dict[int, list[str]] = {}
    for i, call in enumerate(ordered):
        rounds.setdefault(depth[i], []).append(call.name.replace("k8s ", "k8s:"))
    return [rounds[k] for k in sorted(rounds)]


# ---------------------------------------------------------------------------------------------- playbooks
@dataclass
class Case:
    playbook: str
    event: Callable[[str], dict[str, Any]]
    seed: Callable[[Any], None]
    containment: Callable[[Call], bool]  # the first containment call: the first call this matches
    limit: int
    why: str


def _home(event: dict[str, Any], finding_id: str) -> dict[str, Any]:
    """The fixture moved into responder's own account, under a new finding id (a new run each time)."""
    text = json.dumps(event)
    for account in {str(event.get("account") or ""), str((event.get("detail") or {}).get("accountId") or "")}:
        if account and account != HOME_ACCOUNT:
            text = text.replace(account, HOME_ACCOUNT)
    moved = json.loads(text)
    moved["id"] = str(uuid.uuid4())
    moved["detail"]["id"] = finding_id
    return moved


def _fixture(path: str) -> Callable[[str], dict[str, Any]]:
    data = json.loads((ROOT / path).read_text())
    return lambda finding_id: _home(data, finding_id)


def cases() -> list[Case]:
    from responder.sandbox import seed as sandbox_seed

    def seed_from(event_of: Callable[[str], dict[str, Any]]) -> Callable[[Any], None]:
        def seed(box: Any) -> None:
            from responder.findings import parse_event

            sandbox_seed(box, parse_event(event_of("seed"), "seed")[0])

        return seed

    leaked = _fixture("responder/data/samples/guardduty-iam-exfiltration.json")
    role = _fixture("tests/fixtures/guardduty/iam-instance-credential-exfiltration-eventbridge.json")
    ec2 = _fixture("tests/fixtures/guardduty/ec2-backdoor-cc-dns-eventbridge.json")
    pod = _fixture("tests/fixtures/k8s/guardduty-eks-runtime-cryptominer.json")

    def seed_pod_role(box: Any) -> None:
        """The IRSA role the double's service account names (``tests/k8s_double.py``), with an inline policy."""
        iam = box.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                 "Principal": {"Federated": f"arn:aws:iam::{HOME_ACCOUNT}:oidc-provider/oidc.eks.example/id/EX"}}]}
        iam.create_role(RoleName="web-irsa", Path="/payments/", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName="web-irsa", PolicyName="app", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))

    return [
        Case("iam-credential-compromise", leaked, seed_from(leaked), lambda c: c.name == "iam.UpdateAccessKey", 4,
             "key owner (1) → user evidence (1) → inline policy documents and other keys' last use (1) → "
             "UpdateAccessKey (1); GetCallerIdentity overlaps the first"),
        Case("iam-role-session-compromise", role, seed_from(role), lambda c: c.name == "iam.PutRolePolicy", 3,
             "role evidence (1) → inline policy documents (1) → PutRolePolicy (1); the revocation's own reads "
             "may overlap the evidence"),
        Case("ec2-instance-compromise", ec2, seed_from(ec2), lambda c: c.name == "ec2.ModifyInstanceAttribute", 3,
             "instance evidence incl. volume ids (1) → group rules, profile, target health ‖ CreateSnapshot (1) → "
             "ModifyInstanceAttribute (1); a snapshot is point-in-time when created, its completion is not "
             "needed before termination protection"),
        Case("k8s-pod-compromise", pod, seed_pod_role, lambda c: c.name.startswith("k8s PATCH") and "/pods/" in c.name,
             3, "pod (1) → logs, events, node, service account, bindings, policies (1) → label PATCH (1); the "
             "IRSA role's evidence gates only its own revocation"),
    ]


# ---------------------------------------------------------------------------------------------- running
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--show-rounds", action="store_true", help="print which calls ran in each round")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case; the table shows medians")
    args = parser.parse_args()

    import logging

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto's tracebacks for operations it lacks
    import requests
    from moto.server import ThreadedMotoServer

    delay = args.delay_ms / 1000
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    recorder = Recorder()
    aws_proxy = DelayProxy(moto_url, delay)
    aws_url = aws_proxy.start()

    from responder.sandbox.k8s import KubeState, running_double
    from tests.k8s_double import CLUSTER, seed_pod

    home = Path(tempfile.mkdtemp(prefix="responder-ttc-"))
    _playbooks_copy(home)
    os.environ.update(AWS_ENDPOINT_URL=aws_url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull,
                      AWS_SHARED_CREDENTIALS_FILE=os.devnull, RESPONDER_HOME=str(home / "state"),
                      RESPONDER_PLAYBOOKS=str(home / "playbooks"))
    for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(key, None)

    from responder import lambda_handler
    from responder.aws import sessions
    from responder.sandbox import Sandbox

    box = Sandbox(endpoint=moto_url, account_id=HOME_ACCOUNT, region="us-east-1")  # seeding skips the delay
    rows: list[dict[str, Any]] = []
    with running_double() as kube:
        k8s_proxy = DelayProxy(kube.url, delay, recorder)
        os.environ["RESPONDER_K8S_CLUSTERS"] = json.dumps({CLUSTER: {"host": k8s_proxy.start()}})
        plan = [(c, m, p, k) for c in cases() for m, p in (("before", "1"), ("after", "")) for k in ("cold", "warm")]
        for _attempt in range(args.repeat):
            for case, mode, pool, container in plan:
                requests.post(f"{moto_url}/moto-api/reset", timeout=10)
                kube.state = KubeState()
                seed_pod(kube)
                case.seed(box)
                if pool:
                    os.environ[POOL_ENV] = pool
                else:
                    os.environ.pop(POOL_ENV, None)
                if container == "cold":  # a new container: no engine, no session, no identity
                    lambda_handler.reset()
                    sessions._SESSIONS.clear()
                wired = lambda_handler._wired()
                access = wired["engine"].connectors.get("aws")
                if not access.hooks:
                    access.hooks.extend([*botocore_hooks(recorder), screenshot_as_aws(delay)])
                if container == "warm":
                    access.home_identity()  # what an earlier run of this container already asked
                recorder.clear()
                finding_id = f"ttc-{case.playbook}-{mode}-{container}-{uuid.uuid4().hex[:8]}"
                received = time.perf_counter()
                answer = lambda_handler.on_event(case.event(finding_id))
                rows.append(_row(case, mode, container, received, list(recorder.calls), answer, wired))
        k8s_proxy.stop()
    aws_proxy.stop()
    server.stop()
    shutil.rmtree(home, ignore_errors=True)
    _print(_medians(rows), args)


def _medians(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (playbook, mode, container): the median of each figure over the repeats."""
    import statistics

    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["playbook"], row["mode"], row["container"]), []).append(row)
    out = []
    for group in grouped.values():
        merged = dict(group[0])
        for key in ("calls_before", "round_trips", "ms_to_contain", "runs_time_to_contain_ms"):
            values = [r[key] for r in group if r[key] is not None]
            merged[key] = round(statistics.median(values)) if values else None
        merged["repeats"] = len(group)
        out.append(merged)
    return out


def _row(case: Case, mode: str, container: str, received: float, calls: list[Call], answer: dict[str, Any],
         wired: dict[str, Any]) -> dict[str, Any]:
    first = next((c for c in sorted(calls, key=lambda c: c.start) if case.containment(c)), None)
    result = (answer.get("results") or [{}])[0]
    run = wired["engine"].store.get_run(result.get("run_id") or "") if result.get("run_id") else None
    milestones = dict(run.milestones) if run else {}
    row: dict[str, Any] = {"playbook": case.playbook, "mode": mode, "container": container, "limit": case.limit,
                           "status": result.get("status"), "calls_before": None, "round_trips": None,
                           "ms_to_contain": None, "runs_time_to_contain_ms": _ms_between(milestones)}
    if first is not None:
        row.update(calls_before=sum(1 for c in calls if c.start < first.start),
                   round_trips=round_trips(calls, first), ms_to_contain=round((first.start - received) * 1000),
                   rounds=chain(calls, first))
    return row


def _ms_between(milestones: dict[str, str]) -> int | None:
    from datetime import datetime

    if not milestones.get("received") or not milestones.get("contained"):
        return None
    start = datetime.fromisoformat(milestones["received"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(milestones["contained"].replace("Z", "+00:00"))
    return round((end - start).total_seconds() * 1000)


def _playbooks_copy(home: Path) -> None:
    """Only the four measured playbooks (and their runbooks), so a playbook being written elsewhere cannot
    stop the measurement."""
    (home / "playbooks").mkdir(parents=True)
    (home / "runbooks").mkdir()
    for case in ("iam-credential-compromise", "iam-role-session-compromise", "ec2-instance-compromise",
                 "k8s-pod-compromise"):
        shutil.copy(ROOT / "playbooks" / f"{case}.yaml", home / "playbooks")
        shutil.copy(ROOT / "runbooks" / f"{case}.md", home / "runbooks")


def _print(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps({"delay_ms": args.delay_ms, "rows": rows}, indent=2))
        return
    print(f"time to contain behind a {args.delay_ms:g} ms latency proxy (receipt → first containment call)")
    print("before = RESPONDER_READ_CONCURRENCY=1 (reads one after another); after = default pool")
    print("'runs' = the run record's received → contained milestone (all containment steps done)")
    print(f"medians of {args.repeat} run(s) each; cold = a new container (identity not known yet), "
          "warm = a later run in it\n")
    head = f"{'playbook':30} {'container':9} {'limit':>5}  {'round trips':>17}  {'calls':>11}  " \
           f"{'ms to contain':>15}  {'runs ms':>13}  target"
    print(head)
    print("-" * len(head))
    by_key = {(r["playbook"], r["mode"], r["container"]): r for r in rows}
    for playbook in dict.fromkeys(r["playbook"] for r in rows):
        for container in ("cold", "warm"):
            b, a = by_key[(playbook, "before", container)], by_key[(playbook, "after", container)]
            target = 4 if playbook == "iam-credential-compromise" else a["limit"] + 1
            met = "met" if a["round_trips"] is not None and a["round_trips"] <= target else "NOT met"
            print(f"{playbook:30} {container:9} {a['limit']:>5}  {_pair(b, a, 'round_trips'):>17}  "
                  f"{_pair(b, a, 'calls_before'):>11}  {_pair(b, a, 'ms_to_contain'):>15}  "
                  f"{_pair(b, a, 'runs_time_to_contain_ms'):>13}  ≤{target} {met}")
    print()
    for case in cases():
        print(f"limit {case.limit} — {case.playbook}: {case.why}")
    if args.show_rounds:
        for r in rows:
            if r["mode"] == "after" and r.get("rounds"):
                print(f"\n{r['playbook']} ({r['container']}, after): rounds before and including containment")
                for i, names in enumerate(r["rounds"], 1):
                    print(f"  {i:2}. {', '.join(sorted(names))}")


def _pair(before: dict[str, Any], after: dict[str, Any], key: str) -> str:
    def show(v: Any) -> str:
        return "-" if v is None else str(v)

    return f"{show(before[key])} → {show(after[key])}"


if __name__ == "__main__":
    main()
