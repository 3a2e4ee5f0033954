"""EC2 instance compromise: evidence first, then containment that release can undo.

Evidence (``capture_instance``, ``snapshot_volumes``) records what the instance was before anything
changes it. Containment keeps the instance and its disks for forensics — nothing is stopped, terminated
or deleted: termination protection on and shutdown behaviour ``stop`` (so a ``shutdown -h`` from the
attacker cannot destroy the disks), out of its Auto Scaling group without lowering desired capacity (the
service stays up on a replacement), out of its load balancers, network isolation in two moves (see
``_ec2_groups``), the instance profile detached, and a quarantine tag. Every step records its before
state, and ``undo`` restores it only if the instance is still as responder left it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from pydantic import Field

from ...aws import parallel
from ...errors import TargetChanged
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext
from ..self_guard import refuse_own_instance
from . import _ec2_groups as groups
from . import _ec2_lookup as look
from . import _sharing
from ._observed import fresh_output
from .common import jsonable

_TAG_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


class InstanceInput(ActionInput):
    """The id comes from the finding (attacker data): only a well-formed instance id gets to the API."""

    instance_id: str = Field(pattern=r"^i-[0-9a-f]{8,17}$")


def _ec2(ctx: StepContext) -> Any:
    return ctx.aws("ec2")


_APART = ("autoscaling", "target_groups", "console_output", "screenshot")


def _client(ctx: StepContext, service: str) -> Callable[[], Any]:
    """A client made now, in the calling thread (boto3 sessions are not thread-safe; clients are), handed
    to a concurrent read; if it cannot be made, the read that uses it fails with that error."""
    try:
        client = ctx.aws(service)
    except Exception as exc:
        error = exc

        def fail() -> Any:
            raise error

        return fail
    return lambda: client


# ---------------------------------------------------------------------------------------------
class CaptureInstanceInput(InstanceInput):
    console_output: bool = True
    screenshot: bool = True


class CaptureInstanceOutput(ActionOutput):
    instance_id: str = ""
    state: str | None = None
    vpc_id: str | None = None
    subnet_id: str | None = None
    security_group_ids: list[str] = []
    network_interface_ids: list[str] = []
    volume_ids: list[str] = []
    instance_profile_arn: str | None = None
    role_name: str | None = None
    autoscaling_group: str | None = None
    target_group_arns: list[str] = []
    artifact: str = ""
    sha256: str = ""
    console_artifact: str | None = None
    screenshot_artifact: str | None = None
    termination_protection: bool | None = None
    shutdown_behavior: str | None = None
    captured_at: str | None = None  # when it was read: containment moments later reuses the attributes


class CaptureInstance(Action[CaptureInstanceInput]):
    """Preserve an instance's metadata, network, profile and console as evidence before containment.

    Captures DescribeInstances, tags, attributes, security groups with their rules, ENIs, volumes, the
    instance profile and its role, Auto Scaling and load-balancer membership, the console output and (where
    the API offers it) a screenshot. A screenshot that cannot be taken is a note, not a failure.
    """

    name = "aws.ec2.capture_instance"
    Input = CaptureInstanceInput
    Output = CaptureInstanceOutput
    category = Category.EVIDENCE
    permissions = frozenset({
        "ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkInterfaces", "ec2:DescribeVolumes", "ec2:DescribeIamInstanceProfileAssociations",
        "ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot", "iam:GetInstanceProfile",
        "autoscaling:DescribeAutoScalingInstances", "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    })

    def plan(self, ctx: StepContext, inp: CaptureInstanceInput) -> Change:
        return Change(will_change=False, summary=f"capture instance {inp.instance_id} as evidence")

    def _collect(self, ctx: StepContext, inp: CaptureInstanceInput, notes: list[str],
                 console: dict[str, Any] | None = None) -> dict[str, Any]:
        """Two rounds of concurrent reads: all that the instance id allows (the console too, kept in
        ``console`` for ``apply``), then what the instance named (its groups' rules, its profile).

        The document is the one the reads made one by one would give; notes keep their order.
        """
        ec2, asg, elbv2, iam = _ec2(ctx), _client(ctx, "autoscaling"), _client(ctx, "elbv2"), _client(ctx, "iam")
        iid = inp.instance_id
        reads: dict[str, Any] = {
            "instance": lambda: look.instance(ec2, iid),
            "network_interfaces": lambda: look.network_interfaces(ec2, iid),
            "DisableApiTermination": lambda: look.attribute(ec2, iid, "DisableApiTermination"),
            "InstanceInitiatedShutdownBehavior": lambda: look.attribute(ec2, iid, "InstanceInitiatedShutdownBehavior"),
            "volumes": lambda: look.volumes(ec2, iid),
            "instance_profile_association": lambda: look.profile_association(ec2, iid),
            "autoscaling": lambda: look.autoscaling_group(asg(), iid),
            "target_groups": lambda: look.target_registrations(elbv2(), iid),
        }
        if inp.console_output:
            reads["console_output"] = lambda: ec2.get_console_output(InstanceId=iid, Latest=True)
        if inp.screenshot:
            reads["screenshot"] = lambda: ec2.get_console_screenshot(InstanceId=iid, WakeUp=False)
        # the optional reads (target groups take two round trips; the screenshot may be retried) run apart,
        # so the second round (group rules, profile) does not wait for them
        apart = {k: parallel.start(reads.pop(k)) for k in _APART if k in reads}
        first = parallel.settle(reads)
        inst = first["instance"].get()
        enis = first["network_interfaces"].get()
        group_ids = sorted({*(g["GroupId"] for g in inst.get("SecurityGroups", [])),
                            *(gid for e in enis for gid in look.eni_groups(e))})
        profile_arn = (inst.get("IamInstanceProfile") or {}).get("Arn")
        profile_name = profile_arn.rsplit("/", 1)[-1] if profile_arn else ""
        more: dict[str, Any] = {}
        if group_ids:
            more["security_groups"] = lambda: ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
        if profile_arn:
            more["instance_profile"] = lambda: iam().get_instance_profile(
                InstanceProfileName=profile_name)["InstanceProfile"]
        second = parallel.settle(more)
        first.update({k: pending.settled() for k, pending in apart.items()})
        state: dict[str, Any] = {
            "captured_at": ctx.now.isoformat(), "instance": inst,
            "tags": {t["Key"]: t["Value"] for t in inst.get("Tags", [])},
            "attributes": {name: first[name].get()
                           for name in ("DisableApiTermination", "InstanceInitiatedShutdownBehavior")},
            "security_groups": second["security_groups"].get() if group_ids else [],
            "network_interfaces": enis,
            "volumes": first["volumes"].get(),
            "instance_profile_association": first["instance_profile_association"].get(),
        }
        state["instance_profile"] = self._optional(second["instance_profile"].get, f"instance profile {profile_name}",
                                                   notes) if profile_arn else None
        state["autoscaling"] = self._optional(first["autoscaling"].get, "Auto Scaling membership", notes)
        state["target_groups"] = self._optional(first["target_groups"].get, "load-balancer membership", notes) or []
        if console is not None:
            console.update({k: first[k] for k in ("console_output", "screenshot") if k in first})
        return jsonable(state)

    @staticmethod
    def _optional(read: Any, what: str, notes: list[str]) -> Any:
        try:
            return read()
        except Exception as exc:  # evidence collects what it can; the gap is stated
            detail = str(exc)
            if "<!doctype" in detail.lower() or "<html" in detail.lower():
                detail = "the endpoint answered with an HTML error page (operation not available there)"
            notes.append(f"{what} not captured: {type(exc).__name__}: {detail[:200]}")
            return None

    @staticmethod
    def _console_record(reply: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        """Console text decoded and redacted: boot scripts print credentials there more often than not."""
        import base64
        import binascii

        from ...redact import redact_text

        raw = reply.get("Output") or ""
        try:
            decoded = base64.b64decode(raw, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            decoded = str(raw)  # some endpoints answer with plain text
        redacted = redact_text(decoded)
        if redacted != decoded:
            notes.append("console output: secret-shaped strings redacted before it was stored")
        return jsonable({"InstanceId": reply.get("InstanceId"), "Timestamp": reply.get("Timestamp"),
                         "output": redacted, "redacted": redacted != decoded})

    def apply(self, ctx: StepContext, inp: CaptureInstanceInput) -> Outcome:
        notes: list[str] = []
        console_reads: dict[str, Any] = {}
        state = self._collect(ctx, inp, notes, console_reads)
        who = f"responder:{self.name}"
        details = {"step": ctx.step_id, "api": "ec2", "instance_id": inp.instance_id}
        artifact = ctx.evidence.put_json(ctx.run_id, f"{ctx.step_id}/ec2-{inp.instance_id}.json", state,
                                         collected_by=who, at=ctx.now, details=details)
        artifacts = [artifact.as_dict()]
        console_name = screenshot_name = None
        if inp.console_output:
            text = self._optional(console_reads["console_output"].get, "console output", notes)
            if text is not None:
                console = ctx.evidence.put_json(ctx.run_id, f"{ctx.step_id}/ec2-{inp.instance_id}-console.json",
                                                self._console_record(text, notes), collected_by=who, at=ctx.now,
                                                details=details)
                console_name = console.name
                artifacts.append(console.as_dict())
        if inp.screenshot:
            shot = self._optional(console_reads["screenshot"].get,
                                  "console screenshot (not every instance type or emulator offers it)", notes)
            if shot and shot.get("ImageData"):
                import base64

                image = ctx.evidence.put(ctx.run_id, f"{ctx.step_id}/ec2-{inp.instance_id}-screenshot.jpg",
                                         base64.b64decode(shot["ImageData"]), collected_by=who, at=ctx.now,
                                         content_type="image/jpeg", details=details)
                screenshot_name = image.name
                artifacts.append(image.as_dict())
        inst = state["instance"]
        profile = state.get("instance_profile") or {}
        roles = profile.get("Roles") or []
        out = CaptureInstanceOutput(
            instance_id=inp.instance_id, state=(inst.get("State") or {}).get("Name"), vpc_id=inst.get("VpcId"),
            subnet_id=inst.get("SubnetId"), security_group_ids=[g["GroupId"] for g in state["security_groups"]],
            network_interface_ids=[e["NetworkInterfaceId"] for e in state["network_interfaces"]],
            volume_ids=[v["VolumeId"] for v in state["volumes"]],
            instance_profile_arn=(inst.get("IamInstanceProfile") or {}).get("Arn"),
            role_name=roles[0]["RoleName"] if roles else None,
            autoscaling_group=(state.get("autoscaling") or {}).get("AutoScalingGroupName"),
            target_group_arns=sorted({t["target_group_arn"] for t in state["target_groups"]}),
            artifact=artifact.name, sha256=artifact.sha256, console_artifact=console_name,
            screenshot_artifact=screenshot_name,
            termination_protection=bool(state["attributes"].get("DisableApiTermination")),
            shutdown_behavior=state["attributes"].get("InstanceInitiatedShutdownBehavior"),
            captured_at=state["captured_at"])
        return Outcome(changed=False, summary=f"captured instance {inp.instance_id} → {artifact.name} "
                       f"(sha256 {artifact.sha256[:12]}…)", output=out.model_dump(), artifacts=artifacts,
                       notes=notes)


# ---------------------------------------------------------------------------------------------
class SnapshotVolumesInput(InstanceInput):
    wait: bool = True
    wait_seconds: int = 3600


class SnapshotVolumesOutput(ActionOutput):
    instance_id: str = ""
    snapshots: list[dict[str, Any]] = []
    snapshot_ids: list[str] = []
    artifact: str = ""


class SnapshotVolumes(Action[SnapshotVolumesInput]):
    """Snapshot every attached EBS volume, tagged with the run and finding (and, with ``wait``, wait for completion).

    A snapshot is point-in-time when created: the playbooks do not wait here, so containment starts at once,
    and ``aws.ebs.await_snapshots`` confirms completion after containment.

    A disk image taken before containment is what a forensic examiner works from. Snapshots are found by
    their run and volume tags before any is created, so a resumed run never takes a second set; responder
    never deletes them.
    """

    name = "aws.ec2.snapshot_volumes"
    Input = SnapshotVolumesInput
    Output = SnapshotVolumesOutput
    category = Category.EVIDENCE
    mutates = True  # creates snapshots; evidence steps always run
    permissions = frozenset({"ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:CreateSnapshot",
                             "ec2:CreateTags"})

    def plan(self, ctx: StepContext, inp: SnapshotVolumesInput) -> Change:
        vols = look.volumes(_ec2(ctx), inp.instance_id)
        return Change(will_change=bool(vols), summary=f"snapshot {len(vols)} volume(s) of {inp.instance_id}: "
                      f"{', '.join(v['VolumeId'] for v in vols) or 'none attached'}")

    def _existing(self, ec2: Any, run_id: str) -> dict[str, dict[str, Any]]:
        found = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:responder:run-id", "Values": [run_id]}]).get("Snapshots", [])
        return {s["VolumeId"]: s for s in found if s.get("State") != "error"}

    def apply(self, ctx: StepContext, inp: SnapshotVolumesInput) -> Outcome:
        ec2 = _ec2(ctx)
        found = parallel.read_all({"instance": lambda: look.instance(ec2, inp.instance_id),
                                   "existing": lambda: self._existing(ec2, ctx.run_id),
                                   "volumes": lambda: look.volumes(ec2, inp.instance_id)})
        existing, volumes = found["existing"], found["volumes"]
        devices = {vol["VolumeId"]: next((a.get("Device") for a in vol.get("Attachments", [])
                                          if a.get("InstanceId") == inp.instance_id), None) for vol in volumes}

        def create(vid: str) -> dict[str, Any]:
            device = devices[vid]
            tags = {"responder:run-id": ctx.run_id, "responder:finding-id": ctx.finding.id,
                    "responder:instance-id": inp.instance_id, "responder:volume-id": vid,
                    "responder:device": device or "", "Name": f"responder evidence {inp.instance_id} {device}"}
            return dict(ec2.create_snapshot(
                VolumeId=vid, Description=f"responder evidence: {inp.instance_id} {device} run {ctx.run_id}"[:255],
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": [
                    {"Key": k, "Value": _TAG_UNSAFE.sub("_", v)[:255]} for k, v in tags.items()]}]))

        # one snapshot per volume, taken at the same moment (each is point-in-time when created)
        new = parallel.read_all({vol["VolumeId"]: partial(create, vol["VolumeId"]) for vol in volumes
                                 if vol["VolumeId"] not in existing})
        created = len(new)
        made: list[dict[str, Any]] = []
        for vol in volumes:
            vid = vol["VolumeId"]
            snap = existing.get(vid) or new[vid]
            made.append({"volume_id": vid, "device": devices[vid], "snapshot_id": snap["SnapshotId"],
                         "size_gib": vol.get("Size"), "encrypted": vol.get("Encrypted")})
        notes: list[str] = []
        if inp.wait and made:
            ec2.get_waiter("snapshot_completed").wait(
                SnapshotIds=[m["snapshot_id"] for m in made],
                WaiterConfig={"Delay": 15, "MaxAttempts": max(1, inp.wait_seconds // 15)})
            states = {s["SnapshotId"]: s.get("State") for s in ec2.describe_snapshots(
                SnapshotIds=[m["snapshot_id"] for m in made]).get("Snapshots", [])}
        else:  # not waited for: the state each was created (or found) in; await_snapshots records the end
            states = {snap["SnapshotId"]: snap.get("State") for snap in [*existing.values(), *new.values()]}
        for m in made:
            m["state"] = states.get(m["snapshot_id"])
        if not made:
            notes.append(f"instance {inp.instance_id} has no EBS volume attached (instance store is not captured)")
        record = jsonable({"instance_id": inp.instance_id, "taken_at": ctx.now.isoformat(), "snapshots": made})
        artifact = ctx.evidence.put_json(ctx.run_id, f"{ctx.step_id}/snapshots-{inp.instance_id}.json", record,
                                         collected_by=f"responder:{self.name}", at=ctx.now,
                                         details={"step": ctx.step_id,
                                                  "snapshot_ids": [m["snapshot_id"] for m in made]})
        out = SnapshotVolumesOutput(instance_id=inp.instance_id, snapshots=record["snapshots"],
                                    snapshot_ids=[m["snapshot_id"] for m in made], artifact=artifact.name)
        # changed=False: snapshots add evidence and leave the instance as it was; release has nothing to undo
        return Outcome(changed=False, summary=f"{len(made)} snapshot(s) of {inp.instance_id} "
                       f"({created} new): {', '.join(out.snapshot_ids) or 'none'}", output=out.model_dump(),
                       artifacts=[artifact.as_dict()], notes=notes)


# ---------------------------------------------------------------------------------------------
class ProtectInstanceOutput(ActionOutput):
    instance_id: str = ""
    termination_protection: bool = True
    shutdown_behavior: str = "stop"


class ProtectInstance(Action[InstanceInput]):
    """Turn termination protection on and make an OS shutdown stop (not terminate) the instance.

    With shutdown behaviour ``terminate``, an attacker's ``shutdown -h now`` destroys the instance and its
    delete-on-termination volumes: the evidence. Release restores both attributes as they were.
    """

    name = "aws.ec2.protect_instance"
    Input = InstanceInput
    Output = ProtectInstanceOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute"})
    undo_permissions = permissions
    WANTED = {"termination_protection": True, "shutdown_behavior": "stop"}

    def _observed(self, ctx: StepContext, inp: InstanceInput) -> dict[str, Any] | None:
        """The attributes this run's capture read moments ago, when they show protection is needed (a change
        it makes anyway, so nothing stale can make it skip one); else None and the state is read now."""
        seen = fresh_output(ctx, lambda o: o.get("instance_id") == inp.instance_id and "shutdown_behavior" in o)
        if not seen:
            return None
        state = {"termination_protection": bool(seen.get("termination_protection")),
                 "shutdown_behavior": seen.get("shutdown_behavior")}
        return state if state != self.WANTED else None

    def _state(self, ctx: StepContext, inp: InstanceInput) -> dict[str, Any]:
        ec2 = _ec2(ctx)
        found = parallel.read_all({  # three reads at once; a missing instance is still the error raised
            "instance": lambda: look.instance(ec2, inp.instance_id),
            "termination": lambda: look.attribute(ec2, inp.instance_id, "DisableApiTermination"),
            "shutdown": lambda: look.attribute(ec2, inp.instance_id, "InstanceInitiatedShutdownBehavior")})
        return {"termination_protection": bool(found["termination"]), "shutdown_behavior": found["shutdown"]}

    def _set(self, ctx: StepContext, inp: InstanceInput, state: dict[str, Any], current: dict[str, Any]) -> None:
        ec2 = _ec2(ctx)
        if current["termination_protection"] != state["termination_protection"]:
            ec2.modify_instance_attribute(InstanceId=inp.instance_id,
                                          DisableApiTermination={"Value": bool(state["termination_protection"])})
        if current["shutdown_behavior"] != state["shutdown_behavior"] and state["shutdown_behavior"]:
            ec2.modify_instance_attribute(InstanceId=inp.instance_id,
                                          InstanceInitiatedShutdownBehavior={"Value": state["shutdown_behavior"]})

    def plan(self, ctx: StepContext, inp: InstanceInput) -> Change:
        state = self._observed(ctx, inp) or self._state(ctx, inp)
        return Change(will_change=state != self.WANTED, summary=f"termination protection on, shutdown → stop for "
                      f"{inp.instance_id}", before=state, after=dict(self.WANTED))

    def apply(self, ctx: StepContext, inp: InstanceInput) -> Outcome:
        observed = self._observed(ctx, inp)
        state = observed or self._state(ctx, inp)
        out = ProtectInstanceOutput(instance_id=inp.instance_id).model_dump()
        if state == self.WANTED:
            return Outcome(changed=False, summary=f"{inp.instance_id} already protected", before=state,
                           after=state, output=out)
        # two writes: an earlier attempt that stopped between them left it half protected; its before counts
        before = ctx.written_ahead or state
        ctx.record_before(before)
        # from an observation, both attributes are written: whatever changed since, the instance ends protected
        self._set(ctx, inp, self.WANTED, {"termination_protection": None, "shutdown_behavior": None}
                  if observed else state)
        return Outcome(changed=True, summary=f"protected {inp.instance_id} (was: termination protection "
                       f"{before['termination_protection']}, shutdown {before['shutdown_behavior']})",
                       before=before, after=dict(self.WANTED), output=out)

    def undo(self, ctx: StepContext, inp: InstanceInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        current = self._state(ctx, inp)
        drift = {k: current.get(k) for k, v in applied.after.items() if current.get(k) != v}
        if drift and not force:
            raise TargetChanged(f"instance {inp.instance_id} attributes changed since responder set them: {drift}; "
                                "use --force to release anyway")
        self._set(ctx, inp, applied.before, current)
        return Outcome(changed=True, summary=f"restored termination protection/shutdown behaviour of {inp.instance_id}",
                       before=current, after=dict(applied.before),
                       notes=[f"drift overridden: {drift}"] if drift else [])


# ---------------------------------------------------------------------------------------------
class DetachFromAutoscalingOutput(ActionOutput):
    instance_id: str = ""
    autoscaling_group: str | None = None


class DetachFromAutoscaling(Action[InstanceInput]):
    """Take the instance out of its Auto Scaling group without lowering desired capacity.

    The group launches a replacement, so the service stays up, and it can no longer terminate the
    compromised instance on a scale-in or failed health check. Release attaches it again (AWS then raises
    desired capacity by one; the replacement is left for a person to retire).
    """

    name = "aws.ec2.detach_from_autoscaling"
    Input = InstanceInput
    Output = DetachFromAutoscalingOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeAutoScalingGroups",
                             "autoscaling:DetachInstances"})
    undo_permissions = frozenset({"autoscaling:DescribeAutoScalingInstances", "autoscaling:AttachInstances"})

    def _membership(self, ctx: StepContext, inp: InstanceInput) -> dict[str, Any] | None:
        return look.autoscaling_group(ctx.aws("autoscaling"), inp.instance_id)

    def plan(self, ctx: StepContext, inp: InstanceInput) -> Change:
        refuse_own_instance(ctx, inp.instance_id, "detach it from its Auto Scaling group")
        look.instance(_ec2(ctx), inp.instance_id)
        member = self._membership(ctx, inp)
        group = (member or {}).get("AutoScalingGroupName")
        return Change(will_change=bool(group), summary=f"detach {inp.instance_id} from Auto Scaling group {group} "
                      "(desired capacity kept)" if group else f"{inp.instance_id} is in no Auto Scaling group",
                      before={"autoscaling_group": group}, after={"autoscaling_group": None})

    def apply(self, ctx: StepContext, inp: InstanceInput) -> Outcome:
        refuse_own_instance(ctx, inp.instance_id, "detach it from its Auto Scaling group")
        look.instance(_ec2(ctx), inp.instance_id)
        member = self._membership(ctx, inp)
        group = (member or {}).get("AutoScalingGroupName")
        out = DetachFromAutoscalingOutput(instance_id=inp.instance_id, autoscaling_group=group).model_dump()
        if not group:
            return Outcome(changed=False, summary=f"{inp.instance_id} is in no Auto Scaling group",
                           before={"autoscaling_group": None}, after={"autoscaling_group": None}, output=out)
        asg = ctx.aws("autoscaling")
        desired = None
        notes: list[str] = []
        try:  # for the record only: detaching does not depend on it
            found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group]).get("AutoScalingGroups", [])
            desired = found[0].get("DesiredCapacity") if found else None
        except Exception as exc:
            notes.append(f"desired capacity of {group} not read: {type(exc).__name__}: {str(exc)[:200]}")
        before = {"autoscaling_group": group, "lifecycle_state": member.get("LifecycleState"),
                  "desired_capacity": desired}
        ctx.record_before(before)
        asg.detach_instances(InstanceIds=[inp.instance_id], AutoScalingGroupName=group,
                             ShouldDecrementDesiredCapacity=False)
        return Outcome(changed=True, summary=f"detached {inp.instance_id} from {group} (desired capacity kept at "
                       f"{desired if desired is not None else 'its value'}; a replacement launches)",
                       before=before, after={"autoscaling_group": None}, output=out, notes=notes)

    def undo(self, ctx: StepContext, inp: InstanceInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        group = applied.before.get("autoscaling_group")
        member = self._membership(ctx, inp)
        current = (member or {}).get("AutoScalingGroupName")
        if current == group:
            return Outcome(changed=False, summary=f"{inp.instance_id} is already in {group}",
                           before={"autoscaling_group": current}, after={"autoscaling_group": group})
        if current and not force:
            raise TargetChanged(f"{inp.instance_id} is now in Auto Scaling group {current} (responder left it in "
                                "none); use --force to release anyway")
        ctx.aws("autoscaling").attach_instances(InstanceIds=[inp.instance_id], AutoScalingGroupName=group)
        return Outcome(changed=True, summary=f"attached {inp.instance_id} to {group} again",
                       before={"autoscaling_group": current}, after={"autoscaling_group": group},
                       notes=["AWS raised the group's desired capacity by one; retire the replacement "
                              "launched during containment if it is not wanted"])


# ---------------------------------------------------------------------------------------------
class DeregisterOutput(ActionOutput):
    instance_id: str = ""
    target_groups: list[dict[str, Any]] = []


class DeregisterFromTargetGroups(Action[InstanceInput]):
    """Take the instance out of every load-balancer target group, recording group and port.

    A compromised instance keeps serving (and reading) user traffic while it is registered.
    Release registers it again on the same ports.
    """

    name = "aws.ec2.deregister_from_target_groups"
    Input = InstanceInput
    Output = DeregisterOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
                             "elasticloadbalancing:DeregisterTargets"})
    undo_permissions = frozenset({"elasticloadbalancing:DescribeTargetGroups",
                                  "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:RegisterTargets"})

    def _target(self, reg: dict[str, Any], instance_id: str) -> dict[str, Any]:
        return {"Id": instance_id, **({"Port": reg["port"]} if reg.get("port") else {})}

    def plan(self, ctx: StepContext, inp: InstanceInput) -> Change:
        refuse_own_instance(ctx, inp.instance_id, "deregister it from its target groups")
        look.instance(_ec2(ctx), inp.instance_id)
        regs = look.target_registrations(ctx.aws("elbv2"), inp.instance_id)
        return Change(will_change=bool(regs), summary=f"deregister {inp.instance_id} from {len(regs)} target group(s)",
                      before={"target_groups": regs}, after={"target_groups": []})

    def apply(self, ctx: StepContext, inp: InstanceInput) -> Outcome:
        refuse_own_instance(ctx, inp.instance_id, "deregister it from its target groups")
        look.instance(_ec2(ctx), inp.instance_id)
        elbv2 = ctx.aws("elbv2")
        regs = look.target_registrations(elbv2, inp.instance_id)
        before = regs
        if regs:  # one write per group: an earlier attempt that stopped between them left fewer; its before counts
            earlier = ctx.written_ahead.get("target_groups") or []
            before = earlier + [r for r in regs if r not in earlier]
            ctx.record_before({"target_groups": before})
        out = DeregisterOutput(instance_id=inp.instance_id, target_groups=before).model_dump()
        for reg in regs:
            elbv2.deregister_targets(TargetGroupArn=reg["target_group_arn"],
                                     Targets=[self._target(reg, inp.instance_id)])
        return Outcome(changed=bool(regs), summary=f"deregistered {inp.instance_id} from {len(regs)} target group(s)"
                       if regs else f"{inp.instance_id} is in no target group", before={"target_groups": before},
                       after={"target_groups": []}, output=out)

    def undo(self, ctx: StepContext, inp: InstanceInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        elbv2 = ctx.aws("elbv2")
        wanted = applied.before.get("target_groups", [])
        current = look.target_registrations(elbv2, inp.instance_id)
        foreign = [r for r in current if r not in wanted]
        if foreign and not force:
            raise TargetChanged(f"{inp.instance_id} was registered since in target group(s) responder did not remove "
                                f"it from: {foreign}; use --force to release anyway")
        for reg in wanted:
            if reg not in current:
                elbv2.register_targets(TargetGroupArn=reg["target_group_arn"],
                                       Targets=[self._target(reg, inp.instance_id)])
        return Outcome(changed=True, summary=f"registered {inp.instance_id} again in {len(wanted)} target group(s)",
                       before={"target_groups": current}, after={"target_groups": wanted})


# ---------------------------------------------------------------------------------------------
class IsolateInstanceOutput(ActionOutput):
    instance_id: str = ""
    vpc_id: str | None = None
    isolation_group_id: str = ""
    untracking_group_id: str = ""
    network_interfaces: dict[str, list[str]] = {}


class IsolateInstance(Action[InstanceInput]):
    """Cut the instance off the network, established connections included, in two moves per ENI.

    First every ENI goes to the VPC's allow-all group (tracked connections become untracked), then to the
    VPC's isolation group, which has no rules in either direction. A single swap to a no-rules group would
    leave the attacker's established, tracked connections open. The ENIs' groups before isolation are the
    before state; release puts them back if the ENIs still carry only the isolation group.
    """

    name = "aws.ec2.isolate_instance"
    Input = InstanceInput
    Output = IsolateInstanceOutput
    category = Category.CONTAIN
    mutates = True
    reversible = True
    permissions = frozenset({
        "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups",
        "ec2:CreateSecurityGroup", "ec2:CreateTags", "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
        "ec2:ModifyNetworkInterfaceAttribute", "ec2:ModifyInstanceAttribute",
    })
    records_before = True
    undo_permissions = frozenset({"ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces",
                                  "ec2:ModifyNetworkInterfaceAttribute", "ec2:ModifyInstanceAttribute"})

    def _enis(self, ctx: StepContext, inp: InstanceInput) -> tuple[dict[str, Any], dict[str, list[str]]]:
        ec2 = _ec2(ctx)
        inst = look.instance(ec2, inp.instance_id)
        enis = {e["NetworkInterfaceId"]: look.eni_groups(e) for e in look.network_interfaces(ec2, inp.instance_id)}
        if not enis:
            raise TargetChanged(f"instance {inp.instance_id} has no network interface (not in a VPC?)")
        return inst, enis

    def _move(self, ctx: StepContext, instance_id: str, groups_by_eni: dict[str, list[str]]) -> None:
        ec2 = _ec2(ctx)
        for eni, gids in groups_by_eni.items():
            ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=gids)
        if len(groups_by_eni) == 1:
            # single-ENI instances: keep the instance's own view in step (AWS rejects this with several ENIs)
            ec2.modify_instance_attribute(InstanceId=instance_id, Groups=next(iter(groups_by_eni.values())))

    def plan(self, ctx: StepContext, inp: InstanceInput) -> Change:
        refuse_own_instance(ctx, inp.instance_id, "isolate it")
        inst, enis = self._enis(ctx, inp)
        vpc = inst.get("VpcId") or ""
        existing = groups.find_group(_ec2(ctx), groups.ISOLATION, vpc)
        iso = existing["GroupId"] if existing else f"(new) {groups.group_name(groups.ISOLATION, vpc)}"
        done = existing is not None and all(g == [existing["GroupId"]] for g in enis.values())
        return Change(will_change=not done, summary=f"isolate {inp.instance_id}: {len(enis)} ENI(s) → allow-all "
                      f"untracking group → isolation group {iso}", before={"network_interfaces": enis},
                      after={"network_interfaces": {e: [iso] for e in enis}})

    def apply(self, ctx: StepContext, inp: InstanceInput) -> Outcome:
        refuse_own_instance(ctx, inp.instance_id, "isolate it")
        inst, enis = self._enis(ctx, inp)
        vpc = inst.get("VpcId")
        if not vpc:
            raise TargetChanged(f"instance {inp.instance_id} is not in a VPC: security-group isolation needs one")
        ec2 = _ec2(ctx)
        iso, notes = groups.ensure_isolation_group(ec2, vpc, ctx.run_id)
        untrack = groups.ensure_untracking_group(ec2, vpc, ctx.run_id)
        after = {eni: [iso] for eni in enis}
        out = IsolateInstanceOutput(instance_id=inp.instance_id, vpc_id=vpc, isolation_group_id=iso,
                                    untracking_group_id=untrack, network_interfaces=after).model_dump()
        if enis == after:
            return Outcome(changed=False, summary=f"{inp.instance_id} is already isolated ({iso})",
                           before={"network_interfaces": enis}, after={"network_interfaces": after}, output=out,
                           notes=notes)
        before = self._before(ctx, enis)
        ctx.record_before({"network_interfaces": before})  # every ENI's groups, ahead of the first of the moves
        self._move(ctx, inp.instance_id, {eni: [untrack] for eni in enis})   # 1: tracked → untracked
        self._move(ctx, inp.instance_id, after)                              # 2: untracked → cut
        _, now = self._enis(ctx, inp)
        if now != after:
            notes.append(f"after isolation the ENIs report groups {now}, not only {iso}: check by hand")
        return Outcome(changed=True, summary=f"isolated {inp.instance_id}: {len(enis)} ENI(s) moved via {untrack} "
                       f"to {iso} (no rules)", before={"network_interfaces": before},
                       after={"network_interfaces": after}, output=out, notes=notes)

    @staticmethod
    def _before(ctx: StepContext, enis: dict[str, list[str]]) -> dict[str, list[str]]:
        """The ENIs' groups before the run. An earlier attempt that stopped between the moves left ENIs in
        responder's own groups: their groups before are in that attempt's write-ahead record."""
        earlier = ctx.written_ahead.get("network_interfaces") or {}
        return {eni: list(earlier.get(eni, gids)) for eni, gids in enis.items()}

    def undo(self, ctx: StepContext, inp: InstanceInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        _, current = self._enis(ctx, inp)
        left = applied.after.get("network_interfaces", {})
        drift = {eni: {"now": current.get(eni), "responder_left": gids}
                 for eni, gids in left.items() if current.get(eni) != gids}
        if drift and not force:
            raise TargetChanged(f"security groups of {inp.instance_id} changed since isolation: "
                                + "; ".join(f"{eni}: now {d['now']}, responder left {d['responder_left']}"
                                            for eni, d in drift.items())
                                + "; use --force to release anyway")
        before = {eni: gids for eni, gids in applied.before.get("network_interfaces", {}).items() if eni in current}
        self._move(ctx, inp.instance_id, before)
        return Outcome(changed=True, summary=f"restored security groups of {inp.instance_id}",
                       before={"network_interfaces": current}, after={"network_interfaces": before},
                       notes=[f"drift overridden: {drift}"] if drift else [])


# ---------------------------------------------------------------------------------------------
class DetachProfileOutput(ActionOutput):
    instance_id: str = ""
    instance_profile_arn: str | None = None
    association_id: str | None = None


class DetachInstanceProfile(Action[InstanceInput]):
    """Disassociate the instance profile, so the instance cannot mint new role credentials.

    Credentials already handed out stay valid until they expire: revoke the role's sessions first
    (``aws.iam.revoke_sessions``). The association is recorded; release associates the same profile again.
    """

    name = "aws.ec2.detach_instance_profile"
    Input = InstanceInput
    Output = DetachProfileOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"ec2:DescribeIamInstanceProfileAssociations", "ec2:DisassociateIamInstanceProfile"})
    undo_permissions = frozenset({"ec2:DescribeIamInstanceProfileAssociations", "ec2:AssociateIamInstanceProfile",
                                  "iam:PassRole"})

    def _current(self, ctx: StepContext, inp: InstanceInput) -> dict[str, Any] | None:
        ec2 = _ec2(ctx)
        look.instance(ec2, inp.instance_id)
        assoc = look.profile_association(ec2, inp.instance_id)
        if not assoc:
            return None
        return {"association_id": assoc.get("AssociationId"),
                "instance_profile_arn": (assoc.get("IamInstanceProfile") or {}).get("Arn")}

    def plan(self, ctx: StepContext, inp: InstanceInput) -> Change:
        refuse_own_instance(ctx, inp.instance_id, "detach its instance profile")
        cur = self._current(ctx, inp)
        return Change(will_change=bool(cur), summary=f"disassociate {cur['instance_profile_arn']} from "
                      f"{inp.instance_id}" if cur else f"{inp.instance_id} has no instance profile",
                      before={"profile": cur}, after={"profile": None})

    def apply(self, ctx: StepContext, inp: InstanceInput) -> Outcome:
        refuse_own_instance(ctx, inp.instance_id, "detach its instance profile")
        cur = self._current(ctx, inp)
        out = DetachProfileOutput(instance_id=inp.instance_id, **(cur or {})).model_dump()
        if not cur:
            return Outcome(changed=False, summary=f"{inp.instance_id} has no instance profile",
                           before={"profile": None}, after={"profile": None}, output=out)
        ctx.record_before({"profile": cur})
        _ec2(ctx).disassociate_iam_instance_profile(AssociationId=cur["association_id"])
        return Outcome(changed=True, summary=f"disassociated {cur['instance_profile_arn']} from {inp.instance_id}",
                       before={"profile": cur}, after={"profile": None}, output=out)

    def undo(self, ctx: StepContext, inp: InstanceInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        cur = self._current(ctx, inp)
        wanted = applied.before.get("profile") or {}
        if cur and cur.get("instance_profile_arn") == wanted.get("instance_profile_arn"):
            return Outcome(changed=False, summary="profile already associated", before={"profile": cur},
                           after={"profile": cur})
        if cur and not force:
            raise TargetChanged(f"{inp.instance_id} now has instance profile {cur['instance_profile_arn']} "
                                "(responder left none); use --force to release anyway")
        if cur:
            _ec2(ctx).disassociate_iam_instance_profile(AssociationId=cur["association_id"])
        made = _ec2(ctx).associate_iam_instance_profile(IamInstanceProfile={"Arn": wanted["instance_profile_arn"]},
                                                        InstanceId=inp.instance_id)["IamInstanceProfileAssociation"]
        after = {"association_id": made.get("AssociationId"), "instance_profile_arn": wanted["instance_profile_arn"]}
        return Outcome(changed=True,
                       summary=f"associated {wanted['instance_profile_arn']} with {inp.instance_id} again",
                       before={"profile": cur}, after={"profile": after})


# ---------------------------------------------------------------------------------------------
class TagInstanceInput(InstanceInput):
    tags: dict[str, str]


class TagInstance(Action[TagInstanceInput]):
    """Tag the instance (``responder:quarantined=<run>``) so people and automation leave it alone."""

    name = "aws.ec2.tag_instance"
    Input = TagInstanceInput
    category = Category.CONTAIN
    mutates = True
    records_before = True
    reversible = True
    permissions = frozenset({"ec2:DescribeInstances", "ec2:CreateTags"})
    undo_permissions = frozenset({"ec2:DescribeInstances", "ec2:CreateTags", "ec2:DeleteTags"})

    def _tags(self, ctx: StepContext, inp: TagInstanceInput) -> dict[str, str]:
        inst = look.instance(_ec2(ctx), inp.instance_id)
        return {t["Key"]: t["Value"] for t in inst.get("Tags", [])}

    @staticmethod
    def _wanted(inp: TagInstanceInput) -> dict[str, str]:
        """EC2 tags take any text but control characters; keys ≤128, values ≤256."""
        return {_TAG_UNSAFE.sub("_", k)[:128]: _TAG_UNSAFE.sub("_", str(v))[:256] for k, v in inp.tags.items()}

    def plan(self, ctx: StepContext, inp: TagInstanceInput) -> Change:
        current, wanted = self._tags(ctx, inp), self._wanted(inp)
        missing = sorted(k for k, v in wanted.items() if current.get(k) != v)
        return Change(will_change=bool(missing), summary=f"tag {inp.instance_id} with {missing or 'nothing new'}",
                      before={"tags": {k: current.get(k) for k in wanted}}, after={"tags": wanted})

    def apply(self, ctx: StepContext, inp: TagInstanceInput) -> Outcome:
        current, wanted = self._tags(ctx, inp), self._wanted(inp)
        before = {"tags": {k: current.get(k) for k in wanted}}
        missing = {k: v for k, v in wanted.items() if current.get(k) != v}
        if missing:
            ctx.record_before(before)
            _ec2(ctx).create_tags(Resources=[inp.instance_id],
                                  Tags=[{"Key": k, "Value": v} for k, v in missing.items()])
        return Outcome(changed=bool(missing), summary=f"tagged {inp.instance_id}: {', '.join(sorted(missing))}"
                       if missing else "tags already present", before=before, after={"tags": wanted})

    def undo(self, ctx: StepContext, inp: TagInstanceInput, applied: Outcome, *, force: bool = False,
             options: dict[str, Any] | None = None) -> Outcome:
        current = self._tags(ctx, inp)
        drift = {k: current.get(k) for k, v in applied.after.get("tags", {}).items() if current.get(k) != v}
        if drift and not force:
            raise TargetChanged(f"tags of {inp.instance_id} changed since responder set them: {drift}; "
                                "use --force to release anyway")
        ec2 = _ec2(ctx)
        remove = [{"Key": k} for k, v in applied.before.get("tags", {}).items() if v is None]
        restore = [{"Key": k, "Value": v} for k, v in applied.before.get("tags", {}).items() if v is not None]
        if remove:
            ec2.delete_tags(Resources=[inp.instance_id], Tags=remove)
        if restore:
            ec2.create_tags(Resources=[inp.instance_id], Tags=restore)
        return Outcome(changed=True, summary=f"restored tags of {inp.instance_id}",
                       before={"tags": {k: current.get(k) for k in applied.after.get("tags", {})}},
                       after=dict(applied.before))


# =============================================================================================
# Sharing taken back (issue 17): snapshots and AMIs an attacker shared with an outside account.
# Appended as one block; the shared plan/apply/undo lives in ``_sharing``.
# =============================================================================================
class UnshareSnapshotInput(_sharing.ShareRemoval):
    snapshot_id: str = Field(pattern=r"^snap-[0-9a-f]{8,17}$")


class UnshareSnapshot(_sharing.UnshareBase):
    """Remove outside accounts (and public access) from an EBS snapshot's ``createVolumePermission``.

    A shared snapshot lets the other account create a volume, i.e. read the whole disk. The list before
    is recorded; release shares it again with exactly the accounts removed.
    """

    name = "aws.ec2.unshare_snapshot"
    Input = UnshareSnapshotInput
    what = "snapshot"
    permissions = frozenset({"ec2:DescribeSnapshotAttribute", "ec2:ModifySnapshotAttribute"})
    undo_permissions = permissions

    def _target(self, inp: UnshareSnapshotInput) -> str:
        return inp.snapshot_id

    def _read(self, ctx: StepContext, inp: UnshareSnapshotInput) -> tuple[list[str], str | None]:
        ec2 = _ec2(ctx)
        try:
            found = ec2.describe_snapshots(SnapshotIds=[inp.snapshot_id]).get("Snapshots", [])
            attr = ec2.describe_snapshot_attribute(SnapshotId=inp.snapshot_id, Attribute="createVolumePermission")
        except Exception as exc:
            if "InvalidSnapshot" in str(exc):
                raise TargetChanged(f"snapshot {inp.snapshot_id} does not exist here (deleted, or another "
                                    "account/region)") from None
            raise
        owner = found[0].get("OwnerId") if found else None
        return _sharing.ec2_permissions(attr.get("CreateVolumePermissions", [])), owner

    def _change(self, ctx: StepContext, inp: UnshareSnapshotInput, *, add: list[str], remove: list[str]) -> None:
        for operation, values in (("add", add), ("remove", remove)):
            if not values:
                continue
            users = [v for v in values if v != _sharing.PUBLIC]
            kwargs: dict[str, Any] = {"UserIds": users} if users else {}
            if _sharing.PUBLIC in values:
                kwargs["GroupNames"] = [_sharing.PUBLIC]
            _ec2(ctx).modify_snapshot_attribute(SnapshotId=inp.snapshot_id, Attribute="createVolumePermission",
                                                OperationType=operation, **kwargs)


class UnshareImageInput(_sharing.ShareRemoval):
    image_id: str = Field(pattern=r"^ami-[0-9a-f]{8,17}$")


class UnshareImage(_sharing.UnshareBase):
    """Remove outside accounts (and public access) from an AMI's ``launchPermission``.

    An AMI shared out lets the other account launch — and so read — the captured disks. Release shares
    it again with exactly the accounts removed.
    """

    name = "aws.ec2.unshare_image"
    Input = UnshareImageInput
    what = "image"
    permissions = frozenset({"ec2:DescribeImages", "ec2:DescribeImageAttribute", "ec2:ModifyImageAttribute"})
    undo_permissions = permissions

    def _target(self, inp: UnshareImageInput) -> str:
        return inp.image_id

    def _read(self, ctx: StepContext, inp: UnshareImageInput) -> tuple[list[str], str | None]:
        ec2 = _ec2(ctx)
        try:
            found = ec2.describe_images(ImageIds=[inp.image_id]).get("Images", [])
            attr = ec2.describe_image_attribute(ImageId=inp.image_id, Attribute="launchPermission")
        except Exception as exc:
            if "InvalidAMIID" in str(exc):
                raise TargetChanged(f"image {inp.image_id} does not exist here (deregistered, or another "
                                    "account/region)") from None
            raise
        if not found:
            raise TargetChanged(f"image {inp.image_id} does not exist here")
        return _sharing.ec2_permissions(attr.get("LaunchPermissions", [])), found[0].get("OwnerId")

    def _change(self, ctx: StepContext, inp: UnshareImageInput, *, add: list[str], remove: list[str]) -> None:
        perms: dict[str, Any] = {}
        if add:
            perms["Add"] = _sharing.ec2_entries(add)
        if remove:
            perms["Remove"] = _sharing.ec2_entries(remove)
        _ec2(ctx).modify_image_attribute(ImageId=inp.image_id, LaunchPermission=perms)
