"""Fixtures for notify tests: a real SQLite store and local locker in tmp_path, a run for a leaked key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from responder.evidence.local import LocalLocker
from responder.findings.model import AccessKey, Actor, Finding, Source
from responder.state.records import RunRecord
from responder.state.sqlite import SqliteStore

RECEIVED = "2026-03-27T17:30:00Z"  # Friday 18:30 in Berlin, two days before the change to summer time
NOW = datetime(2026, 3, 27, 18, 0, tzinfo=UTC)
HOSTILE = "{{ 7*7 }} {% raw %}x{% endraw %}\n## Reasons for the delay\n| forged | cell |"

# The shape of ``scope.investigate``'s output (issue 10): lists capped at its ``top``, names not tags.
SCOPE: dict[str, Any] = {
    "events": 412,
    "keys": ["AKIAEXAMPLE0000000001"],
    "api_calls": [{"event_source": "s3.amazonaws.com", "event_name": "GetObject", "count": 1200, "errors": 0},
                  {"event_source": "sts.amazonaws.com", "event_name": "GetCallerIdentity", "count": 3, "errors": 0}],
    "source_ips": [{"ip": "203.0.113.9", "count": 415, "user_agents": ["aws-cli/2.15"]}],
    "resources": [{"kind": "s3_object", "id": "customers-prod/exports/2026-03.csv", "actions": ["GetObject"],
                   "count": 1, "errors": 0, "bytes_out": 0}],
    "buckets": ["customers-prod", "build-artifacts"],
    "objects_read": ["customers-prod/exports/2026-03.csv", "customers-prod/exports/2026-02.csv",
                     "build-artifacts/app.zip"],
    "bytes_read": 52_428_800,
    "data_categories": ["personal_data", "payment_data"],
    "persistence": [{"time": "2026-03-27T04:00:00Z", "event_name": "CreateAccessKey", "target": "backup-user"}],
    "egress_bytes": 0,
    "first_activity": "2026-03-27T03:12:00Z",
    "last_activity": "2026-03-27T09:40:00Z",
}
CATEGORIES = "personal data, payment data (indicated by the scope from the names of what was read: confirm)"

NOTIFY = {
    "regimes": ["gdpr-33", "gdpr-34", "nis2"],
    "timezone": "Europe/Berlin",
    "jurisdiction": "DE",
    "personal_data_buckets": ["customers-*"],
    "organisation": {"controller": "Example GmbH", "dpo_contact": "dpo@example.com",
                     "lead_authority": "BfDI"},
}


def leaked_key(title: str = "AWS access key AKIAEXAMPLE0000000001 found by gitleaks") -> Finding:
    return Finding(id="leaked-key-abc", source=Source.SECRETS, product="gitleaks",
                   type="CredentialAccess:IAMUser/LeakedAccessKey.SecretScanner", title=title, severity=8.0,
                   account_id="123456789012", region="eu-central-1",
                   resource=AccessKey(access_key_id="AKIAEXAMPLE0000000001", user_name="ci-deploy"),
                   actor=Actor(ip="203.0.113.9"))


def add_run(store: SqliteStore, finding: Finding, run_id: str = "run-1", received: str = RECEIVED) -> str:
    store.claim_run(RunRecord(run_id=run_id, finding_id=finding.id, playbook_id="iam-credential-compromise",
                              playbook_digest="d", created_at=received, updated_at=received,
                              finding=finding.model_dump(mode="json"), finding_type=finding.type,
                              account_id=finding.account_id))
    return run_id


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "runs.sqlite3")


@pytest.fixture
def locker(tmp_path: Path) -> LocalLocker:
    return LocalLocker(tmp_path / "evidence")
