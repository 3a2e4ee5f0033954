"""Pivot semantics on a hand-built trail: every minting call, console sessions, transitive chains,
and the pivots of other principals left alone."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from responder.samples.records import console_user, iam_user, record, role_session
from responder.scope import investigate, open_backend, subject_for_key, subject_for_principal
from responder.scope.subject import Window

ACCT = "111122223333"
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
EVERYTHING = Window(until=datetime(2030, 1, 1, tzinfo=UTC))


def _trail(root: Path) -> dict[str, str]:
    rng = random.Random(1)
    seed = iam_user(ACCT, "mallory", "AKIASEEDKEY000000001", "AIDASEED")
    other = iam_user(ACCT, "bob", "AKIABOBKEY0000000001", "AIDABOB")
    keys = {
        "session": "ASIASESSIONTOKEN0001",
        "federated": "ASIAFEDERATION000001",
        "chained": "ASIACHAINEDROLE00001",
        "console": "ASIACONSOLEMALLORY01",
        "bob_role": "ASIABOBSROLE00000001",
        "bob_console": "ASIABOBCONSOLE000001",
    }

    def rec(minutes: int, ident: dict, source: str, name: str, **kw) -> dict:
        return record(
            rng,
            at=T0 + timedelta(minutes=minutes),
            identity=ident,
            source=source,
            name=name,
            region="us-east-1",
            ip="192.0.2.10",
            agent="aws-cli/2",
            account=ACCT,
            **kw,
        )

    records = [
        rec(
            0,
            seed,
            "sts.amazonaws.com",
            "GetSessionToken",
            response={"credentials": {"accessKeyId": keys["session"], "expiration": "2026-05-05T10:00:00Z"}},
        ),
        rec(
            1,
            seed,
            "sts.amazonaws.com",
            "GetFederationToken",
            request={"name": "fed"},
            response={
                "credentials": {"accessKeyId": keys["federated"]},
                "federatedUser": {"arn": f"arn:aws:sts::{ACCT}:federated-user/fed"},
            },
        ),
        rec(
            2,
            iam_user(ACCT, "mallory", keys["session"], "AIDASEED"),
            "sts.amazonaws.com",
            "AssumeRole",
            request={"roleArn": f"arn:aws:iam::{ACCT}:role/Admin", "roleSessionName": "x"},
            response={
                "credentials": {"accessKeyId": keys["chained"]},
                "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCT}:assumed-role/Admin/x"},
            },
        ),
        rec(3, role_session(ACCT, "Admin", "x", keys["chained"], "AROAADMIN", T0), "s3.amazonaws.com", "ListBuckets"),
        rec(
            4, console_user(ACCT, "mallory", keys["console"], "AIDASEED", T0), "ec2.amazonaws.com", "DescribeInstances"
        ),
        rec(
            5,
            iam_user(ACCT, "mallory", keys["session"], "AIDASEED"),
            "sts.amazonaws.com",
            "AssumeRole",
            request={"roleArn": f"arn:aws:iam::{ACCT}:role/Admin", "roleSessionName": "denied"},
            error="AccessDenied",
        ),
        # bob's own pivots and console: none of them is mallory's
        rec(
            6,
            other,
            "sts.amazonaws.com",
            "AssumeRole",
            request={"roleArn": f"arn:aws:iam::{ACCT}:role/Admin"},
            response={"credentials": {"accessKeyId": keys["bob_role"]}},
        ),
        rec(
            7, role_session(ACCT, "Admin", "bob", keys["bob_role"], "AROAADMIN", T0), "s3.amazonaws.com", "ListBuckets"
        ),
        rec(8, console_user(ACCT, "bob", keys["bob_console"], "AIDABOB", T0), "ec2.amazonaws.com", "DescribeInstances"),
    ]
    path = root / "AWSLogs" / ACCT / "CloudTrail" / "us-east-1" / "2026" / "05" / "04"
    path.mkdir(parents=True)
    (path / f"{ACCT}_CloudTrail_us-east-1_20260504T1010Z_abc.json.gz").write_bytes(
        gzip.compress(json.dumps({"Records": records}).encode())
    )
    return keys


def test_every_minting_call_and_console_sessions_but_nobody_elses(tmp_path: Path) -> None:
    keys = _trail(tmp_path / "ct")
    with open_backend("local", cloudtrail=tmp_path / "ct", flow_logs=None, cache_dir=tmp_path / "cache") as b:
        report = investigate(b, subject_for_key("AKIASEEDKEY000000001"), EVERYTHING)
        by_key = {p["key"]: p for p in report.pivots}
        assert set(by_key) == {
            "AKIASEEDKEY000000001",
            keys["session"],
            keys["federated"],
            keys["chained"],
            keys["console"],
        }
        assert by_key[keys["session"]]["pivot"] == "GetSessionToken"
        assert by_key[keys["federated"]]["pivot"] == "GetFederationToken"
        assert by_key[keys["chained"]]["pivot"] == "AssumeRole"
        assert by_key[keys["chained"]]["from_key"] == keys["session"]  # transitive
        assert by_key[keys["console"]]["pivot"] == "console session"
        assert report.events == 6  # bob's three records are not mallory's
        bob = investigate(b, subject_for_principal(f"arn:aws:iam::{ACCT}:user/bob"), EVERYTHING)
        assert set(bob.keys) == {keys["bob_role"], keys["bob_console"]} and bob.events == 3
