"""Steps as a graph: which of a playbook's steps may run at the same time.

Evidence and read-only enrichment change nothing in the account, so consecutive ones run together
unless one reads another's output (``steps.X`` in ``with``/``when``) or ``needs`` it. Containment stays
one step at a time, in the playbook's order: its moves are ordered on purpose.

One more rule takes containment off the evidence's critical path (issue 20): the next containment step
may start *beside* the evidence still being read when it touches none of the resources that evidence is
about. The invariant is evidence before the change **of the same resource** — the pod's label need not
wait for the IAM role's policies to be read, but the role's revocation must. "The same resource" is
judged from the rendered arguments: two steps overlap when they share an identifying value (an id, a
name, an ARN or its last segment). When either side's arguments are not known yet, or name nothing,
they are taken to overlap — in doubt, wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..actions.base import Action, Category
from ..actions.registry import Registry
from ..playbook.model import Step
from . import inputs as step_inputs

#: (position in the playbook, step, literal arguments) — the engine's run queue
QueueItem = tuple[int, Step, bool]
#: a step's rendered arguments, or None when they cannot be known yet
ArgsOf = Callable[[Step, bool], dict[str, Any] | None]

#: values too common to identify a resource (regions, partitions, booleans spelled as text)
_NOT_IDENTIFYING = frozenset({"aws", "aws-cn", "aws-us-gov", "true", "false", "none", "null", "default"})


def concurrent(step: Step, action_cls: type[Action]) -> bool:
    """Evidence and read-only enrichment may run beside each other: they change nothing in the account."""
    if step.approval or action_cls.expands:
        return False
    return action_cls.category == Category.EVIDENCE or (
        action_cls.category == Category.ENRICH and not action_cls.mutates
    )


def identities(args: dict[str, Any]) -> set[str]:
    """The values that say which resources a step is about: every text argument, and an ARN's or a
    path's last segment too (``arn:aws:iam::1:role/app/web`` is also ``web``)."""
    found: set[str] = set()
    for value in step_inputs.strings_in(args):
        value = value.strip()
        if len(value) < 2 or value.lower() in _NOT_IDENTIFYING:
            continue
        found.add(value)
        for separator in ("/", ":"):
            tail = value.rsplit(separator, 1)[-1]
            if len(tail) >= 2 and tail.lower() not in _NOT_IDENTIFYING:
                found.add(tail)
    return found


def _apart(args: dict[str, Any] | None, action_cls: type[Action], other: dict[str, Any] | None) -> bool:
    """True when an evidence step (``args``) is certainly about other resources than a containment step."""
    if not action_cls.touches_account:
        return True
    if args is None or other is None:
        return False
    mine, theirs = identities(args), identities(other)
    return bool(mine) and bool(theirs) and not mine & theirs


def wave(registry: Registry, queue: list[QueueItem], position: int, args_of: ArgsOf | None = None) -> list[QueueItem]:
    """The steps from ``position`` that may run at once.

    Consecutive evidence / read-only enrichment steps, none of which depends on another; then, when
    ``args_of`` can render arguments, the next step too if it is containment about other resources
    than every step of the wave (one containment step at most: containment stays in order).
    """
    first = queue[position]
    members = [first]
    if not concurrent(first[1], registry.get(first[1].action)):
        return members
    names = {first[1].id}
    for item in queue[position + 1 :]:
        step = item[1]
        if not concurrent(step, registry.get(step.action)) or step_inputs.depends_on(step) & names:
            break
        members.append(item)
        names.add(step.id)
    following = position + len(members)
    if args_of is None or following >= len(queue):
        return members
    candidate = queue[following]
    step = candidate[1]
    action_cls = registry.get(step.action)
    if (
        action_cls.category != Category.CONTAIN
        or step.approval
        or action_cls.expands
        or step_inputs.depends_on(step) & names
    ):
        return members
    theirs = args_of(step, candidate[2])
    if theirs is None:
        return members
    for _, member, literal in members:
        member_cls = registry.get(member.action)
        if not _apart(args_of(member, literal) if member_cls.touches_account else None, member_cls, theirs):
            return members
    return [*members, candidate]
