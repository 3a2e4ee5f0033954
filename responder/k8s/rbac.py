"""The Kubernetes RBAC responder's own cluster identity needs, computed from the actions it runs.

IAM permissions come from each action's ``permissions``; inside the cluster the API server checks RBAC,
so each Kubernetes action also lists the verbs it calls (``rbac = ("get pods", "patch pods", ...)``).
This turns them into one least-privilege ClusterRole to bind to responder's identity (the IAM role
mapped through EKS access entries, or a service account).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

GROUPS = {
    "pods": "",
    "pods/log": "",
    "events": "",
    "nodes": "",
    "serviceaccounts": "",
    "rolebindings": "rbac.authorization.k8s.io",
    "clusterrolebindings": "rbac.authorization.k8s.io",
    "networkpolicies": "networking.k8s.io",
}


def cluster_role(actions: Iterable[type], name: str = "responder") -> dict[str, Any]:
    """A ClusterRole manifest allowing exactly the verbs the given action classes declare."""
    wanted: dict[str, dict[str, set[str]]] = {}
    for action in actions:
        for grant in getattr(action, "rbac", ()):
            verb, _, resource = grant.partition(" ")
            group = GROUPS.get(resource)
            if group is None:
                raise ValueError(f"{getattr(action, 'name', action)}: unknown resource {resource!r} in {grant!r}")
            wanted.setdefault(group, {}).setdefault(resource, set()).add(verb)
    rules = []
    for group in sorted(wanted):
        for resource in sorted(wanted[group]):
            rules.append({"apiGroups": [group], "resources": [resource], "verbs": sorted(wanted[group][resource])})
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "responder"}},
        "rules": rules,
    }
