"""What a generated data set is about: the story's knobs and the ground truth it leaves behind.

The ground truth is the answer key tests and benchmarks check scope against, so it lists every story
record by eventID and every key by the pivot that produced it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StoryParams(BaseModel):
    """The attack story's fixed points; the sandbox demo sets them to match its finding."""

    model_config = ConfigDict(frozen=True)

    account_id: str = "210987654321"
    region: str = "us-east-1"
    access_key_id: str = "AKIA5STORYLEAKED0001"
    user_name: str = "deploy-bot"
    attacker_ip: str = "203.0.113.66"
    second_ip: str = "198.51.100.23"
    start: datetime = datetime(2026, 11, 20, 14, 5, 0, tzinfo=UTC)
    role_name: str = "OpsAutomationRole"
    bucket: str = "acme-customer-pii-exports"
    backdoor_user: str = "svc-backup-sync"
    external_account: str = "999988887777"

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """A naive start is UTC (CloudTrail's clock), never the generating machine's local time."""
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EgressTruth(BaseModel):
    destination: str
    port: int
    bytes: int
    packets: int


class GroundTruth(BaseModel):
    """The answer key of one generated data set."""

    story: StoryParams
    cloudtrail_dir: Path
    flow_logs_dir: Path
    cloudtrail_records: int = 0
    flow_records: int = 0
    cloudtrail_files: int = 0
    flow_files: int = 0
    span_start: datetime
    span_end: datetime
    story_event_ids: list[str] = Field(default_factory=list)
    trap_event_ids: list[str] = Field(default_factory=list, description="benign records from the attacker IP")
    keys: dict[str, str] = Field(default_factory=dict, description="access key id → the pivot that gave it")
    role_arn: str = ""
    session_arn: str = ""
    api_calls: dict[str, int] = Field(default_factory=dict, description="eventName → story count")
    access_denied: int = 0
    regions: list[str] = Field(default_factory=list)
    buckets: list[str] = Field(default_factory=list)
    objects_read: list[str] = Field(default_factory=list)
    secrets_read: list[str] = Field(default_factory=list)
    persistence: list[str] = Field(default_factory=list, description="eventNames of persistence records")
    external_accounts: list[str] = Field(
        default_factory=list, description="outside accounts granted access, one per granting record"
    )
    objects_encrypted: list[str] = Field(default_factory=list, description="objects re-encrypted with SSE-C")
    objects_deleted: list[str] = Field(default_factory=list, description="deletions as scope reports them")
    tactics: list[str] = Field(default_factory=list, description="ATT&CK tactics the story covers")
    instance_id: str = ""
    eni: str = ""
    instance_ip: str = ""
    snapshot_id: str = ""
    egress: list[EgressTruth] = Field(default_factory=list)
    first_activity: datetime | None = None
    last_activity: datetime | None = None
