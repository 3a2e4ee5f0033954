"""RDS compromise: record the database's configuration, snapshot it, then close it off — releasably.

Evidence first: ``capture_db_instance`` keeps the instance as ``DescribeDBInstances`` reports it, its
security groups with their rules, and who each of its manual snapshots is shared with;
``snapshot_db_instance`` takes a snapshot tagged with the run (found again by its deterministic name, so
a resumed run never takes two). Containment: ``remove_public_access`` turns ``PubliclyAccessible``
off, ``isolate_db_instance`` moves it to the VPC's no-rules isolation group in the same two moves the
EC2 isolation uses (``_ec2_groups``: allow-all first, so tracked connections become untracked, then no
rules), and ``unshare_db_snapshot`` takes outside accounts off a snapshot's ``restore`` attribute. The
database is never stopped, modified otherwise, or deleted.

Every containment step writes its "before" ahead of its first write (``records_before``). A crash
between a change and its record leaves the resumed step a database already contained; the engine keeps
the first attempt's "before", so release restores it. The steps with several writes (the two isolation
moves, one unshare per snapshot) write all of it ahead of the first, and a resumed attempt that finds the
target half-changed takes its "before" from that record: release never puts the allow-all group back.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import Field

from ...errors import TargetChanged
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext
from . import _ec2_groups as groups
from . import _sharing
from .common import jsonable

_DB_ID = r"^[A-Za-z][A-Za-z0-9-]{0,62}$"
_SNAPSHOT_ID = r"^[A-Za-z][A-Za-z0-9:-]{0,254}$"


class DbInstanceInput(ActionInput):
    """The identifier comes from the finding: only an RDS-shaped identifier reaches the API."""

    db_instance_identifier: str = Field(pattern=_DB_ID)


def db_instance(rds: Any, identifier: str) -> dict[str, Any]:
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    except Exception as exc:
        if "DBInstanceNotFound" in str(exc):
            raise TargetChanged(
                f"DB instance {identifier} does not exist here (deleted, or another account/region)"
            ) from None
        raise
    if not found:
        raise TargetChanged(f"DB instance {identifier} does not exist here")
    return dict(found[0])


def _group_ids(db: dict[str, Any]) -> list[str]:
    return sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", []) if g.get("Status") != "removing")


# ---------------------------------------------------------------------------------------------
class CaptureDbOutput(ActionOutput):
    db_instance_identifier: str = ""
    engine: str | None = None
    publicly_accessible: bool = False
    vpc_id: str | None = None
    security_group_ids: list[str] = []
    cluster_identifier: str | None = None
    master_user_secret_arn: str | None = None
    shared_snapshots: list[dict[str, Any]] = []
    artifact: str = ""
    sha256: str = ""


class CaptureDbInstance(Action[DbInstanceInput]):
    """Preserve a DB instance's configuration, security groups and snapshot sharing as evidence.

    Captures DescribeDBInstances, the rules of its VPC security groups, its manual snapshots and who
    each is shared with (``restore``), and the master-user secret's ARN (never its value). What cannot be
    read is a note, not a failure.
    """

    name = "aws.rds.capture_db_instance"
    Input = DbInstanceInput
    Output = CaptureDbOutput
    category = Category.EVIDENCE
    permissions = frozenset(
        {
            "rds:DescribeDBInstances",
            "rds:DescribeDBSnapshots",
            "rds:DescribeDBSnapshotAttributes",
            "ec2:DescribeSecurityGroups",
        }
    )

    def plan(self, ctx: StepContext, inp: DbInstanceInput) -> Change:
        return Change(will_change=False, summary=f"capture DB instance {inp.db_instance_identifier} as evidence")

    def apply(self, ctx: StepContext, inp: DbInstanceInput) -> Outcome:
        rds = ctx.aws("rds")
        db = db_instance(rds, inp.db_instance_identifier)
        notes: list[str] = []
        gids = _group_ids(db)
        state: dict[str, Any] = {
            "captured_at": ctx.now.isoformat(),
            "db_instance": db,
            "security_groups": [],
            "snapshots": [],
        }
        try:
            if gids:
                state["security_groups"] = ctx.aws("ec2").describe_security_groups(GroupIds=gids)["SecurityGroups"]
        except Exception as exc:
            notes.append(f"security groups not captured: {type(exc).__name__}: {str(exc)[:160]}")
        shared: list[dict[str, Any]] = []
        try:
            snaps = rds.describe_db_snapshots(
                DBInstanceIdentifier=inp.db_instance_identifier, SnapshotType="manual"
            ).get("DBSnapshots", [])
            for snap in snaps:
                ident = snap["DBSnapshotIdentifier"]
                attrs = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=ident)
                restore = _restore_values(attrs["DBSnapshotAttributesResult"].get("DBSnapshotAttributes", []))
                state["snapshots"].append({"snapshot": snap, "restore": restore})
                if restore:
                    shared.append({"db_snapshot_identifier": ident, "shared_with": restore})
        except Exception as exc:
            notes.append(f"snapshots not captured: {type(exc).__name__}: {str(exc)[:160]}")
        state = jsonable(state)
        artifact = ctx.evidence.put_json(
            ctx.run_id,
            f"{ctx.step_id}/rds-{inp.db_instance_identifier}.json",
            state,
            collected_by=f"responder:{self.name}",
            at=ctx.now,
            details={"step": ctx.step_id, "api": "rds", "db_instance": inp.db_instance_identifier},
        )
        out = CaptureDbOutput(
            db_instance_identifier=inp.db_instance_identifier,
            engine=db.get("Engine"),
            publicly_accessible=bool(db.get("PubliclyAccessible")),
            vpc_id=(db.get("DBSubnetGroup") or {}).get("VpcId"),
            security_group_ids=gids,
            cluster_identifier=db.get("DBClusterIdentifier"),
            master_user_secret_arn=(db.get("MasterUserSecret") or {}).get("SecretArn"),
            shared_snapshots=shared,
            artifact=artifact.name,
            sha256=artifact.sha256,
        )
        return Outcome(
            changed=False,
            summary=f"captured DB instance {inp.db_instance_identifier} → {artifact.name} "
            f"({'public' if out.publicly_accessible else 'private'}, {len(shared)} shared snapshot(s))",
            output=out.model_dump(),
            artifacts=[artifact.as_dict()],
            notes=notes,
        )


def _restore_values(attributes: list[dict[str, Any]]) -> list[str]:
    values: set[str] = set()
    for attr in attributes:
        if attr.get("AttributeName") == "restore":
            values |= {str(v) for v in attr.get("AttributeValues", [])}
    return sorted(values)


# ---------------------------------------------------------------------------------------------
class SnapshotDbInput(DbInstanceInput):
    wait: bool = True
    wait_seconds: int = Field(3600, ge=0, le=24 * 3600)


class SnapshotDbOutput(ActionOutput):
    db_instance_identifier: str = ""
    db_snapshot_identifier: str = ""
    status: str | None = None


class SnapshotDbInstance(Action[SnapshotDbInput]):
    """Take a manual snapshot of the DB instance before containment, tagged with the run.

    The snapshot's name is derived from the run and the instance, so a resumed run finds it instead of
    taking a second one; responder never deletes it. (An Aurora instance's storage belongs to its
    cluster: AWS refuses an instance snapshot there, and the step fails saying so.)
    """

    name = "aws.rds.snapshot_db_instance"
    Input = SnapshotDbInput
    Output = SnapshotDbOutput
    category = Category.EVIDENCE
    mutates = True  # creates a snapshot; evidence steps always run
    permissions = frozenset(
        {"rds:DescribeDBInstances", "rds:DescribeDBSnapshots", "rds:CreateDBSnapshot", "rds:AddTagsToResource"}
    )

    @staticmethod
    def snapshot_name(run_id: str, identifier: str) -> str:
        digest = hashlib.sha256(f"{run_id}/{identifier}".encode()).hexdigest()[:12]
        return f"responder-{digest}-{identifier}"[:255]

    def plan(self, ctx: StepContext, inp: SnapshotDbInput) -> Change:
        db_instance(ctx.aws("rds"), inp.db_instance_identifier)
        return Change(
            will_change=True,
            summary=f"snapshot DB instance {inp.db_instance_identifier} as "
            f"{self.snapshot_name(ctx.run_id, inp.db_instance_identifier)}",
        )

    def apply(self, ctx: StepContext, inp: SnapshotDbInput) -> Outcome:
        rds = ctx.aws("rds")
        db_instance(rds, inp.db_instance_identifier)
        name = self.snapshot_name(ctx.run_id, inp.db_instance_identifier)
        try:
            snap = rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]
            created = False
        except Exception as exc:
            if "DBSnapshotNotFound" not in str(exc):
                raise
            snap = rds.create_db_snapshot(
                DBInstanceIdentifier=inp.db_instance_identifier,
                DBSnapshotIdentifier=name,
                Tags=[
                    {"Key": "responder:run-id", "Value": ctx.run_id[:255]},
                    {"Key": "responder:finding-id", "Value": ctx.finding.id[:255]},
                ],
            )["DBSnapshot"]
            created = True
        if inp.wait and snap.get("Status") != "available":
            rds.get_waiter("db_snapshot_available").wait(
                DBSnapshotIdentifier=name, WaiterConfig={"Delay": 30, "MaxAttempts": max(1, inp.wait_seconds // 30)}
            )
            snap = rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]
        out = SnapshotDbOutput(
            db_instance_identifier=inp.db_instance_identifier, db_snapshot_identifier=name, status=snap.get("Status")
        )
        # changed=False: a snapshot adds evidence and leaves the database as it was; nothing to release
        return Outcome(
            changed=False,
            summary=f"snapshot {name} of {inp.db_instance_identifier} "
            f"({'new' if created else 'already taken'}, {out.status})",
            output=out.model_dump(),
        )


# ---------------------------------------------------------------------------------------------
class RemovePublicAccess(Action[DbInstanceInput]):
    """Turn ``PubliclyAccessible`` off, so the instance's endpoint no longer resolves to a public address.

    Applied immediately; the instance keeps running. Release turns it back on if responder's setting is
    still in place.
    """

    name = "aws.rds.remove_public_access"
    Input = DbInstanceInput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # one write: "publicly accessible" is written ahead of it
    reversible = True
    permissions = frozenset({"rds:DescribeDBInstances", "rds:ModifyDBInstance"})
    undo_permissions = permissions

    def plan(self, ctx: StepContext, inp: DbInstanceInput) -> Change:
        public = bool(db_instance(ctx.aws("rds"), inp.db_instance_identifier).get("PubliclyAccessible"))
        return Change(
            will_change=public,
            summary=f"make DB instance {inp.db_instance_identifier} not publicly accessible"
            if public
            else f"{inp.db_instance_identifier} is not publicly accessible",
            before={"publicly_accessible": public},
            after={"publicly_accessible": False},
            notes=["clients outside the VPC lose the database"] if public else [],
        )

    def apply(self, ctx: StepContext, inp: DbInstanceInput) -> Outcome:
        rds = ctx.aws("rds")
        public = bool(db_instance(rds, inp.db_instance_identifier).get("PubliclyAccessible"))
        if not public:
            return Outcome(
                changed=False,
                summary=f"{inp.db_instance_identifier} is not publicly accessible",
                before={"publicly_accessible": False},
                after={"publicly_accessible": False},
            )
        ctx.record_before({"publicly_accessible": True})
        rds.modify_db_instance(
            DBInstanceIdentifier=inp.db_instance_identifier, PubliclyAccessible=False, ApplyImmediately=True
        )
        return Outcome(
            changed=True,
            summary=f"{inp.db_instance_identifier} is no longer publicly accessible",
            before={"publicly_accessible": True},
            after={"publicly_accessible": False},
        )

    def undo(
        self,
        ctx: StepContext,
        inp: DbInstanceInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        rds = ctx.aws("rds")
        public = bool(db_instance(rds, inp.db_instance_identifier).get("PubliclyAccessible"))
        if public and not force:
            raise TargetChanged(
                f"{inp.db_instance_identifier} was made publicly accessible again since; use --force to release anyway"
            )
        rds.modify_db_instance(
            DBInstanceIdentifier=inp.db_instance_identifier, PubliclyAccessible=True, ApplyImmediately=True
        )
        return Outcome(
            changed=True,
            summary=f"{inp.db_instance_identifier} is publicly accessible again",
            before={"publicly_accessible": public},
            after={"publicly_accessible": True},
        )


# ---------------------------------------------------------------------------------------------
class IsolateDbOutput(ActionOutput):
    db_instance_identifier: str = ""
    isolation_group_id: str = ""
    security_group_ids: list[str] = []


class IsolateDbInstance(Action[DbInstanceInput]):
    """Cut the DB instance off the network in two moves, as EC2 isolation does.

    First the VPC's allow-all group (tracked connections become untracked), then the VPC's no-rules
    isolation group, so established sessions — the attacker's included — are cut too. Every client,
    the application included, loses the database: meant to sit behind an approval. The groups before are
    recorded; release puts them back if the instance still carries only the isolation group.
    """

    name = "aws.rds.isolate_db_instance"
    Input = DbInstanceInput
    Output = IsolateDbOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # two moves: the groups before are written ahead of the first
    reversible = True
    permissions = frozenset(
        {
            "rds:DescribeDBInstances",
            "rds:ModifyDBInstance",
            "ec2:DescribeSecurityGroups",
            "ec2:CreateSecurityGroup",
            "ec2:CreateTags",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupEgress",
        }
    )
    undo_permissions = frozenset({"rds:DescribeDBInstances", "rds:ModifyDBInstance"})

    def _state(self, ctx: StepContext, inp: DbInstanceInput) -> tuple[str, list[str]]:
        db = db_instance(ctx.aws("rds"), inp.db_instance_identifier)
        vpc = (db.get("DBSubnetGroup") or {}).get("VpcId")
        if not vpc:
            raise TargetChanged(
                f"DB instance {inp.db_instance_identifier} is not in a VPC: security-group isolation needs one"
            )
        return str(vpc), _group_ids(db)

    def _set(self, ctx: StepContext, inp: DbInstanceInput, gids: list[str]) -> None:
        ctx.aws("rds").modify_db_instance(
            DBInstanceIdentifier=inp.db_instance_identifier, VpcSecurityGroupIds=gids, ApplyImmediately=True
        )

    def plan(self, ctx: StepContext, inp: DbInstanceInput) -> Change:
        vpc, gids = self._state(ctx, inp)
        existing = groups.find_group(ctx.aws("ec2"), groups.ISOLATION, vpc)
        iso = existing["GroupId"] if existing else f"(new) {groups.group_name(groups.ISOLATION, vpc)}"
        return Change(
            will_change=gids != [iso],
            summary=f"isolate DB instance {inp.db_instance_identifier}: "
            f"{gids} → allow-all untracking group → isolation group {iso}",
            before={"security_group_ids": gids},
            after={"security_group_ids": [iso]},
            notes=["every client, the application included, loses the database"],
        )

    def apply(self, ctx: StepContext, inp: DbInstanceInput) -> Outcome:
        vpc, gids = self._state(ctx, inp)
        ec2 = ctx.aws("ec2")
        iso, notes = groups.ensure_isolation_group(ec2, vpc, ctx.run_id)
        out = IsolateDbOutput(
            db_instance_identifier=inp.db_instance_identifier, isolation_group_id=iso, security_group_ids=[iso]
        ).model_dump()
        if gids == [iso]:
            return Outcome(
                changed=False,
                summary=f"{inp.db_instance_identifier} is already isolated ({iso})",
                before={"security_group_ids": gids},
                after={"security_group_ids": gids},
                output=out,
                notes=notes,
            )
        # the shared groups are responder's own and never removed: only the instance's groups are restored
        untrack = groups.ensure_untracking_group(ec2, vpc, ctx.run_id)
        before = gids
        if gids and set(gids) <= {iso, untrack}:  # moved by an earlier attempt that stopped between the moves
            before = list(ctx.written_ahead.get("security_group_ids") or gids)
        ctx.record_before({"security_group_ids": before})
        self._set(ctx, inp, [untrack])  # 1: tracked → untracked
        self._set(ctx, inp, [iso])  # 2: untracked → cut
        return Outcome(
            changed=True,
            summary=f"isolated DB instance {inp.db_instance_identifier}: {before} → {iso} via {untrack}",
            before={"security_group_ids": before},
            after={"security_group_ids": [iso]},
            output=out,
            notes=notes,
        )

    def undo(
        self,
        ctx: StepContext,
        inp: DbInstanceInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        _, current = self._state(ctx, inp)
        left = applied.after.get("security_group_ids", [])
        if current != left and not force:
            raise TargetChanged(
                f"security groups of {inp.db_instance_identifier} changed since isolation: now "
                f"{current}, responder left {left}; use --force to release anyway"
            )
        before = applied.before.get("security_group_ids", [])
        self._set(ctx, inp, before)
        return Outcome(
            changed=True,
            summary=f"restored security groups of {inp.db_instance_identifier}: {before}",
            before={"security_group_ids": current},
            after={"security_group_ids": before},
        )


# ---------------------------------------------------------------------------------------------
class UnshareDbSnapshotInput(_sharing.ShareRemoval):
    """A DB snapshot, or with ``cluster: true`` an Aurora cluster snapshot."""

    db_snapshot_identifier: str = Field(pattern=_SNAPSHOT_ID)
    cluster: bool = False


class UnshareDbSnapshot(_sharing.UnshareBase):
    """Remove outside accounts (and public access) from a DB or cluster snapshot's ``restore`` attribute.

    A shared DB snapshot lets the other account restore the whole database. The list before is
    recorded; release shares it again with exactly the accounts removed.
    """

    name = "aws.rds.unshare_db_snapshot"
    Input = UnshareDbSnapshotInput
    what = "DB snapshot"
    permissions = frozenset(
        {
            "rds:DescribeDBSnapshotAttributes",
            "rds:ModifyDBSnapshotAttribute",
            "rds:DescribeDBClusterSnapshotAttributes",
            "rds:ModifyDBClusterSnapshotAttribute",
        }
    )
    undo_permissions = permissions

    def _target(self, inp: UnshareDbSnapshotInput) -> str:
        return inp.db_snapshot_identifier

    def _read(self, ctx: StepContext, inp: UnshareDbSnapshotInput) -> tuple[list[str], str | None]:
        rds = ctx.aws("rds")
        try:
            if inp.cluster:
                reply = rds.describe_db_cluster_snapshot_attributes(
                    DBClusterSnapshotIdentifier=inp.db_snapshot_identifier
                )
                attrs = reply["DBClusterSnapshotAttributesResult"].get("DBClusterSnapshotAttributes", [])
            else:
                reply = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=inp.db_snapshot_identifier)
                attrs = reply["DBSnapshotAttributesResult"].get("DBSnapshotAttributes", [])
        except Exception as exc:
            if "SnapshotNotFound" in str(exc):
                raise TargetChanged(f"DB snapshot {inp.db_snapshot_identifier} does not exist here") from None
            raise
        return _restore_values(attrs), ctx.finding.account_id

    def _change(self, ctx: StepContext, inp: UnshareDbSnapshotInput, *, add: list[str], remove: list[str]) -> None:
        rds = ctx.aws("rds")
        kwargs: dict[str, Any] = {"AttributeName": "restore"}
        if add:
            kwargs["ValuesToAdd"] = add
        if remove:
            kwargs["ValuesToRemove"] = remove
        if inp.cluster:
            rds.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier=inp.db_snapshot_identifier, **kwargs)
        else:
            rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=inp.db_snapshot_identifier, **kwargs)


# ---------------------------------------------------------------------------------------------
class UnshareInstanceSnapshotsInput(DbInstanceInput):
    accounts: list[str] | None = Field(None, description="outside accounts to remove (default: all, and public)")


class UnshareInstanceSnapshots(Action[UnshareInstanceSnapshotsInput]):
    """Take outside accounts off every manual snapshot of a DB instance (the playbook does not know them).

    Each snapshot's ``restore`` list is recorded; release shares each again with exactly the accounts
    removed from it, refusing if any of them changed since.
    """

    name = "aws.rds.unshare_instance_snapshots"
    Input = UnshareInstanceSnapshotsInput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # one write per snapshot: every snapshot's list is written ahead of the first
    reversible = True
    permissions = frozenset(
        {"rds:DescribeDBSnapshots", "rds:DescribeDBSnapshotAttributes", "rds:ModifyDBSnapshotAttribute"}
    )
    undo_permissions = frozenset({"rds:DescribeDBSnapshotAttributes", "rds:ModifyDBSnapshotAttribute"})

    def _shared(self, ctx: StepContext, inp: UnshareInstanceSnapshotsInput) -> dict[str, list[str]]:
        rds = ctx.aws("rds")
        snaps = rds.describe_db_snapshots(DBInstanceIdentifier=inp.db_instance_identifier, SnapshotType="manual").get(
            "DBSnapshots", []
        )
        out: dict[str, list[str]] = {}
        for snap in snaps:
            ident = snap["DBSnapshotIdentifier"]
            reply = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=ident)
            values = _restore_values(reply["DBSnapshotAttributesResult"].get("DBSnapshotAttributes", []))
            if values:
                out[ident] = values
        return out

    def _removal(
        self, ctx: StepContext, inp: UnshareInstanceSnapshotsInput, shared: dict[str, list[str]]
    ) -> dict[str, list[str]]:
        gone = {
            ident: _sharing.to_remove(values, inp.accounts, ctx.finding.account_id) for ident, values in shared.items()
        }
        return {ident: values for ident, values in gone.items() if values}

    def plan(self, ctx: StepContext, inp: UnshareInstanceSnapshotsInput) -> Change:
        shared = self._shared(ctx, inp)
        gone = self._removal(ctx, inp, shared)
        return Change(
            will_change=bool(gone),
            summary=f"stop sharing {len(gone)} snapshot(s) of "
            f"{inp.db_instance_identifier}: {gone or 'none shared out'}",
            before={"shared": shared},
            after={"shared": {i: [v for v in vs if v not in gone.get(i, [])] for i, vs in shared.items()}},
        )

    def apply(self, ctx: StepContext, inp: UnshareInstanceSnapshotsInput) -> Outcome:
        shared = self._shared(ctx, inp)
        gone = self._removal(ctx, inp, shared)
        left = {i: [v for v in vs if v not in gone.get(i, [])] for i, vs in shared.items()}
        before, notes = self._before(ctx, {"shared": shared, "removed": gone})
        if gone:
            ctx.record_before(before)  # every snapshot's list, ahead of the first unshare
        rds = ctx.aws("rds")
        for ident, values in gone.items():
            rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=ident, AttributeName="restore", ValuesToRemove=values)
        return Outcome(
            changed=bool(gone),
            summary=f"stopped sharing {len(gone)} snapshot(s) of "
            f"{inp.db_instance_identifier}" + (f": {gone}" if gone else " (none shared out)"),
            before=before,
            after={"shared": left},
            output={"removed": before["removed"], "db_instance_identifier": inp.db_instance_identifier},
            notes=notes,
        )

    @staticmethod
    def _before(ctx: StepContext, now: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Every snapshot's sharing before the run: an earlier attempt that stopped between or after its
        unshares left some snapshots unshared already, and its write-ahead record holds what they were shared
        with. Nothing tells such a snapshot apart from one never shared: the record is always read."""
        earlier = ctx.written_ahead
        done = {i: v for i, v in (earlier.get("removed") or {}).items() if i not in now["removed"]}
        if not done:
            return now, []
        merged = {
            "shared": {**now["shared"], **{i: (earlier.get("shared") or {}).get(i, v) for i, v in done.items()}},
            "removed": {**done, **now["removed"]},
        }
        return merged, [f"snapshot(s) {sorted(done)} unshared by an earlier attempt that stopped before recording it"]

    def undo(
        self,
        ctx: StepContext,
        inp: UnshareInstanceSnapshotsInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        rds = ctx.aws("rds")
        removed: dict[str, list[str]] = applied.before.get("removed", {})
        left: dict[str, list[str]] = applied.after.get("shared", {})
        now: dict[str, list[str]] = {}
        for ident in removed:
            reply = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=ident)
            now[ident] = _restore_values(reply["DBSnapshotAttributesResult"].get("DBSnapshotAttributes", []))
        drift = {i: now[i] for i in removed if now[i] != left.get(i, [])}
        if drift and not force:
            raise TargetChanged(
                f"sharing of snapshot(s) changed since responder left them: {drift}; use --force to release anyway"
            )
        for ident, values in removed.items():
            back = [v for v in values if v not in now[ident]]
            if back:
                rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=ident, AttributeName="restore", ValuesToAdd=back)
        return Outcome(
            changed=bool(removed),
            summary=f"shared {len(removed)} snapshot(s) again as before",
            before={"shared": now},
            after={"shared": applied.before.get("shared", {})},
        )
