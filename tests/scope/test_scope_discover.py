"""Scope with no configuration: the trail and flow logs are found in the account (moto over HTTP), only the
window's day folders are fetched, and the report says what it read. Log files are the generated story in the
key layouts CloudTrail and VPC Flow Logs write to S3 (see responder/samples)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from responder.actions.base import Connectors, StepContext
from responder.actions.scope import Investigate, InvestigateInput
from responder.aws.sessions import AwsAccess
from responder.clock import FixedClock
from responder.config import load_settings
from responder.errors import Refused
from responder.evidence.local import LocalLocker
from responder.findings.model import AccessKey, Actor, Finding, Source
from responder.samples import StoryParams, generate
from responder.scope.discover import discover, records_from_lookup
from responder.scope.subject import Window

ACCOUNT = "123456789012"  # moto's default account: the finding's account
STORY = StoryParams(
    account_id=ACCOUNT,
    access_key_id="AKIAIOSFODNN7EXAMPLE",
    user_name="jenkins",
    attacker_ip="198.51.100.77",
    start=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
)
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory):
    return generate(tmp_path_factory.mktemp("logs"), 4_000, story=STORY)


def _finding() -> Finding:
    return Finding(
        id="leaked-key-1",
        source=Source.GUARDDUTY,
        severity=8.0,
        account_id=ACCOUNT,
        region="us-east-1",
        type="UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        first_seen=datetime(2026, 3, 1, 9, 35, tzinfo=UTC),
        resource=AccessKey(access_key_id=STORY.access_key_id, user_name="jenkins"),
        actor=Actor(ip=STORY.attacker_ip),
    )


def _ctx(tmp_path: Path) -> StepContext:
    settings = load_settings().model_copy(update={"scope": {}})
    return StepContext(
        run_id="run-1",
        step_id="scope",
        playbook_id="iam-credential-compromise",
        finding=_finding(),
        clock=FixedClock(NOW),
        evidence=LocalLocker(tmp_path / "evidence"),
        settings=settings,
        connectors=Connectors(aws=AwsAccess(load_settings().aws)),
    )


def _upload(s3, bucket: str, prefix: str, root: Path) -> list[str]:
    keys = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(root).as_posix()}".lstrip("/")
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


@pytest.fixture
def account(moto_endpoint: str, logs, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A trail writing to a bucket, a VPC flow log writing to another, both holding the story's files."""
    monkeypatch.delenv("RESPONDER_CLOUDTRAIL", raising=False)
    monkeypatch.delenv("RESPONDER_FLOW_LOGS", raising=False)
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in ("org-trail-logs", "vpc-flow-logs"):
        s3.create_bucket(Bucket=bucket)
    ct = boto3.client("cloudtrail", region_name="us-east-1")
    ct.create_trail(Name="org-trail", S3BucketName="org-trail-logs", S3KeyPrefix="trails", IsMultiRegionTrail=True)
    ct.start_logging(Name="org-trail")
    keys = _upload(s3, "org-trail-logs", "trails", logs.cloudtrail_dir)
    # a day far outside the window: must never be fetched
    old = f"trails/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2025/10/01/{ACCOUNT}_CloudTrail_us-east-1_old.json.gz"
    s3.put_object(
        Bucket="org-trail-logs", Key=old, Body=(logs.cloudtrail_dir / Path(keys[0]).relative_to("trails")).read_bytes()
    )
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::vpc-flow-logs",
    )  # moto: a prefix here fails
    _upload(s3, "vpc-flow-logs", "", logs.flow_logs_dir)
    return {"old_key": old, "trail_keys": keys}


def test_no_configuration_finds_the_trail_and_the_attackers_pivot(tmp_path: Path, logs, account: dict) -> None:
    ctx = _ctx(tmp_path)
    action, inp = Investigate(), InvestigateInput()
    assert "discovered" in action.plan(ctx, inp).summary
    outcome = action.apply(ctx, inp)
    out = Investigate.Output.model_validate(outcome.output)
    role_key = next(k for k, v in logs.keys.items() if v.startswith("AssumeRole"))
    assert role_key in out.keys and any(
        p["pivot"] == "AssumeRole" and p["role_arn"] == logs.role_arn for p in out.pivots
    )
    assert out.events == len(logs.story_event_ids)
    trail = next(s for s in out.sources if s["kind"] == "cloudtrail")
    assert trail["read"] and trail["location"] == "s3://org-trail-logs/trails"
    assert trail["details"]["trail"].endswith(":trail/org-trail") and trail["details"]["is_logging"] is True
    assert any(s["kind"] == "flow_logs" and s["read"] and s["location"] == "s3://vpc-flow-logs" for s in out.sources)
    fetched = {p.name for p in (ctx.settings.cache_dir / "discovered").rglob("*.json.gz")}
    assert Path(account["old_key"]).name not in fetched  # outside the window's day folders
    assert not any("CloudTrail-Digest" in name for name in fetched)
    assert {t["tactic"] for t in out.techniques} >= {"persistence", "exfiltration", "collection"}
    assert [e["account_id"] for e in out.external_accounts] == logs.external_accounts
    report = json.loads(ctx.evidence.read("run-1", out.report_artifact))
    assert report["sources"][0]["read"] is True


def test_a_second_sync_fetches_nothing_again(tmp_path: Path, logs, account: dict) -> None:
    ctx = _ctx(tmp_path)
    calls: list[str] = []

    def clients(service: str, region: str | None = None):
        client = ctx.aws(service, region=region)
        client.meta.events.register("before-call.s3.GetObject", lambda **kw: calls.append("get"))
        return client

    window = Window(since=datetime(2026, 3, 1, 9, tzinfo=UTC), until=NOW)
    first = discover(clients, account=ACCOUNT, region="us-east-1", window=window, cache_dir=tmp_path / "c", now=NOW)
    fetched = len(calls)
    assert fetched and first.cloudtrail is not None
    again = discover(clients, account=ACCOUNT, region="us-east-1", window=window, cache_dir=tmp_path / "c", now=NOW)
    assert len(calls) == fetched  # every file already local with its size: resumable, nothing re-read
    assert [s.files for s in again.sources] == [s.files for s in first.sources]


def test_a_size_bound_stops_the_fetch_and_says_so(tmp_path: Path, logs, account: dict) -> None:
    ctx = _ctx(tmp_path)
    window = Window(since=datetime(2026, 3, 1, 9, tzinfo=UTC), until=NOW)
    found = discover(
        lambda service, region=None: ctx.aws(service, region=region),
        account=ACCOUNT,
        region="us-east-1",
        window=window,
        cache_dir=tmp_path / "c",
        max_bytes=20_000,
        now=NOW,
    )
    trail = next(s for s in found.sources if s.kind == "cloudtrail")
    assert trail.bytes <= 20_000 and "size bound" in (trail.why or "")


def test_no_trail_falls_back_to_lookup_events_and_the_step_fails_with_the_reason(
    tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto does not implement LookupEvents (HTTP 500): the fallback's failure must be reported, not hidden
    monkeypatch.delenv("RESPONDER_CLOUDTRAIL", raising=False)
    ctx = _ctx(tmp_path)
    with pytest.raises(Refused) as err:
        Investigate().apply(ctx, InvestigateInput())
    text = str(err.value)
    assert "no trail in 123456789012 us-east-1" in text and "LookupEvents failed" in text


def test_lookup_events_records_become_cloudtrail_records() -> None:
    """The documented LookupEvents response shape: ``CloudTrailEvent`` holds the record as JSON text."""
    record = {
        "eventVersion": "1.08",
        "eventTime": "2026-03-01T09:40:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateAccessKey",
        "awsRegion": "us-east-1",
        "eventID": "e-1",
        "userIdentity": {"type": "IAMUser", "accessKeyId": STORY.access_key_id},
        "requestParameters": {"userName": "svc"},
    }
    page = {
        "Events": [
            {
                "EventId": "e-1",
                "EventName": "CreateAccessKey",
                "ReadOnly": "false",
                "AccessKeyId": STORY.access_key_id,
                "EventTime": datetime(2026, 3, 1, 9, 40, tzinfo=UTC),
                "EventSource": "iam.amazonaws.com",
                "Username": "jenkins",
                "Resources": [{"ResourceType": "AWS::IAM::User", "ResourceName": "svc"}],
                "CloudTrailEvent": json.dumps(record),
            },
            {
                "EventId": "e-2",
                "EventName": "ConsoleLogin",
                "EventTime": datetime(2026, 3, 1, 9, 41, tzinfo=UTC),
                "EventSource": "signin.amazonaws.com",
                "Username": "jenkins",
                "CloudTrailEvent": None,
            },
        ]
    }
    records = records_from_lookup(page["Events"])
    assert records[0] == record
    assert records[1]["eventName"] == "ConsoleLogin" and records[1]["eventTime"] == "2026-03-01T09:41:00Z"


def test_athena_creates_its_projected_table_over_the_discovered_location(tmp_path: Path, account: dict) -> None:
    """At scale Athena reads the bucket in place: discovery names the account's CloudTrail folder (nothing is
    downloaded) and the backend creates its partition-projected table there when allowed."""
    from responder.scope.athena import AthenaBackend
    from responder.scope.discover import athena_locations

    ctx = _ctx(tmp_path)
    location, sources = athena_locations(
        lambda service, region=None: ctx.aws(service, region=region), account=ACCOUNT, region="us-east-1"
    )
    assert location == f"s3://org-trail-logs/trails/AWSLogs/{ACCOUNT}/CloudTrail/"
    assert sources[0].kind == "athena" and sources[0].details["trail"].endswith(":trail/org-trail")
    assert not (ctx.settings.cache_dir / "discovered").exists()
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="athena-results")
    backend = AthenaBackend.from_config(
        {
            "output": "s3://athena-results/q/",
            "region": "us-east-1",
            "endpoint_url": boto3.client("s3").meta.endpoint_url,
            "poll": 0.05,
            "database": "security",
        }
    )
    statements = backend.create_tables(location)
    assert len(statements) == 1 and "CREATE EXTERNAL TABLE IF NOT EXISTS security.cloudtrail_logs" in statements[0]
    assert f"LOCATION '{location}'" in statements[0] and "'projection.enabled' = 'true'" in statements[0]
    executions = boto3.client("athena", region_name="us-east-1").list_query_executions()["QueryExecutionIds"]
    assert executions  # the DDL reached Athena


def test_a_hostile_discovered_location_never_reaches_the_ddl(tmp_path: Path) -> None:
    from responder.errors import BadInput
    from responder.scope.athena import AthenaBackend

    with pytest.raises(BadInput):
        AthenaBackend(None).create_tables("s3://bucket/x'; DROP TABLE t; --/")


def test_lookup_events_follows_the_keys_a_key_minted(tmp_path: Path) -> None:
    """The fallback against the documented LookupEvents shape (botocore's Stubber validates every request and
    response against the service model; moto does not implement LookupEvents): by access key, then by each key
    the records mint, written out as CloudTrail files the local backend reads."""
    from botocore.stub import Stubber

    from responder.scope import investigate, open_backend, subject_for_key

    seed, minted = STORY.access_key_id, "ASIAEXAMPLEMINTED001"
    assume = {
        "eventVersion": "1.08",
        "eventTime": "2026-03-01T09:40:00Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": "us-east-1",
        "eventID": "e-1",
        "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "accessKeyId": seed, "arn": f"arn:aws:iam::{ACCOUNT}:user/jenkins"},
        "requestParameters": {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/Ops", "roleSessionName": "s"},
        "responseElements": {
            "credentials": {"accessKeyId": minted, "sessionToken": "x", "expiration": "y"},
            "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/s"},
        },
    }
    create = {
        "eventVersion": "1.08",
        "eventTime": "2026-03-01T09:45:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateUser",
        "awsRegion": "us-east-1",
        "eventID": "e-2",
        "recipientAccountId": ACCOUNT,
        "userIdentity": {
            "type": "AssumedRole",
            "accessKeyId": minted,
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/s",
        },
        "requestParameters": {"userName": "backdoor"},
        "responseElements": {"user": {"userName": "backdoor"}},
    }
    cloudtrail = boto3.client("cloudtrail", region_name="us-east-1")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    window = Window(since=datetime(2026, 3, 1, 9, tzinfo=UTC), until=NOW)

    def by_key(key: str) -> dict:
        return {
            "StartTime": window.since,
            "EndTime": NOW,
            "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": key}],
        }

    with Stubber(cloudtrail) as ct_stub, Stubber(ec2) as ec2_stub:
        ct_stub.add_response("describe_trails", {"trailList": []}, {"includeShadowTrails": True})
        ct_stub.add_response(
            "lookup_events",
            {
                "Events": [
                    {
                        "EventId": "e-1",
                        "EventName": "AssumeRole",
                        "EventTime": datetime(2026, 3, 1, 9, 40, tzinfo=UTC),
                        "AccessKeyId": seed,
                        "CloudTrailEvent": json.dumps(assume),
                    }
                ]
            },
            by_key(seed),
        )
        ct_stub.add_response(
            "lookup_events",
            {
                "Events": [
                    {
                        "EventId": "e-2",
                        "EventName": "CreateUser",
                        "EventTime": datetime(2026, 3, 1, 9, 45, tzinfo=UTC),
                        "AccessKeyId": minted,
                        "CloudTrailEvent": json.dumps(create),
                    }
                ]
            },
            by_key(minted),
        )
        ec2_stub.add_response("describe_flow_logs", {"FlowLogs": []}, {})
        found = discover(
            lambda service, region=None: {"cloudtrail": cloudtrail, "ec2": ec2}[service],
            account=ACCOUNT,
            region="us-east-1",
            window=window,
            cache_dir=tmp_path,
            keys=[seed],
            now=NOW,
        )
        ct_stub.assert_no_pending_responses()
    source = next(s for s in found.sources if s.kind == "lookup_events")
    assert source.read and "no data events" in (source.why or "") and source.details["events"] == 2
    assert found.cloudtrail is not None
    with open_backend("local", cloudtrail=found.cloudtrail, flow_logs=None, cache_dir=tmp_path / "c") as backend:
        report = investigate(backend, subject_for_key(seed), window, sources=found.sources)
    assert set(report.keys) == {seed, minted} and [p.kind for p in report.persistence] == ["user_created"]
    assert any("LookupEvents" in (s.location or "") for s in report.sources)


def test_the_cli_scopes_with_no_configuration(tmp_path: Path, logs, account: dict) -> None:
    """``responder scope --access-key … --json`` with no --cloudtrail and no config: the account's trail is found."""
    import typer
    from typer.testing import CliRunner

    from responder.cli.scope import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(
        app,
        [
            "scope",
            "--access-key",
            STORY.access_key_id,
            "--since",
            "2026-03-01T09:00:00Z",
            "--until",
            "2026-03-02T06:00:00Z",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body["keys"]) == set(logs.keys) and body["events"] == len(logs.story_event_ids)
    assert [s["location"] for s in body["sources"] if s["read"]] == ["s3://org-trail-logs/trails", "s3://vpc-flow-logs"]
