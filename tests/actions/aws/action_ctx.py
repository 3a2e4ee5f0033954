"""A StepContext on real parts (moto over HTTP, a local evidence locker) for one action at a time."""

from __future__ import annotations

from pathlib import Path

from responder.actions.base import Connectors, StepContext
from responder.aws.sessions import AwsAccess
from responder.clock import SystemClock
from responder.config import load_settings
from responder.evidence.local import LocalLocker
from responder.findings.model import Finding, Other, Source

ACCOUNT = "123456789012"
OUTSIDE = "444455556666"


def step_context(tmp_path: Path, finding: Finding | None = None, run_id: str = "run-closed-loop") -> StepContext:
    finding = finding or Finding(
        id="f-1",
        source=Source.GUARDDUTY,
        type="Test:Closed/Loop",
        severity=8.0,
        account_id=ACCOUNT,
        region="us-east-1",
        resource=Other(),
    )
    settings = load_settings()
    return StepContext(
        run_id=run_id,
        step_id="step",
        playbook_id="pb",
        finding=finding,
        clock=SystemClock(),
        evidence=LocalLocker(tmp_path / "evidence"),
        settings=settings,
        connectors=Connectors(aws=AwsAccess(settings.aws)),
    )
