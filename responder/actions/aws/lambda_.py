"""Lambda function compromise: record what the function is, then stop it being called — releasably.

(The module is ``lambda_`` because ``lambda`` is a Python keyword; the actions are ``aws.lambda_.*``.)

Evidence first: ``capture_function`` keeps the configuration, the code's location and SHA-256, layers,
the resource policy, function URLs, reserved concurrency and the *names* of environment variables —
never their values, which are secrets more often than not. Containment: ``restrict_function_url``
switches public (``AuthType: NONE``) URLs to IAM auth (the URL stays, anonymous callers get 403),
``remove_foreign_permissions`` takes out resource-policy statements that let anyone or another account
invoke it, and ``throttle_function`` sets reserved concurrency to 0 so nothing runs it at all. The
function's code and versions are never changed or deleted; every step records what release restores.

Each containment step writes that "before" ahead of its first write (``records_before``), so a crash
between a change and its record still leaves release the state to restore: the resumed step finds the
function already contained and the engine keeps the first attempt's "before". Removing statements is
one call per statement: all of them are written ahead, whole, before the first removal.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field

from ...errors import TargetChanged
from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext
from .common import jsonable

_FUNCTION = r"^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$"
_ACCOUNT_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):")


class FunctionInput(ActionInput):
    """A function by name or ARN (from the finding: only a Lambda-shaped name reaches the API)."""

    function_name: str = Field(pattern=_FUNCTION)


def _lambda(ctx: StepContext, inp: FunctionInput) -> Any:
    if inp.function_name.startswith("arn:"):
        return ctx.aws("lambda", region=inp.function_name.split(":")[3])
    return ctx.aws("lambda")


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _function(client: Any, name: str) -> dict[str, Any]:
    try:
        return dict(client.get_function(FunctionName=name))
    except Exception as exc:
        if _code(exc) == "ResourceNotFoundException":
            raise TargetChanged(f"function {name} does not exist here (deleted, or another account/region)") from None
        raise


def _policy(client: Any, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(client.get_policy(FunctionName=name)["Policy"])
    except Exception as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise


def _url(client: Any, name: str) -> dict[str, Any] | None:
    try:
        reply = client.get_function_url_config(FunctionName=name)
    except Exception as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise
    return {k: reply.get(k) for k in ("FunctionUrl", "AuthType", "Cors", "InvokeMode") if reply.get(k) is not None}


def _concurrency(client: Any, name: str) -> int | None:
    return client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")


# ---------------------------------------------------------------------------------------------
class CaptureFunctionOutput(ActionOutput):
    function_name: str = ""
    function_arn: str | None = None
    role_arn: str | None = None
    role_name: str | None = None
    code_sha256: str | None = None
    layers: list[str] = []
    environment_variable_names: list[str] = []
    public_url: bool = False
    foreign_statements: int = 0
    reserved_concurrency: int | None = None
    artifact: str = ""
    sha256: str = ""


class CaptureFunction(Action[FunctionInput]):
    """Preserve a function's configuration, code location, layers, policy and URLs as evidence.

    Environment variable values are dropped before anything is stored (names only): they hold database
    passwords and API keys, and evidence must not become a second leak. The code location is a presigned
    URL; its query (the signature) is cut off, the SHA-256 identifies the code.
    """

    name = "aws.lambda_.capture_function"
    Input = FunctionInput
    Output = CaptureFunctionOutput
    category = Category.EVIDENCE
    permissions = frozenset(
        {"lambda:GetFunction", "lambda:GetPolicy", "lambda:GetFunctionUrlConfig", "lambda:GetFunctionConcurrency"}
    )

    def plan(self, ctx: StepContext, inp: FunctionInput) -> Change:
        return Change(
            will_change=False,
            summary=f"capture function {inp.function_name} as evidence (environment variable names only)",
        )

    def apply(self, ctx: StepContext, inp: FunctionInput) -> Outcome:
        client = _lambda(ctx, inp)
        reply = _function(client, inp.function_name)
        config = dict(reply.get("Configuration") or {})
        env = dict((config.pop("Environment", None) or {}).get("Variables") or {})
        names = sorted(env)
        code = dict(reply.get("Code") or {})
        if code.get("Location"):
            code["Location"] = str(code["Location"]).split("?", 1)[0]
        notes: list[str] = []
        policy = _policy(client, inp.function_name)
        url = _url(client, inp.function_name)
        try:
            reserved = _concurrency(client, inp.function_name)
        except Exception as exc:
            reserved = None
            notes.append(f"reserved concurrency not read: {type(exc).__name__}: {str(exc)[:160]}")
        own = ctx.finding.account_id or (config.get("FunctionArn") or "::::").split(":")[4]
        foreign = [s for s in _statements(policy) if _foreign(s, own)]
        state = jsonable(
            {
                "captured_at": ctx.now.isoformat(),
                "configuration": config,
                "environment_variable_names": names,
                "code": code,
                "tags": reply.get("Tags") or {},
                "concurrency": reply.get("Concurrency"),
                "policy": policy,
                "function_url": url,
                "reserved_concurrency": reserved,
            }
        )
        artifact = ctx.evidence.put_json(
            ctx.run_id,
            f"{ctx.step_id}/lambda-{config.get('FunctionName') or 'fn'}.json",
            state,
            collected_by=f"responder:{self.name}",
            at=ctx.now,
            details={"step": ctx.step_id, "api": "lambda", "function": config.get("FunctionArn")},
        )
        role = config.get("Role")
        out = CaptureFunctionOutput(
            function_name=config.get("FunctionName") or inp.function_name,
            function_arn=config.get("FunctionArn"),
            role_arn=role,
            role_name=role.rsplit("/", 1)[-1] if role else None,
            code_sha256=config.get("CodeSha256"),
            layers=[layer.get("Arn", "") for layer in config.get("Layers") or []],
            environment_variable_names=names,
            public_url=bool(url and url.get("AuthType") == "NONE"),
            foreign_statements=len(foreign),
            reserved_concurrency=reserved,
            artifact=artifact.name,
            sha256=artifact.sha256,
        )
        return Outcome(
            changed=False,
            summary=f"captured function {out.function_name} → {artifact.name} "
            f"({len(names)} env var name(s), {'public URL' if out.public_url else 'no public URL'}, "
            f"{len(foreign)} foreign statement(s))",
            output=out.model_dump(),
            artifacts=[artifact.as_dict()],
            notes=notes,
        )


def _statements(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    stmts = (policy or {}).get("Statement") or []
    return [s for s in ([stmts] if isinstance(stmts, dict) else stmts) if isinstance(s, dict)]


def _principal_accounts(statement: dict[str, Any]) -> list[str]:
    """Who a statement admits, as account ids or ``*`` (service principals are not accounts)."""
    principal = statement.get("Principal")
    values: list[str] = []
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        aws = principal.get("AWS")
        values = [aws] if isinstance(aws, str) else list(aws or [])
    elif isinstance(principal, str):
        values = [principal]
    out = []
    for value in values:
        match = _ACCOUNT_ARN.match(value)
        out.append(match.group(1) if match else value)
    return out


def _foreign(statement: dict[str, Any], own: str | None) -> bool:
    """An Allow that lets anyone, or an account other than the function's own, invoke it."""
    if statement.get("Effect") != "Allow":
        return False
    return any(p == "*" or (p.isdigit() and p != own) for p in _principal_accounts(statement))


# ---------------------------------------------------------------------------------------------
class RestrictFunctionUrl(Action[FunctionInput]):
    """Switch a public function URL (``AuthType: NONE``) to IAM auth: anonymous callers get 403.

    The URL itself is kept (a deleted URL comes back with another address), so release only switches the
    auth type back. Functions without a URL, or with an IAM-auth one, are left alone.
    """

    name = "aws.lambda_.restrict_function_url"
    Input = FunctionInput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # one write: the public auth type is written ahead of it
    reversible = True
    permissions = frozenset({"lambda:GetFunctionUrlConfig", "lambda:UpdateFunctionUrlConfig"})
    undo_permissions = permissions

    def plan(self, ctx: StepContext, inp: FunctionInput) -> Change:
        url = _url(_lambda(ctx, inp), inp.function_name)
        public = bool(url and url.get("AuthType") == "NONE")
        return Change(
            will_change=public,
            summary=f"require IAM auth on the URL of {inp.function_name}"
            if public
            else f"{inp.function_name} has no public URL",
            before={"auth_type": (url or {}).get("AuthType")},
            after={"auth_type": "AWS_IAM" if url else None},
            notes=["browsers and webhooks calling the URL anonymously stop working"] if public else [],
        )

    def apply(self, ctx: StepContext, inp: FunctionInput) -> Outcome:
        client = _lambda(ctx, inp)
        url = _url(client, inp.function_name)
        auth = (url or {}).get("AuthType")
        output = {"function_url": (url or {}).get("FunctionUrl")}
        if auth != "NONE":
            return Outcome(
                changed=False,
                summary=f"{inp.function_name} has no public URL ({auth or 'no URL'})",
                before={"auth_type": auth},
                after={"auth_type": auth},
                output=output,
            )
        ctx.record_before({"auth_type": "NONE"})
        client.update_function_url_config(FunctionName=inp.function_name, AuthType="AWS_IAM")
        return Outcome(
            changed=True,
            summary=f"the URL of {inp.function_name} now requires IAM auth ({(url or {}).get('FunctionUrl')})",
            before={"auth_type": "NONE"},
            after={"auth_type": "AWS_IAM"},
            output=output,
        )

    def undo(
        self,
        ctx: StepContext,
        inp: FunctionInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        client = _lambda(ctx, inp)
        auth = (_url(client, inp.function_name) or {}).get("AuthType")
        if auth is None:
            raise TargetChanged(f"the URL of {inp.function_name} was deleted since; nothing to release")
        if auth != "AWS_IAM" and not force:
            raise TargetChanged(
                f"the URL auth of {inp.function_name} is {auth} (responder left AWS_IAM); use --force to release anyway"
            )
        client.update_function_url_config(FunctionName=inp.function_name, AuthType="NONE")
        return Outcome(
            changed=True,
            summary=f"the URL of {inp.function_name} is public again",
            before={"auth_type": auth},
            after={"auth_type": "NONE"},
        )


# ---------------------------------------------------------------------------------------------
class RemoveForeignPermissions(Action[FunctionInput]):
    """Remove resource-policy statements that let anyone (``*``) or another account invoke the function.

    Statements for AWS services (S3, EventBridge, API Gateway …) and for the function's own account stay.
    Each removed statement is recorded whole; release adds each back with the same id, principal, action
    and source conditions.
    """

    name = "aws.lambda_.remove_foreign_permissions"
    Input = FunctionInput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # one removal per statement: every statement, whole, is written ahead of the first
    reversible = True
    permissions = frozenset({"lambda:GetPolicy", "lambda:RemovePermission"})
    undo_permissions = frozenset({"lambda:GetPolicy", "lambda:AddPermission"})

    def _foreign(self, ctx: StepContext, client: Any, inp: FunctionInput) -> list[dict[str, Any]]:
        config = _function(client, inp.function_name).get("Configuration") or {}
        own = (config.get("FunctionArn") or "::::").split(":")[4] or ctx.finding.account_id
        return [s for s in _statements(_policy(client, inp.function_name)) if _foreign(s, own)]

    def plan(self, ctx: StepContext, inp: FunctionInput) -> Change:
        foreign = self._foreign(ctx, _lambda(ctx, inp), inp)
        return Change(
            will_change=bool(foreign),
            summary=f"remove {len(foreign)} statement(s) letting anyone or "
            f"another account invoke {inp.function_name}: {[s.get('Sid') for s in foreign]}",
            before={"statements": foreign},
            after={"statements": []},
        )

    def apply(self, ctx: StepContext, inp: FunctionInput) -> Outcome:
        client = _lambda(ctx, inp)
        foreign = self._foreign(ctx, client, inp)
        before = self._before(ctx, foreign)
        notes = []
        if len(before) > len(foreign):
            earlier = [s.get("Sid") for s in before[: len(before) - len(foreign)]]
            notes.append(f"statement(s) {earlier} removed by an earlier attempt that stopped before recording it")
        if foreign:
            ctx.record_before({"statements": before})  # all of them, whole, ahead of the first removal
        for stmt in foreign:
            try:
                client.remove_permission(FunctionName=inp.function_name, StatementId=stmt["Sid"])
            except Exception as exc:
                if _code(exc) != "ResourceNotFoundException":
                    raise
        return Outcome(
            changed=bool(foreign),
            summary=f"removed {len(foreign)} foreign statement(s) from "
            f"{inp.function_name}" + (f": {[s.get('Sid') for s in foreign]}" if foreign else ""),
            before={"statements": before},
            after={"statements": []},
            output={"removed": [s.get("Sid") for s in before]},
            notes=notes,
        )

    @staticmethod
    def _before(ctx: StepContext, foreign: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The foreign statements before the run: an earlier attempt that stopped between or after its
        removals left fewer than there were, and its write-ahead record holds the ones it removed (listed
        first). Nothing tells such a function apart from one never shared: the record is always read."""
        earlier = list(ctx.written_ahead.get("statements") or [])
        now = {s.get("Sid") for s in foreign}
        return [s for s in earlier if s.get("Sid") not in now] + foreign

    def undo(
        self,
        ctx: StepContext,
        inp: FunctionInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        client = _lambda(ctx, inp)
        present = {s.get("Sid") for s in _statements(_policy(client, inp.function_name))}
        notes: list[str] = []
        added = []
        for stmt in applied.before.get("statements", []):
            if stmt.get("Sid") in present:
                continue
            kwargs, missing = _add_permission_args(stmt)
            if missing:
                notes.append(
                    f"statement {stmt.get('Sid')}: condition(s) {missing} cannot be expressed through "
                    "AddPermission; added without them — review"
                )
            client.add_permission(FunctionName=inp.function_name, **kwargs)
            added.append(stmt.get("Sid"))
        return Outcome(
            changed=bool(added),
            summary=f"added back {len(added)} statement(s) to {inp.function_name}",
            before={"statements": []},
            after={"statements": applied.before.get("statements", [])},
            notes=notes,
        )


def _add_permission_args(stmt: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A policy statement → AddPermission arguments, and the condition keys that cannot be carried over."""
    action = stmt.get("Action")
    principal = _principal_accounts(stmt)
    kwargs: dict[str, Any] = {
        "StatementId": stmt["Sid"],
        "Action": action if isinstance(action, str) else action[0],
        "Principal": principal[0] if principal else "*",
    }
    missing: list[str] = []
    for op, pairs in (stmt.get("Condition") or {}).items():
        for key, value in pairs.items():
            value = value[0] if isinstance(value, list) else value
            if key == "AWS:SourceArn":
                kwargs["SourceArn"] = value
            elif key == "AWS:SourceAccount":
                kwargs["SourceAccount"] = value
            elif key == "aws:PrincipalOrgID":
                kwargs["PrincipalOrgID"] = value
            elif key == "lambda:FunctionUrlAuthType":
                kwargs["FunctionUrlAuthType"] = value
            else:
                missing.append(f"{op} {key}")
    return kwargs, missing


# ---------------------------------------------------------------------------------------------
class ThrottleFunction(Action[FunctionInput]):
    """Set the function's reserved concurrency to 0: no invocation runs, from any source, until released.

    Stronger than removing triggers (it also stops event-source mappings and the console's test button)
    and fully reversible: release restores the previous reserved concurrency, or none.
    """

    name = "aws.lambda_.throttle_function"
    Input = FunctionInput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # one write: the reserved concurrency before is written ahead of it
    reversible = True
    permissions = frozenset({"lambda:GetFunctionConcurrency", "lambda:PutFunctionConcurrency"})
    undo_permissions = frozenset(
        {"lambda:GetFunctionConcurrency", "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"}
    )

    def plan(self, ctx: StepContext, inp: FunctionInput) -> Change:
        client = _lambda(ctx, inp)
        _function(client, inp.function_name)
        current = _concurrency(client, inp.function_name)
        return Change(
            will_change=current != 0,
            summary=f"throttle {inp.function_name} to 0 concurrent executions",
            before={"reserved_concurrency": current},
            after={"reserved_concurrency": 0},
            notes=["every caller of the function, legitimate ones included, is throttled"],
        )

    def apply(self, ctx: StepContext, inp: FunctionInput) -> Outcome:
        client = _lambda(ctx, inp)
        _function(client, inp.function_name)
        current = _concurrency(client, inp.function_name)
        if current == 0:
            return Outcome(
                changed=False,
                summary=f"{inp.function_name} is already throttled to 0",
                before={"reserved_concurrency": 0},
                after={"reserved_concurrency": 0},
            )
        ctx.record_before({"reserved_concurrency": current})
        client.put_function_concurrency(FunctionName=inp.function_name, ReservedConcurrentExecutions=0)
        return Outcome(
            changed=True,
            summary=f"throttled {inp.function_name} to 0 (was {'unreserved' if current is None else current})",
            before={"reserved_concurrency": current},
            after={"reserved_concurrency": 0},
        )

    def undo(
        self,
        ctx: StepContext,
        inp: FunctionInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        client = _lambda(ctx, inp)
        current = _concurrency(client, inp.function_name)
        if current != 0 and not force:
            raise TargetChanged(
                f"reserved concurrency of {inp.function_name} is {current} (responder left 0); "
                "use --force to release anyway"
            )
        previous = applied.before.get("reserved_concurrency")
        if previous is None:
            client.delete_function_concurrency(FunctionName=inp.function_name)
        else:
            client.put_function_concurrency(FunctionName=inp.function_name, ReservedConcurrentExecutions=previous)
        return Outcome(
            changed=True,
            summary=f"reserved concurrency of {inp.function_name} restored "
            f"({'unreserved' if previous is None else previous})",
            before={"reserved_concurrency": current},
            after={"reserved_concurrency": previous},
        )
