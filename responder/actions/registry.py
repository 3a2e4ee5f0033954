"""The action registry: an explicit list of names, loaded lazily by address.

The name is the address: ``aws.iam.deactivate_access_key`` lives in ``responder/actions/aws/iam.py``
as class ``DeactivateAccessKey``. Nothing registers itself on import; the catalogue below is the list,
and importing an action's module happens only when a playbook uses it (cold starts stay light).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from ..errors import BadInput
from .base import Action

# Every shipped action, by name. A test imports each and checks name, module and class agree.
CATALOG: tuple[str, ...] = (
    "aws.iam.capture_principal",
    "aws.iam.resolve_access_key",
    "aws.iam.deactivate_access_key",
    "aws.iam.revoke_sessions",
    "aws.iam.quarantine_principal",
    "aws.iam.remove_login_profile",
    "aws.iam.tag_principal",
    "evidence.record_finding",
    # scope (issue 10)
    "scope.investigate",
    # the closed loop: what scope attributes to the attacker, contained in the same run
    "loop.contain_leftovers",
    # notify (issue 7)
    "notify.assess_regimes",
    "notify.breach_drafts",
    # containment breadth (issue 9)
    "aws.ec2.capture_instance",
    "aws.ec2.snapshot_volumes",
    "aws.ebs.await_snapshots",
    "aws.ec2.protect_instance",
    "aws.ec2.detach_from_autoscaling",
    "aws.ec2.deregister_from_target_groups",
    "aws.ec2.isolate_instance",
    "aws.ec2.detach_instance_profile",
    "aws.ec2.tag_instance",
    "aws.iam_role.deny_session",
    "aws.iam_role.lock_trust_policy",
    "aws.s3.capture_bucket",
    "aws.s3.block_public_access",
    "k8s.capture_pod",
    "k8s.label_pod",
    "k8s.isolate_pod",
    "k8s.cordon_node",
    # people and AWS (issue 11)
    # sharing taken back, trails restored, new playbooks (issue 17)
    "aws.ec2.unshare_snapshot",
    "aws.ec2.unshare_image",
    "aws.rds.capture_db_instance",
    "aws.rds.snapshot_db_instance",
    "aws.rds.remove_public_access",
    "aws.rds.isolate_db_instance",
    "aws.rds.unshare_db_snapshot",
    "aws.rds.unshare_instance_snapshots",
    "aws.s3.deny_external_accounts",
    "aws.s3.deny_object_deletion",
    "aws.s3.enable_versioning",
    "aws.s3.list_object_versions",
    "aws.cloudtrail.start_logging",
    "aws.cloudtrail.restore_event_selectors",
    "aws.iam_role.restore_trust_policy",
    "aws.lambda_.capture_function",
    "aws.lambda_.restrict_function_url",
    "aws.lambda_.remove_foreign_permissions",
    "aws.lambda_.throttle_function",
    "aws.ecs.capture_task",
    "aws.ecs.isolate_task",
    "aws.iam_root.capture_root_credentials",
    "aws.organizations.deny_root_user",
    "aws.secretsmanager.rotate_secret",
    "incident.record_sequence",
    "k8s.capture_rbac_bindings",
    "k8s.remove_bindings",
    "k8s.resolve_identity",
)


def address(name: str) -> tuple[str, str]:
    """``aws.iam.deactivate_access_key`` → (``responder.actions.aws.iam``, ``DeactivateAccessKey``)."""
    module, _, leaf = name.rpartition(".")
    if not module or not leaf:
        raise BadInput(f"action name {name!r} must look like 'group.action'")
    return f"responder.actions.{module}", "".join(part.capitalize() for part in leaf.split("_"))


class Registry:
    """Maps action names to classes; the engine is handed one (tests may hand a smaller one)."""

    def __init__(self, names: Iterable[str] = CATALOG, extra: dict[str, type[Action]] | None = None) -> None:
        self._names = tuple(names)
        self._loaded: dict[str, type[Action]] = dict(extra or {})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted({*self._names, *self._loaded}))

    def __contains__(self, name: object) -> bool:
        return name in self._names or name in self._loaded

    def get(self, name: str) -> type[Action]:
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._names:
            raise KeyError(name)
        module_name, class_name = address(name)
        cls = getattr(importlib.import_module(module_name), class_name)
        if getattr(cls, "name", None) != name:
            raise RuntimeError(f"{module_name}.{class_name}.name is {cls.name!r}, expected {name!r}")
        self._loaded[name] = cls
        return cls

    def all(self) -> list[type[Action]]:
        return [self.get(name) for name in self.names]


def default_registry() -> Registry:
    return Registry()
