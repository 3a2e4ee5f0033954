"""A stopped trail logging again and narrowed selectors put back, against moto over HTTP, with release."""

from __future__ import annotations

import boto3
import pytest

from responder.actions.aws.cloudtrail import (
    ALL_MANAGEMENT_EVENTS,
    RestoreEventSelectors,
    RestoreSelectorsInput,
    StartLogging,
    TrailInput,
)
from responder.errors import TargetChanged
from tests.actions.aws.action_ctx import step_context

ARN = "arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail"


@pytest.fixture
def trail(moto_endpoint: str) -> str:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="trail-logs")
    ct = boto3.client("cloudtrail", region_name="us-east-1")
    ct.create_trail(Name="org-trail", S3BucketName="trail-logs")
    return "org-trail"


def _logging() -> bool:
    return boto3.client("cloudtrail", region_name="us-east-1").get_trail_status(Name="org-trail")["IsLogging"]


def test_stopped_trail_logs_again_and_release_stops_it(trail: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    inp = TrailInput(trail=ARN)  # by ARN: the trail's home region is taken from it
    assert StartLogging().plan(ctx, inp).will_change
    done = StartLogging().apply(ctx, inp)
    assert done.changed and _logging() and done.before == {"is_logging": False}
    assert not StartLogging().apply(ctx, inp).changed
    StartLogging().undo(ctx, inp, done)
    assert not _logging()


def test_release_refuses_when_someone_stopped_it_again(trail: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    done = StartLogging().apply(ctx, TrailInput(trail=trail))
    boto3.client("cloudtrail", region_name="us-east-1").stop_logging(Name=trail)
    with pytest.raises(TargetChanged):
        StartLogging().undo(ctx, TrailInput(trail=trail), done)


def test_missing_trail_is_target_changed(trail: str, tmp_path) -> None:
    with pytest.raises(TargetChanged, match="recreation"):
        StartLogging().plan(step_context(tmp_path), TrailInput(trail="deleted-trail"))


def test_narrowed_selectors_restored_then_released(trail: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    ct = boto3.client("cloudtrail", region_name="us-east-1")
    narrowed = [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": False}]
    ct.put_event_selectors(TrailName=trail, EventSelectors=narrowed)
    inp = RestoreSelectorsInput(trail=trail)  # default: every management event
    done = RestoreEventSelectors().apply(ctx, inp)
    assert done.changed
    got = ct.get_event_selectors(TrailName=trail)["EventSelectors"]
    assert got[0]["ReadWriteType"] == "All" and got[0]["IncludeManagementEvents"] is True
    assert not RestoreEventSelectors().apply(ctx, inp).changed
    RestoreEventSelectors().undo(ctx, inp, done)
    got = ct.get_event_selectors(TrailName=trail)["EventSelectors"]
    assert got[0]["ReadWriteType"] == "ReadOnly" and got[0]["IncludeManagementEvents"] is False
    assert ALL_MANAGEMENT_EVENTS[0]["ReadWriteType"] == "All"


def test_selector_kinds_are_exclusive() -> None:
    with pytest.raises(ValueError):
        RestoreSelectorsInput(trail="t-1", event_selectors=[], advanced_event_selectors=[])
