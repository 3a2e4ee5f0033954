"""One incident, several resources: GuardDuty Extended Threat Detection's attack sequences.

An ``AttackSequence:*`` finding correlates many signals (other findings, API calls) across several
resources and actors into one finding. ``record_sequence`` keeps the sequence as evidence and splits it
into what each resource's own playbook needs: one child finding per resource, in GuardDuty's finding
shape, typed after the sequence's family, and tagged with the sequence's id (``service.additionalInfo.
attackSequence``) so that runs started from them belong to the same incident. The action only records
the children (evidence and output): starting their runs is the service's job (``responder.service``),
which owns run creation — see the report for what it needs. Reading only; changes nothing.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from ..findings.fields import dict_of, list_of, pick, text
from .base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext

MAX_CHILDREN = 50


class RecordSequenceInput(ActionInput):
    """No arguments: the finding is the sequence."""


class RecordSequenceOutput(ActionOutput):
    sequence_uid: str | None = None
    description: str | None = None
    signals: list[dict[str, Any]] = []
    actors: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    children: list[dict[str, Any]] = []
    artifact: str = ""


def _child(finding: Any, sequence_uid: str, resource: dict[str, Any], index: int) -> dict[str, Any] | None:
    """A GuardDuty finding for one resource of the sequence, linked to it by the sequence's id."""
    rtype = text(pick(resource, "resourceType")) or ""
    name = text(pick(resource, "name")) or text(pick(resource, "uid")) or ""
    uid = text(pick(resource, "uid")) or name
    block: dict[str, Any] = {}
    if rtype == "S3_BUCKET":
        block = {"resourceType": "S3Bucket", "s3BucketDetails": [{"name": name, "arn": uid, "type": "Destination"}]}
    elif rtype == "EC2_INSTANCE":
        block = {"resourceType": "Instance", "instanceDetails": {"instanceId": uid.rsplit("/", 1)[-1]}}
    elif rtype in ("EKS_CLUSTER", "KUBERNETES_WORKLOAD"):
        block = {"resourceType": "EKSCluster", "eksClusterDetails": {"name": name, "arn": uid}}
    if not block:
        return None
    family = finding.type.split(":", 1)[-1].split("/", 1)[0]
    raw = dict_of(finding.raw)
    digest = hashlib.sha256(f"{finding.id}/{uid}".encode()).hexdigest()[:32]
    child = {key: copy.deepcopy(raw.get(key)) for key in ("schemaVersion", "accountId", "region", "partition")}
    child.update(
        {
            "id": digest,
            "type": finding.type,
            "severity": finding.severity,
            "resource": block,
            "title": f"{finding.type}: {rtype.lower()} {name} (part {index + 1} of the sequence)",
            "service": {
                "serviceName": "guardduty",
                "count": 1,
                "archived": False,
                "additionalInfo": {"attackSequence": sequence_uid, "parentFindingId": finding.id, "family": family},
            },
        }
    )
    return child


class RecordSequence(Action[RecordSequenceInput]):
    """Record an attack sequence's signals, actors and resources, and one linked child finding per resource."""

    name = "incident.record_sequence"
    Input = RecordSequenceInput
    Output = RecordSequenceOutput
    category = Category.EVIDENCE

    def plan(self, ctx: StepContext, inp: RecordSequenceInput) -> Change:
        return Change(will_change=False, summary="record the attack sequence (signals, actors, resources)")

    def apply(self, ctx: StepContext, inp: RecordSequenceInput) -> Outcome:
        raw = dict_of(ctx.finding.raw)
        sequence = dict_of(pick(dict_of(pick(raw, "service")), "detection", "sequence"))
        uid = text(pick(sequence, "uid")) or ctx.finding.id
        resources = [dict_of(r) for r in list_of(pick(sequence, "resources"))]
        signals = [
            {
                "uid": text(pick(s, "uid")),
                "type": text(pick(s, "type")),
                "name": text(pick(s, "name")),
                "severity": pick(s, "severity"),
                "first_seen": text(pick(s, "firstSeenAt")),
                "last_seen": text(pick(s, "lastSeenAt")),
            }
            for s in map(dict_of, list_of(pick(sequence, "signals")))
        ]
        actors = []
        for actor in map(dict_of, list_of(pick(sequence, "actors"))):
            user = dict_of(pick(actor, "user"))
            actors.append(
                {
                    "id": text(pick(actor, "id")),
                    "name": text(pick(user, "name")),
                    "type": text(pick(user, "type")),
                    "credential": text(pick(user, "credentialUid")),
                }
            )
        named = [
            {
                "type": text(pick(r, "resourceType")),
                "uid": text(pick(r, "uid")),
                "name": text(pick(r, "name")),
                "region": text(pick(r, "region")),
            }
            for r in resources
        ]
        notes: list[str] = []
        children = [c for i, r in enumerate(resources[:MAX_CHILDREN]) if (c := _child(ctx.finding, uid, r, i))]
        if len(resources) > MAX_CHILDREN:
            notes.append(f"{len(resources)} resources: children made for the first {MAX_CHILDREN}")
        if not sequence:
            notes.append("the finding carries no service.detection.sequence: only the finding itself is recorded")
        record = {
            "sequence_uid": uid,
            "description": text(pick(sequence, "description")),
            "signals": signals,
            "actors": actors,
            "resources": named,
            "indicators": list_of(pick(sequence, "sequenceIndicators")),
            "children": children,
        }
        artifact = ctx.evidence.put_json(
            ctx.run_id,
            f"{ctx.step_id}/attack-sequence.json",
            record,
            collected_by=f"responder:{self.name}",
            at=ctx.now,
            details={"step": ctx.step_id, "sequence": uid},
        )
        out = RecordSequenceOutput(
            sequence_uid=uid,
            description=record["description"],
            signals=signals,
            actors=actors,
            resources=named,
            children=children,
            artifact=artifact.name,
        )
        return Outcome(
            changed=False,
            summary=f"attack sequence {uid}: {len(signals)} signal(s), {len(actors)} "
            f"actor(s), {len(named)} resource(s), {len(children)} child finding(s)",
            output=out.model_dump(),
            artifacts=[artifact.as_dict()],
            notes=notes,
        )
