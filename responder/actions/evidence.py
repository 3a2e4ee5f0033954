"""Evidence actions that need no cloud API: the finding itself, as received."""

from __future__ import annotations

from ..redact import redact
from .base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext


class RecordFindingInput(ActionInput):
    include_versions: bool = True


class RecordFindingOutput(ActionOutput):
    artifact: str = ""
    sha256: str = ""
    versions: int = 0


class RecordFinding(Action[RecordFindingInput]):
    """Preserve the finding exactly as received (secrets redacted), and every later version of it.

    GuardDuty overwrites a finding's details when it aggregates repeats; the versions kept here are the
    only record of what it said first.
    """

    name = "evidence.record_finding"
    Input = RecordFindingInput
    Output = RecordFindingOutput
    category = Category.EVIDENCE
    touches_account = False  # the finding, as delivered, into the locker

    def plan(self, ctx: StepContext, inp: RecordFindingInput) -> Change:
        return Change(will_change=False, summary=f"record finding {ctx.finding.id} as evidence")

    def apply(self, ctx: StepContext, inp: RecordFindingInput) -> Outcome:
        versions = []
        if inp.include_versions and ctx.store is not None:
            versions = [v.model_dump(mode="json") for v in ctx.store.finding_versions(ctx.finding.id)]
        body = {
            "finding": ctx.finding.model_dump(mode="json", exclude={"raw"}),
            "raw": redact(ctx.finding.raw),
            "versions": versions,
        }
        artifact = ctx.evidence.put_json(
            ctx.run_id,
            f"{ctx.step_id}/finding.json",
            body,
            collected_by=f"responder:{self.name}",
            at=ctx.now,
            details={"finding_id": ctx.finding.id, "source": ctx.finding.source.value},
        )
        out = RecordFindingOutput(artifact=artifact.name, sha256=artifact.sha256, versions=len(versions))
        return Outcome(
            changed=False,
            summary=f"recorded finding → {artifact.name} (sha256 {artifact.sha256[:12]}…)",
            output=out.model_dump(),
            artifacts=[artifact.as_dict()],
        )
