"""The closed loop's planning: persistence items → evidence-first steps; attacker data stays data."""

from __future__ import annotations

from responder.actions.loop import plan_steps, without_accounts

OUTSIDE = "999988887777"


def _item(kind: str, target: str, **extra: object) -> dict:
    return {"kind": kind, "target": target, "resource_ids": [target], "succeeded": True, **extra}


def test_evidence_before_containment_and_one_step_per_thing() -> None:
    items = [
        _item("user_created", "svc-backup-sync"),
        _item("access_key_created", "svc-backup-sync", new_key="AKIAVN6A6WFHYM6L3VFZ"),
        _item("login_profile_created", "svc-backup-sync"),
        _item("trail_stopped", "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"),
        _item("snapshot_shared", "snap-0123456789abcdef0", external_accounts=[OUTSIDE]),
        _item("user_created", "svc-backup-sync"),  # the same thing twice: one step
        _item("access_key_created", "ci-deploy", new_key="AKIA2E0A8F3B244C9986"),  # already contained
        _item("user_created", "tried-and-failed", succeeded=False, error_code="AccessDenied"),
    ]
    specs, unhandled = plan_steps(items, {"AKIA2E0A8F3B244C9986"}, set())
    actions = [s["action"] for s in specs]
    assert actions[0] == "aws.iam.capture_principal"  # evidence first
    assert actions.count("aws.iam.quarantine_principal") == 1
    assert {
        "aws.iam.deactivate_access_key",
        "aws.iam.remove_login_profile",
        "aws.cloudtrail.start_logging",
        "aws.ec2.unshare_snapshot",
    } <= set(actions)
    assert not any(s["with"].get("access_key_id") == "AKIA2E0A8F3B244C9986" for s in specs)
    assert not any(s["target"] == "tried-and-failed" for s in specs)
    assert len({s["id"] for s in specs}) == len(specs) and not unhandled


def test_trust_policy_backdoor_taken_out_or_left_to_a_person() -> None:
    own = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    door = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"}, "Action": "sts:AssumeRole"}
    assert without_accounts({"Version": "2012-10-17", "Statement": [own, door]}, [OUTSIDE])["Statement"] == [own]
    assert without_accounts({"Statement": [door]}, [OUTSIDE]) is None  # nothing would be left
    specs, _ = plan_steps(
        [_item("trust_policy_changed", "Ops", policy_document={"Statement": [door]}, external_accounts=[OUTSIDE])],
        set(),
        set(),
    )
    lock = next(s for s in specs if s["action"] == "aws.iam_role.lock_trust_policy")
    assert lock["approval"]["on_timeout"] == "deny"


def test_hostile_values_are_arguments_not_templates() -> None:
    hostile = "{{ 7*7 }}"
    specs, _ = plan_steps([_item("user_created", hostile)], set(), set())
    assert any(s["with"].get("user_name") == hostile for s in specs)
    assert all(s["id"].replace("-", "").replace("_", "").isalnum() for s in specs)
