"""Scope over generated data whose story is known record by record (responder.samples)."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from responder.samples import GroundTruth, generate
from responder.scope import investigate, open_backend, subject_for_key
from responder.scope import questions as Q
from responder.scope.pivots import resolve, subject_values
from responder.scope.subject import Subject, Window

EVERYTHING = Window(until=datetime(2030, 1, 1, tzinfo=UTC))


def _backend(truth: GroundTruth, cache_dir: Path):
    return open_backend("local", cloudtrail=truth.cloudtrail_dir, flow_logs=truth.flow_logs_dir, cache_dir=cache_dir)


def test_every_story_event_found_through_the_pivots_and_no_benign_one(generated: GroundTruth, cache_dir: Path) -> None:
    with _backend(generated, cache_dir) as backend:
        subject = subject_for_key(generated.story.access_key_id)
        res = resolve(backend, subject, EVERYTHING)
        rows = backend.run(Q.TIMELINE, subject_values(res, EVERYTHING))
    found = {r["event_id"] for r in rows}
    assert found == set(generated.story_event_ids)
    assert not found & set(generated.trap_event_ids)
    assert {k: o.pivot for k, o in res.keys.items()} == {
        k: ("seed" if "seed" in v else "console session" if v.startswith("console session") else v.split()[0])
        for k, v in generated.keys.items()
    }


def test_report_names_what_the_attacker_did_through_the_role_pivot(generated: GroundTruth, cache_dir: Path) -> None:
    t = generated
    window = Window(since=t.story.start, until=t.story.start.replace(year=2027))
    with _backend(t, cache_dir) as backend:
        report = investigate(backend, subject_for_key(t.story.access_key_id), window, top=100)
    assert report.events == len(t.story_event_ids)
    assert report.access_denied == t.access_denied and report.denied_bursts
    assert {a.event_name: a.count for a in report.api_calls if a.count} == t.api_calls
    assert sorted(report.regions) == sorted(t.regions)
    assert report.objects_read == sorted(t.objects_read)
    assert report.buckets == [t.story.bucket]
    assert set(t.secrets_read) <= set(report.secrets_read)
    assert "personal_data" in report.data_categories and "credentials" in report.data_categories
    assert [p.event_name for p in report.persistence] == t.persistence
    assert {s.ip for s in report.source_ips} == {t.story.attacker_ip, t.story.second_ip}
    assert report.instances[0]["instance_id"] == t.instance_id
    egress = report.egress[0]
    truth = t.egress[0]
    assert (egress.destination, egress.port, egress.bytes, egress.packets) == (
        truth.destination,
        truth.port,
        truth.bytes,
        truth.packets,
    )
    assert report.egress_bytes == truth.bytes
    assert any(r["port"] == 22 and r["source"] == t.story.attacker_ip for r in report.rejected)
    assert any(u["port"] == 4444 for u in report.unusual_ports)
    pivots = {p["key"]: p for p in report.pivots}
    role_key = next(k for k, v in t.keys.items() if v.startswith("AssumeRole"))
    assert pivots[role_key]["from_key"] == t.story.access_key_id and pivots[role_key]["role_arn"] == t.role_arn
    assert "## Keys and pivots" in report.markdown() and role_key in report.markdown()


def test_a_cache_hit_reads_no_raw_file_again(generated: GroundTruth, cache_dir: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "ct"
    shutil.copytree(generated.cloudtrail_dir, root)
    subject = subject_for_key(generated.story.access_key_id)
    with open_backend("local", cloudtrail=root, flow_logs=None, cache_dir=cache_dir) as backend:
        first = investigate(backend, subject, EVERYTHING)
        assert sum(s.files_read for s in backend.syncs) == generated.cloudtrail_files
    # poison every raw file but keep its size and mtime: a re-read would change (or break) the answer
    for path in root.rglob("*.json.gz"):
        st = path.stat()
        path.write_bytes(b"\0" * st.st_size)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with open_backend("local", cloudtrail=root, flow_logs=None, cache_dir=cache_dir) as backend:
        second = investigate(backend, subject, EVERYTHING)
        assert sum(s.files_read for s in backend.syncs) == 0
    assert second.events == first.events and second.keys == first.keys


def test_a_changed_file_is_read_again_and_a_vanished_one_dropped(
    generated: GroundTruth, cache_dir: Path, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "ct"
    shutil.copytree(generated.cloudtrail_dir, root)
    key = generated.story.access_key_id
    subject = subject_for_key(key)
    with open_backend("local", cloudtrail=root, flow_logs=None, cache_dir=cache_dir) as backend:
        before = investigate(backend, subject, EVERYTHING).events
    victim = next(p for p in sorted(root.rglob("*.json.gz")) if "CloudTrail-Digest" not in str(p))
    body = json.loads(gzip.decompress(victim.read_bytes()))
    extra = dict(
        body["Records"][0],
        eventID="added-by-test",
        eventName="GetCallerIdentity",
        userIdentity={"type": "IAMUser", "accessKeyId": key, "arn": "arn:aws:iam::1:user/x"},
    )
    body["Records"].append(extra)
    victim.write_bytes(gzip.compress(json.dumps(body).encode()))
    with open_backend("local", cloudtrail=root, flow_logs=None, cache_dir=cache_dir) as backend:
        assert investigate(backend, subject, EVERYTHING).events == before + 1
        assert sum(s.files_read for s in backend.syncs) == 1
        assert sum(s.files_changed for s in backend.syncs) == 1
    victim.unlink()
    with open_backend("local", cloudtrail=root, flow_logs=None, cache_dir=cache_dir) as backend:
        after = investigate(backend, subject, EVERYTHING).events
        assert sum(s.files_dropped for s in backend.syncs) == 1
    assert after <= before


HOSTILE = [
    "' OR 1=1 --",
    "x'); DROP TABLE ct; --",
    '"; SELECT 1; --',
    "ünïcødé ключ 鍵 🔑",
    "A" * 10_240,
    "$keys",
    "?",
    "%(since)s",
    "\\'",
    "\x00",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_finding_values_are_bound_never_executed(generated: GroundTruth, cache_dir: Path, value: str) -> None:
    subject = Subject(
        kind="finding",
        access_key_ids=(value,),
        principal_arns=(value,),
        actor_ips=(value,),
        interface_ids=(value,),
        local_ips=(value,),
        label=value,
    )
    with _backend(generated, cache_dir) as backend:
        report = investigate(backend, subject, EVERYTHING)
        assert report.events == 0 and report.keys == [value] and report.egress == []
        total = backend.sql("SELECT count(*) AS n FROM ct")
    assert int(total["n"][0]) == generated.cloudtrail_records


def test_parquet_flow_logs_give_the_same_egress(tmp_path: Path, cache_dir: Path) -> None:
    truth = generate(tmp_path / "pq", 4_000, flow_format="parquet")
    assert list(truth.flow_logs_dir.rglob("*.parquet"))
    with _backend(truth, cache_dir) as backend:
        report = investigate(backend, subject_for_key(truth.story.access_key_id), EVERYTHING)
    assert report.egress[0].bytes == truth.egress[0].bytes and report.egress[0].port == 4444


def test_window_excludes_what_came_before(generated: GroundTruth, cache_dir: Path) -> None:
    late = Window(since=generated.story.start.replace(hour=23), until=datetime(2030, 1, 1, tzinfo=UTC))
    with _backend(generated, cache_dir) as backend:
        report = investigate(backend, subject_for_key(generated.story.access_key_id), late)
    assert report.events == 0  # pivots are still found (they look 36 h further back), their use is not
    assert len(report.keys) == len(generated.keys)


def test_an_unreadable_file_is_set_aside_and_named(generated: GroundTruth, cache_dir: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "ct"
    shutil.copytree(generated.cloudtrail_dir, root)
    day = next(root.rglob("CloudTrail/us-east-1/*/*/*"))
    (day / "broken_CloudTrail_us-east-1_20261120T1500Z_x.json.gz").write_bytes(b"\x1f\x8b not really gzip")
    (day / "notes.json").write_text("this is not JSON")
    with open_backend("local", cloudtrail=root, flow_logs=None, cache_dir=cache_dir) as backend:
        report = investigate(backend, subject_for_key(generated.story.access_key_id), EVERYTHING)
        assert sum(len(s.failed) for s in backend.syncs) == 2
    assert report.events == len(generated.story_event_ids)
    assert any("could not be read" in n for n in report.notes)


def test_the_report_names_every_tactic_and_what_containment_must_undo(generated: GroundTruth, cache_dir: Path) -> None:
    t = generated
    with _backend(t, cache_dir) as backend:
        report = investigate(backend, subject_for_key(t.story.access_key_id), EVERYTHING, top=200)
    tactics = {x.tactic for x in report.techniques}
    assert tactics == set(t.tactics)  # every ATT&CK tactic the story plays, each under its own name
    by_id = {(x.tactic, x.technique_id): x for x in report.techniques}
    assert set(by_id[("defense-evasion", "T1562.008")].event_names) == {
        "PutEventSelectors",
        "DeleteFlowLogs",
        "DeleteResolverQueryLogConfig",
        "StopLogging",
    }
    assert by_id[("exfiltration", "T1537")].event_names == ["ModifySnapshotAttribute", "PutBucketPolicy"]
    assert t.snapshot_id in by_id[("exfiltration", "T1537")].resources
    assert by_id[("impact", "T1486")].count == len(t.objects_encrypted)  # SSE-C re-encryption, not a read
    assert by_id[("initial-access", "T1078.004")].event_names == ["ConsoleLogin"]
    assert ("collection", "T1530") in by_id and ("lateral-movement", "T1021.008") in by_id
    first = next(x.first for x in report.techniques if x.tactic == "initial-access")
    assert first and first.endswith("Z")
    # S3 ransomware is impact: nothing it touched counts as read
    assert report.objects_read == sorted(t.objects_read)
    assert report.objects_encrypted == t.objects_encrypted and report.objects_deleted == t.objects_deleted
    # bulk secret reads name each secret
    assert set(t.secrets_read) <= set(report.secrets_read)
    # machine-usable attributions
    items = {p.event_name: p for p in report.persistence}
    assert [p.event_name for p in report.persistence] == t.persistence
    assert items["CreateAccessKey"].kind == "access_key_created" and items["CreateAccessKey"].new_key in t.keys
    trust = items["UpdateAssumeRolePolicy"]
    assert trust.kind == "trust_policy_changed" and trust.resource_ids == [t.story.role_name]
    granted = [str(st.get("Principal", {}).get("AWS")) for st in trust.policy_document["Statement"]]
    assert any(g.startswith(f"arn:aws:iam::{t.story.external_account}") for g in granted)
    assert items["StopLogging"].kind == "trail_stopped" and items["StopLogging"].tactic == "defense-evasion"
    assert items["DeleteFlowLogs"].resource_ids == ["fl-0a1b2c3d4e5f67890"]
    assert items["ModifySnapshotAttribute"].external_accounts == [t.story.external_account]
    assert (
        items["PutBucketPolicy"].kind == "bucket_policy_changed" and items["PutBucketPolicy"].target == t.story.bucket
    )
    assert [(e.account_id, e.event_name) for e in report.external_accounts] == [
        (t.story.external_account, "UpdateAssumeRolePolicy"),
        (t.story.external_account, "ModifySnapshotAttribute"),
        (t.story.external_account, "PutBucketPolicy"),
    ]
    text = report.markdown()
    assert "## Tactic timeline (MITRE ATT&CK)" in text and "T1537 Transfer Data to Cloud Account" in text
    assert "## Accounts outside the organisation granted access" in text


def test_accounts_inside_the_organisation_are_not_external(generated: GroundTruth, cache_dir: Path) -> None:
    t = generated
    with _backend(t, cache_dir) as backend:
        report = investigate(
            backend,
            subject_for_key(t.story.access_key_id),
            EVERYTHING,
            organization=frozenset({t.story.external_account}),
        )
    assert report.external_accounts == []
    assert all(not p.external_accounts for p in report.persistence)
