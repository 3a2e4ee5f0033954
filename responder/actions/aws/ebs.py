"""EBS snapshots taken as evidence: confirming they completed, off containment's critical path.

An EBS snapshot is point-in-time at the moment ``CreateSnapshot`` returns: the blocks it holds are
those of that moment, whatever happens to the volume while the copy is still ``pending``. So the
snapshot step creates the snapshots and containment starts at once (issue 20: waiting for completion
first kept the instance un-isolated for minutes on a large disk); this step, after containment, waits
for them to complete and records their final state in the custody chain. A snapshot that ends in
``error`` fails the step, so the run cannot say its disk evidence is complete when it is not.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import WaiterError

from ...errors import ActionFailed
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext
from .common import jsonable

POLL_SECONDS = 15


class SnapshotsPending(ActionFailed):
    """Still copying at the deadline: a later resume (or the Lambda's settle pass) waits again."""

    retryable = True


class AwaitSnapshotsInput(ActionInput):
    snapshot_ids: list[str] = []
    wait_seconds: int = 3600


class AwaitSnapshotsOutput(ActionOutput):
    snapshots: list[dict[str, Any]] = []
    completed: bool = False
    artifact: str = ""


class AwaitSnapshots(Action[AwaitSnapshotsInput]):
    """Wait until the evidence snapshots are ``completed`` and record their final state."""

    name = "aws.ebs.await_snapshots"
    Input = AwaitSnapshotsInput
    Output = AwaitSnapshotsOutput
    category = Category.UTILITY
    permissions = frozenset({"ec2:DescribeSnapshots"})

    def plan(self, ctx: StepContext, inp: AwaitSnapshotsInput) -> Change:
        return Change(will_change=False, summary=f"wait for {len(inp.snapshot_ids)} evidence snapshot(s) to complete")

    def apply(self, ctx: StepContext, inp: AwaitSnapshotsInput) -> Outcome:
        ids = sorted(set(inp.snapshot_ids))
        if not ids:
            return Outcome(
                changed=False,
                summary="no evidence snapshots to wait for",
                output=AwaitSnapshotsOutput(completed=True).model_dump(),
            )
        ec2 = ctx.aws("ec2")
        notes: list[str] = []
        try:
            attempts = max(1, inp.wait_seconds // POLL_SECONDS)
            ec2.get_waiter("snapshot_completed").wait(
                SnapshotIds=ids, WaiterConfig={"Delay": POLL_SECONDS, "MaxAttempts": attempts}
            )
        except WaiterError as exc:  # an error state or the deadline: the states below say which
            notes.append(f"waiter stopped: {exc}")
        found = ec2.describe_snapshots(SnapshotIds=ids).get("Snapshots", [])
        snapshots = sorted(
            (
                {
                    "snapshot_id": s.get("SnapshotId"),
                    "volume_id": s.get("VolumeId"),
                    "state": s.get("State"),
                    "progress": s.get("Progress"),
                    "started": s.get("StartTime"),
                    "size_gib": s.get("VolumeSize"),
                    "state_message": s.get("StateMessage"),
                }
                for s in found
            ),
            key=lambda s: str(s["snapshot_id"]),
        )
        record = jsonable({"snapshots": snapshots, "checked_at": ctx.now.isoformat()})
        artifact = ctx.evidence.put_json(
            ctx.run_id,
            f"{ctx.step_id}/snapshot-states.json",
            record,
            collected_by=f"responder:{self.name}",
            at=ctx.now,
            details={"step": ctx.step_id},
        )
        missing = sorted(set(ids) - {str(s["snapshot_id"]) for s in snapshots})
        failed = [s for s in snapshots if s["state"] == "error"]
        pending = [s for s in snapshots if s["state"] not in ("completed", "error")]
        if failed or missing:
            names = ", ".join([str(s["snapshot_id"]) for s in failed] + missing)
            raise ActionFailed(
                f"evidence snapshot(s) not usable: {names}",
                hint="image the volume again by hand (the instance is kept, never terminated) before releasing it",
            )
        if pending:
            raise SnapshotsPending(
                f"{len(pending)} evidence snapshot(s) still {pending[0]['state']} after {inp.wait_seconds} s",
                hint="`responder resume` waits again; the snapshots keep copying meanwhile",
            )
        out = AwaitSnapshotsOutput(snapshots=snapshots, completed=True, artifact=artifact.name)
        return Outcome(
            changed=False,
            summary=f"{len(snapshots)} evidence snapshot(s) completed",
            output=out.model_dump(),
            artifacts=[artifact.as_dict()],
            notes=notes,
        )
