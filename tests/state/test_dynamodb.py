"""The run-store contract against DynamoDB: moto in server mode, over HTTP, as boto3 reaches AWS."""

from __future__ import annotations

import uuid

import pytest

from responder.state import open_store
from responder.state.dynamodb import DynamoStore, create_table
from tests.state.contract import StoreContract


@pytest.fixture
def store(moto_endpoint: str) -> DynamoStore:
    table = f"responder-{uuid.uuid4().hex[:8]}"
    create_table(table)
    backend = open_store(f"dynamodb://{table}")
    assert isinstance(backend, DynamoStore)
    return backend


class TestDynamoStore(StoreContract):
    def test_conflict_returns_winner_in_one_round_trip(self, store: DynamoStore) -> None:
        calls: list[str] = []
        store.client.meta.events.register("before-send.dynamodb.*",
                                          lambda request, **_: calls.append(request.headers["X-Amz-Target"]))
        from tests.state.contract import run_record

        store.claim_run(run_record())
        calls.clear()
        existing, created = store.claim_run(run_record())
        assert not created and existing.run_id == "run-1"
        assert calls == [b"DynamoDB_20120810.PutItem"]  # ALL_OLD: no extra GetItem

    def test_empty_table_name_refused(self) -> None:
        with pytest.raises(ValueError):
            DynamoStore("")
