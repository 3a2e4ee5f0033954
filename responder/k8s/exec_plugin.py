"""Kubeconfig ``exec`` credential plugins, run the way kubectl runs them.

``aws eks update-kubeconfig`` writes a user whose credential comes from ``aws eks get-token``; other
clouds and SSO tools do the same with their own commands. kubectl's contract (client-go
``plugin/pkg/client/auth/exec``): run ``command`` with ``args``, the process environment plus the
``env`` entries, and ``KUBERNETES_EXEC_INFO`` holding an ``ExecCredential`` request (``interactive:
false`` here: nobody is at a terminal when responder runs); read an ``ExecCredential`` from stdout
whose ``status`` carries a ``token`` or ``clientCertificateData``/``clientKeyData``, and an optional
``expirationTimestamp`` before which it is reused. A command with a path separator is relative to the
kubeconfig file; a bare name is looked up on ``PATH``.

The command comes from the operator's kubeconfig, never from a finding.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import Refused
from .client import Credentials

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
TIMEOUT = 60.0


class ExecPlugin:
    """A credential source for :class:`~responder.k8s.client.KubeClient`: each call runs the plugin."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        *,
        home: Path,
        cluster: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = dict(spec)
        self.home = home
        self.cluster = dict(cluster or {})
        self.environ = environ
        self.api_version = str(self.spec.get("apiVersion") or API_VERSIONS[1])
        if self.api_version not in API_VERSIONS:
            raise Refused(
                f"kubeconfig exec plugin apiVersion {self.api_version!r} is not one kubectl still "
                f"supports ({', '.join(API_VERSIONS)})"
            )
        if str(self.spec.get("interactiveMode") or "") == "Always":
            raise Refused(
                f"kubeconfig exec plugin {self.command_name} needs a person at a terminal "
                "(interactiveMode: Always); responder runs unattended"
            )

    @property
    def command_name(self) -> str:
        return str(self.spec.get("command") or "")

    def _executable(self) -> str:
        command = self.command_name
        if not command:
            raise Refused("kubeconfig exec plugin has no command")
        if os.sep in command or (os.altsep and os.altsep in command):
            path = Path(os.path.expanduser(command))
            return str(path if path.is_absolute() else self.home / path)
        env = dict(self.environ if self.environ is not None else os.environ)
        found = shutil.which(command, path=env.get("PATH"))
        if not found:
            hint = str(self.spec.get("installHint") or "").strip() or None
            raise Refused(f"kubeconfig exec plugin {command!r} is not on PATH", hint=hint)
        return found

    def __call__(self) -> Credentials:
        env = dict(self.environ if self.environ is not None else os.environ)
        for item in self.spec.get("env") or []:
            if isinstance(item, dict) and item.get("name"):
                env[str(item["name"])] = str(item.get("value") or "")
        request: dict[str, Any] = {
            "apiVersion": self.api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
        if self.spec.get("provideClusterInfo"):
            request["spec"]["cluster"] = {k: v for k, v in self.cluster.items() if v not in (None, "")}
        env["KUBERNETES_EXEC_INFO"] = json.dumps(request)
        argv = [self._executable(), *[str(a) for a in self.spec.get("args") or []]]
        try:
            done = subprocess.run(
                argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Refused(f"kubeconfig exec plugin {self.command_name} could not run: {exc}") from None
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace").strip()[-400:]
            raise Refused(f"kubeconfig exec plugin {self.command_name} exited {done.returncode}: {stderr}")
        return parse(done.stdout, self.command_name)


def parse(stdout: bytes, command: str) -> Credentials:
    """An ``ExecCredential`` (stdout of the plugin) → credentials; nothing of it is logged."""
    try:
        answer = json.loads(stdout)
    except ValueError:
        raise Refused(f"kubeconfig exec plugin {command} did not print an ExecCredential (JSON)") from None
    status = answer.get("status") if isinstance(answer, dict) else None
    if not isinstance(status, dict) or answer.get("kind") != "ExecCredential":
        raise Refused(f"kubeconfig exec plugin {command} printed no ExecCredential status")
    expires = None
    if status.get("expirationTimestamp"):
        try:
            expires = datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00"))
        except ValueError:
            raise Refused(f"kubeconfig exec plugin {command}: expirationTimestamp is not RFC 3339") from None
        expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    creds = Credentials(
        token=status.get("token") or None,
        cert_pem=status.get("clientCertificateData") or None,
        key_pem=status.get("clientKeyData") or None,
        expires_at=expires,
    )
    if not creds.token and not creds.cert_pem:
        raise Refused(f"kubeconfig exec plugin {command} returned neither a token nor a client certificate")
    if bool(creds.cert_pem) != bool(creds.key_pem):
        raise Refused(f"kubeconfig exec plugin {command} returned a client certificate without its key")
    return creds


__all__ = ["ExecPlugin", "parse"]
