"""A delivery storm: 4 processes × 20 simultaneous deliveries of the same finding, one SQLite store — exactly
one run, which contains, each effect applied once, every delivery answered, and no "database is locked".

EventBridge delivers at least once, and concurrent Lambda containers can each receive the same finding at
the same moment. Here each of 4 real processes (a warm ``responder.lambda_handler``) starts 20 threads that
wait at a barrier for one shared start time, then all call ``on_event`` with the finding's EventBridge
event; moto (over HTTP) and the Kubernetes double are shared, and so is the run store. Done for the five
original playbooks, each with its own fixture finding (``tests.scenarios``; the role-session playbook on
its stolen-session finding, which needs no person's approval).

Asserted: every process exits 0 and prints an answer for each of its 20 deliveries, all ``ok``, each with
this playbook's result in a documented status (``succeeded``/``partial``, or ``running`` with
``joined`` when another worker was executing the run) — never ``failed``; exactly one delivery created the
run; the store holds one run, ``succeeded`` or ``partial``; each containment step has exactly one
``step_applied`` entry with ``changed=True``; no process printed "database is locked".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from responder.app import build_responder
from responder.config import load_settings
from responder.engine.runner import run_id_for
from tests.helpers import engine
from tests.scenarios import Scenario, by_name, seeded, step_applied

PROCESSES, THREADS = 4, 20
READY_S, LATE_S = 10.0, 2.0  # processes import and warm up within READY_S; every delivery starts within LATE_S
STORM = [
    by_name("iam-credential-compromise"),
    by_name("iam-role-session-compromise/session"),
    by_name("ec2-instance-compromise"),
    by_name("k8s-pod-compromise"),
    by_name("s3-exposure"),
]

# One worker process: a warm Lambda container's module state, then THREADS deliveries released at once.
WORKER = r"""
import json, sys, threading, time, traceback
from responder import lambda_handler

event = json.loads(open(sys.argv[1]).read())
threads, start = int(sys.argv[2]), float(sys.argv[3])
lambda_handler._wired()  # warm: the service is built before the deliveries arrive, as in a warm container
answers = [None] * threads
barrier = threading.Barrier(threads)


def deliver(i):
    barrier.wait()
    time.sleep(max(0.0, start - time.time()))
    late = time.time() - start  # > 0 by the scheduler's delay; large if this process was not ready in time
    try:
        answers[i] = {"late": late, "answer": lambda_handler.on_event(json.loads(json.dumps(event)))}
    except BaseException as exc:
        answers[i] = {"late": late, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


workers = [threading.Thread(target=deliver, args=(i,)) for i in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(json.dumps(answers))  # no default=: every answer must already be JSON, as Lambda returns it
"""


@pytest.mark.slow
@pytest.mark.parametrize("scenario", STORM, ids=[s.name for s in STORM])
def test_storm_of_deliveries_makes_one_run_that_contains_once(
    scenario: Scenario, moto_endpoint: str, responder_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with seeded(scenario, tmp_path / "storm", monkeypatch) as w:
        env = w.child_env(moto_endpoint)
        start = time.time() + READY_S
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(w.event_path), str(THREADS), str(start)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        outputs = [(p.wait(timeout=300), *p.communicate()) for p in procs]
        run_id = run_id_for(w.finding.id, scenario.playbook)
        answers = []
        for code, out, err in outputs:
            assert code == 0, err[-2000:]
            assert "database is locked" not in err + out
            answers.extend(json.loads(out))
        assert len(answers) == PROCESSES * THREADS
        late = max(a["late"] for a in answers)
        assert late < LATE_S, f"a delivery started {late:.1f} s after the others: the storm was not simultaneous"
        errors = [a for a in answers if "error" in a]
        assert not errors, errors[0]
        results = [r for a in answers for r in a["answer"]["results"] if r["run_id"] == run_id]
        assert all(a["answer"]["ok"] for a in answers)
        assert len(results) == PROCESSES * THREADS, "a delivery did not answer for the playbook's run"
        statuses = {(r["status"], r["joined"]) for r in results}
        assert statuses <= {("succeeded", False), ("partial", False), ("running", True)}, statuses
        assert sum(r["created"] for r in results) == 1

        service = build_responder(load_settings(), engine=engine())
        runs = service.engine.store.list_runs()
        assert [r.run_id for r in runs] == [run_id]
        assert runs[0].status in ("succeeded", "partial")
        audit = service.engine.store.audit_log(run_id)
        applied = {s: [e.get("actor") for e in step_applied(audit, s)] for s in scenario.steps}
        assert {s: len(a) for s, a in applied.items()} == dict.fromkeys(scenario.steps, 1), f"applied by: {applied}"


def test_worker_answers_an_unparseable_event_without_raising(tmp_path: Path) -> None:
    """The storm's worker reports what on_event answered, errors included (the harness itself can fail)."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"detail-type": "GuardDuty Finding", "detail": "not a finding"}))
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, str(event), "2", str(time.time())],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    answers = json.loads(proc.stdout)
    assert [a["answer"]["ok"] for a in answers] == [False, False], answers
