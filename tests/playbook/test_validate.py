"""`responder validate` semantics: every problem named as path:line: field: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.actions.registry import default_registry
from responder.errors import PlaybookInvalid
from responder.playbook.validate import load_playbooks, validate_file

GOOD = """\
id: test-playbook
title: Test
triggers:
  - sources: [guardduty]
    types: ["UnauthorizedAccess:IAMUser/*"]
    min_severity: 4
inputs:
  key: "{{ finding.resource.access_key_id }}"
steps:
  - id: capture
    action: aws.iam.capture_principal
    with:
      user_name: "{{ finding.resource.user_name }}"
  - id: deactivate
    action: aws.iam.deactivate_access_key
    with:
      access_key_id: "{{ inputs.key }}"
      user_name: "{{ steps.capture.output.name }}"
"""


def problems(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "pb.yaml"
    path.write_text(text)
    _, found = validate_file(path, default_registry())
    return [str(p).replace(str(path), "pb.yaml") for p in found]


def test_good_playbook_has_no_problems(tmp_path: Path) -> None:
    assert problems(GOOD, tmp_path) == []


def test_shipped_playbooks_validate() -> None:
    root = Path(__file__).resolve().parents[2] / "playbooks"
    assert load_playbooks([root], default_registry())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("action: aws.iam.deactivate_access_key", "action: aws.iam.deactivate_acces_key"),
            "pb.yaml:15: steps[1].action: unknown action 'aws.iam.deactivate_acces_key'; did you mean "
            "'aws.iam.deactivate_access_key'?",
        ),
        (("      access_key_id:", "      access_key:"), "pb.yaml:17: steps[1].with.access_key: unknown argument"),
        (
            ("steps.capture.output.name", "steps.capture.output.nme"),
            "pb.yaml:18: steps[1].with.user_name: step 'capture' has no output 'nme'",
        ),
        (
            ("steps.capture.output.name", "steps.later.output.name"),
            "pb.yaml:18: steps[1].with.user_name: undefined step 'later'",
        ),
        (("{{ inputs.key }}", "{{ inputs.key }"), "pb.yaml:17: steps[1].with.access_key_id: template syntax error"),
        (
            ("{{ inputs.key }}", "{{ inputs.nokey }}"),
            "pb.yaml:17: steps[1].with.access_key_id: undefined input 'nokey'",
        ),
        (("min_severity: 4", "min_severity: 40"), "pb.yaml:6: triggers[0].min_severity: Input should be less than or"),
        (("sources: [guardduty]", "sources: [splunkk]"), "pb.yaml:4: triggers[0].sources[0]: Input should be"),
        (("title: Test\n", "title: Test\nbogus: 1\n"), "pb.yaml:3: bogus: unknown field"),
    ],
)
def test_each_problem_names_file_line_and_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    found = problems(GOOD.replace(*change), tmp_path)
    assert any(p.startswith(expected) for p in found), found


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    found = problems(GOOD.replace("  - id: deactivate", "  - id: deactivate\n   bad: [unclosed"), tmp_path)
    assert found and found[0].startswith("pb.yaml:") and "(yaml): invalid YAML" in found[0]


def test_duplicate_keys_and_step_ids(tmp_path: Path) -> None:
    text = GOOD.replace("  - id: deactivate", "  - id: capture") + "title: Again\n"
    found = problems(text, tmp_path)
    assert any("duplicate key" in p for p in found)


def test_missing_required_argument(tmp_path: Path) -> None:
    found = problems(GOOD.replace('      access_key_id: "{{ inputs.key }}"\n', ""), tmp_path)
    assert any("missing required argument 'access_key_id'" in p for p in found), found


def test_wrong_literal_argument_type(tmp_path: Path) -> None:
    found = problems(GOOD.replace('"{{ inputs.key }}"', "[1, 2]"), tmp_path)
    assert any("steps[1].with.access_key_id: wrong argument" in p for p in found), found


def test_evidence_after_containment_is_refused(tmp_path: Path) -> None:
    text = (
        GOOD
        + """\
  - id: late_capture
    action: aws.iam.capture_principal
    with:
      user_name: x
"""
    )
    found = problems(text, tmp_path)
    assert any("evidence step after containment step 'deactivate'" in p for p in found)


def test_load_raises_with_every_problem(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("aws.iam.capture_principal", "nope.nothing"))
    (tmp_path / "b.yaml").write_text("id: [\n")
    with pytest.raises(PlaybookInvalid) as info:
        load_playbooks([tmp_path], default_registry())
    text = str(info.value)
    assert "a.yaml:11: steps[0].action: unknown action 'nope.nothing'" in text
    assert "b.yaml:" in text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    min_severity: 4\n", "    min_severity: 4\n    match:\n      princpal.user_type: IAMUser\n"),
            "pb.yaml:8: triggers[0].match.princpal.user_type: match path 'princpal.user_type': finding has no field",
        ),
        (
            ("    min_severity: 4\n", "    min_severity: 4\n    match:\n      target.bukket.bucket_name: x\n"),
            "pb.yaml:8: triggers[0].match.target.bukket.bucket_name: match path 'target.bukket.bucket_name': "
            "finding.target has no kind 'bukket'",
        ),
        (
            ("{{ finding.resource.access_key_id }}", "{{ finding.princpal.access_key_id }}"),
            "pb.yaml:8: inputs.key: finding has no field 'princpal'",
        ),
        (
            ("{{ finding.resource.access_key_id }}", "{{ finding.target.s3bucket.bucket_name }}"),
            "pb.yaml:8: inputs.key: finding.target has no kind 's3bucket'",
        ),
        (
            ("{{ finding.resource.access_key_id }}", "{{ steps.capture.output.name }}"),
            "pb.yaml:8: inputs.key: inputs are rendered before any step runs",
        ),
    ],
)
def test_trigger_match_paths_and_inputs_are_checked(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    found = problems(GOOD.replace(*change), tmp_path)
    assert any(p.startswith(expected) for p in found), found


def test_derived_views_are_valid_in_templates_and_match_paths(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    min_severity: 4\n", "    min_severity: 4\n    match:\n      principal.user_type: IAMUser\n"
    )
    text = text.replace("{{ finding.resource.access_key_id }}", "{{ finding.principal.access_key_id }}")
    text = text.replace(
        "{{ finding.resource.user_name }}", "{{ finding.target.get('iam_user') or finding.resource_kinds }}"
    )
    assert problems(text, tmp_path) == []
