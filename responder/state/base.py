"""The run store's rules, written once; backends supply four primitives.

Items live in one table keyed by (pk, sk), the shape DynamoDB wants:

=========================  ======================  ==================================
pk                         sk                      item
=========================  ======================  ==================================
``RUN#<run_id>``           ``META``                RunRecord
``RUN#<run_id>``           ``STEP#<step_id>``      StepRecord
``RUN#<run_id>``           ``APPROVAL#<step_id>``  ApprovalRecord
``RUN#<run_id>``           ``AUDIT#<time>#<n>``    audit entry
``FINDING#<finding_id>``   ``VERSION#<digest>``    FindingVersion
``ITEM#<kind>``            ``<key>``               subsystem items (clocks, register, ...)
=========================  ======================  ==================================

Every change is read → decide in Python → write *if the version is still the one read*
(optimistic concurrency). The same conditional write decides every race: one run per finding and
playbook, one holder of a run's lease, one decision per approval.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..clock import iso
from .records import ApprovalRecord, ApprovalState, FindingVersion, RunRecord, StepRecord, StepState

_MAX_RACES = 20


class StoreConflict(Exception):
    """A conditional write lost to another writer."""


class RunStore(ABC):
    """Rules for runs, steps and approvals; subclasses implement the primitives below."""

    # --- primitives -----------------------------------------------------------------------
    @abstractmethod
    def _insert_if_absent(self, pk: str, sk: str, item: dict[str, Any]) -> dict[str, Any] | None:
        """Insert; if an item exists already, change nothing and return it."""

    @abstractmethod
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def _replace_if_version(self, pk: str, sk: str, item: dict[str, Any], version: int) -> bool:
        """Replace the item iff its stored ``version`` equals ``version``; ``item`` carries version+1."""

    @abstractmethod
    def _query(self, pk: str, sk_prefix: str = "") -> list[dict[str, Any]]:
        """Items of one partition whose sort key starts with ``sk_prefix``, in sort-key order."""

    @abstractmethod
    def _scan(self, pk_prefix: str, sk: str) -> list[dict[str, Any]]:
        """Items with a given sort key across partitions whose key starts with ``pk_prefix``."""

    def close(self) -> None:  # noqa: B027 - optional for backends
        pass

    # --- generic compare-and-set -----------------------------------------------------------
    def _mutate(
        self,
        pk: str,
        sk: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        current: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Apply ``change`` to the item under optimistic concurrency; None from change = no write.

        ``current`` is the caller's copy of the item (with its ``version``): the first attempt writes
        against it without reading, so a writer that already holds the record pays one call, not two.
        A stale copy only costs a lost conditional write, after which the item is read afresh.
        """
        for _ in range(_MAX_RACES):
            if current is None:
                current = self._get(pk, sk)
                if current is None:
                    return None
            updated = change(dict(current))
            if updated is None:
                return current
            version = int(current.get("version", 0))
            updated["version"] = version + 1
            if self._replace_if_version(pk, sk, updated, version):
                return updated
            current = None
        raise StoreConflict(f"{pk}/{sk}: too many concurrent writers")

    @staticmethod
    def _known(record: Any) -> dict[str, Any] | None:
        return record.model_dump(mode="json") if record is not None else None

    # --- runs -------------------------------------------------------------------------------
    def claim_run(self, record: RunRecord) -> tuple[RunRecord, bool]:
        """Create the run, or return the one that exists: exactly one run per finding and playbook."""
        existing = self._insert_if_absent(f"RUN#{record.run_id}", "META", record.model_dump(mode="json"))
        if existing is None:
            return record, True
        return RunRecord.model_validate(existing), False

    def get_run(self, run_id: str) -> RunRecord | None:
        item = self._get(f"RUN#{run_id}", "META")
        return RunRecord.model_validate(item) if item else None

    def list_runs(self) -> list[RunRecord]:
        runs = [RunRecord.model_validate(i) for i in self._scan("RUN#", "META")]
        return sorted(runs, key=lambda r: r.created_at, reverse=True)

    def update_run(self, run_id: str, *, current: RunRecord | None = None, **changes: Any) -> RunRecord:
        def change(item: dict[str, Any]) -> dict[str, Any]:
            for key, value in changes.items():
                if key in ("milestones", "outputs", "extra") and isinstance(value, dict):
                    merged = dict(item.get(key) or {})
                    merged.update(value)
                    item[key] = merged
                else:
                    item[key] = value.value if hasattr(value, "value") else value
            return item

        out = self._mutate(f"RUN#{run_id}", "META", change, self._known(current))
        if out is None:
            raise KeyError(run_id)
        return RunRecord.model_validate(out)

    def mark_milestone(self, run_id: str, name: str, at: datetime) -> None:
        """Record the first time a milestone was reached (evidence secured, contained, ...)."""

        def change(item: dict[str, Any]) -> dict[str, Any] | None:
            milestones = dict(item.get("milestones") or {})
            if name in milestones:
                return None
            milestones[name] = iso(at)
            item["milestones"] = milestones
            return item

        self._mutate(f"RUN#{run_id}", "META", change)

    def acquire_run(
        self,
        run_id: str,
        owner: str,
        now: datetime,
        ttl: timedelta,
        is_stale: Callable[[str], bool] = lambda holder: False,
        current: RunRecord | None = None,
    ) -> bool:
        """Take the run's execution lease if it is free, expired, held by a dead process, or ours."""
        won = {"ok": False}

        def change(item: dict[str, Any]) -> dict[str, Any] | None:
            won["ok"] = False  # a lost conditional write re-runs change: only the last attempt counts
            holder, until = item.get("owner"), item.get("lease_until")
            if holder and holder != owner and until and until > (iso(now) or "") and not is_stale(holder):
                return None
            item["owner"] = owner
            item["lease_until"] = iso(now + ttl)
            won["ok"] = True
            return item

        self._mutate(f"RUN#{run_id}", "META", change, self._known(current))
        return won["ok"]

    def release_run(self, run_id: str, owner: str) -> None:
        def change(item: dict[str, Any]) -> dict[str, Any] | None:
            if item.get("owner") != owner:
                return None
            item["owner"] = None
            item["lease_until"] = None
            return item

        self._mutate(f"RUN#{run_id}", "META", change)

    # --- finding versions --------------------------------------------------------------------
    def add_finding_version(
        self, finding_id: str, digest: str, received_at: datetime, finding: dict[str, Any], run_ids: list[str]
    ) -> bool:
        """Keep every version of a finding (GuardDuty overwrites details when it aggregates)."""
        version = FindingVersion(
            finding_id=finding_id, digest=digest, received_at=iso(received_at) or "", run_ids=run_ids, finding=finding
        )
        created = (
            self._insert_if_absent(f"FINDING#{finding_id}", f"VERSION#{digest}", version.model_dump(mode="json"))
            is None
        )
        return created

    def finding_versions(self, finding_id: str) -> list[FindingVersion]:
        items = self._query(f"FINDING#{finding_id}", "VERSION#")
        return sorted((FindingVersion.model_validate(i) for i in items), key=lambda v: v.received_at)

    # --- steps ------------------------------------------------------------------------------
    def get_step(self, run_id: str, step_id: str) -> StepRecord | None:
        item = self._get(f"RUN#{run_id}", f"STEP#{step_id}")
        return StepRecord.model_validate(item) if item else None

    def steps(self, run_id: str) -> list[StepRecord]:
        records = [StepRecord.model_validate(i) for i in self._query(f"RUN#{run_id}", "STEP#")]
        return sorted(records, key=lambda s: s.index)

    def ensure_step(self, record: StepRecord) -> StepRecord:
        record = record.model_copy(update={"version": max(record.version, 1)})
        existing = self._insert_if_absent(
            f"RUN#{record.run_id}", f"STEP#{record.step_id}", record.model_dump(mode="json")
        )
        return StepRecord.model_validate(existing) if existing else record

    def begin_step(
        self,
        run_id: str,
        step_id: str,
        *,
        owner: str,
        inputs: dict[str, Any],
        now: datetime,
        lease: timedelta,
        is_stale: Callable[[str], bool] = lambda holder: False,
        current: StepRecord | None = None,
        template: StepRecord | None = None,
        retry_finished: bool = True,
        pending_before: dict[str, Any] | None = None,
    ) -> StepRecord | None:
        """Write-ahead: mark the step running *before* its effect. None if it is done or held by another.

        With ``template`` and no stored record, the step is created already running (one write);
        with ``current`` (the caller's copy), the claim is one conditional write.
        ``retry_finished`` lets a failed or refused step be claimed again (resume after a fix).
        """
        claimed: dict[str, Any] = {}
        if current is None and template is not None:
            fresh = template.model_copy(
                update={
                    "state": StepState.RUNNING,
                    "owner": owner,
                    "lease_until": iso(now + lease),
                    "inputs": inputs,
                    "started_at": iso(now),
                    "attempts": 1,
                    "version": 1,  # stored: version 0 means "not stored yet" to _write_step
                    "pending_before": pending_before,
                }
            ).model_dump(mode="json")
            existing = self._insert_if_absent(f"RUN#{run_id}", f"STEP#{step_id}", fresh)
            if existing is None:
                return StepRecord.model_validate(fresh)
            current = StepRecord.model_validate(existing)

        def change(item: dict[str, Any]) -> dict[str, Any] | None:
            claimed.clear()  # a lost conditional write re-runs change: only the last attempt counts
            state = StepState(item.get("state", "pending"))
            if state.done and not (retry_finished and state.retry_on_resume):
                return None
            holder = item.get("owner")
            if (
                state == StepState.RUNNING
                and holder not in (None, owner)
                and (item.get("lease_until") or "") > (iso(now) or "")
                and not is_stale(holder)
            ):
                return None
            item.update(
                state=StepState.RUNNING.value,
                owner=owner,
                lease_until=iso(now + lease),
                inputs=inputs,
                started_at=iso(now),
                attempts=int(item.get("attempts", 0)) + 1,
                error=None,
                error_type=None,
                retryable=False,
            )
            if pending_before is not None and item.get("pending_before") is None:
                item["pending_before"] = pending_before  # the first attempt's "before" is the one that counts
            claimed["item"] = item
            return item

        self._mutate(f"RUN#{run_id}", f"STEP#{step_id}", change, self._known(current))
        return StepRecord.model_validate(claimed["item"]) if claimed else None

    def finish_step(
        self,
        run_id: str,
        step_id: str,
        *,
        owner: str | None,
        state: StepState,
        now: datetime,
        current: StepRecord | None = None,
        **fields: Any,
    ) -> StepRecord:
        def change(item: dict[str, Any]) -> dict[str, Any]:
            item.update(fields)
            item["state"] = state.value
            item["finished_at"] = iso(now)
            item["owner"] = None
            item["lease_until"] = None
            return item

        return self._write_step(run_id, step_id, change, current)

    def _write_step(
        self,
        run_id: str,
        step_id: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        current: StepRecord | None,
    ) -> StepRecord:
        """Write a step against the copy the caller holds; a step decided before it was ever stored
        (skipped, refused at once) is inserted in one call instead of a failed update and a read."""
        if current is not None and current.version == 0:
            item = {**change(current.model_dump(mode="json")), "version": 1}
            existing = self._insert_if_absent(f"RUN#{run_id}", f"STEP#{step_id}", item)
            if existing is None:
                return StepRecord.model_validate(item)
            current = StepRecord.model_validate(existing)  # someone stored it meanwhile: update that
        out = self._mutate(f"RUN#{run_id}", f"STEP#{step_id}", change, self._known(current))
        if out is None:
            raise KeyError(f"{run_id}/{step_id}")
        return StepRecord.model_validate(out)

    def set_step(self, run_id: str, step_id: str, *, current: StepRecord | None = None, **fields: Any) -> StepRecord:
        def change(item: dict[str, Any]) -> dict[str, Any]:
            item.update({k: (v.value if hasattr(v, "value") else v) for k, v in fields.items()})
            return item

        return self._write_step(run_id, step_id, change, current)

    # --- approvals ----------------------------------------------------------------------------
    def request_approval(self, record: ApprovalRecord) -> ApprovalRecord:
        existing = self._insert_if_absent(
            f"RUN#{record.run_id}", f"APPROVAL#{record.step_id}", record.model_dump(mode="json")
        )
        return ApprovalRecord.model_validate(existing) if existing else record

    def get_approval(self, run_id: str, step_id: str) -> ApprovalRecord | None:
        item = self._get(f"RUN#{run_id}", f"APPROVAL#{step_id}")
        return ApprovalRecord.model_validate(item) if item else None

    def approvals(self, run_id: str) -> list[ApprovalRecord]:
        return [ApprovalRecord.model_validate(i) for i in self._query(f"RUN#{run_id}", "APPROVAL#")]

    def pending_approvals(self) -> list[ApprovalRecord]:
        out = []
        for run in self.list_runs():
            if run.status == "waiting":
                out.extend(a for a in self.approvals(run.run_id) if a.state == ApprovalState.PENDING)
        return out

    def decide(
        self, run_id: str, step_id: str, *, approved: bool, by: str, reason: str | None, at: datetime, via: str
    ) -> tuple[ApprovalRecord, bool]:
        """Record a decision exactly once; the second decider gets the first decision back and False."""
        won = {"ok": False}

        def change(item: dict[str, Any]) -> dict[str, Any] | None:
            won["ok"] = False  # a lost conditional write re-runs change: only the last attempt counts
            if item.get("state") != ApprovalState.PENDING.value:
                return None
            item.update(
                state=(ApprovalState.APPROVED if approved else ApprovalState.DENIED).value,
                decided_by=by,
                decided_at=iso(at),
                reason=reason,
                via=via,
            )
            won["ok"] = True
            return item

        out = self._mutate(f"RUN#{run_id}", f"APPROVAL#{step_id}", change)
        if out is None:
            raise KeyError(f"no approval requested for {run_id}/{step_id}")
        return ApprovalRecord.model_validate(out), won["ok"]

    def update_approval(self, run_id: str, step_id: str, **fields: Any) -> None:
        def change(item: dict[str, Any]) -> dict[str, Any]:
            item.update(fields)
            return item

        self._mutate(f"RUN#{run_id}", f"APPROVAL#{step_id}", change)

    # --- audit ----------------------------------------------------------------------------------
    def audit(self, run_id: str, at: datetime, event: str, **details: Any) -> None:
        """Append one audit record: who/what, the call, before and after, when."""
        entry = {"run_id": run_id, "time": iso(at), "event": event, **details}
        self._insert_if_absent(f"RUN#{run_id}", f"AUDIT#{iso(at)}#{uuid.uuid4().hex[:12]}", entry)

    def audit_log(self, run_id: str) -> list[dict[str, Any]]:
        return self._query(f"RUN#{run_id}", "AUDIT#")

    # --- generic items for subsystems (notification clocks, breach register, ...) ---------------
    def put_item(self, kind: str, key: str, data: dict[str, Any], *, overwrite: bool = True) -> dict[str, Any]:
        item = {"kind": kind, "key": key, "version": 0, **data}
        existing = self._insert_if_absent(f"ITEM#{kind}", key, item)
        if existing is None or not overwrite:
            return existing or item

        def change(current: dict[str, Any]) -> dict[str, Any]:
            return {**item, "version": current.get("version", 0)}

        return self._mutate(f"ITEM#{kind}", key, change) or item

    def get_item(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._get(f"ITEM#{kind}", key)

    def list_items(self, kind: str, prefix: str = "") -> list[dict[str, Any]]:
        return self._query(f"ITEM#{kind}", prefix)

    def update_item(
        self, kind: str, key: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        return self._mutate(f"ITEM#{kind}", key, change)

    # --- evidence anchors: custody-chain heads kept outside the evidence folder --------------------
    # Independent of the run/step records: own partition (``ANCHOR#<run_id>``, sk ``HEAD``), own rules.
    # Written by the evidence locker as each custody entry is written (responder.evidence.anchor).
    def get_anchor(self, run_id: str) -> dict[str, Any] | None:
        """The last anchored head of a run's custody chain (count, hash, entry, artifacts), or None."""
        item = self._get(f"ANCHOR#{run_id}", "HEAD")
        return dict(item["anchor"]) if item and isinstance(item.get("anchor"), dict) else None

    def advance_anchor(self, run_id: str, anchor: dict[str, Any]) -> dict[str, Any]:
        """Record a newer head. A head never moves back: an older or equal count leaves the stored one.

        The item's version is the chain's count, so the usual step (count N → N+1) is one conditional
        write; the first head is one insert. Anything else (a lost race) reads and decides."""
        count = int(anchor["count"])
        item = {"run_id": run_id, "count": count, "anchor": anchor, "version": count}
        if count > 1 and self._replace_if_version(f"ANCHOR#{run_id}", "HEAD", item, count - 1):
            return anchor
        existing = self._insert_if_absent(f"ANCHOR#{run_id}", "HEAD", item)
        if existing is None:
            return anchor

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            if int(current.get("count") or 0) >= item["count"]:
                return None
            return {**item, "version": current.get("version", 0)}

        out = self._mutate(f"ANCHOR#{run_id}", "HEAD", change) or existing
        return dict(out["anchor"])

    def anchored_runs(self) -> list[str]:
        """Run ids with an anchored custody chain (for cross-checks with the run records and the locker)."""
        return sorted(str(i.get("run_id")) for i in self._scan("ANCHOR#", "HEAD"))
