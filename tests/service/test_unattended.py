"""Unattended (Lambda): a step whose AWS calls exhausted their throttling retries is resumed."""

from __future__ import annotations

import pytest

from responder import lambda_handler
from tests.helpers import key_status, sample_event, seed_user
from tests.throttle_proxy import ThrottleProxy


@pytest.fixture(autouse=True)
def _no_warm_engine():
    lambda_handler.reset()
    yield
    lambda_handler.reset()


def test_lambda_resumes_after_retries_exhausted(moto_endpoint: str, responder_home, monkeypatch) -> None:
    seed_user()
    proxy = ThrottleProxy(moto_endpoint, "UpdateAccessKey", times=5)  # more than the per-call retries allow
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        monkeypatch.setenv("RESPONDER_TRANSIENT_RESUMES", "2")
        answer = lambda_handler.on_event(sample_event())
    finally:
        proxy.close()
        monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    assert answer["ok"], answer
    assert key_status("ci-deploy", "AKIA2E0A8F3B244C9986") == "Inactive"
    assert answer["results"][0]["status"] in ("succeeded", "partial"), answer


def test_unparseable_events_are_answered_not_raised(responder_home) -> None:
    for event in ({"detail-type": "GuardDuty Finding", "detail": "not an object"}, {"Records": 5}, {}):
        answer = lambda_handler.on_event(event)
        assert answer["ok"] is False and answer["error"]
