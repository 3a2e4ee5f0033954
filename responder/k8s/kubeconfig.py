"""Kubeconfig files, read the way kubectl reads them.

Which files: ``kubernetes.kubeconfig`` in config.yaml (a path or a list, like ``kubectl --kubeconfig``),
else ``KUBECONFIG`` (paths joined by ``os.pathsep``), else ``~/.kube/config`` when it exists. Several
files merge as kubectl merges them: for each cluster, user and context *name* the first file that
defines it wins, and so does the first ``current-context``; relative file paths inside a file are
relative to that file.

Which context answers a finding: the one named by ``kubernetes.contexts[CLUSTER]``, else a context
whose name is the cluster's name or ARN, else one whose cluster is (``aws eks update-kubeconfig``
names both the context and the cluster by the cluster's ARN, so a finding that carries only the name
``prod-eks`` still finds ``arn:aws:eks:…:cluster/prod-eks``). Two ARN-named contexts for one name (the
same name in two accounts or regions) are only told apart by the ARN; without one the choice is
refused rather than guessed — containing the wrong cluster is worse than not reaching one.

How it authenticates: a token (``token``, ``tokenFile``), a client certificate (``client-certificate``
/ ``-data`` with its key), or an ``exec`` credential plugin (``responder.k8s.exec_plugin``), checked
against the cluster's CA (``certificate-authority`` / ``-data``).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Refused
from .client import Credentials, KubeClient, Tls
from .exec_plugin import ExecPlugin


@dataclass
class KubeConfig:
    """The merged view of one or more kubeconfig files."""

    paths: list[Path]
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)
    current_context: str | None = None
    origin: dict[tuple[str, str], Path] = field(default_factory=dict)  # (section, name) -> the file defining it


def search_paths(explicit: str | Sequence[str] | None, environ: Mapping[str, str]) -> list[Path]:
    """The files kubectl would read, in order (only those that exist)."""
    if explicit:
        listed = [explicit] if isinstance(explicit, str) else list(explicit)
    elif environ.get("KUBECONFIG"):
        listed = [p for p in environ["KUBECONFIG"].split(os.pathsep) if p]
    else:
        home = environ.get("HOME") or os.path.expanduser("~")
        listed = [os.path.join(home, ".kube", "config")]
    seen: list[Path] = []
    for item in listed:
        path = Path(os.path.expanduser(str(item)))
        if path.is_file() and path not in seen:
            seen.append(path)
    return seen


def load(paths: Sequence[Path]) -> KubeConfig:
    """Merge the files, first definition wins (kubectl's rule)."""
    merged = KubeConfig(paths=list(paths))
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise Refused(f"cannot read kubeconfig {path}: {exc}") from None
        if not isinstance(data, dict):
            raise Refused(f"kubeconfig {path} is not a mapping")
        for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            target: dict[str, dict[str, Any]] = getattr(merged, section)
            for entry in data.get(section) or []:
                if not isinstance(entry, dict) or not entry.get("name"):
                    continue
                name = str(entry["name"])
                if name not in target:
                    target[name] = dict(entry.get(key) or {})
                    merged.origin[(section, name)] = path
        if merged.current_context is None and data.get("current-context"):
            merged.current_context = str(data["current-context"])
    return merged


def _eks_name(value: str) -> str:
    """``arn:aws:eks:REGION:ACCOUNT:cluster/NAME`` → ``NAME``; a bare name stays as it is."""
    return value.rsplit(":cluster/", 1)[-1] if value.startswith("arn:") and ":cluster/" in value else value


def find_context(
    config: KubeConfig, cluster: str, arn: str | None = None, mapping: Mapping[str, str] | None = None
) -> str | None:
    """The context that reaches ``cluster`` (a name or an ARN), or None."""
    if mapping and cluster in mapping:
        return str(mapping[cluster])
    wanted = [w for w in (cluster, arn) if w]
    for name in wanted:  # a context named for the cluster
        if name in config.contexts:
            return name
    short = _eks_name(cluster)
    for label, test in (
        ("is", lambda c: str(c.get("cluster") or "") in wanted),  # a context of that cluster
        ("is called", lambda c: _eks_name(str(c.get("cluster") or "")) == short),
    ):
        found = sorted(n for n, c in config.contexts.items() if test(c))
        if len(found) > 1:
            raise Refused(
                f"kubeconfig contexts {found} all reach a cluster that {label} {cluster}; responder "
                "will not guess which one the finding means",
                hint=f"map it: kubernetes.contexts: {{{cluster}: <context>}} in config.yaml",
            )
        if found:
            return found[0]
    found = sorted(n for n in config.contexts if _eks_name(n) == short)  # an ARN-named context
    if len(found) > 1:
        raise Refused(
            f"kubeconfig contexts {found} are all named for a cluster called {short}; the finding "
            "carries no ARN to tell them apart",
            hint=f"map it: kubernetes.contexts: {{{cluster}: <context>}} in config.yaml",
        )
    return found[0] if found else None


def client_for(config: KubeConfig, context_name: str, *, environ: Mapping[str, str] | None = None) -> KubeClient:
    """A client for one context: its cluster's server and CA, its user's credentials."""
    context = config.contexts.get(context_name)
    if context is None:
        raise Refused(f"kubeconfig has no context {context_name!r}")
    cluster_name, user_name = str(context.get("cluster") or ""), str(context.get("user") or "")
    cluster = config.clusters.get(cluster_name)
    if not cluster or not cluster.get("server"):
        raise Refused(f"kubeconfig context {context_name!r} names cluster {cluster_name!r}, which has no server")
    cluster_home = config.origin.get(("clusters", cluster_name), Path.cwd()).parent
    tls = Tls(
        ca_pem=_decoded(cluster.get("certificate-authority-data"), "certificate-authority-data"),
        ca_file=_file(cluster.get("certificate-authority"), cluster_home),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        server_name=cluster.get("tls-server-name"),
    )
    user = config.users.get(user_name, {})
    user_home = config.origin.get(("users", user_name), Path.cwd()).parent
    if user.get("exec"):
        plugin = ExecPlugin(
            user["exec"],
            home=user_home,
            cluster={
                "server": cluster["server"],
                "certificate-authority-data": cluster.get("certificate-authority-data"),
                "insecure-skip-tls-verify": bool(cluster.get("insecure-skip-tls-verify")),
            },
            environ=environ,
        )
        return KubeClient(str(cluster["server"]), credentials=plugin, tls=tls)
    if user.get("auth-provider"):
        raise Refused(
            f"kubeconfig user {user_name!r} uses an auth-provider plugin "
            f"({(user['auth-provider'] or {}).get('name')}), which kubectl itself no longer supports",
            hint="use an exec credential plugin (e.g. aws eks update-kubeconfig writes one)",
        )
    return KubeClient(str(cluster["server"]), credentials=_static(user, user_home, user_name), tls=tls)


def _static(user: dict[str, Any], home: Path, name: str) -> Credentials:
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token_path = _file(user["tokenFile"], home)
        try:
            token = Path(str(token_path)).read_text().strip()
        except OSError as exc:
            raise Refused(f"kubeconfig user {name!r}: cannot read tokenFile: {exc}") from None
    return Credentials(
        token=str(token) if token else None,
        cert_pem=_decoded(user.get("client-certificate-data"), "client-certificate-data"),
        key_pem=_decoded(user.get("client-key-data"), "client-key-data"),
        cert_file=_file(user.get("client-certificate"), home),
        key_file=_file(user.get("client-key"), home),
    )


def _decoded(value: Any, what: str) -> str | None:
    """``*-data`` fields are base64 of PEM text."""
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=False).decode()
    except (ValueError, UnicodeDecodeError):
        raise Refused(f"kubeconfig {what} is not base64 of a PEM") from None


def _file(value: Any, home: Path) -> str | None:
    if not value:
        return None
    path = Path(os.path.expanduser(str(value)))
    return str(path if path.is_absolute() else home / path)


__all__ = ["KubeConfig", "client_for", "find_context", "load", "search_paths"]
