"""The Athena path: same questions, same parameters; through pyathena's cursor against moto's Athena."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import boto3
import pytest
import requests

from responder.errors import BadInput
from responder.scope import questions as Q
from responder.scope.athena import AthenaBackend
from responder.scope.ddl import print_ddl
from responder.scope.pivots import base_values
from responder.scope.sql import athena_literal, bind
from responder.scope.subject import Window

WINDOW = Window(since=datetime(2020, 9, 14, tzinfo=UTC), until=datetime(2020, 9, 15, tzinfo=UTC))
HOSTILE = "' OR 1=1 --"


def _values() -> dict:
    return {
        **base_values(WINDOW),
        "keys": ["ASIA5FLZVX4OPVKKVBMX", HOSTILE],
        "principals": ["arn:aws:iam::1:user/ü'"],
        "roles": [],
        "users": ["arn:aws:iam::1:user/x"],
        "ips": ["1.2.3.4"],
        "enis": ["eni-1"],
        "local_ips": [],
        "actor_ips": ["1.2.3.4", "5.6.7.8"],
        "names": ["CreateUser", HOSTILE],
        "buckets": ["b", HOSTILE],
    }


@pytest.mark.parametrize("question", Q.ALL, ids=[q.name for q in Q.ALL])
def test_every_question_binds_the_same_parameters_in_both_dialects(question) -> None:
    values = _values()
    duck_sql, duck_params = bind(question.sql, values)
    athena_sql, athena_params = AthenaBackend(None).statement(question, values)
    assert duck_sql.count("?") == len(duck_params)
    assert athena_sql.count("?") == len(athena_params) == len(duck_params)
    assert athena_params == [athena_literal(v) for v in duck_params]
    for text in (duck_sql, athena_sql):
        assert HOSTILE not in text and "ü'" not in text  # values never reach the text
    assert "JSON_EXTRACT_SCALAR" in athena_sql or "json_extract_string" not in question.sql
    assert not re.search(r"\$[a-z_]+", athena_sql.split("\n", 1)[1])  # no placeholder left unbound


def test_literals_stay_one_literal() -> None:
    assert athena_literal(HOSTILE) == "''' OR 1=1 --'"
    assert athena_literal("a'b''c") == "'a''b''''c'"
    assert athena_literal(datetime(2020, 9, 14, 1, 2, 3)) == "TIMESTAMP '2020-09-14 01:02:03.000'"
    assert athena_literal(None) == "NULL" and athena_literal(3) == "3"


def test_empty_lists_bind_as_null_not_as_broken_sql() -> None:
    sql, params = bind("SELECT 1 WHERE x IN ($keys) AND y = $since", {"keys": [], "since": 1})
    assert sql == "SELECT 1 WHERE x IN (NULL) AND y = ?" and params == [1]


def test_pyathena_cursor_against_the_emulator(moto_endpoint: str) -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="athena-results")
    header = [{"VarCharValue": n} for n in ("events", "errors", "access_denied", "first_activity", "last_activity")]
    data = [{"VarCharValue": v} for v in ("11", "0", "0", "2020-09-14 01:00:04.000", "2020-09-14 01:13:20.000")]
    columns = [
        {
            "Name": n,
            "Label": n,
            "Type": t,
            "Precision": 19,
            "Scale": 0,
            "Nullable": "UNKNOWN",
            "CaseSensitive": False,
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
        }
        for n, t in (
            ("events", "bigint"),
            ("errors", "bigint"),
            ("access_denied", "bigint"),
            ("first_activity", "timestamp"),
            ("last_activity", "timestamp"),
        )
    ]
    seeded = requests.post(
        f"{moto_endpoint}/moto-api/static/athena/query-results",
        timeout=10,
        json={"results": [{"rows": [{"Data": header}, {"Data": data}], "column_info": columns}]},
    )
    assert seeded.status_code == 201
    backend = AthenaBackend.from_config(
        {
            "output": "s3://athena-results/q/",
            "region": "us-east-1",
            "endpoint_url": moto_endpoint,
            "poll": 0.05,
            "database": "security",
        }
    )
    values = _values()
    rows = backend.run(Q.COUNTS, values)
    assert rows[0]["events"] == 11
    sql, params = backend.executed[-1]
    athena = boto3.client("athena", region_name="us-east-1")
    ids = athena.list_query_executions()["QueryExecutionIds"]
    sent = athena.get_query_execution(QueryExecutionId=ids[-1])["QueryExecution"]
    assert sent["Query"] == sql and '"security"."cloudtrail_logs"' in sql
    assert sent["ExecutionParameters"] == params
    assert "''' OR 1=1 --'" in params


def test_print_ddl_for_a_bucket() -> None:
    text = print_ddl(
        cloudtrail="s3://my-trail-bucket",
        flow_logs="s3://my-flow-bucket/AWSLogs/123456789012/vpcflowlogs",
        account="123456789012",
    )
    assert "LOCATION 's3://my-trail-bucket/AWSLogs/123456789012/CloudTrail/'" in text
    assert "'projection.timestamp.format' = 'yyyy/MM/dd'" in text and "requestparameters STRING" in text
    template = "'storage.location.template' = 's3://my-flow-bucket/AWSLogs/123456789012/vpcflowlogs/${region}/${day}'"
    assert template in text
    with pytest.raises(BadInput):
        print_ddl(cloudtrail="s3://bucket';DROP", flow_logs=None, account="123456789012")
    with pytest.raises(BadInput):
        print_ddl(cloudtrail="/local/path", flow_logs=None, account=None)


def test_a_query_over_the_bytes_cutoff_fails_with_a_hint(moto_endpoint: str) -> None:
    from responder.errors import ActionFailed

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="athena-results")
    backend = AthenaBackend.from_config(
        {"output": "s3://athena-results/q/", "endpoint_url": moto_endpoint, "poll": 0.01, "bytes_cutoff": -1}
    )
    with pytest.raises(ActionFailed) as err:
        backend.run(Q.REGIONS, _values())
    assert "cutoff" in str(err.value) and err.value.hint
