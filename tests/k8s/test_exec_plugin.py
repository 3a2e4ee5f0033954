"""Exec credential plugins run as kubectl runs them, against the local API double over HTTP.

The plugin is a real executable written to ``tmp_path``: it counts its runs, prints an
``ExecCredential`` whose token is ``tok-<run>`` and records what it was given (arguments, environment,
``KUBERNETES_EXEC_INFO``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from responder.errors import Refused
from responder.k8s.client import KubeClient
from responder.k8s.exec_plugin import ExecPlugin, parse
from tests.k8s_double import NAMESPACE, POD, running_double, seed_pod

PLUGIN = """#!{python}
import json, os, sys
from datetime import datetime, timedelta, timezone
folder = os.path.dirname(os.path.abspath(__file__))
runs = len(open(os.path.join(folder, "runs.log")).readlines()) + 1 if os.path.exists(
    os.path.join(folder, "runs.log")) else 1
with open(os.path.join(folder, "runs.log"), "a") as log:
    log.write(json.dumps({{"args": sys.argv[1:], "env": os.environ.get("PLUGIN_MODE"),
                          "info": json.loads(os.environ["KUBERNETES_EXEC_INFO"])}}) + "\\n")
if os.environ.get("PLUGIN_MODE") == "fail":
    print("token expired, run sso login", file=sys.stderr)
    sys.exit(3)
ttl = int(os.environ.get("PLUGIN_TTL", "3600"))
expires = (datetime.now(timezone.utc) + timedelta(seconds=ttl)).strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {{"token": "tok-%d" % runs, "expirationTimestamp": expires}}}}))
"""


def _plugin(folder: Path, *, mode: str = "ok", ttl: int = 3600, **extra: Any) -> ExecPlugin:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "bin" / "get-token"
    script.parent.mkdir(exist_ok=True)
    script.write_text(PLUGIN.format(python=sys.executable))
    script.chmod(0o755)
    spec = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "./bin/get-token",
        "args": ["--for", "prod"],
        "env": [{"name": "PLUGIN_MODE", "value": mode}, {"name": "PLUGIN_TTL", "value": str(ttl)}],
        "interactiveMode": "Never",
        **extra,
    }
    return ExecPlugin(spec, home=folder, cluster={"server": "https://prod.example"})


def _runs(folder: Path) -> list[dict[str, Any]]:
    path = folder / "bin" / "runs.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_plugin_credential_is_reused_until_it_expires(tmp_path: Path) -> None:
    with running_double(token="tok-1") as double:
        seed_pod(double)
        client = KubeClient(double.url, credentials=_plugin(tmp_path))  # command relative to the kubeconfig
        client.read_pod(NAMESPACE, POD)
        client.read_pod(NAMESPACE, POD)
        [run] = _runs(tmp_path)
        assert run["args"] == ["--for", "prod"] and run["env"] == "ok"
        assert run["info"] == {
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }  # no cluster: provideClusterInfo not set


def test_a_credential_about_to_expire_is_renewed_before_use(tmp_path: Path) -> None:
    with running_double() as double:
        seed_pod(double)
        client = KubeClient(double.url, credentials=_plugin(tmp_path, ttl=5))  # within the 30 s margin
        client.read_pod(NAMESPACE, POD)
        client.read_pod(NAMESPACE, POD)
        assert [r["authorization"] for r in double.state.requests] == ["Bearer tok-1", "Bearer tok-2"]


def test_a_401_renews_the_credential_once(tmp_path: Path) -> None:
    with running_double(token="tok-2") as double:  # the first token was revoked early
        seed_pod(double)
        client = KubeClient(double.url, credentials=_plugin(tmp_path))
        assert client.read_pod(NAMESPACE, POD)["metadata"]["name"] == POD
        assert [r["authorization"] for r in double.state.requests] == ["Bearer tok-1", "Bearer tok-2"]


def test_cluster_info_is_given_when_asked(tmp_path: Path) -> None:
    _plugin(tmp_path, provideClusterInfo=True)()
    assert _runs(tmp_path)[0]["info"]["spec"]["cluster"] == {"server": "https://prod.example"}


def test_plugin_failures_are_refused_with_what_it_said(tmp_path: Path) -> None:
    with pytest.raises(Refused, match="exited 3: token expired, run sso login"):
        _plugin(tmp_path, mode="fail")()
    missing = ExecPlugin(
        {"command": "no-such-plugin-anywhere", "installHint": "brew install no-such-plugin"},
        home=tmp_path,
        environ={"PATH": str(tmp_path)},
    )
    with pytest.raises(Refused, match="not on PATH") as caught:
        missing()
    assert caught.value.hint == "brew install no-such-plugin"


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (b"not json", "did not print an ExecCredential"),
        (b'{"kind": "ExecCredential", "status": {}}', "neither a token nor a client certificate"),
        (b'{"kind": "ExecCredential", "status": {"clientCertificateData": "x"}}', "without its key"),
        (b'{"kind": "ExecCredential", "status": {"token": "t", "expirationTimestamp": "soon"}}', "RFC 3339"),
    ],
)
def test_malformed_plugin_output_is_refused(stdout: bytes, message: str) -> None:
    with pytest.raises(Refused, match=message):
        parse(stdout, "plugin")
