"""The emitted JSON Schema accepts every shipped playbook (editors must not flag valid files)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from responder.actions.registry import default_registry
from responder.playbook.schema import playbook_schema

PLAYBOOKS = sorted((Path(__file__).resolve().parents[2] / "playbooks").glob("*.y*ml"))


@pytest.fixture(scope="module")
def schema() -> dict:
    return playbook_schema(default_registry())


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.name)
def test_shipped_playbook_matches_the_schema(schema: dict, path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_durations_are_numbers_or_duration_strings(schema: dict) -> None:
    doc = yaml.safe_load(PLAYBOOKS[0].read_text())
    for value in (90, "90s", "1h", "2d"):
        doc["steps"][0]["timeout"] = value
        jsonschema.validate(doc, schema)
    doc["steps"][0]["timeout"] = "an hour"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
