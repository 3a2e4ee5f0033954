"""Secrets never reach run records, logs or evidence; identifiers that are evidence stay."""

from __future__ import annotations

from responder.redact import REDACTED, redact

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # the AWS documentation's example secret key


def test_secret_access_keys_are_removed() -> None:
    out = redact({"Match": f"aws_secret_access_key = {SECRET}", "SecretAccessKey": "anything",
                  "RawV2": f"AKIAIOSFODNN7EXAMPLE{SECRET}", "nested": [{"line": f"'{SECRET}'"}]})
    text = str(out)
    assert SECRET not in text
    assert out["SecretAccessKey"] == REDACTED
    assert out["RawV2"] == f"AKIAIOSFODNN7EXAMPLE{REDACTED}"


def test_identifiers_stay() -> None:
    commit = "ec2fc9d6cb0954fb3b57201cf6133c48d8ca0d29"
    out = redact({"Commit": commit, "key": "AKIAIOSFODNN7EXAMPLE", "token": None, "n": 3})
    assert out == {"Commit": commit, "key": "AKIAIOSFODNN7EXAMPLE", "token": None, "n": 3}


def test_session_tokens_are_removed() -> None:
    token = "IQoJb3JpZ2luX2VjE" + "A" * 300
    assert redact({"x": f"token={token}"})["x"] == f"token={REDACTED}"
