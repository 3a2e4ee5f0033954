"""Lambda evidence and containment against moto over HTTP: env var names only, public URL to IAM auth,
foreign invoke permissions removed, reserved concurrency 0 — each released exactly."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest

from responder.actions.aws.lambda_ import (
    CaptureFunction,
    FunctionInput,
    RemoveForeignPermissions,
    RestrictFunctionUrl,
    ThrottleFunction,
)
from responder.errors import TargetChanged
from tests.actions.aws.action_ctx import OUTSIDE, step_context

FN = "invoice-renderer"
SECRET_VALUE = "pg-password-do-not-store"


@pytest.fixture
def function(moto_endpoint: str) -> str:
    iam = boto3.client("iam")
    role = iam.create_role(
        RoleName="invoice-renderer-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return 1\n")
    lam = boto3.client("lambda", region_name="us-east-1")
    lam.create_function(
        FunctionName=FN,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
        Environment={"Variables": {"DB_PASSWORD": SECRET_VALUE, "STAGE": "prod"}},
    )
    lam.create_function_url_config(FunctionName=FN, AuthType="NONE")
    lam.add_permission(
        FunctionName=FN,
        StatementId="public-url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    lam.add_permission(FunctionName=FN, StatementId="outside", Action="lambda:InvokeFunction", Principal=OUTSIDE)
    lam.add_permission(
        FunctionName=FN,
        StatementId="s3-trigger",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::invoices",
    )
    return FN


def _lam():
    return boto3.client("lambda", region_name="us-east-1")


def _sids() -> list[str]:
    return sorted(s["Sid"] for s in json.loads(_lam().get_policy(FunctionName=FN)["Policy"])["Statement"])


def test_capture_keeps_variable_names_never_values(function: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    out = CaptureFunction().apply(ctx, FunctionInput(function_name=function))
    o = out.output
    assert o["environment_variable_names"] == ["DB_PASSWORD", "STAGE"] and o["role_name"] == "invoice-renderer-role"
    assert o["public_url"] and o["foreign_statements"] == 2
    stored = ctx.evidence.read(ctx.run_id, o["artifact"])
    assert SECRET_VALUE.encode() not in stored and b"DB_PASSWORD" in stored
    assert b"?" not in json.dumps(json.loads(stored)["code"]).encode(), "presigned query cut off"


def test_public_url_requires_iam_then_released(function: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    inp = FunctionInput(function_name=function)
    done = RestrictFunctionUrl().apply(ctx, inp)
    assert done.changed and _lam().get_function_url_config(FunctionName=FN)["AuthType"] == "AWS_IAM"
    assert not RestrictFunctionUrl().apply(ctx, inp).changed
    RestrictFunctionUrl().undo(ctx, inp, done)
    assert _lam().get_function_url_config(FunctionName=FN)["AuthType"] == "NONE"


def test_foreign_permissions_removed_service_ones_kept_then_released(function: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    inp = FunctionInput(function_name=function)
    done = RemoveForeignPermissions().apply(ctx, inp)
    assert sorted(done.output["removed"]) == ["outside", "public-url"] and _sids() == ["s3-trigger"]
    assert not RemoveForeignPermissions().apply(ctx, inp).changed
    RemoveForeignPermissions().undo(ctx, inp, done)
    assert _sids() == ["outside", "public-url", "s3-trigger"]


def test_throttled_to_zero_then_released(function: str, tmp_path) -> None:
    ctx = step_context(tmp_path)
    inp = FunctionInput(function_name=function)
    done = ThrottleFunction().apply(ctx, inp)
    assert done.changed and _lam().get_function_concurrency(FunctionName=FN)["ReservedConcurrentExecutions"] == 0
    assert not ThrottleFunction().apply(ctx, inp).changed
    _lam().put_function_concurrency(FunctionName=FN, ReservedConcurrentExecutions=5)
    with pytest.raises(TargetChanged):
        ThrottleFunction().undo(ctx, inp, done)
    _lam().put_function_concurrency(FunctionName=FN, ReservedConcurrentExecutions=0)
    ThrottleFunction().undo(ctx, inp, done)
    assert "ReservedConcurrentExecutions" not in _lam().get_function_concurrency(FunctionName=FN)


def test_missing_function_is_target_changed(moto_endpoint: str, tmp_path) -> None:
    with pytest.raises(TargetChanged):
        ThrottleFunction().plan(step_context(tmp_path), FunctionInput(function_name="gone"))
