"""Meta-tests over every registered action: the name is the address, permissions are declared and real."""

from __future__ import annotations

import importlib
import re

import pytest

from responder.actions.base import Action, Category
from responder.actions.registry import CATALOG, Registry, address

IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Z][A-Za-z0-9]+\*?$")


@pytest.mark.parametrize("name", CATALOG)
def test_name_is_the_address(name: str) -> None:
    module_name, class_name = address(name)
    cls = getattr(importlib.import_module(module_name), class_name)
    assert issubclass(cls, Action)
    assert cls.name == name
    assert Registry().get(name) is cls


@pytest.mark.parametrize("name", CATALOG)
def test_actions_declare_what_they_need(name: str) -> None:
    cls = Registry().get(name)
    assert isinstance(cls.category, Category)
    assert cls.__doc__ and cls.__doc__.strip(), f"{name} needs a docstring that says why"
    for permission in cls.permissions | cls.undo_permissions:
        assert IAM_ACTION.match(permission), f"{name}: {permission!r} is not an IAM action"
    if name.startswith("aws.") and cls.mutates:
        assert cls.permissions, f"{name} changes AWS but declares no permissions"
    if cls.reversible:
        assert cls.undo is not Action.undo, f"{name} is reversible but has no undo"
    if cls.category == Category.EVIDENCE:
        assert not cls.mutates or name.startswith(("aws.ec2.snapshot", "aws.rds.snapshot")), (
            f"{name}: evidence must not change targets"
        )
