"""The ClusterRole computed from the Kubernetes actions: least privilege, and never pod deletion."""

from __future__ import annotations

from responder.actions.registry import default_registry
from responder.k8s.rbac import cluster_role


def test_cluster_role_for_the_shipped_kubernetes_actions() -> None:
    registry = default_registry()
    actions = [registry.get(n) for n in registry.names if n.startswith("k8s.")]
    role = cluster_role(actions)
    rules = {(r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in role["rules"]}
    assert rules[("", "pods")] == ["get", "patch"]
    assert rules[("", "pods/log")] == ["get"]
    assert rules[("networking.k8s.io", "networkpolicies")] == ["create", "delete", "get", "list"]
    assert rules[("", "nodes")] == ["get", "patch"]
    assert all("delete" not in verbs for (group, resource), verbs in rules.items() if resource.startswith("pods"))
    assert "escalate" not in str(role) and "*" not in str(role)
