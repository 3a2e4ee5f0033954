"""An attack sequence is one incident: the sequence's run, and one linked run per resource, each by its playbook.

Real parts: moto over HTTP seeded from the findings by the sandbox's own seeding, the SQLite store (and the
DynamoDB store on moto), the shipped playbooks, the CLI and the Lambda handler. The composed finding
(tests/fixtures/findings/guardduty/attack-sequence-s3-ec2-signals.json, SOURCES.md) names a bucket, an
instance and the actor's key, with FINDING signals naming each resource.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from responder import lambda_handler
from responder.actions.incident import split_sequence
from responder.app import build_responder
from responder.cli import app
from responder.config import load_settings
from responder.engine.runner import run_id_for
from responder.findings import guardduty, parse_event
from responder.findings.model import Finding
from responder.sandbox import Sandbox, seed
from responder.service import exit_code
from responder.state.dynamodb import DynamoStore, create_table
from tests.conftest import FIXTURES
from tests.helpers import engine, key_status

EVENT = FIXTURES / "findings" / "guardduty" / "attack-sequence-s3-ec2-signals.json"
ACCOUNT = "123456789012"
KEY, USER = "AKIAIOSFODNN7EXAMPL2", "billing-sync"
BUCKET, INSTANCE = "example-billing-exports", "i-0b1c2d3e4f5a60719"
CHILD_PLAYBOOKS = {"s3-exposure", "ec2-instance-compromise"}


def _event() -> dict[str, Any]:
    return json.loads(EVENT.read_text())


def _finding(event: dict[str, Any] | None = None) -> Finding:
    return parse_event(copy.deepcopy(event or _event()), EVENT.name)[0]


def _box() -> Sandbox:
    return Sandbox(endpoint=os.environ["AWS_ENDPOINT_URL"], account_id=ACCOUNT, region="us-east-1")


def _service(store: str = "sqlite") -> Any:
    overrides: dict[str, Any] = {}
    if store == "dynamodb":
        create_table("responder-runs")
        overrides["store"] = DynamoStore("responder-runs")
    return build_responder(load_settings(), engine=engine(**overrides))


@pytest.fixture
def seeded(moto_endpoint: str, responder_home: Path, with_scope_logs: object) -> Finding:
    """The emulated account as the sequence describes it: the actor's key, the bucket, the instance."""
    finding = _finding()
    seed(_box(), finding)
    return finding


@pytest.fixture
def fresh_lambda() -> Iterator[None]:
    lambda_handler.reset()
    yield
    lambda_handler.reset()


def _children(results: list[Any]) -> dict[str, Any]:
    return {r.playbook: r for r in results[1:]}


@pytest.mark.parametrize("store", ["sqlite", "dynamodb"])
def test_each_resource_is_answered_by_its_own_playbook_linked_to_the_sequence(seeded: Finding, store: str) -> None:
    service = _service(store)
    results = service.respond_one(seeded)
    parent = results[0]
    assert parent.playbook == "attack-sequence" and parent.created
    children = _children(results)
    assert set(children) == CHILD_PLAYBOOKS and len(results) == 3
    incident = seeded.raw["service"]["detection"]["sequence"]["uid"]
    child_ids = {c["id"] for c in split_sequence(seeded).children}
    for child in children.values():
        assert child.created and child.parent_run_id == parent.run_id and child.incident == incident
        assert child.status in ("succeeded", "partial"), child.steps
        assert child.finding_id in child_ids and child.run_id == run_id_for(child.finding_id, child.playbook)
    # each child acted on its own resource; the parent contained the actor
    assert key_status(USER, KEY) == "Inactive"
    s3_steps = {s["id"]: s for s in children["s3-exposure"].steps}
    assert s3_steps["capture_bucket"]["status"] == "succeeded" and s3_steps["block_public_access"]["changed"]
    assert boto3.client("s3").get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    ec2_steps = {s["id"]: s for s in children["ec2-instance-compromise"].steps}
    assert ec2_steps["isolate_network"]["status"] == "succeeded" and ec2_steps["isolate_network"]["changed"]
    # the records keep the link (both stores), the parent lists its children, its trail says when each started
    records = {r.run_id: r for r in service.engine.store.list_runs()}
    assert len(records) == 3
    assert records[parent.run_id].incident == incident and records[parent.run_id].parent_run_id is None
    assert {c["run_id"] for c in records[parent.run_id].extra["children"]} == {c.run_id for c in children.values()}
    for child in children.values():
        assert records[child.run_id].parent_run_id == parent.run_id
    started = [e for e in service.engine.store.audit_log(parent.run_id) if e["event"] == "child_run_started"]
    assert {e["child_run_id"] for e in started} == {c.run_id for c in children.values()}
    assert {e["typed_by"] for e in started} == {"signal:signal-3", "signal:signal-5"}
    # the parent's summary names each child and its status
    for child in children.values():
        assert f"{child.run_id} {child.playbook}" in (parent.message or "") and child.status in parent.message
    assert {c["status"] for c in parent.children} <= {"succeeded", "partial"}

    again = service.respond_one(_finding())  # a redelivered sequence: the same runs, nothing new
    assert [r.run_id for r in again] == [r.run_id for r in results]
    assert not any(r.created for r in again)
    assert len(service.engine.store.list_runs()) == 3
    started_again = [e for e in service.engine.store.audit_log(parent.run_id) if e["event"] == "child_run_started"]
    assert len(started_again) == 2


def test_runs_json_and_table_show_the_link(seeded: Finding) -> None:
    results = _service().respond_one(seeded)
    parent, children = results[0], results[1:]
    cli = CliRunner()
    listed = cli.invoke(app, ["runs", "--json"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    rows = {r["run_id"]: r for r in json.loads(listed.stdout)}
    assert sorted(rows[parent.run_id]["children"]) == sorted(c.run_id for c in children)
    for child in children:
        assert rows[child.run_id]["parent_run_id"] == parent.run_id
        assert rows[child.run_id]["incident"] == rows[parent.run_id]["incident"]
    one = cli.invoke(app, ["runs", parent.run_id, "--json"], catch_exceptions=False)
    detail = json.loads(one.stdout)
    assert {(c["run_id"], c["playbook"], c["status"]) for c in detail["children"]} == {
        (c.run_id, c.playbook, c.status) for c in children
    }
    assert {c["resource_type"] for c in detail["children"]} == {"S3_BUCKET", "EC2_INSTANCE"}
    table = cli.invoke(app, ["runs"], catch_exceptions=False, env={"COLUMNS": "400"})
    assert f"child of {parent.run_id}" in table.output and "2 children" in table.output
    child_view = cli.invoke(app, ["runs", children[0].run_id], catch_exceptions=False, env={"COLUMNS": "400"})
    assert f"child of run {parent.run_id}" in child_view.output


def test_plan_lists_each_child_and_its_playbook_and_records_nothing(seeded: Finding) -> None:
    service = _service()
    loaded = service.select(seeded)
    assert [p.playbook.id for p in loaded] == ["attack-sequence"]
    plan = service.plan(loaded[0], seeded)
    assert {(c["resource_type"], tuple(c["playbooks"])) for c in plan.children} == {
        ("S3_BUCKET", ("s3-exposure",)),
        ("EC2_INSTANCE", ("ec2-instance-compromise",)),
    }
    step = next(s for s in plan.steps if s.action == "incident.record_sequence")
    assert "s3-exposure" in step.summary and "ec2-instance-compromise" in step.summary
    dry = service.respond_one(seeded, dry_run=True)
    assert len(dry) == 1 and dry[0].dry_run and len(dry[0].children) == 2
    assert service.engine.store.list_runs() == []
    shown = CliRunner().invoke(app, ["plan", str(EVENT), "--json"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert {tuple(c["playbooks"]) for c in json.loads(shown.stdout)["children"]} == {
        ("s3-exposure",),
        ("ec2-instance-compromise",),
    }


def test_a_failed_child_does_not_fail_the_parent_and_redelivery_retries_it(
    moto_endpoint: str, responder_home: Path, with_scope_logs: object
) -> None:
    """No instance in the account: the EC2 child fails, the parent does not, the exit code is partial (4).
    Once the instance exists, the redelivered sequence resumes that child (retry after a fix)."""
    finding = _finding()
    no_instance = _event()
    sequence = no_instance["detail"]["service"]["detection"]["sequence"]
    sequence["resources"] = [r for r in sequence["resources"] if r["resourceType"] != "EC2_INSTANCE"]
    seed(_box(), _finding(no_instance))  # the key and the bucket only
    service = _service()
    results = service.respond_one(finding)
    parent, children = results[0], _children(results)
    assert children["ec2-instance-compromise"].status == "failed"
    assert parent.status in ("succeeded", "partial") and key_status(USER, KEY) == "Inactive"
    assert children["s3-exposure"].status in ("succeeded", "partial")
    assert f"{children['ec2-instance-compromise'].run_id} ec2-instance-compromise" in (parent.message or "")
    assert "failed" in (parent.message or "")
    assert exit_code(results) == 4

    instance_child = next(c for c in split_sequence(finding).children if c["resource"]["resourceType"] == "Instance")
    seed(_box(), guardduty.parse(instance_child, "child"))  # the fix: the instance is there now
    again = _children(service.respond_one(_finding()))
    assert again["ec2-instance-compromise"].run_id == children["ec2-instance-compromise"].run_id
    assert again["ec2-instance-compromise"].status in ("succeeded", "partial")


def test_resume_starts_the_children_a_parent_has_not_started(seeded: Finding) -> None:
    """A parent run driven without the service (a crash between the parent and its children): resuming it
    through the service starts them."""
    service = _service()
    loaded = service.select(seeded)[0]
    parent = service.engine.run(loaded, seeded)
    assert len(service.engine.store.list_runs()) == 1
    resumed = service.resume(parent.run_id)
    assert {c["playbook"] for c in resumed.children} == CHILD_PLAYBOOKS
    runs = service.engine.store.list_runs()
    assert len(runs) == 3 and sum(r.parent_run_id == parent.run_id for r in runs) == 2


def test_sandbox_run_from_the_cli_answers_every_resource(responder_home: Path) -> None:
    """`responder run EVENT --sandbox` seeds the sequence's key, bucket and instance; the children run there."""
    cli = CliRunner()
    try:
        done = cli.invoke(app, ["run", str(EVENT), "--sandbox", "--json", "--quiet"], catch_exceptions=False)
        assert done.exit_code in (0, 4), done.output
        shown = json.loads(done.stdout)
        runs = shown["runs"]
        assert runs[0]["playbook"] == "attack-sequence" and {r["playbook"] for r in runs[1:]} == CHILD_PLAYBOOKS
        assert {r["parent_run_id"] for r in runs[1:]} == {shown["run_id"]}
        assert all(r["status"] in ("succeeded", "partial") for r in runs), [(r["playbook"], r["status"]) for r in runs]
    finally:
        cli.invoke(app, ["sandbox", "down"])


def test_lambda_on_event_answers_the_same_way(seeded: Finding, fresh_lambda: None) -> None:
    event = _event()
    first = lambda_handler.on_event(copy.deepcopy(event))
    assert first["ok"] and first["results"][0]["playbook"] == "attack-sequence"
    assert {r["playbook"] for r in first["results"][1:]} == CHILD_PLAYBOOKS
    assert all(r["created"] for r in first["results"])
    parent = first["results"][0]
    assert parent["parent_run_id"] is None and parent["incident"]
    for child in first["results"][1:]:  # each answers its own finding, linked to the incident's run
        assert child["parent_run_id"] == parent["run_id"] and child["incident"] == parent["incident"]
        assert child["finding_id"] != parent["finding_id"]
    again = lambda_handler.on_event(copy.deepcopy(event))  # EventBridge delivers at least once
    assert [r["run_id"] for r in again["results"]] == [r["run_id"] for r in first["results"]]
    assert not any(r["created"] for r in again["results"])


def test_a_grown_sequence_starts_runs_for_its_new_resources_only(seeded: Finding) -> None:
    """GuardDuty updates a sequence as it sees more: the new version's new bucket gets its own child run."""
    service = _service()
    first = service.respond_one(seeded)
    grown = _event()
    grown["detail"]["updatedAt"] = "2026-11-27T11:05:00.000Z"
    sequence = grown["detail"]["service"]["detection"]["sequence"]
    sequence["resources"].append({"uid": "arn:aws:s3:::example-billing-archive", "resourceType": "S3_BUCKET"})
    boto3.client("s3").create_bucket(Bucket="example-billing-archive")
    again = service.respond_one(_finding(grown))
    assert [r.run_id for r in again[: len(first)]] == [r.run_id for r in first]
    new = [r for r in again if r.created]
    assert len(new) == 1 and new[0].playbook == "s3-exposure" and new[0].parent_run_id == first[0].run_id
    assert len(service.engine.store.list_runs()) == 4


def test_a_child_no_playbook_answers_is_kept_for_triage_and_linked(
    moto_endpoint: str, responder_home: Path, with_scope_logs: object
) -> None:
    """A deployment names no pod: its child matches no playbook, is kept for triage, still part of the incident."""
    event = _event()
    sequence = event["detail"]["service"]["detection"]["sequence"]
    sequence["resources"] = [
        {
            "uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "name": "checkout",
            "resourceType": "KUBERNETES_WORKLOAD",
            "data": {"kubernetesWorkload": {"type": "DEPLOYMENTS", "namespace": "shop"}},
        }
    ]
    finding = _finding(event)
    seed(_box(), finding)  # the actor's key
    service = _service()
    results = service.respond_one(finding)
    assert [r.playbook for r in results] == ["attack-sequence", "triage"]
    triage = results[1]
    assert triage.status == "triage" and triage.parent_run_id == results[0].run_id
    assert service.engine.store.get_run(triage.run_id).parent_run_id == results[0].run_id
    assert "triage" in (results[0].message or "")


def test_a_sequence_relayed_through_security_hub_is_answered_the_same(
    moto_endpoint: str, responder_home: Path, with_scope_logs: object
) -> None:
    asff = FIXTURES / "findings" / "securityhub" / "asff-attack-sequence-s3-ec2-signals.json"
    finding = parse_event(json.loads(asff.read_text()), asff.name)[0]
    seed(_box(), finding)
    results = _service().respond_one(finding)
    assert results[0].playbook == "attack-sequence" and finding.source == "securityhub"
    children = _children(results)
    assert set(children) == CHILD_PLAYBOOKS
    assert all(c.parent_run_id == results[0].run_id for c in children.values())
    assert all(c.status in ("succeeded", "partial") for c in children.values()), [c.steps for c in children.values()]
    assert key_status(USER, KEY) == "Inactive"


def _instance_state() -> dict[str, Any]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    inst = ec2.describe_instances(InstanceIds=[INSTANCE])["Reservations"][0]["Instances"][0]
    enis = {e["NetworkInterfaceId"]: sorted(g["GroupId"] for g in e["Groups"]) for e in inst["NetworkInterfaces"]}
    return {"groups": enis, "profile": (inst.get("IamInstanceProfile") or {}).get("Arn")}


def test_release_of_an_incident_names_its_children_and_releases_them_on_request(seeded: Finding) -> None:
    before = _instance_state()
    results = _service().respond_one(seeded)
    parent, children = results[0], results[1:]
    assert _instance_state() != before  # the instance's own run isolated it
    cli = CliRunner()
    alone = cli.invoke(app, ["release", parent.run_id, "--reenable-keys", "--json"], catch_exceptions=False)
    answer = json.loads(alone.stdout)
    assert sorted(answer["children_not_released"]) == sorted(c.run_id for c in children)
    assert "--with-children" in answer["hint"] and _instance_state() != before  # the children are left contained
    both = cli.invoke(
        app, ["release", parent.run_id, "--with-children", "--reenable-keys", "--json"], catch_exceptions=False
    )
    answer = json.loads(both.stdout)
    assert both.exit_code == 0, both.stdout
    assert sorted(c["run_id"] for c in answer["children"]) == sorted(c.run_id for c in children)
    assert answer["children_not_released"] == [] and answer["hint"] is None
    assert _instance_state() == before  # isolation and the instance profile restored by the child's release
