"""Reach a Kubernetes cluster's API from whatever the organisation configured, the way kubectl finds it.

A cluster is found, in this order:

1. ``settings.kubernetes["clusters"][NAME] = {"host": ..., "token": ..., "ca": ...}`` — an explicit
   endpoint. ``--sandbox`` and the tests pass theirs through ``RESPONDER_K8S_CLUSTERS`` (a JSON object of
   the same shape, as the sandbox passes ``AWS_ENDPOINT_URL`` for AWS), and then *only* those are
   reachable: a drill never falls through to the operator's kubeconfig or EKS;
2. kubeconfig files, read as kubectl reads them (``responder.k8s.kubeconfig``): ``kubernetes.kubeconfig``
   in config.yaml, else ``KUBECONFIG`` (several paths, merged), else ``~/.kube/config``; the context
   mapped in ``kubernetes.contexts[NAME]``, else one named for the cluster's name or ARN, else one whose
   cluster is — so a kubeconfig written by ``aws eks update-kubeconfig`` (ARN-named, ``exec`` plugin
   ``aws eks get-token``) is used as it is;
3. EKS: ``describe_cluster`` in the finding's account and region, and a bearer token made the way
   ``aws eks get-token`` makes it — a presigned STS ``GetCallerIdentity`` URL carrying the
   ``x-k8s-aws-id`` header, base64url-encoded behind ``k8s-aws-v1.`` — so no kubeconfig or
   long-lived cluster credential is needed in the responder's account (the Lambda's way).

A finding without a cluster name (a Falco event from a sidecar that does not know it) uses
``settings.kubernetes["default_cluster"]``, else the only explicit cluster, else the kubeconfig's
current context.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..config import Settings
from ..errors import Refused
from .client import Credentials, KubeClient, Tls
from .kubeconfig import client_for, find_context, load, search_paths

TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_LIFETIME = 60  # seconds the presigned URL is valid for; EKS accepts tokens for 15 minutes
CLIENT_REUSE = 600.0  # seconds a kubeconfig or EKS client (and its token) is reused before it is made again
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
            url = sts.generate_presigned_url(
                "get_caller_identity", Params={}, ExpiresIn=TOKEN_LIFETIME, HttpMethod="GET"
            )
        finally:
            sts.meta.events.unregister("before-sign.sts.GetCallerIdentity", unique_id=unique)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


class K8sAccess:
    """API clients per cluster. ``ctx.connectors.get("k8s")`` returns one of these."""

    def __init__(self, config: dict[str, Any] | None = None, *, environ: Mapping[str, str] | None = None) -> None:
        self.config = dict(config or {})
        self.environ = environ if environ is not None else os.environ
        clusters = dict(self.config.get("clusters") or {})
        env = self.environ.get(SANDBOX_ENV)
        #: only the clusters of RESPONDER_K8S_CLUSTERS are reachable: a drill (or a test) must never
        #: fall through to the operator's kubeconfig, a configured default or EKS — real clusters
        self.confined = bool(env)
        if env:
            try:
                clusters = dict(json.loads(env))
            except (json.JSONDecodeError, TypeError, ValueError):
                raise Refused(f"{SANDBOX_ENV} is not a JSON object of clusters") from None
        self.clusters: dict[str, dict[str, Any]] = clusters
        self._clients: dict[str, tuple[float, KubeClient]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public surface
    def cluster_name(self, cluster: str | None) -> str | None:
        if cluster:
            return cluster
        default = None if self.confined else self.config.get("default_cluster")
        if default:
            return str(default)
        if len(self.clusters) == 1:
            return next(iter(self.clusters))
        return None

    def client(self, cluster: str | None, *, aws: AwsClients | None = None, arn: str | None = None) -> KubeClient:
        """The API client for the cluster (cached; EKS tokens and kubeconfig files are renewed/re-read)."""
        name = self.cluster_name(cluster)
        key = f"{name or '(current-context)'}|{arn or ''}"
        with self._lock:
            cached = self._clients.get(key)
            if cached and cached[0] > time.monotonic():
                return cached[1]
        client, ttl = self._build(name, arn, aws)
        with self._lock:
            self._clients[key] = (time.monotonic() + ttl, client)
        return client

    def describe(self, cluster: str | None) -> str:
        """Where a cluster's API is reached from, for messages (never the token)."""
        name = self.cluster_name(cluster)
        if name and name in self.clusters:
            return f"{name} at {self.clusters[name].get('host')}"
        paths = [] if self.confined else self._kubeconfig_paths()
        if paths:
            return f"{name or 'current context'} from kubeconfig {os.pathsep.join(map(str, paths))}"
        return f"EKS cluster {name}"

    # ------------------------------------------------------------------ how a client is made
    def _kubeconfig_paths(self) -> list[Any]:
        return search_paths(self.config.get("kubeconfig"), self.environ)

    def _build(self, name: str | None, arn: str | None, aws: AwsClients | None) -> tuple[KubeClient, float]:
        if name and name in self.clusters:
            entry = self.clusters[name]
            tls = Tls(ca_pem=_pem(entry["ca"]) if entry.get("ca") else None, insecure=bool(entry.get("insecure")))
            token = str(entry["token"]) if entry.get("token") else None
            return KubeClient(str(entry["host"]), credentials=Credentials(token=token), tls=tls), float("inf")
        if self.confined:
            raise Refused(
                f"Kubernetes cluster {name or '(unnamed)'} is not one of the clusters in {SANDBOX_ENV} "
                f"({', '.join(sorted(self.clusters))}), the only ones reachable here"
            )
        paths = self._kubeconfig_paths()
        if paths:
            config = load(paths)
            mapping = self.config.get("contexts")
            context = find_context(config, name, arn, mapping) if name else config.current_context
            if context:
                return client_for(config, context, environ=self.environ), CLIENT_REUSE
        if name and aws is not None:
            return self._from_eks(name, aws), CLIENT_REUSE
        where = f" (no context for it in {os.pathsep.join(map(str, paths))})" if paths else ""
        raise Refused(
            f"no way to reach Kubernetes cluster {name or '(unnamed)'}{where}",
            hint="set kubernetes.clusters or kubernetes.kubeconfig in config.yaml, export KUBECONFIG "
            "(e.g. after aws eks update-kubeconfig), or give the finding's EKS cluster name so "
            "responder can use EKS",
        )

    def _from_eks(self, name: str, aws: AwsClients) -> KubeClient:
        short = name.rsplit(":cluster/", 1)[-1] if name.startswith("arn:") else name
        cluster = aws("eks").describe_cluster(name=short)["cluster"]
        ca = (cluster.get("certificateAuthority") or {}).get("data")
        tls = Tls(ca_pem=_pem(ca) if ca else None)
        token = eks_token(aws("sts"), short)
        return KubeClient(str(cluster["endpoint"]), credentials=Credentials(token=token), tls=tls)


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
