"""The least-privilege IAM policy responder needs, computed from the playbooks it runs.

Each action declares the IAM actions every call of it may make (``permissions``; ``undo_permissions``
for ``responder release``). The policy is their union over the actions the chosen playbooks use,
sorted, so it is stable to review and to diff. ``Resource: "*"`` because the targets are whatever a
finding names; the guard rails are elsewhere (responder refuses to contain itself, and containment
writes only deny policies it names ``responder-*``). Cross-account deployments add ``sts:AssumeRole``
on the member-account role, and nothing else runs in the home account.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .actions.registry import Registry
from .playbook.validate import LoadedPlaybook

ACTIONS_SID = "ResponderPlaybookActions"
ASSUME_SID = "ResponderAssumeMemberRole"


def actions_used(playbooks: Iterable[LoadedPlaybook]) -> list[str]:
    """The action names the playbooks' steps use, sorted."""
    return sorted({step.action for loaded in playbooks for step in loaded.playbook.steps})


def permissions(playbooks: Iterable[LoadedPlaybook], registry: Registry, *, undo: bool = False) -> dict[str, list[str]]:
    """IAM actions per responder action (only those that need any)."""
    out: dict[str, list[str]] = {}
    for name in actions_used(playbooks):
        cls = registry.get(name)
        needed = set(cls.permissions) | (set(cls.undo_permissions) if undo else set())
        if needed:
            out[name] = sorted(needed)
    return out


def policy_document(iam_actions: Iterable[str], *, role_name: str | None = None,
                    partition: str = "aws") -> dict[str, Any]:
    """An IAM policy document: one Allow of the union, plus AssumeRole into member accounts if asked."""
    statements: list[dict[str, Any]] = []
    wanted = sorted(set(iam_actions))
    if wanted:
        statements.append({"Sid": ACTIONS_SID, "Effect": "Allow", "Action": wanted, "Resource": "*"})
    if role_name:
        statements.append({"Sid": ASSUME_SID, "Effect": "Allow", "Action": "sts:AssumeRole",
                           "Resource": f"arn:{partition}:iam::*:role/{role_name}"})
    return {"Version": "2012-10-17", "Statement": statements}


def policy_for(playbooks: Iterable[LoadedPlaybook], registry: Registry, *, undo: bool = False,
               role_name: str | None = None) -> dict[str, Any]:
    chosen = list(playbooks)
    union = {p for perms in permissions(chosen, registry, undo=undo).values() for p in perms}
    return policy_document(union, role_name=role_name)
