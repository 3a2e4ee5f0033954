"""DynamoDB run store: what responder uses when it runs unattended in AWS (``dynamodb://TABLE``).

The rules live once in :class:`RunStore`; this module only supplies the five primitives, each one
DynamoDB request:

* ``_insert_if_absent`` — ``PutItem`` with ``attribute_not_exists(pk)``; on conflict
  ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` hands back the winner in the same round trip, so
  one run per finding, one step record and one approval request cost one write each.
* ``_replace_if_version`` — ``PutItem`` with ``#v = :expected``: the optimistic-concurrency write
  behind leases, step claims and the one decision per approval.
* ``_get`` — ``GetItem`` with ``ConsistentRead`` (a stale read would let a loser think it won).
* ``_query`` — ``Query`` on the table with ``begins_with(sk, :prefix)``, consistent.
* ``_scan`` — ``Query`` on the global secondary index ``by_sk`` (hash ``sk``, range ``pk``) with
  ``begins_with(pk, :prefix)``. Used by ``list_runs`` / ``pending_approvals`` only; GSI reads are
  eventually consistent, which is fine for listing (every decision re-reads the base table).

The record is kept as one JSON string attribute ``data`` (plus ``pk``, ``sk``, ``version``): no
float→Decimal conversion, no reserved-word clashes with finding fields, and the same bytes SQLite
keeps. Items are bounded by DynamoDB's 400 KB; findings are redacted and small in practice.
"""

from __future__ import annotations

import json
from typing import Any

from .base import RunStore

GSI_NAME = "by_sk"


def table_definition(table: str) -> dict[str, Any]:
    """``create_table`` arguments: the one shape tests, the sandbox and deploy/template.yaml share."""
    return {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [{
            "IndexName": GSI_NAME,
            "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    }


def create_table(table: str, client: Any = None) -> None:
    """Create the table if it is missing (tests, drills; production creates it from deploy/template.yaml)."""
    client = client or _client()
    try:
        client.create_table(**table_definition(table))
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _client() -> Any:
    import boto3
    from botocore.config import Config

    # The store's writes are not under the engine's step retries: let botocore absorb throttling here.
    return boto3.client("dynamodb", config=Config(retries={"mode": "standard", "total_max_attempts": 6},
                                                  connect_timeout=5, read_timeout=10))


class DynamoStore(RunStore):
    def __init__(self, table: str, *, client: Any = None) -> None:
        if not table:
            raise ValueError("dynamodb:// needs a table name")
        self.table = table
        self.client = client or _client()

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    @staticmethod
    def _wire(pk: str, sk: str, item: dict[str, Any]) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}, "version": {"N": str(int(item.get("version", 0)))},
                "data": {"S": json.dumps(item, default=str)}}

    @staticmethod
    def _unwire(raw: dict[str, Any] | None) -> dict[str, Any] | None:
        if not raw or "data" not in raw:
            return None
        return json.loads(raw["data"]["S"])

    def _insert_if_absent(self, pk: str, sk: str, item: dict[str, Any]) -> dict[str, Any] | None:
        try:
            self.client.put_item(TableName=self.table, Item=self._wire(pk, sk, item),
                                 ConditionExpression="attribute_not_exists(pk)",
                                 ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return None
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            winner = self._unwire(getattr(exc, "response", {}).get("Item"))
            return winner if winner is not None else self._get(pk, sk)

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        out = self.client.get_item(TableName=self.table, Key=self._key(pk, sk), ConsistentRead=True)
        return self._unwire(out.get("Item"))

    def _replace_if_version(self, pk: str, sk: str, item: dict[str, Any], version: int) -> bool:
        try:
            self.client.put_item(TableName=self.table, Item=self._wire(pk, sk, item),
                                 ConditionExpression="#v = :expected",
                                 ExpressionAttributeNames={"#v": "version"},
                                 ExpressionAttributeValues={":expected": {"N": str(version)}})
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False

    def _paged(self, **kwargs: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = self.client.query(TableName=self.table, **kwargs)
            out.extend(i for i in (self._unwire(raw) for raw in page.get("Items", [])) if i is not None)
            if not page.get("LastEvaluatedKey"):
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _query(self, pk: str, sk_prefix: str = "") -> list[dict[str, Any]]:
        if sk_prefix:
            return self._paged(KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                               ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
                               ConsistentRead=True)
        return self._paged(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}},
                           ConsistentRead=True)

    def _scan(self, pk_prefix: str, sk: str) -> list[dict[str, Any]]:
        return self._paged(IndexName=GSI_NAME, KeyConditionExpression="sk = :sk AND begins_with(pk, :prefix)",
                           ExpressionAttributeValues={":sk": {"S": sk}, ":prefix": {"S": pk_prefix}})

    # --- health (``responder doctor``) and the name errors use; independent of the record code ------
    @property
    def where(self) -> str:
        return f"dynamodb://{self.table}"

    def check(self) -> list[dict[str, str]]:
        """The table exists, is ACTIVE, and has the ``by_sk`` index listing runs needs."""
        try:
            table = self.client.describe_table(TableName=self.table)["Table"]
        except self.client.exceptions.ResourceNotFoundException:
            return [{"kind": "store_missing", "subject": self.where,
                     "detail": "the table does not exist: create it from deploy/template.yaml, or fix RESPONDER_STORE"}]
        problems = []
        if table.get("TableStatus") != "ACTIVE":
            problems.append({"kind": "store_unavailable", "subject": self.where,
                             "detail": f"the table is {table.get('TableStatus')}, not ACTIVE"})
        if GSI_NAME not in {i.get("IndexName") for i in table.get("GlobalSecondaryIndexes") or []}:
            problems.append({"kind": "store_index_missing", "subject": self.where,
                             "detail": f"the global secondary index {GSI_NAME} is missing: runs cannot be listed"})
        return problems
