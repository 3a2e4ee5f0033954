"""Cluster access: explicit endpoints, kubeconfig contexts, EKS tokens; and error translation.

Real parts only: responder's Kubernetes client talks HTTP to the local API double; STS and EKS are
the moto server over HTTP.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml

from responder.errors import Denied, Refused
from responder.k8s.access import CLUSTER_HEADER, TOKEN_PREFIX, K8sAccess, eks_token, kubernetes_factory
from responder.k8s.client import ApiError
from responder.k8s.errors import translate
from tests.k8s_double import (
    ARN,
    CLUSTER,
    NAMESPACE,
    POD,
    KubeDouble,
    eks_kubeconfig,
    install_fake_aws_cli,
    running_double,
    seed_pod,
)


def _read_pod(access: K8sAccess, cluster: str | None = CLUSTER) -> str:
    return str(access.client(cluster).read_pod(NAMESPACE, POD)["metadata"]["uid"])


def test_explicit_cluster_with_token_reaches_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPONDER_K8S_CLUSTERS", raising=False)
    with running_double(token="s3cr3t-token") as double:
        seed_pod(double)
        access = K8sAccess({"clusters": {CLUSTER: {"host": double.url, "token": "s3cr3t-token"}}})
        assert _read_pod(access)
        assert double.state.requests[-1]["authorization"] == "Bearer s3cr3t-token"
        wrong = K8sAccess({"clusters": {CLUSTER: {"host": double.url, "token": "nope"}}})
        with pytest.raises(ApiError) as caught:
            _read_pod(wrong)
        assert isinstance(translate(caught.value), Denied)
        assert "s3cr3t" not in access.describe(CLUSTER)


def test_single_configured_cluster_is_the_default_for_unnamed_findings(
    kube: KubeDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = K8sAccess({})  # the kube fixture configures prod-eks through RESPONDER_K8S_CLUSTERS
    assert access.cluster_name(None) == CLUSTER
    assert _read_pod(access, None)
    assert K8sAccess({"default_cluster": "other"}).cluster_name(None) == CLUSTER  # a drill ignores the default
    monkeypatch.delenv("RESPONDER_K8S_CLUSTERS")
    assert K8sAccess({"default_cluster": "other"}).cluster_name(None) == "other"


def test_kubeconfig_context_by_cluster_name_and_by_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPONDER_K8S_CLUSTERS", raising=False)
    with running_double(token="kc-token") as double:
        seed_pod(double)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "somewhere-else",
            "clusters": [
                {"name": "c1", "cluster": {"server": double.url}},
                {"name": "c2", "cluster": {"server": "http://127.0.0.1:9"}},
            ],
            "users": [{"name": "u1", "user": {"token": "kc-token"}}],
            "contexts": [
                {"name": CLUSTER, "context": {"cluster": "c1", "user": "u1"}},
                {"name": "arn-style-context", "context": {"cluster": "c1", "user": "u1"}},
                {"name": "somewhere-else", "context": {"cluster": "c2", "user": "u1"}},
            ],
        }
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        assert _read_pod(K8sAccess({"kubeconfig": str(path)}))
        mapped = K8sAccess({"kubeconfig": str(path), "contexts": {"payments-cluster": "arn-style-context"}})
        assert _read_pod(mapped, "payments-cluster")
        assert all(r["authorization"] == "Bearer kc-token" for r in double.state.requests)


def test_eks_token_is_a_presigned_get_caller_identity_bound_to_the_cluster(moto_endpoint: str) -> None:
    sts = boto3.client("sts", region_name="us-east-1")
    token = eks_token(sts, "prod-eks")
    assert token.startswith(TOKEN_PREFIX) and "=" not in token
    body = token[len(TOKEN_PREFIX) :]
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    query = parse_qs(urlsplit(url).query)
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["X-Amz-Expires"] == ["60"]
    assert CLUSTER_HEADER in query["X-Amz-SignedHeaders"][0].split(";")
    assert "X-Amz-Signature" in query
    # the header hook was only for that presign: the shared client signs other calls normally
    assert sts.get_caller_identity()["Account"]


def test_eks_cluster_is_described_in_the_findings_account(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPONDER_K8S_CLUSTERS", raising=False)
    eks = boto3.client("eks", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="eks", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    eks.create_cluster(name="prod-eks", roleArn=role, resourcesVpcConfig={"subnetIds": []})
    calls: list[str] = []

    def aws(service: str) -> object:
        calls.append(service)
        return boto3.client(service, region_name="us-east-1")

    # moto's certificateAuthority is random bytes, not a PEM: responder refuses rather than skip TLS checks
    with pytest.raises(Refused, match="certificate authority"):
        K8sAccess({}).client("prod-eks", aws=aws)
    assert calls[0] == "eks"


def test_no_way_to_reach_a_cluster_is_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPONDER_K8S_CLUSTERS", raising=False)
    with pytest.raises(Refused) as caught:
        K8sAccess({}).client("prod-eks")
    assert "kubeconfig" in (caught.value.hint or "")


def test_factory_builds_access_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from responder.config import load_settings

    monkeypatch.setenv("RESPONDER_K8S_CLUSTERS", json.dumps({"x": {"host": "http://127.0.0.1:1"}}))
    access = kubernetes_factory(load_settings())()
    assert isinstance(access, K8sAccess) and access.cluster_name(None) == "x"


# ---------------------------------------------------------------------------------------------
# as kubectl finds a cluster: explicit clusters, then KUBECONFIG / ~/.kube/config, then EKS
def _write(path: Path, config: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def _plugin_runs(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_kubeconfig_exported_as_KUBECONFIG_from_aws_eks_update_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finding names cluster ``prod-eks``; the kubeconfig names it by ARN and authenticates through
    ``aws eks get-token``, run from PATH with the kubeconfig's env, as kubectl runs it."""
    monkeypatch.delenv("RESPONDER_K8S_CLUSTERS", raising=False)
    install_fake_aws_cli(tmp_path / "bin", token="k8s-aws-v1.from-the-plugin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AWS_LOG", str(tmp_path / "aws.log"))
    with running_double(token="k8s-aws-v1.from-the-plugin") as double:
        seed_pod(double)
        dev = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "dev",
            "clusters": [{"name": "dev", "cluster": {"server": "http://127.0.0.1:9"}}],
            "users": [{"name": "dev", "user": {"token": "dev-token"}}],
            "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}],
        }
        first, second = (
            _write(tmp_path / "kube" / "dev.yaml", dev),
            _write(tmp_path / "kube" / "eks.yaml", eks_kubeconfig(double.url)),
        )
        missing = tmp_path / "kube" / "not-there.yaml"  # kubectl skips paths that do not exist
        monkeypatch.setenv("KUBECONFIG", os.pathsep.join(map(str, (missing, first, second))))
        access = K8sAccess({})
        assert _read_pod(access, CLUSTER)
        assert _read_pod(access, CLUSTER)  # the client and its credential are reused
        assert {r["authorization"] for r in double.state.requests} == {"Bearer k8s-aws-v1.from-the-plugin"}
        [run] = _plugin_runs(tmp_path / "aws.log")
        assert run["args"] == [
            "--region",
            "us-east-1",
            "eks",
            "get-token",
            "--cluster-name",
            "prod-eks",
            "--output",
            "json",
        ]
        assert run["profile"] == "incident-response"  # the kubeconfig's env entry reached the plugin
        assert run["exec_info"] == {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
        assert "kubeconfig" in access.describe(CLUSTER) and "from-the-plugin" not in access.describe(CLUSTER)
        # the finding's ARN reaches the same context; an unnamed finding uses the first file's current context
        assert _read_pod(K8sAccess({}), ARN)
        assert K8sAccess({}).client(None).server == "http://127.0.0.1:9"


def test_explicit_clusters_come_before_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_double() as explicit, running_double(token="kc") as from_kubeconfig:
        seed_pod(explicit)
        seed_pod(from_kubeconfig)
        monkeypatch.setenv("RESPONDER_K8S_CLUSTERS", json.dumps({CLUSTER: {"host": explicit.url}}))
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": from_kubeconfig.url}}],
            "users": [{"name": "u", "user": {"token": "kc"}}],
            "contexts": [{"name": CLUSTER, "context": {"cluster": "c", "user": "u"}}],
        }
        monkeypatch.setenv("KUBECONFIG", str(_write(tmp_path / "config", config)))
        assert _read_pod(K8sAccess({}))
        assert explicit.state.requests and not from_kubeconfig.state.requests


def test_home_kube_config_when_KUBECONFIG_is_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPONDER_K8S_CLUSTERS", raising=False)
    with running_double(token="home-token") as double:
        seed_pod(double)
        token_file = tmp_path / "home" / ".kube" / "tokens" / "responder"
        token_file.parent.mkdir(parents=True)
        token_file.write_text("home-token\n")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "ops",
            "clusters": [{"name": CLUSTER, "cluster": {"server": double.url}}],
            "users": [{"name": "u", "user": {"tokenFile": "tokens/responder"}}],  # relative to the file
            "contexts": [{"name": "ops", "context": {"cluster": CLUSTER, "user": "u"}}],
        }
        _write(tmp_path / "home" / ".kube" / "config", config)  # HOME is tmp_path/home (conftest)
        assert _read_pod(K8sAccess({}), CLUSTER)  # the context whose *cluster* is prod-eks
        assert double.state.requests[-1]["authorization"] == "Bearer home-token"


def test_kubeconfig_without_a_context_for_the_cluster_falls_through_to_eks(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RESPONDER_K8S_CLUSTERS", raising=False)
    other = eks_kubeconfig("http://127.0.0.1:9", cluster_arn="arn:aws:eks:eu-west-1:210987654321:cluster/staging")
    monkeypatch.setenv("KUBECONFIG", str(_write(tmp_path / "config", other)))
    role = boto3.client("iam").create_role(RoleName="eks", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("eks").create_cluster(name="prod-eks", roleArn=role, resourcesVpcConfig={"subnetIds": []})
    calls: list[str] = []

    def aws(service: str) -> object:
        calls.append(service)
        return boto3.client(service, region_name="us-east-1")

    with pytest.raises(Refused, match="certificate authority"):  # moto's EKS CA is random bytes: never "skip TLS"
        K8sAccess({}).client("prod-eks", aws=aws)
    assert calls == ["eks"]
    with pytest.raises(Refused, match="no context for it") as caught:
        K8sAccess({}).client("prod-eks")  # and with no AWS either: refused, naming where it looked
    assert "KUBECONFIG" in (caught.value.hint or "")


def test_a_drill_reaches_only_the_sandbox_clusters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--sandbox`` sets RESPONDER_K8S_CLUSTERS: the operator's real kubeconfig, default cluster and EKS
    are out of reach, whatever the finding names."""
    with running_double() as sandbox, running_double() as real:
        seed_pod(sandbox)
        seed_pod(real)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "prod",
            "clusters": [{"name": "prod", "cluster": {"server": real.url}}],
            "users": [{"name": "u", "user": {}}],
            "contexts": [
                {"name": "prod", "context": {"cluster": "prod", "user": "u"}},
                {"name": "other-eks", "context": {"cluster": "prod", "user": "u"}},
            ],
        }
        _write(tmp_path / "home" / ".kube" / "config", config)
        monkeypatch.setenv("RESPONDER_K8S_CLUSTERS", json.dumps({"sandbox": {"host": sandbox.url}}))
        access = K8sAccess({"clusters": {"prod": {"host": real.url}}, "default_cluster": "prod"})
        assert _read_pod(access, None)  # unnamed finding: the sandbox's one cluster, not the default
        for name in ("prod", "other-eks"):
            with pytest.raises(Refused, match="only ones reachable"):
                access.client(name, aws=lambda service: pytest.fail(f"EKS reached: {service}"))
        assert sandbox.state.requests and not real.state.requests
