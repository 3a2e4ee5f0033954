"""The playbook JSON Schema, generated from the model and the action registry (for editor completion).

Each step is a ``oneOf`` branch per action, so an editor offers exactly that action's arguments.
"""

from __future__ import annotations

import copy
from typing import Any

from ..actions.registry import Registry
from .model import Playbook


def playbook_schema(registry: Registry) -> dict[str, Any]:
    schema = Playbook.model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    step = defs.get("Step")
    if step is None:
        return schema
    branches = []
    for action in registry.all():
        inp = action.Input.model_json_schema()
        for name, sub in inp.pop("$defs", {}).items():
            defs.setdefault(name, sub)
        branch = copy.deepcopy(step)
        branch["title"] = action.name
        branch["description"] = action.describe()["summary"]
        props = branch.setdefault("properties", {})
        props["action"] = {"const": action.name}
        with_schema = {
            "type": "object",
            "properties": {},
            "additionalProperties": False,
            "required": inp.get("required", []),
        }
        for name, prop in inp.get("properties", {}).items():
            # every argument may also be a template string rendered at run time
            with_schema["properties"][name] = {
                "anyOf": [prop, {"type": "string", "pattern": "\\{\\{|\\{%"}],
                "description": prop.get("description", ""),
            }
        props["with"] = with_schema
        branches.append(branch)
    defs["Step"] = {"oneOf": branches, "description": "one use of an action"}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "responder playbook"
    return schema
