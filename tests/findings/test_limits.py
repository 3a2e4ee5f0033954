"""Hostile sizes and shapes through the real CLI in a subprocess: every limit in responder/findings/limits.py,
hit by an event (``match``, ``plan``, ``run``) or a playbook (``validate``, ``match``, ``run``), ends in
exit 2 naming the file and what exceeded which limit — never a hang (the subprocess has a timeout) and
never a traceback. "Under a second" is measured beyond the CLI's own start-up, in CPU time (user + system)
of the child process so that a busy machine does not decide the result: each case's CPU time minus the best
of two runs of the same command refusing a missing file (also exit 2). A hang is caught by the timeout.

Inputs are composed here from the fixtures in tests/fixtures/findings (SOURCES.md there).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from responder.errors import FindingInvalid
from responder.findings import load_text, parse_event
from responder.findings.limits import (
    MAX_FINDINGS,
    MAX_INT_DIGITS,
    MAX_JSON_DEPTH,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    check_structure,
)
from tests.conftest import FIXTURES
from tests.helpers import ROOT

GUARDDUTY = FIXTURES / "findings" / "guardduty"
ASFF = FIXTURES / "findings" / "securityhub" / "asff-getfindings-all.json"
PLAYBOOK = ROOT / "playbooks" / "s3-exposure.yaml"
TIMEOUT = 60


def cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the CLI; return its result and the CPU seconds (user + system) the child used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "responder", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "400"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.fixture(scope="module")
def startup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """Per command, its start-up and refusal of a missing file: what every case pays before reading input."""
    missing = tmp_path_factory.mktemp("baseline") / "missing.json"
    out = {}
    for command in ("validate", "match", "plan", "run"):
        args = [str(missing)] if command == "validate" else [str(missing), "-p", str(PLAYBOOK)]
        times = []
        for _ in range(2):
            done, elapsed = cli(command, *args)
            assert done.returncode == 2, done.stderr[-2000:]
            times.append(elapsed)
        out[command] = min(times)
    return out


def assert_refused(done: subprocess.CompletedProcess[str], elapsed: float, startup: float, *expected: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    for text in expected:
        assert text in output, output[-2000:]
    assert elapsed - startup < 1.0, f"{elapsed:.2f} CPU s against a start-up of {startup:.2f} CPU s"


def event(name: str = "iam-user-key-maliciousipcaller") -> dict[str, Any]:
    return json.loads((GUARDDUTY / f"{name}.json").read_text())


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def write(path: Path, body: str) -> str:
    path.write_text(body, encoding="utf-8")
    return str(path)


def spliced(extra: str) -> str:
    """The event with one more key at the top of ``detail``, written as raw JSON text."""
    body = json.dumps(event())
    return body.replace('"detail": {', f'"detail": {{"x": {extra}, ', 1)


# --------------------------------------------------------------------------------------------- events
EVENT_CASES = {
    "json-nested-10000": (lambda: nested(10_000), f"nested deeper than the limit of {MAX_JSON_DEPTH} levels"),
    "json-nested-3000-in-event": (lambda: spliced(nested(3_000)), "nested deeper than the limit"),
    "json-nested-500-in-event": (lambda: spliced(nested(500)), "detail.x[0][0]"),
    "sns-message-nested-5000": (
        lambda: json.dumps({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": nested(5_000)}}]}),
        "Records[0].Sns.Message: nested deeper than the limit",
    ),
    "additional-info-nested-5000": (
        lambda: json.dumps(
            {
                **event(),
                "detail": {
                    **event()["detail"],
                    "service": {
                        **event()["detail"]["service"],
                        "additionalInfo": {"value": nested(5_000), "type": "default"},
                    },
                },
            }
        ),
        "detail.service.additionalInfo.value: nested deeper than the limit",
    ),
    "integer-5000-digits": (lambda: spliced("9" * 5_000), f"5000 digits exceeds the limit of {MAX_INT_DIGITS}"),
    "lone-surrogate": (
        lambda: json.dumps(event()).replace('"ci-deploy"', '"ci-\\ud800deploy"', 1),
        "detail.resource.accessKeyDetails.userName: holds a lone surrogate",
    ),
    "eventbridge-batch-20000": (
        lambda: json.dumps(
            {
                **json.loads((FIXTURES / "findings" / "securityhub" / "asff-ec2-backdoor-cc.json").read_text()),
                "detail": {"findings": [{"Id": f"f-{i}"} for i in range(20_000)]},
            }
        ),
        f"holds 20000 findings, more than the limit of {MAX_FINDINGS}",
    ),
    "getfindings-batch-20000": (
        lambda: json.dumps({"Findings": [{"Id": f"f-{i}"} for i in range(20_000)]}),
        f"holds 20000 findings, more than the limit of {MAX_FINDINGS}",
    ),
}


@pytest.mark.parametrize("command", ["match", "plan", "run"])
@pytest.mark.parametrize("case", sorted(EVENT_CASES))
def test_hostile_event_is_refused_at_once(case: str, command: str, tmp_path: Path, startup: dict[str, float]) -> None:
    build, expected = EVENT_CASES[case]
    path = write(tmp_path / f"{case}.json", build())
    extra = ["--dry-run"] if command == "run" else []
    done, elapsed = cli(command, path, "-p", str(PLAYBOOK), *extra)
    assert_refused(done, elapsed, startup[command], f"{case}.json", expected)


def test_a_large_batch_within_the_limit_is_processed(tmp_path: Path) -> None:
    findings = json.loads(ASFF.read_text())["Findings"]
    batch = [dict(findings[i % len(findings)], Id=f"finding-{i}") for i in range(2_000)]
    path = write(tmp_path / "batch.json", json.dumps({"Findings": batch}))
    done, _ = cli("match", path, "-p", str(PLAYBOOK), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout)
    s3_findings = sum(
        1 for i in range(2_000) if findings[i % len(findings)]["Types"][0].split("/")[-1].find(":S3-") > 0
    )
    assert len(rows) == 2_000 and sum(bool(r["playbooks"]) for r in rows) == s3_findings


def test_the_lambda_path_is_held_to_the_same_limits() -> None:
    deep: Any = []
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = [deep]
    doc = event()
    doc["detail"]["x"] = deep
    with pytest.raises(FindingInvalid, match="nested deeper"):
        parse_event(doc, "lambda-event")
    doc = event()
    doc["detail"]["count"] = 10**200
    with pytest.raises(FindingInvalid, match="digits exceeds the limit"):
        parse_event(doc, "lambda-event")
    with pytest.raises(FindingInvalid, match="more than the limit"):
        parse_event({"Findings": [{}] * (MAX_FINDINGS + 1)}, "lambda-event")


def test_structure_check_allows_what_aws_publishes_up_to_the_batch_limit() -> None:
    for path in GUARDDUTY.glob("*.json"):
        check_structure(json.loads(path.read_text()), path.name)  # no exception
    check_structure({"Findings": [event()["detail"] for _ in range(MAX_FINDINGS)]}, "wide.json")


# ------------------------------------------------------------------------------------------ playbooks
def laughs() -> str:
    body = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        body += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    return body


def huge_anchor() -> str:
    items = ",".join(['"xxxxxxxx"'] * 2_000)
    return f"id: p\nbig: &big [{items}]\nuse: [" + ",".join(["*big"] * 50) + "]\n"


PLAYBOOK_CASES = {
    "billion-laughs": (laughs, f"more than {MAX_YAML_NODES} YAML nodes once aliases are expanded"),
    "huge-anchor": (huge_anchor, f"more than {MAX_YAML_NODES} YAML nodes once aliases are expanded"),
    "recursive-alias": (lambda: "id: p\na: &a [*a]\n", "recursive alias"),
    "recursive-alias-mapping": (lambda: "id: p\na: &a {b: *a}\n", "recursive alias"),
    "flow-nested-10000": (
        lambda: "id: p\na: " + nested(10_000) + "\n",
        f"nested deeper than the limit of {MAX_YAML_DEPTH}",
    ),
    "flow-nested-3000-mappings": (
        lambda: "id: p\na: " + "{k: " * 3_000 + "1" + "}" * 3_000 + "\n",
        "nested deeper than the limit",
    ),
    "block-nested-1000": (
        lambda: "".join(" " * i + f"k{i}:\n" for i in range(1_000)) + " " * 1_000 + "v\n",
        "nested deeper than the limit",
    ),
    "flow-nested-200": (lambda: "id: p\na: " + nested(200) + "\n", "nested deeper than the limit"),
    "many-nodes": (lambda: "id: p\na: [" + ",".join(["1"] * 100_000) + "]\n", f"more than {MAX_YAML_NODES} YAML nodes"),
    "integer-5000-digits": (lambda: "id: p\nversion: " + "9" * 5_000 + "\n", f"more than {MAX_INT_DIGITS} digits"),
}


@pytest.mark.parametrize("command", ["validate", "match", "run"])
@pytest.mark.parametrize("case", sorted(PLAYBOOK_CASES))
def test_hostile_playbook_is_refused_at_once(
    case: str, command: str, tmp_path: Path, startup: dict[str, float]
) -> None:
    build, expected = PLAYBOOK_CASES[case]
    path = write(tmp_path / f"{case}.yaml", build())
    args = [path] if command == "validate" else [str(GUARDDUTY / "ec2-backdoor-cc.json"), "-p", path]
    if command == "run":
        args.append("--dry-run")
    done, elapsed = cli(command, *args)
    assert_refused(done, elapsed, startup[command], f"{case}.yaml", expected)


def test_a_lone_surrogate_in_a_playbook_is_refused(tmp_path: Path, startup: dict[str, float]) -> None:
    path = write(tmp_path / "surrogate.yaml", 'id: "p-\\ud800"\n')
    done, elapsed = cli("validate", path)
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output and "surrogate.yaml:1" in output
    assert "Unicode" in output or "surrogate" in output
    assert elapsed - startup["validate"] < 1.0


def test_shipped_playbooks_are_far_inside_the_limits() -> None:
    from responder.playbook.loader import load_source

    for path in sorted((ROOT / "playbooks").glob("*.yaml")):
        _, problems = load_source(path)
        assert not [p for p in problems if "limit" in p.message], problems


@pytest.mark.parametrize(
    ("number", "expected"),
    [("1e999", "beyond the range of a float"), ("NaN", "NaN is not a JSON number"), ("-Infinity", "not a JSON number")],
)
def test_numbers_that_are_not_finite_are_refused(number: str, expected: str) -> None:
    body = json.dumps(event()).replace('"count": 2', f'"count": {number}')
    with pytest.raises(FindingInvalid, match=expected):
        load_text(body, "numbers.json")


def test_number_fields_in_text_that_are_not_finite_are_absent_or_named() -> None:
    doc = event()
    doc["detail"]["service"]["count"] = "1e999"
    (finding,) = parse_event(doc, "text-numbers.json")
    assert finding.count == 1
    doc["detail"]["severity"] = "NaN"
    with pytest.raises(FindingInvalid, match=r"detail\.severity: not a number"):
        parse_event(doc, "text-numbers.json")


def test_findings_split_over_sns_records_count_together() -> None:
    half = {"Findings": [{"Id": f"f-{i}"} for i in range(MAX_FINDINGS // 2 + 1)]}
    sns = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(half)}} for _ in range(2)]}
    with pytest.raises(FindingInvalid, match=f"holds {2 * (MAX_FINDINGS // 2 + 1)} findings"):
        parse_event(sns, "sns.json")
