"""Reach a Kubernetes cluster's API with the official client, from whatever the organisation configured.

A cluster is found, in this order:

1. ``settings.kubernetes["clusters"][NAME] = {"host": ..., "token": ..., "ca": ...}`` — an explicit
   endpoint (tests and ``--sandbox`` use this; the sandbox passes it through ``RESPONDER_K8S_CLUSTERS``,
   a JSON object of the same shape, as it passes ``AWS_ENDPOINT_URL`` for AWS);
2. a kubeconfig (``settings.kubernetes["kubeconfig"]``, the context named in
   ``settings.kubernetes["contexts"][NAME]``, else a context called NAME);
3. EKS: ``describe_cluster`` in the finding's account and region, and a bearer token made the way
   ``aws eks get-token`` makes it — a presigned STS ``GetCallerIdentity`` URL carrying the
   ``x-k8s-aws-id`` header, base64url-encoded behind ``k8s-aws-v1.`` — so no kubeconfig or
   long-lived cluster credential is needed in the responder's account.

A finding without a cluster name (a Falco event from a sidecar that does not know it) uses
``settings.kubernetes["default_cluster"]``, else the kubeconfig's current context.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..errors import Refused

TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_LIFETIME = 60  # seconds the presigned URL is valid for; EKS accepts tokens for 15 minutes
CLIENT_REUSE = 600.0  # seconds an EKS client (and its token) is reused before a fresh token is made
CLUSTER_HEADER = "x-k8s-aws-id"
SANDBOX_ENV = "RESPONDER_K8S_CLUSTERS"

AwsClients = Callable[[str], Any]
_PRESIGN_LOCK = threading.Lock()


def eks_token(sts: Any, cluster_name: str) -> str:
    """A bearer token for an EKS cluster, as ``aws eks get-token`` makes it.

    The API server's authenticator replays the presigned ``GetCallerIdentity`` URL to learn who we are;
    the signed ``x-k8s-aws-id`` header binds the token to this cluster, so it cannot be replayed elsewhere.
    """
    def add_header(request: Any, **_: Any) -> None:
        request.headers[CLUSTER_HEADER] = cluster_name

    unique = f"responder-eks-token-{id(add_header)}"
    with _PRESIGN_LOCK:  # the STS client is shared: the header hook lives only for this one presign
        sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_header, unique_id=unique)
        try:
            url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=TOKEN_LIFETIME,
                                             HttpMethod="GET")
        finally:
            sts.meta.events.unregister("before-sign.sts.GetCallerIdentity", unique_id=unique)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


class K8sAccess:
    """API clients per cluster. ``ctx.connectors.get("k8s")`` returns one of these."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})
        clusters = dict(self.config.get("clusters") or {})
        env = os.environ.get(SANDBOX_ENV)
        if env:
            try:
                clusters.update(json.loads(env))
            except json.JSONDecodeError:
                raise Refused(f"{SANDBOX_ENV} is not a JSON object of clusters") from None
        self.clusters: dict[str, dict[str, Any]] = clusters
        self._clients: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public surface
    def cluster_name(self, cluster: str | None) -> str | None:
        if cluster:
            return cluster
        default = self.config.get("default_cluster")
        if default:
            return str(default)
        if len(self.clusters) == 1:
            return next(iter(self.clusters))
        return None

    def api_client(self, cluster: str | None, *, aws: AwsClients | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the cluster (cached; EKS tokens are refreshed)."""
        name = self.cluster_name(cluster)
        key = name or "(current-context)"
        with self._lock:
            cached = self._clients.get(key)
            if cached and cached[0] > time.monotonic():
                return cached[1]
        client, ttl = self._build(name, aws)
        with self._lock:
            self._clients[key] = (time.monotonic() + ttl, client)
        return client

    def core(self, cluster: str | None, *, aws: AwsClients | None = None) -> Any:
        from kubernetes.client import CoreV1Api

        return CoreV1Api(self.api_client(cluster, aws=aws))

    def networking(self, cluster: str | None, *, aws: AwsClients | None = None) -> Any:
        from kubernetes.client import NetworkingV1Api

        return NetworkingV1Api(self.api_client(cluster, aws=aws))

    def rbac(self, cluster: str | None, *, aws: AwsClients | None = None) -> Any:
        from kubernetes.client import RbacAuthorizationV1Api

        return RbacAuthorizationV1Api(self.api_client(cluster, aws=aws))

    def describe(self, cluster: str | None) -> str:
        """Where a cluster's API is reached from, for messages (never the token)."""
        name = self.cluster_name(cluster)
        if name and name in self.clusters:
            return f"{name} at {self.clusters[name].get('host')}"
        if self.config.get("kubeconfig"):
            return f"{name or 'current context'} from kubeconfig {self.config['kubeconfig']}"
        return f"EKS cluster {name}"

    # ------------------------------------------------------------------ how a client is made
    def _build(self, name: str | None, aws: AwsClients | None) -> tuple[Any, float]:
        from kubernetes import client as k8s

        if name and name in self.clusters:
            entry = self.clusters[name]
            conf = k8s.Configuration(host=str(entry["host"]).rstrip("/"))
            if entry.get("token"):
                conf.api_key = {"authorization": str(entry["token"])}
                conf.api_key_prefix = {"authorization": "Bearer"}
            if entry.get("ca"):
                conf.ssl_ca_cert = None
                conf.ca_cert_data = _pem(entry["ca"])
            if entry.get("insecure"):
                conf.verify_ssl = False
            conf.retries = 0  # the engine retries Transient errors itself, with backoff and a bound
            return k8s.ApiClient(conf), float("inf")
        kubeconfig = self.config.get("kubeconfig")
        if kubeconfig:
            return self._from_kubeconfig(str(kubeconfig), name), CLIENT_REUSE
        if name and aws is not None:
            return self._from_eks(name, aws), CLIENT_REUSE
        raise Refused(f"no way to reach Kubernetes cluster {name or '(unnamed)'}",
                      hint="set kubernetes.kubeconfig or kubernetes.clusters in config.yaml, or give the "
                           "finding's EKS cluster name so responder can use EKS")

    def _from_kubeconfig(self, path: str, name: str | None) -> Any:
        from kubernetes import client as k8s
        from kubernetes import config as kconfig

        contexts = dict(self.config.get("contexts") or {})
        context = contexts.get(name) if name else None
        if context is None and name:
            available, _ = kconfig.list_kube_config_contexts(config_file=os.path.expanduser(path))
            if any(c.get("name") == name for c in available):
                context = name
        conf = k8s.Configuration()
        kconfig.load_kube_config(config_file=os.path.expanduser(path), context=context,
                                 client_configuration=conf, persist_config=False)
        conf.retries = 0
        return k8s.ApiClient(conf)

    def _from_eks(self, name: str, aws: AwsClients) -> Any:
        from kubernetes import client as k8s

        cluster = aws("eks").describe_cluster(name=name)["cluster"]
        conf = k8s.Configuration(host=str(cluster["endpoint"]).rstrip("/"))
        conf.api_key = {"authorization": eks_token(aws("sts"), name)}
        conf.api_key_prefix = {"authorization": "Bearer"}
        ca = (cluster.get("certificateAuthority") or {}).get("data")
        if ca:
            conf.ca_cert_data = _pem(ca)
        conf.retries = 0
        return k8s.ApiClient(conf)


def _pem(value: str) -> str:
    """EKS gives the CA as base64 of the PEM; settings may hold the PEM itself."""
    text = str(value)
    if "BEGIN CERTIFICATE" in text:
        return text
    try:
        return base64.b64decode(text).decode()
    except (ValueError, UnicodeDecodeError):
        raise Refused("the cluster's certificate authority is neither PEM nor base64 of a PEM") from None


def kubernetes_factory(settings: Settings) -> Callable[[], K8sAccess]:
    """What :func:`responder.app.build_connectors` registers as the ``k8s`` connector (made on first use)."""
    def make() -> K8sAccess:
        return K8sAccess(settings.kubernetes)

    return make
