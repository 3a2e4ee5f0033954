"""Root user compromise: what the root user holds, reported at once.

The root user is the one principal IAM policies cannot restrict in its own account and no other
principal can deactivate: ``UpdateAccessKey`` on root keys works only when signed in *as* root, and
centralized root access (``sts:AssumeRoot`` from the organization's management account) may delete root
credentials but never deactivate them — deletion cannot be released, so responder reports and a person
decides (runbook). ``capture_root_credentials`` records what the account summary and the credential
report say about root: access keys present and active, their last use, MFA, the password's last use.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext
from .common import jsonable


class RootInput(ActionInput):
    """No arguments: the finding's account is the one whose root user is captured."""


class CaptureRootOutput(ActionOutput):
    account_id: str | None = None
    access_keys_present: bool | None = None
    active_access_keys: int = 0
    mfa_enabled: bool | None = None
    password_enabled: bool | None = None
    password_last_used: str | None = None
    key_last_used: list[str] = []
    report_ready: bool = False
    artifact: str = ""


def _root_row(iam: Any, notes: list[str]) -> dict[str, str] | None:
    """The ``<root_account>`` row of the credential report (generated if none is fresh)."""
    try:
        state = iam.generate_credential_report().get("State")
        if state != "COMPLETE":
            state = iam.generate_credential_report().get("State")
        content = iam.get_credential_report()["Content"]
    except Exception as exc:
        notes.append(
            f"credential report not read ({type(exc).__name__}: {str(exc)[:160]}); it may still be "
            "generating: run the step again, or read it in the console"
        )
        return None
    text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("user") == "<root_account>":
            return dict(row)
    notes.append("the credential report has no <root_account> row")
    return None


class CaptureRootCredentials(Action[RootInput]):
    """Record the root user's credentials as the account summary and credential report state them.

    Nothing can be contained here by automation (see the module docstring); the output says what a
    person must do first: which root keys are active, whether MFA is on, when the password was used.
    """

    name = "aws.iam_root.capture_root_credentials"
    Input = RootInput
    Output = CaptureRootOutput
    category = Category.EVIDENCE
    permissions = frozenset({"iam:GetAccountSummary", "iam:GenerateCredentialReport", "iam:GetCredentialReport"})

    def plan(self, ctx: StepContext, inp: RootInput) -> Change:
        return Change(
            will_change=False,
            summary=f"capture the root user's credentials of account "
            f"{ctx.finding.account_id} (account summary, credential report)",
        )

    def apply(self, ctx: StepContext, inp: RootInput) -> Outcome:
        iam = ctx.aws("iam")
        notes: list[str] = []
        summary = iam.get_account_summary().get("SummaryMap") or {}
        row = _root_row(iam, notes)
        active = [n for n in ("1", "2") if (row or {}).get(f"access_key_{n}_active") == "true"]
        used = [
            str((row or {}).get(f"access_key_{n}_last_used_date"))
            for n in active
            if (row or {}).get(f"access_key_{n}_last_used_date") not in (None, "", "N/A")
        ]
        record = jsonable({"captured_at": ctx.now.isoformat(), "account_summary": summary, "root": row})
        artifact = ctx.evidence.put_json(
            ctx.run_id,
            f"{ctx.step_id}/root-credentials.json",
            record,
            collected_by=f"responder:{self.name}",
            at=ctx.now,
            details={"step": ctx.step_id, "api": "iam"},
        )
        keys_present = summary.get("AccountAccessKeysPresent")
        out = CaptureRootOutput(
            account_id=ctx.finding.account_id,
            access_keys_present=bool(keys_present) if keys_present is not None else None,
            active_access_keys=len(active),
            mfa_enabled=bool(summary["AccountMFAEnabled"]) if "AccountMFAEnabled" in summary else None,
            password_enabled=(row or {}).get("password_enabled") in ("true", "not_supported") if row else None,
            password_last_used=(row or {}).get("password_last_used") if row else None,
            key_last_used=used,
            report_ready=row is not None,
            artifact=artifact.name,
        )
        if out.active_access_keys or out.access_keys_present:
            notes.append(
                "root access keys exist: only root itself can deactivate them; delete them (sign in as "
                "root, or sts:AssumeRoot from the management account) — see the runbook"
            )
        return Outcome(
            changed=False,
            summary=f"root of {ctx.finding.account_id}: access keys "
            f"{'present' if out.access_keys_present else 'none'} ({out.active_access_keys} active), "
            f"MFA {'on' if out.mfa_enabled else 'off' if out.mfa_enabled is False else 'unknown'}",
            output=out.model_dump(),
            artifacts=[artifact.as_dict()],
            notes=notes,
        )
