"""Translate Kubernetes API failures into responder's error tree, once, for every Kubernetes action.

429 and 5xx are :class:`Transient` (the engine retries them, bounded, with jitter); 401/403 are
:class:`Denied` naming the verb and resource RBAC refused; 404 is :class:`TargetChanged` (the pod or
object is gone since the finding). An unreachable API server is transient too: the engine's bound on
retries keeps that from hanging a response. A failed TLS handshake is not: only a configuration change
fixes it.
"""

from __future__ import annotations

import re

from ..errors import ActionFailed, Denied, ResponderError, TargetChanged, Transient
from .client import ApiError, TlsRejected, Unreachable

_RBAC = re.compile(
    r'cannot (?P<verb>\w+) resource "(?P<resource>[^"]+)"(?: in API group "(?P<group>[^"]*)")?'
    r'(?: in the namespace "(?P<ns>[^"]*)")?'
)


def translate(exc: BaseException) -> ResponderError | None:
    """A ResponderError for Kubernetes client failures, or None for anything else."""
    if isinstance(exc, ApiError):
        code = exc.status
        message = exc.message[:300]
        if code == 429 or code >= 500:
            return Transient(f"Kubernetes API {code}: {message or 'server busy'}")
        if code in (401, 403):
            match = _RBAC.search(message)
            permission = None
            if match:
                group = match["group"] or "core"
                permission = f"{match['verb']} {match['resource']} ({group})"
            what = permission or "the permission for this call"
            return Denied(
                f"Kubernetes API refused ({code}): responder lacks {what}: {message}",
                permission=permission,
                hint="bind responder's cluster identity to the ClusterRole that "
                "responder.k8s.rbac.cluster_role() computes from the actions, and map its IAM role "
                "in the cluster's access entries",
            )
        if code == 404:
            return TargetChanged(
                f"not found in the cluster: {message or 'no such object'} (deleted since the finding?)"
            )
        return ActionFailed(f"Kubernetes API {code}: {message}")
    if isinstance(exc, Unreachable):
        return Transient(str(exc)[:300])
    if isinstance(exc, TlsRejected):
        return ActionFailed(
            str(exc)[:300],
            hint="check the cluster's certificate authority (kubeconfig "
            "certificate-authority-data, or the ca of kubernetes.clusters) and responder's client "
            "certificate",
        )
    return None
