"""ECS / Fargate task compromise: record the task and its definition, then cut the task's network.

Evidence first: ``capture_task`` keeps the task as ``DescribeTasks`` reports it and its task definition,
with container environment variable *names* only (their values are secrets more often than not), and
names what containment needs: the task's ENIs, its VPC and groups, its task and execution roles.
``isolate_task`` moves each task ENI in the same two moves EC2 isolation uses (``_ec2_groups``: the
VPC's allow-all group first, so tracked connections become untracked, then the no-rules isolation group),
so the attacker's established connections are cut too. The task is never stopped: a stopped Fargate task
takes its memory and writable layer with it. The task role's sessions are revoked by the ordinary
``aws.iam.revoke_sessions`` step.

Every ENI's groups are written ahead of the first move (``records_before``): a crash between the moves,
or after them before their record, leaves the resumed step an ENI in responder's own groups, and the
groups it had before come from that record — release never "restores" the allow-all untracking group.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ...errors import TargetChanged
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext
from . import _ec2_groups as groups
from .common import jsonable

_CLUSTER = r"^(arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/)?[A-Za-z0-9_-]{1,255}$"
_TASK = r"^(arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task/([A-Za-z0-9_-]{1,255}/)?)?[A-Za-z0-9-]{32,36}$"


class TaskInput(ActionInput):
    """A task by ARN or id, and its cluster (both from the finding: only ECS-shaped values reach the API)."""

    cluster: str = Field(pattern=_CLUSTER)
    task: str = Field(pattern=_TASK)


def describe_task(ecs: Any, cluster: str, task: str) -> dict[str, Any]:
    reply = ecs.describe_tasks(cluster=cluster, tasks=[task])
    found = reply.get("tasks") or []
    if not found:
        reasons = [f.get("reason") for f in reply.get("failures") or []]
        raise TargetChanged(
            f"task {task} is not in cluster {cluster} ({', '.join(filter(None, reasons)) or 'gone'}:"
            " stopped tasks disappear from DescribeTasks about an hour after they stop)"
        )
    return dict(found[0])


def task_enis(task: dict[str, Any]) -> list[str]:
    """The ENIs of an ``awsvpc`` task (Fargate always), from its ElasticNetworkInterface attachments."""
    out = []
    for attachment in task.get("attachments") or []:
        if attachment.get("type") != "ElasticNetworkInterface" or attachment.get("status") in ("DELETED",):
            continue
        for detail in attachment.get("details") or []:
            if detail.get("name") == "networkInterfaceId" and detail.get("value"):
                out.append(str(detail["value"]))
    return sorted(set(out))


def _names_only(definition: dict[str, Any]) -> dict[str, Any]:
    """Container environment values removed (names kept); secrets are references (ARNs) and stay."""
    out = dict(definition)
    containers = []
    for container in out.get("containerDefinitions") or []:
        container = dict(container)
        container["environment"] = [{"name": e.get("name")} for e in container.get("environment") or []]
        containers.append(container)
    out["containerDefinitions"] = containers
    return out


# ---------------------------------------------------------------------------------------------
class CaptureTaskOutput(ActionOutput):
    task_arn: str = ""
    cluster_arn: str | None = None
    task_definition_arn: str | None = None
    last_status: str | None = None
    launch_type: str | None = None
    network_interface_ids: list[str] = []
    security_group_ids: list[str] = []
    vpc_id: str | None = None
    task_role_name: str | None = None
    task_role_arn: str | None = None
    execution_role_name: str | None = None
    environment_variable_names: list[str] = []
    artifact: str = ""
    sha256: str = ""


class CaptureTask(Action[TaskInput]):
    """Preserve a task, its task definition and its ENIs as evidence before containment.

    Container environment values are dropped before anything is stored (names only). A read that fails
    (the task definition, the ENIs) is a note, not a failure.
    """

    name = "aws.ecs.capture_task"
    Input = TaskInput
    Output = CaptureTaskOutput
    category = Category.EVIDENCE
    permissions = frozenset({"ecs:DescribeTasks", "ecs:DescribeTaskDefinition", "ec2:DescribeNetworkInterfaces"})

    def plan(self, ctx: StepContext, inp: TaskInput) -> Change:
        return Change(will_change=False, summary=f"capture task {inp.task} of cluster {inp.cluster} as evidence")

    def apply(self, ctx: StepContext, inp: TaskInput) -> Outcome:
        ecs = ctx.aws("ecs")
        task = describe_task(ecs, inp.cluster, inp.task)
        notes: list[str] = []
        definition: dict[str, Any] = {}
        try:
            definition = _names_only(
                ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
            )
        except Exception as exc:
            notes.append(f"task definition not captured: {type(exc).__name__}: {str(exc)[:160]}")
        for container in (task.get("overrides") or {}).get("containerOverrides") or []:
            if container.get("environment"):
                container["environment"] = [{"name": e.get("name")} for e in container["environment"]]
        enis = task_enis(task)
        interfaces: list[dict[str, Any]] = []
        if enis:
            try:
                interfaces = ctx.aws("ec2").describe_network_interfaces(NetworkInterfaceIds=enis)["NetworkInterfaces"]
            except Exception as exc:
                notes.append(f"network interfaces not captured: {type(exc).__name__}: {str(exc)[:160]}")
        else:
            notes.append(
                "the task has no ENI attachment (not awsvpc, or not yet attached): network isolation "
                "has nothing to move"
            )
        state = jsonable(
            {
                "captured_at": ctx.now.isoformat(),
                "task": task,
                "task_definition": definition,
                "network_interfaces": interfaces,
            }
        )
        artifact = ctx.evidence.put_json(
            ctx.run_id,
            f"{ctx.step_id}/ecs-task-{task['taskArn'].rsplit('/', 1)[-1]}.json",
            state,
            collected_by=f"responder:{self.name}",
            at=ctx.now,
            details={"step": ctx.step_id, "api": "ecs", "task": task["taskArn"]},
        )
        task_role = (task.get("overrides") or {}).get("taskRoleArn") or definition.get("taskRoleArn")
        exec_role = (task.get("overrides") or {}).get("executionRoleArn") or definition.get("executionRoleArn")
        out = CaptureTaskOutput(
            task_arn=task["taskArn"],
            cluster_arn=task.get("clusterArn"),
            task_definition_arn=task.get("taskDefinitionArn"),
            last_status=task.get("lastStatus"),
            launch_type=task.get("launchType"),
            network_interface_ids=enis,
            security_group_ids=sorted({g["GroupId"] for i in interfaces for g in i.get("Groups", [])}),
            vpc_id=next((i.get("VpcId") for i in interfaces if i.get("VpcId")), None),
            task_role_name=task_role.rsplit("/", 1)[-1] if task_role else None,
            task_role_arn=task_role,
            execution_role_name=exec_role.rsplit("/", 1)[-1] if exec_role else None,
            environment_variable_names=sorted(
                {
                    e["name"]
                    for c in definition.get("containerDefinitions") or []
                    for e in c.get("environment") or []
                    if e.get("name")
                }
            ),
            artifact=artifact.name,
            sha256=artifact.sha256,
        )
        return Outcome(
            changed=False,
            summary=f"captured task {out.task_arn} → {artifact.name} "
            f"({len(enis)} ENI(s), task role {out.task_role_name or 'none'})",
            output=out.model_dump(),
            artifacts=[artifact.as_dict()],
            notes=notes,
        )


# ---------------------------------------------------------------------------------------------
class IsolateTaskInput(TaskInput):
    network_interface_ids: list[str] | None = Field(
        None, description="the task's ENIs (default: read from the task's attachments)"
    )


class IsolateTaskOutput(ActionOutput):
    task: str = ""
    isolation_group_id: str = ""
    network_interfaces: dict[str, list[str]] = {}


class IsolateTask(Action[IsolateTaskInput]):
    """Cut a task off the network, established connections included, in two moves per ENI.

    The ENIs' groups before are recorded; release puts them back if they still carry only the isolation
    group. The task keeps running (its memory and writable layer are evidence).
    """

    name = "aws.ecs.isolate_task"
    Input = IsolateTaskInput
    Output = IsolateTaskOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # two moves per ENI: every ENI's groups are written ahead of the first
    reversible = True
    permissions = frozenset(
        {
            "ecs:DescribeTasks",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSecurityGroups",
            "ec2:CreateSecurityGroup",
            "ec2:CreateTags",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:ModifyNetworkInterfaceAttribute",
        }
    )
    undo_permissions = frozenset({"ec2:DescribeNetworkInterfaces", "ec2:ModifyNetworkInterfaceAttribute"})

    def _enis(self, ctx: StepContext, inp: IsolateTaskInput) -> tuple[str | None, dict[str, list[str]]]:
        ids = inp.network_interface_ids
        if ids is None:
            ids = task_enis(describe_task(ctx.aws("ecs"), inp.cluster, inp.task))
        if not ids:
            raise TargetChanged(f"task {inp.task} has no ENI (not an awsvpc task): nothing to isolate")
        found = ctx.aws("ec2").describe_network_interfaces(NetworkInterfaceIds=sorted(ids))["NetworkInterfaces"]
        vpc = next((e.get("VpcId") for e in found if e.get("VpcId")), None)
        return vpc, {e["NetworkInterfaceId"]: sorted(g["GroupId"] for g in e.get("Groups", [])) for e in found}

    def _move(self, ctx: StepContext, groups_by_eni: dict[str, list[str]]) -> None:
        ec2 = ctx.aws("ec2")
        for eni, gids in groups_by_eni.items():
            ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=gids)

    def plan(self, ctx: StepContext, inp: IsolateTaskInput) -> Change:
        vpc, enis = self._enis(ctx, inp)
        existing = groups.find_group(ctx.aws("ec2"), groups.ISOLATION, vpc or "")
        iso = existing["GroupId"] if existing else f"(new) {groups.group_name(groups.ISOLATION, vpc or '?')}"
        return Change(
            will_change=any(g != [iso] for g in enis.values()),
            summary=f"isolate task {inp.task}: {len(enis)} ENI(s) → allow-all untracking group → isolation group {iso}",
            before={"network_interfaces": enis},
            after={"network_interfaces": {e: [iso] for e in enis}},
        )

    def apply(self, ctx: StepContext, inp: IsolateTaskInput) -> Outcome:
        vpc, enis = self._enis(ctx, inp)
        if not vpc:
            raise TargetChanged(f"the ENIs of task {inp.task} are in no VPC")
        ec2 = ctx.aws("ec2")
        iso, notes = groups.ensure_isolation_group(ec2, vpc, ctx.run_id)
        after = {eni: [iso] for eni in enis}
        out = IsolateTaskOutput(task=inp.task, isolation_group_id=iso, network_interfaces=after).model_dump()
        if enis == after:
            return Outcome(
                changed=False,
                summary=f"task {inp.task} is already isolated ({iso})",
                before={"network_interfaces": enis},
                after={"network_interfaces": after},
                output=out,
                notes=notes,
            )
        # the shared groups are responder's own and never removed: only the ENIs' groups are restored
        untrack = groups.ensure_untracking_group(ec2, vpc, ctx.run_id)
        before = self._before(ctx, enis, {iso, untrack})
        ctx.record_before({"network_interfaces": before})  # every ENI, ahead of the first move
        self._move(ctx, {eni: [untrack] for eni in enis})  # 1: tracked → untracked
        self._move(ctx, after)  # 2: untracked → cut
        return Outcome(
            changed=True,
            summary=f"isolated task {inp.task}: {len(enis)} ENI(s) moved via {untrack} to {iso} (no rules)",
            before={"network_interfaces": before},
            after={"network_interfaces": after},
            output=out,
            notes=notes,
        )

    @staticmethod
    def _before(ctx: StepContext, enis: dict[str, list[str]], ours: set[str]) -> dict[str, list[str]]:
        """The ENIs' groups before the run. An ENI found only in responder's own groups was moved by an
        earlier attempt that stopped between or after the moves: its groups are in that attempt's record."""
        if not any(gids and set(gids) <= ours for gids in enis.values()):
            return enis
        earlier = ctx.written_ahead.get("network_interfaces") or {}
        return {eni: list(earlier.get(eni, gids)) for eni, gids in enis.items()}

    def undo(
        self,
        ctx: StepContext,
        inp: IsolateTaskInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        left = applied.after.get("network_interfaces", {})
        found = ctx.aws("ec2").describe_network_interfaces(NetworkInterfaceIds=sorted(left))["NetworkInterfaces"]
        current = {e["NetworkInterfaceId"]: sorted(g["GroupId"] for g in e.get("Groups", [])) for e in found}
        drift = {eni: current.get(eni) for eni, gids in left.items() if current.get(eni) != gids}
        if drift and not force:
            raise TargetChanged(
                f"security groups of task {inp.task}'s ENIs changed since isolation: {drift}; "
                "use --force to release anyway"
            )
        before = {eni: gids for eni, gids in applied.before.get("network_interfaces", {}).items() if eni in current}
        self._move(ctx, before)
        return Outcome(
            changed=True,
            summary=f"restored security groups of task {inp.task}'s ENIs",
            before={"network_interfaces": current},
            after={"network_interfaces": before},
        )
