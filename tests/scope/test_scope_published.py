"""Scope over real published logs, read in place from ../shared/datasets/logs (see its SOURCES.md):

- Story B: OTRF Security-Datasets SDAWS-200914011940 (CloudGoat cloud_breach_s3), re-packaged CloudTrail.
- Story C: flaws2.cloud defender-track CloudTrail, byte-identical files.
- Format coverage: AWS CloudTrail and VPC User Guide examples (digest, Insights, sign-in; flow-log formats).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from responder.cli.scope import register
from responder.scope import investigate, open_backend, subject_for_key, subject_for_principal
from responder.scope import questions as Q
from responder.scope.pivots import resolve, subject_values
from responder.scope.subject import Subject, Window
from tests.conftest import DATASETS_ABSENT, DATASETS_PRESENT
from tests.scope.conftest import LOGS, PUBLISHED_CT, PUBLISHED_FLOW

pytestmark = pytest.mark.skipif(not DATASETS_PRESENT, reason=DATASETS_ABSENT)  # the corpus tier

STORY_B_KEY = "ASIA5FLZVX4OPVKKVBMX"
STORY_B_SESSION = (
    "arn:aws:sts::123456789123:assumed-role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0/i-0317f6c6b66ae9c40"
)
PEDRO = "arn:aws:iam::123456789123:user/pedro"
EVERYTHING = Window(until=datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture
def backend(cache_dir: Path):
    with open_backend("local", cloudtrail=PUBLISHED_CT, flow_logs=PUBLISHED_FLOW, cache_dir=cache_dir) as b:
        yield b


def _timeline(backend, subject: Subject) -> list[dict]:
    res = resolve(backend, subject, EVERYTHING)
    return backend.run(Q.TIMELINE, subject_values(res, EVERYTHING))


def test_story_b_exactly_the_eleven_attacker_records_through_the_asia_key(backend) -> None:
    rows = _timeline(backend, subject_for_key(STORY_B_KEY))
    assert len(rows) == 11
    assert {r["access_key_id"] for r in rows} == {STORY_B_KEY}
    assert all(r["principal_arn"] == STORY_B_SESSION for r in rows)
    assert not [r for r in rows if r["principal_arn"] == PEDRO]
    assert rows[0]["event_time"] == datetime(2020, 9, 14, 1, 0, 4)
    assert rows[-1]["event_time"] == datetime(2020, 9, 14, 1, 13, 20)


def test_story_b_report_names_what_was_done_and_taken(backend) -> None:
    report = investigate(backend, subject_for_key(STORY_B_KEY), EVERYTHING)
    calls = {a.event_name: a.count for a in report.api_calls}
    assert calls == {"ListBuckets": 2, "ListObjects": 7, "GetObject": 2}
    assert report.events == 11 and report.errors == 0
    assert report.objects_read == ["mordors3stack-s3bucket-llp2yingx64a/ring.txt"]
    assert report.bytes_read == 178  # 89 bytes, read twice (a float in the published data)
    assert report.buckets == ["mordors3stack-s3bucket-llp2yingx64a"]
    assert report.persistence == []
    assert [s.ip for s in report.source_ips] == ["1.2.3.4"]
    # the key is resolved to the instance-role session that issued it
    seed = report.pivots[0]
    assert seed["pivot"] == "seed" and seed["issued_by"] == "ec2.amazonaws.com"
    assert seed["role_arn"].endswith(":role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0")


def test_story_b_by_the_role_session_arn_gives_the_same_records(backend) -> None:
    rows = _timeline(backend, subject_for_principal(STORY_B_SESSION))
    assert len(rows) == 11 and {r["access_key_id"] for r in rows} == {STORY_B_KEY}


def test_story_c_stolen_level1_key_from_two_addresses(backend) -> None:
    report = investigate(backend, subject_for_key("ASIAZQNB3KHGIGYQXVVG"), EVERYTHING)
    ips = {s.ip: s.count for s in report.source_ips}
    assert ips == {"104.102.221.250": 4, "34.234.236.212": 5}  # the attacker, and the Lambda itself
    calls = {(a.event_source, a.event_name): (a.count, a.errors) for a in report.api_calls}
    assert calls[("logs.amazonaws.com", "CreateLogStream")] == (5, 5)
    assert calls[("ecr.amazonaws.com", "GetDownloadUrlForLayer")] == (1, 0)
    assert calls[("ecr.amazonaws.com", "BatchGetImage")] == (1, 0)
    assert calls[("ecr.amazonaws.com", "ListImages")] == (1, 0)
    assert calls[("s3.amazonaws.com", "ListObjects")] == (1, 0)
    kinds = {(r.kind, r.id) for r in report.resources}
    assert ("ecr_repository", "level2") in kinds and ("s3_bucket", "level1.flaws2.cloud") in kinds
    seed = report.pivots[0]
    assert seed["issued_by"] == "lambda.amazonaws.com" and seed["role_arn"].endswith("role/service-role/level1")


def test_story_c_level3_key_and_the_attacker_ip_answer_key(backend) -> None:
    report = investigate(backend, subject_for_key("ASIAZQNB3KHGNXWXBSJS"), EVERYTHING)
    assert [(a.event_name, a.count) for a in report.api_calls] == [("ListBuckets", 1)]
    assert report.pivots[0]["issued_by"] == "ecs-tasks.amazonaws.com"
    # the finding's actor IP: 27 records whoever signed them, 22 of them anonymous S3 reads
    subject = Subject(
        kind="finding", access_key_ids=("ASIAZQNB3KHGIGYQXVVG", "ASIAZQNB3KHGNXWXBSJS"), actor_ips=("104.102.221.250",)
    )
    report = investigate(backend, subject, EVERYTHING)
    assert report.events == 10
    assert sum(r["count"] for r in report.actor_activity) == 27
    anonymous = [r for r in report.actor_activity if r["identity_type"] == "AWSAccount"]
    assert sum(r["count"] for r in anonymous) == 22
    assert sum(r["count"] for r in anonymous if r["error_code"] == "NoSuchKey") == 2


def test_digest_and_insights_files_are_skipped_and_every_quirk_parses(backend) -> None:
    backend.run(Q.COUNTS, {**subject_values(resolve(backend, subject_for_key(STORY_B_KEY), EVERYTHING), EVERYTHING)})
    total = backend.sql("SELECT count(*) AS n, count(event_time) AS timed FROM ct")
    # 103 (B) + 37 (C) + 10 sign-in examples + 6 doc examples; no digest, no Insights record
    assert int(total["n"][0]) == 156 and int(total["timed"][0]) == 156
    root = backend.sql("SELECT access_key_id, user_name FROM ct WHERE identity_type = 'Root' LIMIT 1")
    assert len(root) == 1


def test_published_flow_logs_every_format(backend) -> None:
    values = {
        "since_day": "1970/01/01",
        "until_day": "2100/01/01",
        "since": datetime(1970, 1, 1),
        "until": datetime(2100, 1, 1),
        "enis": [],
        "local_ips": [],
        "actor_ips": ["10.0.1.5"],
        "ips": [],
    }
    backend.run(Q.ACTOR_FLOWS, values)
    rows = backend.sql(
        "SELECT log_status, count(*) AS n, count(start_time) AS timed, count(srcaddr) AS addr "
        "FROM flow GROUP BY log_status ORDER BY log_status"
    )
    by_status = {r.log_status: (r.n, r.timed, r.addr) for r in rows.itertuples()}
    assert by_status["NODATA"][2] == 0 and by_status["SKIPDATA"][2] == 0
    total = int(rows["n"].sum())
    assert total == 25  # every record line of the eleven files, headers excluded
    untimed = backend.sql("SELECT count(*) AS n FROM flow WHERE start_time IS NULL AND srcaddr IS NOT NULL")
    assert int(untimed["n"][0]) == 8  # NAT and transit-gateway formats carry no start/end
    v5 = backend.sql("SELECT flow_direction, traffic_path FROM flow WHERE flow_direction IS NOT NULL")
    assert set(v5["flow_direction"]) <= {"ingress", "egress"} and len(v5) == 2


def test_cli_json_answers_on_published_cloudtrail(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(
        app,
        [
            "scope",
            "--access-key",
            STORY_B_KEY,
            "--cloudtrail",
            str(PUBLISHED_CT),
            "--flow-logs",
            str(LOGS / "flowlogs"),
            "--since",
            "2020-09-14T00:00:00Z",
            "--until",
            "2020-09-15",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["events"] == 11 and body["keys"] == [STORY_B_KEY]
    assert body["window"] == {"since": "2020-09-14T00:00:00Z", "until": "2020-09-15T00:00:00Z"}
    assert {"event_source", "event_name", "count", "errors"} <= set(body["api_calls"][0])
    assert body["regions"] == ["us-east-1"]
    assert body["source_ips"][0]["ip"] == "1.2.3.4" and body["source_ips"][0]["user_agents"]
    assert {"kind", "id", "actions", "count"} <= set(body["resources"][0])
    assert body["persistence"] == [] and body["egress"] == []
