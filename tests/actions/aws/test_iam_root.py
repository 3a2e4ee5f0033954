"""Root credentials reported from the account summary and credential report (moto over HTTP)."""

from __future__ import annotations

import json

from responder.actions.aws.iam_root import CaptureRootCredentials, RootInput
from tests.actions.aws.action_ctx import step_context


def test_root_credentials_are_captured_and_reported(moto_endpoint: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    out = CaptureRootCredentials().apply(ctx, RootInput())
    assert not out.changed
    o = out.output
    assert o["account_id"] == "123456789012" and o["access_keys_present"] is False and o["active_access_keys"] == 0
    saved = json.loads(ctx.evidence.read(ctx.run_id, o["artifact"]))
    assert "AccountMFAEnabled" in saved["account_summary"]
    assert o["report_ready"] == (saved["root"] is not None)
