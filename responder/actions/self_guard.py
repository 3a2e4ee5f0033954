"""Responder never contains the machine it runs on: its own instance, pod or node.

Cutting itself off mid-response would leave the rest of the response undone and nobody told. What
identifies "itself", without calling the instance metadata service (which an isolated or hop-limited
instance may not answer):

* **EC2 instance** — an instance profile's credentials are an assumed-role session whose session name
  is the instance id (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/i-0123…``), so the caller identity
  responder already asks for names its instance.
* **Kubernetes pod and node** — in a cluster (``KUBERNETES_SERVICE_HOST`` set) the pod is ``POD_NAME``
  (or ``HOSTNAME``, which Kubernetes sets to the pod name) in ``POD_NAMESPACE`` (or the service
  account's namespace file), and ``POD_UID`` when given; the node is ``NODE_NAME`` (the downward API's
  ``spec.nodeName``).

Each check raises :class:`~responder.errors.Refused` naming the target and what a person must do; the
engine records the step ``refused`` and the run ``partial``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import Refused

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_instance_id(identity: dict[str, Any]) -> str | None:
    """The EC2 instance whose instance-profile session this identity is, if it is one."""
    arn = str(identity.get("Arn") or "")
    if ":assumed-role/" not in arn:
        return None
    session = arn.split(":assumed-role/", 1)[1].split("/", 1)[-1]
    return session if _INSTANCE_ID.match(session) else None


def refuse_own_instance(ctx: Any, instance_id: str, doing: str) -> None:
    """Refuse to do ``doing`` ("isolate it", "detach its instance profile", ...) to the instance responder runs on."""
    if not ctx.connectors.has("aws"):
        return
    own = own_instance_id(ctx.identity())
    if own and own == instance_id:
        raise Refused(
            f"instance {instance_id} is the one responder runs on (its instance-profile session is named after "
            f"it); refusing to {doing}: responder would cut itself off mid-response",
            hint=f"if {instance_id} must be contained, a person does it by hand ({doing}), or runs responder "
            "elsewhere (another instance, Lambda) and resumes the run",
        )


def _in_cluster(env: dict[str, str]) -> bool:
    return bool(env.get("KUBERNETES_SERVICE_HOST"))


def own_pod(env: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(namespace, name) of the pod responder runs in, when it runs in a cluster."""
    env = dict(os.environ) if env is None else env
    if not _in_cluster(env):
        return None
    name = env.get("POD_NAME") or env.get("HOSTNAME")
    namespace = env.get("POD_NAMESPACE")
    if not namespace:
        try:
            namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
        except OSError:
            namespace = None
    return (namespace, name) if name and namespace else None


def own_node(env: dict[str, str] | None = None) -> str | None:
    env = dict(os.environ) if env is None else env
    return env.get("NODE_NAME") or None if _in_cluster(env) else None


def refuse_own_pod(
    namespace: str, name: str, doing: str, *, uid: str | None = None, env: dict[str, str] | None = None
) -> None:
    """Refuse when the target is this pod. ``POD_UID`` (downward API), when set, settles it exactly:
    a pod of the same name in another cluster is not this one."""
    env = dict(os.environ) if env is None else env
    if env.get("POD_UID") and uid and env["POD_UID"] != uid:
        return
    if own_pod(env) == (namespace, name):
        raise Refused(
            f"pod {namespace}/{name} is the pod responder runs in; refusing to {doing} it: responder would cut "
            "itself off mid-response",
            hint=f"a person must {doing} {namespace}/{name} by hand, or run responder outside this pod and resume",
        )


def refuse_own_node(node: str, doing: str, env: dict[str, str] | None = None) -> None:
    if own_node(env) == node:
        raise Refused(
            f"node {node} is the node responder's pod runs on; refusing to {doing} it",
            hint=f"a person must {doing} {node} by hand (after moving responder), or resume from elsewhere",
        )
