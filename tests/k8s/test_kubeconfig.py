"""Kubeconfig files read and merged as kubectl reads them, and the context that answers a finding.

Real files in ``tmp_path``; contexts in the shapes ``aws eks update-kubeconfig`` (ARN-named, exec
plugin), kind/kubeadm (client certificate) and hand-written ones (token, tokenFile) use.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from responder.errors import Refused
from responder.k8s.kubeconfig import client_for, find_context, load, search_paths
from tests.k8s_double import eks_kubeconfig

PROD = "arn:aws:eks:us-east-1:123456789012:cluster/prod-eks"
PROD_EU = "arn:aws:eks:eu-west-1:210987654321:cluster/prod-eks"


def _file(folder: Path, name: str, config: dict) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def _config(context: str, cluster: str, server: str, *, current: str | None = None, user: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        **({"current-context": current} if current else {}),
        "clusters": [{"name": cluster, "cluster": {"server": server}}],
        "users": [{"name": f"{context}-user", "user": user or {"token": f"{context}-token"}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": f"{context}-user"}}],
    }


def test_search_order_explicit_then_KUBECONFIG_then_home(tmp_path: Path) -> None:
    a = _file(tmp_path, "a.yaml", _config("a", "a", "http://a"))
    b = _file(tmp_path, "b.yaml", _config("b", "b", "http://b"))
    home = _file(tmp_path / "home" / ".kube", "config", _config("h", "h", "http://h"))
    env = {"KUBECONFIG": f"{b}:{tmp_path / 'absent'}:{a}:{b}", "HOME": str(tmp_path / "home")}
    assert search_paths(str(a), env) == [a]  # kubernetes.kubeconfig, like kubectl --kubeconfig
    assert search_paths([str(b), str(a)], env) == [b, a]
    assert search_paths(None, env) == [b, a]  # missing paths skipped, duplicates once
    assert search_paths(None, {"HOME": str(tmp_path / "home")}) == [home]
    assert search_paths(None, {"HOME": str(tmp_path / "nobody")}) == []


def test_merge_first_definition_wins_as_in_kubectl(tmp_path: Path) -> None:
    first = _file(tmp_path, "1.yaml", _config("shared", "c", "http://first", current="shared"))
    second = _config("shared", "c", "http://second", current="other")
    second["contexts"].append({"name": "only-second", "context": {"cluster": "c2", "user": "shared-user"}})
    second["clusters"].append({"name": "c2", "cluster": {"server": "http://c2"}})
    merged = load([first, _file(tmp_path, "2.yaml", second)])
    assert merged.current_context == "shared"
    assert merged.clusters["c"]["server"] == "http://first"
    assert set(merged.contexts) == {"shared", "only-second"}
    assert client_for(merged, "only-second").server == "http://c2"


def test_context_for_a_findings_cluster(tmp_path: Path) -> None:
    merged = load(
        [
            _file(tmp_path, "eks.yaml", eks_kubeconfig("http://prod", cluster_arn=PROD)),
            _file(tmp_path, "by-hand.yaml", _config("ops", "staging-eks", "http://staging")),
        ]
    )
    assert find_context(merged, "prod-eks") == PROD  # a bare name finds the ARN-named context
    assert find_context(merged, PROD) == PROD
    assert find_context(merged, "prod-eks", PROD) == PROD
    assert find_context(merged, "staging-eks") == "ops"  # by the context's cluster
    assert find_context(merged, "ops") == "ops"
    assert find_context(merged, "other") is None
    assert find_context(merged, "prod-eks", mapping={"prod-eks": "ops"}) == "ops"  # kubernetes.contexts


def test_same_cluster_name_in_two_accounts_needs_the_arn(tmp_path: Path) -> None:
    merged = load(
        [
            _file(tmp_path, "us.yaml", eks_kubeconfig("http://us", cluster_arn=PROD)),
            _file(tmp_path, "eu.yaml", eks_kubeconfig("http://eu", cluster_arn=PROD_EU)),
        ]
    )
    with pytest.raises(Refused, match="will not guess") as caught:
        find_context(merged, "prod-eks")
    assert "kubernetes.contexts" in (caught.value.hint or "")
    assert find_context(merged, "prod-eks", PROD_EU) == PROD_EU
    assert client_for(merged, PROD_EU).server == "http://eu"


def test_unsupported_or_broken_users_are_refused_with_the_reason(tmp_path: Path) -> None:
    provider = _config("gke", "gke", "https://gke", user={"auth-provider": {"name": "gcp"}})
    always = _config(
        "tty",
        "tty",
        "https://tty",
        user={
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": "sso-login",
                "interactiveMode": "Always",
            }
        },
    )
    old = _config(
        "old",
        "old",
        "https://old",
        user={"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}},
    )
    merged = load(
        [_file(tmp_path, "a.yaml", provider), _file(tmp_path, "b.yaml", always), _file(tmp_path, "c.yaml", old)]
    )
    with pytest.raises(Refused, match="auth-provider"):
        client_for(merged, "gke")
    with pytest.raises(Refused, match="interactiveMode: Always"):
        client_for(merged, "tty")
    with pytest.raises(Refused, match="v1alpha1"):
        client_for(merged, "old")
    with pytest.raises(Refused, match="no context"):
        client_for(merged, "missing")
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    with pytest.raises(Refused, match="not a mapping"):
        load([tmp_path / "bad.yaml"])
