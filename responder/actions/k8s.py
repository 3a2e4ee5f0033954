"""Kubernetes pod compromise: preserve the pod's evidence, then cut it off — and keep it.

Evidence first (``capture_pod``): the pod spec, logs of every container (current and previous), the
pod's events, its node, its service account and every binding that grants that account something,
and the NetworkPolicies already in its namespace. Then containment that release can undo:

- ``label_pod`` *adds* two labels (never changes one the owner's selector uses, so the ReplicaSet
  neither orphans nor replaces the pod — the attacker's process stays where forensics can reach it);
- ``isolate_pod`` creates a NetworkPolicy selecting exactly that pod (quarantine label + its uid)
  with ``policyTypes: [Ingress, Egress]`` and no rules: all traffic in and out is denied;
- ``cordon_node`` (optional) stops new pods landing on the node while it is examined.

The pod is never deleted: deleting it destroys the memory, processes and writable layer an
investigation needs, and its controller would start a fresh copy anyway.

Every containment step writes its "before" ahead of its first write (``records_before``): after a
crash between the change and its record, the resumed step finds the pod labelled, the policy there,
the node cordoned or the binding gone, and the engine keeps the first attempt's "before" — so release
still undoes what this run did. ``remove_bindings`` deletes one binding at a time: it writes every
binding ahead, whole, before the first delete, and a resumed attempt adds back what that record holds.
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any, ClassVar

from pydantic import ConfigDict, field_validator

from ..aws import parallel
from ..errors import Refused, TargetChanged
from .aws._observed import fresh_output
from .base import Action, ActionInput, ActionOutput, Category, Change, Outcome, StepContext
from .self_guard import refuse_own_node, refuse_own_pod

QUARANTINE_LABEL = "responder.io/quarantine"
QUARANTINE_VALUE = "true"
POD_LABEL = "responder.io/quarantine-pod"
POLICY_PREFIX = "responder-isolate-"
MANAGED_BY = {"app.kubernetes.io/managed-by": "responder"}
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
ENFORCEMENT_NOTE = (
    "a NetworkPolicy only takes effect where the cluster's network plugin enforces it "
    "(e.g. the VPC CNI with network policy enabled, Calico, Cilium); check before relying on it"
)
HOST_NETWORK_NOTE = (
    "the pod uses the host's network namespace (hostNetwork: true): NetworkPolicies do not apply "
    "to it; isolate its node instead (the EC2 playbook's isolate_instance on {node})"
)
ADDITIVE_NOTE = (
    "NetworkPolicies add up: {names} also select this pod and allow {what}; those flows stay open "
    "until that policy is changed"
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_CLUSTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")  # EKS names, kubeconfig contexts, ARNs
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
MAX_LOG_BYTES = 10 * 1024 * 1024
K8S_PERMISSIONS = frozenset({"eks:DescribeCluster"})  # EKS access; the cluster's own RBAC is listed per action


# ---------------------------------------------------------------------------------------------
# shared pieces
class PodRef(ActionInput):
    """A pod by namespace and name (finding data: validated as Kubernetes names before any call)."""

    pod_name: str
    namespace: str = "default"
    cluster: str | None = None
    pod_uid: str | None = None

    @field_validator("pod_name")
    @classmethod
    def _pod(cls, value: str) -> str:
        if not _DNS_SUBDOMAIN.match(value or ""):
            raise ValueError(f"{value!r} is not a Kubernetes pod name")
        return value

    @field_validator("namespace")
    @classmethod
    def _ns(cls, value: str) -> str:
        if not _DNS_LABEL.match(value or ""):
            raise ValueError(f"{value!r} is not a Kubernetes namespace name")
        return value

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        return _cluster_name(value)


def _cluster_name(value: str | None) -> str | None:
    """Cluster names come from findings too: they pick a configured cluster, so they must look like one."""
    if value in (None, ""):
        return None
    if not _CLUSTER.match(str(value)):
        raise ValueError(f"{value!r} is not a cluster name")
    return value


def _access(ctx: StepContext) -> Any:
    return ctx.connectors.get("k8s")


def _cluster(ctx: StepContext, inp: Any) -> str | None:
    if inp.cluster:
        return str(inp.cluster)
    pod = ctx.finding.first("k8s_pod")
    cluster = ctx.finding.first("eks_cluster")
    return (getattr(pod, "cluster_name", None) or getattr(cluster, "cluster_name", None)) or None


def _cluster_arn(ctx: StepContext) -> str | None:
    """The finding's cluster ARN, which tells apart kubeconfig contexts of same-named clusters."""
    for kind in ("k8s_pod", "eks_cluster"):
        arn = getattr(ctx.finding.first(kind), "cluster_arn", None)
        if arn and _CLUSTER.match(str(arn)):
            return str(arn)
    return None


def _api(ctx: StepContext, inp: Any) -> Any:
    """The cluster's API client (``responder.k8s.client.KubeClient``): answers are the API's own JSON."""
    return _access(ctx).client(_cluster(ctx, inp), aws=ctx.aws, arn=_cluster_arn(ctx))


def _is_api_error(exc: BaseException, *codes: int) -> bool:
    """A Kubernetes API answer (optionally one of ``codes``), as opposed to a bug or a network fault."""
    from ..k8s.client import ApiError

    return isinstance(exc, ApiError) and (not codes or exc.status in codes)


def _read_pod(ctx: StepContext, inp: PodRef) -> tuple[Any, dict[str, Any]]:
    api = _api(ctx, inp)
    return api, api.read_pod(inp.namespace, inp.pod_name)


def selector_for(pod: dict[str, Any]) -> dict[str, str]:
    """The labels that pick out exactly this pod: responder's quarantine label and the pod's own uid."""
    meta = pod.get("metadata") or {}
    uid = str(meta.get("uid") or "")
    value = (
        uid
        if uid and _LABEL_VALUE.match(uid) and len(uid) <= 63
        else hashlib.sha256(f"{meta.get('namespace')}/{meta.get('name')}/{uid}".encode()).hexdigest()[:40]
    )
    return {QUARANTINE_LABEL: QUARANTINE_VALUE, POD_LABEL: value}


def policy_name(pod: dict[str, Any]) -> str:
    return POLICY_PREFIX + selector_for(pod)[POD_LABEL]


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels AND matchExpressions; empty selects all)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _instance_of(node: dict[str, Any]) -> str | None:
    """The EC2 instance behind a node (``aws:///us-east-1a/i-0abc…``): pods without IRSA use its role."""
    provider = str((node.get("spec") or {}).get("providerID") or "")
    leaf = provider.rsplit("/", 1)[-1]
    return leaf if provider.startswith("aws://") and re.fullmatch(r"i-[0-9a-f]{8,17}", leaf) else None


# ---------------------------------------------------------------------------------------------
class CapturePodOutput(ActionOutput):
    pod_uid: str = ""
    namespace: str = ""
    pod_name: str = ""
    node_name: str | None = None
    node_instance_id: str | None = None
    service_account: str | None = None
    irsa_role_arn: str | None = None
    irsa_role_name: str | None = None
    owner_kind: str | None = None
    owner_name: str | None = None
    containers: list[str] = []
    labels: dict[str, str] = {}
    #: the pod's version when captured: the label patch reuses this read, with this version as its
    #: precondition (a pod changed since gets 409 and is read again), saving a round trip before containment
    resource_version: str = ""
    captured_at: str = ""
    artifacts: list[str] = []
    bindings: list[str] = []
    network_policies: list[str] = []
    gaps: list[str] = []


class CapturePod(Action[PodRef]):
    """Preserve a pod's state, logs and permissions as evidence before anything changes it.

    Logs of every container (init and ephemeral too), current and previous: a crash-looping miner's
    previous container holds what it printed before it died. A missing previous log (the container
    never restarted) is a note, not a failure; so is any one piece the API refuses — evidence
    collection takes everything it can. Resolves the service account's IRSA role
    (``eks.amazonaws.com/role-arn``) so the playbook can revoke that role's sessions.
    """

    name = "k8s.capture_pod"
    Input = PodRef
    Output = CapturePodOutput
    category = Category.EVIDENCE
    permissions = K8S_PERMISSIONS
    rbac: ClassVar[tuple[str, ...]] = (
        "get pods",
        "get pods/log",
        "list events",
        "get nodes",
        "get serviceaccounts",
        "list rolebindings",
        "list clusterrolebindings",
        "list networkpolicies",
    )

    def plan(self, ctx: StepContext, inp: PodRef) -> Change:
        return Change(
            will_change=False,
            summary=f"capture pod {inp.namespace}/{inp.pod_name} (spec, logs, events, "
            "node, service account and bindings) as evidence",
        )

    def apply(self, ctx: StepContext, inp: PodRef) -> Outcome:
        api, pod = _read_pod(ctx, inp)
        base = f"{ctx.step_id}/{inp.namespace}/{inp.pod_name}"
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        out = CapturePodOutput(
            pod_uid=str(meta.get("uid") or ""),
            namespace=inp.namespace,
            pod_name=inp.pod_name,
            node_name=spec.get("nodeName"),
            service_account=spec.get("serviceAccountName") or spec.get("serviceAccount"),
            labels=dict(meta.get("labels") or {}),
            resource_version=str(meta.get("resourceVersion") or ""),
            captured_at=ctx.now.isoformat(),
        )
        references = meta.get("ownerReferences") or []
        owners = [o for o in references if o.get("controller")] or references
        if owners:
            out.owner_kind, out.owner_name = owners[0].get("kind"), owners[0].get("name")
        notes: list[str] = []
        if inp.pod_uid and out.pod_uid and inp.pod_uid != out.pod_uid:
            notes.append(
                f"the finding names pod uid {inp.pod_uid}, the pod there now is {out.pod_uid}: it was "
                "replaced since the finding; the evidence is of the current pod"
            )
        artifacts: list[dict[str, Any]] = []

        def keep(name: str, obj: Any) -> None:
            art = ctx.evidence.put_json(
                ctx.run_id,
                f"{base}/{name}",
                obj,
                collected_by=f"responder:{self.name}",
                at=ctx.now,
                details={"step": ctx.step_id, "api": "kubernetes"},
            )
            artifacts.append(art.as_dict())

        keep("pod.json", pod)
        containers = [
            c.get("name")
            for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or []
            if c.get("name")
        ]
        out.containers = [str(c) for c in containers]
        # Everything after the pod depends only on the pod: read it all at once (one round trip, not eleven),
        # then keep it in the declared order, so the evidence is the same whichever read came back first.
        reads: dict[Any, Any] = {}
        for container in out.containers:
            for previous in (False, True):
                reads[("log", container, previous)] = lambda c=container, p=previous: api.pod_log(
                    inp.namespace, inp.pod_name, container=c, previous=p, timestamps=True, limit_bytes=MAX_LOG_BYTES
                )
        reads["events"] = lambda: api.list_events(inp.namespace, field_selector=f"involvedObject.name={inp.pod_name}")
        if out.node_name:
            reads["node"] = lambda: api.read_node(out.node_name)
        if out.service_account:
            reads["sa"] = lambda: api.read_service_account(inp.namespace, out.service_account)
            reads["role bindings"] = lambda: api.list_role_bindings(inp.namespace)
            reads["cluster role bindings"] = api.list_cluster_role_bindings
        reads["policies"] = lambda: api.list_network_policies(inp.namespace)
        settled = parallel.settle(reads)

        def gather(label: str, key: Any) -> Any:
            result = settled[key]
            if result.error is None:
                return result.value
            exc = result.error
            if not _is_api_error(exc) or getattr(exc, "status", 0) in (429, 500, 502, 503, 504):
                raise exc
            out.gaps.append(f"{label}: {getattr(exc, 'status', '?')} {getattr(exc, 'reason', '')}".strip())
            return None

        for container in out.containers:
            for previous in (False, True):
                label = f"{container}{' (previous)' if previous else ''}"
                result = settled[("log", container, previous)]
                if result.error is not None:
                    exc = result.error
                    if not _is_api_error(exc) or getattr(exc, "status", 0) in (429, 500, 502, 503, 504):
                        raise exc
                    if previous and getattr(exc, "status", None) == 400:
                        notes.append(f"no previous log for container {container}: it has not restarted")
                    else:
                        out.gaps.append(f"log of {label}: {getattr(exc, 'status', '?')} {getattr(exc, 'reason', '')}")
                    continue
                data = result.value
                # raw bytes, exactly as the kubelet sent them: a log is evidence, not text to decode
                art = ctx.evidence.put(
                    ctx.run_id,
                    f"{base}/logs/{container}{'.previous' if previous else ''}.log",
                    data,
                    collected_by=f"responder:{self.name}",
                    at=ctx.now,
                    content_type="text/plain",
                    details={
                        "step": ctx.step_id,
                        "container": container,
                        "previous": previous,
                        "truncated_at": MAX_LOG_BYTES if len(data) >= MAX_LOG_BYTES else None,
                    },
                )
                artifacts.append(art.as_dict())

        events = gather("events", "events")
        if events is not None:
            keep("events.json", events)
        if out.node_name:
            node = gather(f"node {out.node_name}", "node")
            if node is not None:
                keep("node.json", node)
                out.node_instance_id = _instance_of(node)
        if out.service_account:
            sa = gather(f"service account {out.service_account}", "sa")
            if sa is not None:
                keep("serviceaccount.json", sa)
                arn = ((sa.get("metadata") or {}).get("annotations") or {}).get(IRSA_ANNOTATION)
                if arn and ":role/" in str(arn):
                    out.irsa_role_arn = str(arn)
                    out.irsa_role_name = str(arn).rsplit("/", 1)[-1]
            bindings = self._bindings(api, inp, out.service_account, lambda label, _call: gather(label, label))
            keep("rbac-bindings.json", bindings)
            out.bindings = [f"{b.get('kind')}/{(b.get('metadata') or {}).get('name')}" for b in bindings["items"]]
        policies = gather("network policies", "policies")
        if policies is not None:
            keep("networkpolicies.json", policies)
            out.network_policies = [
                str((p.get("metadata") or {}).get("name"))
                for p in policies.get("items") or []
                if _matches((p.get("spec") or {}).get("podSelector"), out.labels)
            ]
        out.artifacts = [a["name"] for a in artifacts]
        notes.extend(f"not captured: {gap}" for gap in out.gaps)
        summary = (
            f"captured pod {inp.namespace}/{inp.pod_name} ({len(out.containers)} containers, "
            f"{len(artifacts)} artifacts)"
        )
        if out.irsa_role_name:
            summary += f"; its service account uses IAM role {out.irsa_role_name} (IRSA)"
        return Outcome(changed=False, summary=summary, output=out.model_dump(), artifacts=artifacts, notes=notes)

    def _bindings(self, api: Any, inp: PodRef, sa: str, gather: Any) -> dict[str, Any]:
        """Every RoleBinding in the namespace and ClusterRoleBinding that grants the service account anything."""
        groups = {"system:serviceaccounts", f"system:serviceaccounts:{inp.namespace}", "system:authenticated"}

        def grants(binding: dict[str, Any]) -> bool:
            home = (binding.get("metadata") or {}).get("namespace") or inp.namespace
            for subject in binding.get("subjects") or []:
                if (
                    subject.get("kind") == "ServiceAccount"
                    and subject.get("name") == sa
                    and (subject.get("namespace") or home) == inp.namespace
                ):
                    return True
                if subject.get("kind") == "Group" and subject.get("name") in groups:
                    return True
            return False

        items: list[dict[str, Any]] = []
        for label, call in (
            ("role bindings", lambda: api.list_role_bindings(inp.namespace)),
            ("cluster role bindings", api.list_cluster_role_bindings),
        ):
            found = gather(label, call)
            for binding in (found or {}).get("items") or []:
                if grants(binding):
                    binding.setdefault("kind", "ClusterRoleBinding" if label.startswith("cluster") else "RoleBinding")
                    items.append(binding)
        return {"service_account": f"{inp.namespace}/{sa}", "items": items}


# ---------------------------------------------------------------------------------------------
class LabelPodOutput(ActionOutput):
    pod_uid: str = ""
    selector: dict[str, str] = {}


class LabelPod(Action[PodRef]):
    """Mark the pod as quarantined by *adding* labels, so a NetworkPolicy can select exactly it.

    Only new ``responder.io/`` keys are added: changing a label the owner's selector uses would make
    the ReplicaSet disown the pod and start a replacement — an attacker's foothold duplicated, and
    the original no longer managed. Release removes exactly the labels added.
    """

    name = "k8s.label_pod"
    Input = PodRef
    Output = LabelPodOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # one write (the patch): the labels it adds are written ahead of it
    reversible = True
    permissions = K8S_PERMISSIONS
    undo_permissions = K8S_PERMISSIONS
    rbac: ClassVar[tuple[str, ...]] = ("get pods", "patch pods")

    def _wanted(self, pod: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        labels = dict((pod.get("metadata") or {}).get("labels") or {})
        wanted = selector_for(pod)
        clash = {k: labels[k] for k in wanted if k in labels and labels[k] != wanted[k]}
        if clash:
            raise Refused(
                f"pod already carries label(s) {clash} with other values; responder will not change a "
                "label it did not set"
            )
        return wanted, {k: v for k, v in wanted.items() if k not in labels}

    def plan(self, ctx: StepContext, inp: PodRef) -> Change:
        _, pod = _read_pod(ctx, inp)
        refuse_own_pod(inp.namespace, inp.pod_name, "quarantine", uid=(pod.get("metadata") or {}).get("uid"))
        wanted, missing = self._wanted(pod)
        if not missing:
            return Change(
                will_change=False,
                summary=f"pod {inp.namespace}/{inp.pod_name} already carries the quarantine labels",
                after={"labels": wanted},
            )
        return Change(
            will_change=True,
            summary=f"add labels {missing} to pod {inp.namespace}/{inp.pod_name}",
            before={"labels": {k: None for k in missing}},
            after={"labels": wanted},
        )

    def _seen(self, ctx: StepContext, inp: PodRef) -> dict[str, Any] | None:
        """The pod as this run's capture read it moments ago (with its version), if it did."""
        seen = fresh_output(
            ctx,
            lambda o: (
                o.get("namespace") == inp.namespace
                and o.get("pod_name") == inp.pod_name
                and bool(o.get("resource_version"))
                and bool(o.get("pod_uid"))
            ),
        )
        if seen is None:
            return None
        meta = {"namespace": inp.namespace, "name": inp.pod_name, "uid": seen["pod_uid"]}
        return {
            "metadata": {**meta, "labels": dict(seen.get("labels") or {}), "resourceVersion": seen["resource_version"]}
        }

    def apply(self, ctx: StepContext, inp: PodRef) -> Outcome:
        seen = self._seen(ctx, inp)
        try:
            return self._label(ctx, inp, seen)
        except Exception as exc:
            if seen is None or not _is_api_error(exc, 409):
                raise
            return self._label(ctx, inp, None)  # the pod changed since it was captured: read it as it is now

    def _label(self, ctx: StepContext, inp: PodRef, seen: dict[str, Any] | None) -> Outcome:
        api, pod = (_api(ctx, inp), seen) if seen is not None else _read_pod(ctx, inp)
        refuse_own_pod(inp.namespace, inp.pod_name, "quarantine", uid=(pod.get("metadata") or {}).get("uid"))
        wanted, missing = self._wanted(pod)
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        out = LabelPodOutput(pod_uid=uid, selector=wanted)
        after = {"pod_uid": uid, "labels": wanted}
        if not missing:
            return Outcome(
                changed=False,
                summary=f"pod {inp.namespace}/{inp.pod_name} already carries the quarantine labels",
                before=after,
                after=after,
                output=out.model_dump(),
            )
        before = {"pod_uid": uid, "labels": {k: None for k in missing}}  # undo removes exactly these
        ctx.record_before(before)
        version = {"resourceVersion": pod["metadata"]["resourceVersion"]} if seen is not None else {}
        api.patch_pod(inp.namespace, inp.pod_name, {"metadata": {"labels": missing, **version}})
        return Outcome(
            changed=True,
            summary=f"labelled pod {inp.namespace}/{inp.pod_name} {missing}",
            before=before,
            after=after,
            output=out.model_dump(),
        )

    def undo(
        self,
        ctx: StepContext,
        inp: PodRef,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        try:
            api, pod = _read_pod(ctx, inp)
        except Exception as exc:
            if _is_api_error(exc, 404) and force:
                return Outcome(
                    changed=False, summary=f"pod {inp.namespace}/{inp.pod_name} is gone; nothing to release (forced)"
                )
            if _is_api_error(exc, 404):
                raise TargetChanged(
                    f"pod {inp.namespace}/{inp.pod_name} no longer exists (deleted or replaced "
                    "since responder labelled it); use --force to mark it released"
                ) from None
            raise
        meta = pod.get("metadata") or {}
        current = dict(meta.get("labels") or {})
        expected = dict(applied.after.get("labels") or {})
        differences = [
            f"label {k} is {current.get(k)!r}, responder left {v!r}" for k, v in expected.items() if current.get(k) != v
        ]
        if applied.after.get("pod_uid") and meta.get("uid") != applied.after.get("pod_uid"):
            differences.insert(0, f"pod uid is {meta.get('uid')}, responder labelled {applied.after.get('pod_uid')}")
        if differences and not force:
            raise TargetChanged(
                f"pod {inp.namespace}/{inp.pod_name} changed since: "
                + "; ".join(differences)
                + "; use --force to release anyway"
            )
        remove = {k: None for k, v in (applied.before.get("labels") or {}).items() if v is None and k in current}
        if remove:
            api.patch_pod(inp.namespace, inp.pod_name, {"metadata": {"labels": remove}})
        return Outcome(
            changed=bool(remove),
            summary=f"removed labels {sorted(remove)} from pod {inp.namespace}/{inp.pod_name}",
            before={"labels": {k: current.get(k) for k in remove}},
            after={"labels": remove},
            notes=[f"forced over: {d}" for d in differences] if force else [],
        )


# ---------------------------------------------------------------------------------------------
class IsolatePodOutput(ActionOutput):
    policy_name: str = ""
    namespace: str = ""
    selector: dict[str, str] = {}
    enforcement_note: str = ENFORCEMENT_NOTE
    also_selected_by: list[str] = []


def policy_body(pod: dict[str, Any], run_id: str) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": policy_name(pod),
            "namespace": meta.get("namespace"),
            "labels": dict(MANAGED_BY),
            "annotations": {
                "responder.io/run-id": run_id[:200],
                "responder.io/pod": f"{meta.get('namespace')}/{meta.get('name')}",
            },
        },
        "spec": {"podSelector": {"matchLabels": selector_for(pod)}, "policyTypes": ["Ingress", "Egress"]},
    }


def spec_of(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a NetworkPolicy that decides traffic, in a comparable form."""
    if not policy:
        return None
    spec = policy.get("spec") or {}
    selector = spec.get("podSelector") or {}
    return {
        "podSelector": {
            "matchLabels": dict(selector.get("matchLabels") or {}),
            "matchExpressions": list(selector.get("matchExpressions") or []),
        },
        "policyTypes": sorted(spec.get("policyTypes") or []),
        "ingress": list(spec.get("ingress") or []),
        "egress": list(spec.get("egress") or []),
    }


def _spec_differences(current: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return [
        f"spec.{key} is {current.get(key)!r}, responder left {expected.get(key)!r}"
        for key in sorted({*current, *expected})
        if current.get(key) != expected.get(key)
    ]


class IsolatePod(Action[PodRef]):
    """Deny all ingress and egress of exactly this pod with a NetworkPolicy; the pod keeps running.

    The policy selects the pod by responder's quarantine label and its uid label (added by
    ``k8s.label_pod``), so no other pod is caught. Its name is derived from the pod uid: a re-run finds
    it before creating anything. Release deletes it, if nobody changed it since.
    """

    name = "k8s.isolate_pod"
    Input = PodRef
    Output = IsolatePodOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # one write (the create): "no policy" is written ahead of it
    reversible = True
    permissions = K8S_PERMISSIONS
    undo_permissions = K8S_PERMISSIONS
    rbac: ClassVar[tuple[str, ...]] = (
        "get pods",
        "list networkpolicies",
        "get networkpolicies",
        "create networkpolicies",
        "delete networkpolicies",
    )

    def _existing(self, api: Any, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(api.read_network_policy(namespace, name))
        except Exception as exc:
            if _is_api_error(exc, 404):
                return None
            raise

    def _others(self, api: Any, namespace: str, pod: dict[str, Any], own: str) -> tuple[list[str], list[str]]:
        """Other policies selecting the pod that allow traffic: a deny-all cannot override them."""
        labels = {**((pod.get("metadata") or {}).get("labels") or {}), **selector_for(pod)}
        listed = api.list_network_policies(namespace)
        names, notes = [], []
        for policy in listed.get("items") or []:
            name = str((policy.get("metadata") or {}).get("name"))
            spec = policy.get("spec") or {}
            if name == own or not _matches(spec.get("podSelector"), labels):
                continue
            names.append(name)
            allows = [w for w, key in (("ingress", "ingress"), ("egress", "egress")) if spec.get(key)]
            if allows:
                notes.append(ADDITIVE_NOTE.format(names=name, what=" and ".join(allows)))
        return names, notes

    def plan(self, ctx: StepContext, inp: PodRef) -> Change:
        api, pod = _read_pod(ctx, inp)
        refuse_own_pod(inp.namespace, inp.pod_name, "isolate", uid=(pod.get("metadata") or {}).get("uid"))
        body = policy_body(pod, ctx.run_id)
        existing = self._existing(api, inp.namespace, body["metadata"]["name"])
        if existing and spec_of(existing) == spec_of(body):
            return Change(
                will_change=False,
                summary=f"NetworkPolicy {body['metadata']['name']} already isolates pod {inp.namespace}/{inp.pod_name}",
                notes=[ENFORCEMENT_NOTE],
            )
        return Change(
            will_change=True,
            summary=f"create NetworkPolicy {body['metadata']['name']} denying all "
            f"ingress and egress of pod {inp.namespace}/{inp.pod_name}",
            before={"policy": None},
            after={"policy": spec_of(body)},
            notes=[ENFORCEMENT_NOTE],
        )

    def apply(self, ctx: StepContext, inp: PodRef) -> Outcome:
        api, pod = _read_pod(ctx, inp)
        refuse_own_pod(inp.namespace, inp.pod_name, "isolate", uid=(pod.get("metadata") or {}).get("uid"))
        labels = (pod.get("metadata") or {}).get("labels") or {}
        selector = selector_for(pod)
        if any(labels.get(k) != v for k, v in selector.items()):
            raise Refused(
                f"pod {inp.namespace}/{inp.pod_name} does not carry responder's quarantine labels "
                f"{selector}: a policy on them would select nothing; run k8s.label_pod first"
            )
        body = policy_body(pod, ctx.run_id)
        name = body["metadata"]["name"]
        wanted = spec_of(body)
        others, notes = self._others(api, inp.namespace, pod, name)
        spec = pod.get("spec") or {}
        if spec.get("hostNetwork"):
            notes.insert(0, HOST_NETWORK_NOTE.format(node=spec.get("nodeName") or "the node"))
        out = IsolatePodOutput(policy_name=name, namespace=inp.namespace, selector=selector, also_selected_by=others)
        after = {"policy": {"name": name, "namespace": inp.namespace, "spec": wanted}}
        existing = self._existing(api, inp.namespace, name)
        changed = False
        if existing is None:
            ctx.record_before({"policy": None})
            try:
                api.create_network_policy(inp.namespace, body)
                changed = True
            except Exception as exc:
                if not _is_api_error(exc, 409):
                    raise
                existing = self._existing(api, inp.namespace, name)  # created meanwhile by a re-run
        if existing is not None and spec_of(existing) != wanted:
            raise Refused(
                f"NetworkPolicy {inp.namespace}/{name} exists but differs from responder's isolation "
                "policy: " + "; ".join(_spec_differences(spec_of(existing) or {}, wanted or {})) + "; not touching it"
            )
        summary = (
            f"{'created' if changed else 'found'} NetworkPolicy {name}: pod {inp.namespace}/{inp.pod_name} "
            "may send and receive nothing"
        )
        return Outcome(
            changed=changed,
            summary=summary,
            before={"policy": None},
            after=after,
            output=out.model_dump(),
            notes=[ENFORCEMENT_NOTE, *notes],
        )

    def undo(
        self,
        ctx: StepContext,
        inp: PodRef,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        left = applied.after.get("policy") or {}
        name, namespace = str(left.get("name") or ""), str(left.get("namespace") or inp.namespace)
        if not name.startswith(POLICY_PREFIX):
            raise Refused(f"refusing to delete NetworkPolicy {name!r}: not one responder names")
        api = _api(ctx, inp)
        existing = self._existing(api, namespace, name)
        if existing is None:
            if force:
                return Outcome(changed=False, summary=f"NetworkPolicy {namespace}/{name} is already gone (forced)")
            raise TargetChanged(
                f"NetworkPolicy {namespace}/{name} was deleted by someone else since responder "
                "created it; use --force to mark it released"
            )
        differences = _spec_differences(spec_of(existing) or {}, left.get("spec") or {})
        if differences and not force:
            raise TargetChanged(
                f"NetworkPolicy {namespace}/{name} changed since responder created it: "
                + "; ".join(differences)
                + "; use --force to delete it anyway"
            )
        api.delete_network_policy(namespace, name)
        return Outcome(
            changed=True,
            summary=f"deleted NetworkPolicy {namespace}/{name}: pod traffic is no longer denied by responder",
            before={"policy": spec_of(existing)},
            after={"policy": None},
            notes=[f"forced over: {d}" for d in differences] if force else [],
        )


# ---------------------------------------------------------------------------------------------
class NodeRef(ActionInput):
    node_name: str
    cluster: str | None = None

    @field_validator("node_name")
    @classmethod
    def _node(cls, value: str) -> str:
        if not _DNS_SUBDOMAIN.match(value or ""):
            raise ValueError(f"{value!r} is not a Kubernetes node name")
        return value

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        return _cluster_name(value)


class CordonNodeOutput(ActionOutput):
    node_name: str = ""
    unschedulable: bool = True


class CordonNode(Action[NodeRef]):
    """Stop new pods being scheduled onto the node (``kubectl cordon``); running pods stay.

    Optional: a compromised container may have reached the node, and nothing new should land next to
    it while it is examined. Not a drain — draining would evict (delete) the very pod under investigation.
    """

    name = "k8s.cordon_node"
    Input = NodeRef
    Output = CordonNodeOutput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # one write (the patch): "schedulable" is written ahead of it
    reversible = True
    permissions = K8S_PERMISSIONS
    undo_permissions = K8S_PERMISSIONS
    rbac: ClassVar[tuple[str, ...]] = ("get nodes", "patch nodes")

    def _current(self, ctx: StepContext, inp: NodeRef) -> tuple[Any, bool]:
        api = _api(ctx, inp)
        node = api.read_node(inp.node_name)
        return api, bool((node.get("spec") or {}).get("unschedulable"))

    def plan(self, ctx: StepContext, inp: NodeRef) -> Change:
        refuse_own_node(inp.node_name, "cordon")
        _, cordoned = self._current(ctx, inp)
        if cordoned:
            return Change(will_change=False, summary=f"node {inp.node_name} is already cordoned")
        return Change(
            will_change=True,
            summary=f"cordon node {inp.node_name}",
            before={"unschedulable": False},
            after={"unschedulable": True},
        )

    def apply(self, ctx: StepContext, inp: NodeRef) -> Outcome:
        refuse_own_node(inp.node_name, "cordon")
        api, cordoned = self._current(ctx, inp)
        out = CordonNodeOutput(node_name=inp.node_name)
        if cordoned:
            return Outcome(
                changed=False,
                summary=f"node {inp.node_name} was already cordoned",
                before={"unschedulable": True},
                after={"unschedulable": True},
                output=out.model_dump(),
            )
        ctx.record_before({"unschedulable": False})
        api.patch_node(inp.node_name, {"spec": {"unschedulable": True}})
        return Outcome(
            changed=True,
            summary=f"cordoned node {inp.node_name}: no new pods will be scheduled there",
            before={"unschedulable": False},
            after={"unschedulable": True},
            output=out.model_dump(),
        )

    def undo(
        self,
        ctx: StepContext,
        inp: NodeRef,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        api, cordoned = self._current(ctx, inp)
        if cordoned != bool(applied.after.get("unschedulable")) and not force:
            raise TargetChanged(
                f"node {inp.node_name} is {'cordoned' if cordoned else 'schedulable'}, responder "
                "left it cordoned: changed since; use --force to release anyway"
            )
        api.patch_node(inp.node_name, {"spec": {"unschedulable": bool(applied.before.get("unschedulable"))}})
        return Outcome(
            changed=True,
            summary=f"uncordoned node {inp.node_name}",
            before={"unschedulable": cordoned},
            after={"unschedulable": bool(applied.before.get("unschedulable"))},
        )


# =============================================================================================
# EKS RBAC abuse (issue 17): bindings that grant anonymous users, the default service account or a
# freshly created subject cluster-wide power — captured, then removed and kept for release.
# Appended as one block; names are ``k8s.*`` because the registry maps a name to one module (a
# ``k8s.rbac.*`` package would need this module to become a package).
# =============================================================================================
ANONYMOUS_SUBJECTS = {("User", "system:anonymous"), ("Group", "system:unauthenticated")}
ADMIN_ROLES = {"cluster-admin", "admin"}
_BINDING_KEEP = ("apiVersion", "kind", "metadata", "roleRef", "subjects")
_META_KEEP = ("name", "namespace", "labels", "annotations")


class BindingRef(ActionInput):
    """A binding by kind, name and namespace; other keys (the capture's reason, role) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: str = "ClusterRoleBinding"
    name: str
    namespace: str | None = None

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in ("ClusterRoleBinding", "RoleBinding"):
            raise ValueError("kind is ClusterRoleBinding or RoleBinding")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _DNS_SUBDOMAIN.match(value or "") and not re.fullmatch(r"[a-z0-9:._-]{1,253}", value or ""):
            raise ValueError(f"{value!r} is not a binding name")
        return value

    @field_validator("namespace")
    @classmethod
    def _ns(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a namespace name")
        return value

    def path(self) -> str:
        from ..k8s.client import RBAC

        if self.kind == "ClusterRoleBinding":
            return f"{RBAC}/clusterrolebindings/{self.name}"
        return f"{RBAC}/namespaces/{self.namespace or 'default'}/rolebindings/{self.name}"


def _binding_ref(binding: dict[str, Any]) -> dict[str, Any]:
    meta = binding.get("metadata") or {}
    kind = "RoleBinding" if meta.get("namespace") else "ClusterRoleBinding"
    return {"kind": kind, "name": meta.get("name"), "namespace": meta.get("namespace")}


def _clean_binding(binding: dict[str, Any]) -> dict[str, Any]:
    """The binding as it can be created again (server-set fields dropped)."""
    out = {k: copy.deepcopy(binding[k]) for k in _BINDING_KEEP if k in binding}
    out["metadata"] = {k: v for k, v in (binding.get("metadata") or {}).items() if k in _META_KEEP}
    return out


def _named_binding(ctx: StepContext) -> tuple[str | None, str | None]:
    """The binding a RoleBindingCreated finding names (``kubernetesRoleBindingDetails``, or the API call)."""
    from ..findings.fields import dict_of, pick, text

    action = dict_of(pick(dict_of(pick(dict_of(ctx.finding.raw), "service")), "action"))
    details = dict_of(pick(action, "kubernetesRoleBindingDetails"))
    if text(pick(details, "name")):
        call = dict_of(pick(action, "kubernetesApiCallAction"))
        return text(pick(details, "name")), text(pick(call, "namespace"))
    call = dict_of(pick(action, "kubernetesApiCallAction"))
    if (text(pick(call, "resource")) or "").endswith("rolebindings"):
        return text(pick(call, "resourceName")), text(pick(call, "namespace"))
    return None, None


def offending_reason(binding: dict[str, Any], named: tuple[str | None, str | None]) -> str | None:
    """Why a binding is the finding's offence, or None. Kubernetes' own ``system:`` bindings are never it."""
    meta = binding.get("metadata") or {}
    name = str(meta.get("name") or "")
    subjects = {(str(s.get("kind")), str(s.get("name"))) for s in binding.get("subjects") or []}
    role = (binding.get("roleRef") or {}).get("name")
    if name.startswith("system:"):
        return None
    if named[0] and name == named[0] and (named[1] in (None, meta.get("namespace"))):
        return "the binding the finding names"
    if subjects & ANONYMOUS_SUBJECTS:
        return f"grants {role} to anonymous/unauthenticated users"
    if role in ADMIN_ROLES and any(
        s.get("kind") == "ServiceAccount" and s.get("name") == "default" for s in binding.get("subjects") or []
    ):
        return f"grants {role} to a default service account"
    return None


class CaptureBindingsInput(ActionInput):
    """``subject_kind``/``subject_name``/``subject_namespace`` also mark every binding granting that subject."""

    cluster: str | None = None
    subject_kind: str | None = None
    subject_name: str | None = None
    subject_namespace: str | None = None

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        return _cluster_name(value)


class CaptureBindingsOutput(ActionOutput):
    cluster: str | None = None
    offending: list[dict[str, Any]] = []
    cluster_role_bindings: int = 0
    role_bindings: int = 0
    artifact: str = ""


class CaptureRbacBindings(Action[CaptureBindingsInput]):
    """Preserve every ClusterRoleBinding and RoleBinding of the cluster, and name the offending ones.

    Offending: bindings granting anything to ``system:anonymous`` / ``system:unauthenticated``, granting
    ``cluster-admin`` or ``admin`` to a ``default`` service account, or the binding a RoleBindingCreated
    finding names. Kubernetes' own ``system:*`` bindings (e.g. ``system:public-info-viewer``) never are.
    """

    name = "k8s.capture_rbac_bindings"
    Input = CaptureBindingsInput
    Output = CaptureBindingsOutput
    category = Category.EVIDENCE
    permissions = K8S_PERMISSIONS
    rbac: ClassVar[tuple[str, ...]] = ("list clusterrolebindings", "list rolebindings")

    def plan(self, ctx: StepContext, inp: CaptureBindingsInput) -> Change:
        return Change(will_change=False, summary="capture the cluster's RBAC bindings as evidence")

    def apply(self, ctx: StepContext, inp: CaptureBindingsInput) -> Outcome:
        from ..k8s.client import RBAC

        api = _api(ctx, inp)
        cluster_bindings = api.call("GET", f"{RBAC}/clusterrolebindings").get("items") or []
        role_bindings = api.call("GET", f"{RBAC}/rolebindings").get("items") or []
        named = _named_binding(ctx)
        offending = []
        for binding in [*cluster_bindings, *role_bindings]:
            reason = offending_reason(binding, named) or _grants_subject(binding, inp)
            if reason:
                offending.append(
                    {**_binding_ref(binding), "reason": reason, "role": (binding.get("roleRef") or {}).get("name")}
                )
        record = {
            "captured_at": ctx.now.isoformat(),
            "cluster": _cluster(ctx, inp),
            "named": list(named),
            "cluster_role_bindings": cluster_bindings,
            "role_bindings": role_bindings,
            "offending": offending,
        }
        artifact = ctx.evidence.put_json(
            ctx.run_id,
            f"{ctx.step_id}/rbac-bindings.json",
            record,
            collected_by=f"responder:{self.name}",
            at=ctx.now,
            details={"step": ctx.step_id, "cluster": _cluster(ctx, inp)},
        )
        out = CaptureBindingsOutput(
            cluster=_cluster(ctx, inp),
            offending=offending,
            cluster_role_bindings=len(cluster_bindings),
            role_bindings=len(role_bindings),
            artifact=artifact.name,
        )
        return Outcome(
            changed=False,
            summary=f"captured {len(cluster_bindings)} cluster and {len(role_bindings)} "
            f"namespaced binding(s); offending: {[o['name'] for o in offending] or 'none'}",
            output=out.model_dump(),
            artifacts=[artifact.as_dict()],
        )


class RemoveBindingsInput(ActionInput):
    bindings: list[BindingRef]
    cluster: str | None = None

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        return _cluster_name(value)


class RemoveBindings(Action[RemoveBindingsInput]):
    """Delete the offending bindings, keeping each whole in the run so release creates it again.

    Deleting the binding (not the role) removes exactly the grant: other subjects of the same role keep
    it. Release recreates each binding as it was, unless one of the same name exists again by then.
    """

    name = "k8s.remove_bindings"
    Input = RemoveBindingsInput
    category = Category.CONTAIN
    mutates = True
    records_before = True  # one delete per binding: every binding, whole, is written ahead of the first
    reversible = True
    permissions = K8S_PERMISSIONS
    undo_permissions = K8S_PERMISSIONS
    rbac: ClassVar[tuple[str, ...]] = (
        "get clusterrolebindings",
        "get rolebindings",
        "delete clusterrolebindings",
        "delete rolebindings",
        "create clusterrolebindings",
        "create rolebindings",
    )

    def _read(self, api: Any, ref: BindingRef) -> dict[str, Any] | None:
        try:
            return dict(api.call("GET", ref.path()))
        except Exception as exc:
            if _is_api_error(exc, 404):
                return None
            raise

    def plan(self, ctx: StepContext, inp: RemoveBindingsInput) -> Change:
        api = _api(ctx, inp)
        present = [ref.name for ref in inp.bindings if self._read(api, ref) is not None]
        return Change(
            will_change=bool(present),
            summary=f"delete binding(s) {present or 'none present'}",
            before={"bindings": present},
            after={"bindings": []},
            notes=["subjects that relied on these grants lose them until release"] if present else [],
        )

    def apply(self, ctx: StepContext, inp: RemoveBindingsInput) -> Outcome:
        api = _api(ctx, inp)
        refs = list(dict.fromkeys(inp.bindings))  # BindingRef is frozen: a binding named twice is deleted once
        present = [
            {"ref": ref.model_dump(), "binding": _clean_binding(binding)}
            for ref in refs
            if (binding := self._read(api, ref)) is not None
        ]
        before, notes = self._before(ctx, present, len(refs))
        if not present:  # all gone: maybe deleted by an earlier attempt (then "before" is its record)
            return Outcome(
                changed=False,
                summary="no offending binding present",
                before={"bindings": before},
                after={"bindings": []},
                output={"removed": [item["ref"]["name"] for item in before]},
                notes=notes,
            )
        ctx.record_before({"bindings": before})  # all of them, whole, ahead of the first delete
        for item in present:
            try:
                api.call("DELETE", BindingRef(**item["ref"]).path())
            except Exception as exc:
                if not _is_api_error(exc, 404):
                    raise
        names = [item["ref"]["name"] for item in before]
        return Outcome(
            changed=True,
            summary=f"deleted binding(s) {names}",
            before={"bindings": before},
            after={"bindings": []},
            output={"removed": names},
            notes=notes,
        )

    @staticmethod
    def _before(ctx: StepContext, present: list[dict[str, Any]], named: int) -> tuple[list[dict[str, Any]], list[str]]:
        """The bindings as they were before the run. Fewer present than named: an earlier attempt may have
        deleted some and stopped before recording it; its write-ahead record still holds them whole."""
        if len(present) == named:
            return present, []
        earlier = list(ctx.written_ahead.get("bindings") or [])
        if not earlier:
            return present, []
        now = [item["ref"] for item in present]
        gone = [item["ref"]["name"] for item in earlier if item["ref"] not in now]
        merged = earlier + [item for item in present if item["ref"] not in [e["ref"] for e in earlier]]
        note = f"binding(s) {gone} deleted by an earlier attempt that stopped before recording it" if gone else None
        return merged, [note] if note else []

    def undo(
        self,
        ctx: StepContext,
        inp: RemoveBindingsInput,
        applied: Outcome,
        *,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Outcome:
        from ..k8s.client import RBAC

        api = _api(ctx, inp)
        restored, notes = [], []
        for item in applied.before.get("bindings", []):
            ref = BindingRef(**item["ref"])
            current = self._read(api, ref)
            if current is not None:
                if _clean_binding(current).get("subjects") == item["binding"].get("subjects") or force:
                    notes.append(f"binding {ref.name} exists again; left as it is")
                    continue
                raise TargetChanged(
                    f"a different binding named {ref.name} exists since; use --force to release anyway (it is kept)"
                )
            collection = (
                f"{RBAC}/clusterrolebindings"
                if ref.kind == "ClusterRoleBinding"
                else f"{RBAC}/namespaces/{ref.namespace or 'default'}/rolebindings"
            )
            api.call("POST", collection, body=item["binding"])
            restored.append(ref.name)
        return Outcome(
            changed=bool(restored),
            summary=f"recreated binding(s) {restored}",
            before={"bindings": []},
            after={"bindings": restored},
            notes=notes,
        )


def _grants_subject(binding: dict[str, Any], inp: CaptureBindingsInput) -> str | None:
    """The binding grants the finding's own Kubernetes identity something (never a ``system:`` binding)."""
    if not inp.subject_kind or not inp.subject_name:
        return None
    if str((binding.get("metadata") or {}).get("name") or "").startswith("system:"):
        return None
    for subject in binding.get("subjects") or []:
        same = subject.get("kind") == inp.subject_kind and subject.get("name") == inp.subject_name
        if same and (inp.subject_kind != "ServiceAccount" or subject.get("namespace") == inp.subject_namespace):
            return f"grants {(binding.get('roleRef') or {}).get('name')} to the finding's identity"
    return None


_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:(sts|iam)::\d{12}:(assumed-role|role)/([\w+=,.@/-]{1,512})$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


def _iam_role_name(username: str) -> str | None:
    """``…:assumed-role/NAME/session`` → NAME; ``…:role/path/NAME`` → NAME (how EKS names IAM principals)."""
    match = _IAM_ARN.match(username)
    if not match:
        return None
    parts = match.group(3).split("/")
    name = parts[0] if match.group(2) == "assumed-role" else parts[-1]
    return name if _ROLE_NAME.match(name) else None


_SA_USER = re.compile(r"^system:serviceaccount:([a-z0-9-]{1,63}):([a-z0-9.-]{1,253})$")


class ResolveIdentityInput(ActionInput):
    """No arguments: the finding's Kubernetes identity (its principal) is resolved."""


class ResolveIdentityOutput(ActionOutput):
    kind: str = "none"  # anonymous | service_account | iam_role | user | none
    username: str | None = None
    subject_kind: str | None = None
    subject_name: str | None = None
    subject_namespace: str | None = None
    role_name: str | None = None


class ResolveIdentity(Action[ResolveIdentityInput]):
    """Say who the Kubernetes identity that acted is: anonymous, a service account, an IAM role, a user.

    Reads only the finding (no API call): EKS authenticates IAM principals and names them by their ARN
    (access entries) or by the mapped user name with an ``aws-iam-authenticator`` uid; service accounts
    are ``system:serviceaccount:NAMESPACE:NAME``. Later steps contain each kind its own way.
    """

    name = "k8s.resolve_identity"
    Input = ResolveIdentityInput
    Output = ResolveIdentityOutput
    category = Category.ENRICH

    def _resolve(self, ctx: StepContext) -> ResolveIdentityOutput:
        user = ctx.finding.first("k8s_user")
        if user is None:
            return ResolveIdentityOutput()
        name = str(getattr(user, "username", None) or "")
        out = ResolveIdentityOutput(username=name or None)
        sa = _SA_USER.match(name)
        groups = getattr(user, "groups", ()) or ()
        if name == "system:anonymous" or (not name and "system:unauthenticated" in groups):
            out.kind = "anonymous"
        elif sa or getattr(user, "service_account_name", None):
            out.kind = "service_account"
            out.subject_kind = "ServiceAccount"
            out.subject_namespace = sa.group(1) if sa else getattr(user, "service_account_namespace", None)
            out.subject_name = sa.group(2) if sa else getattr(user, "service_account_name", None)
        elif (role := _iam_role_name(name)) is not None:
            out.kind = "iam_role"
            out.role_name = role
        elif name:
            out.kind = "user"
            out.subject_kind = "User"
            out.subject_name = name
        return out

    def plan(self, ctx: StepContext, inp: ResolveIdentityInput) -> Change:
        return Change(will_change=False, summary=f"the finding's Kubernetes identity is {self._resolve(ctx).kind}")

    def apply(self, ctx: StepContext, inp: ResolveIdentityInput) -> Outcome:
        out = self._resolve(ctx)
        return Outcome(
            changed=False,
            summary=f"Kubernetes identity {out.username or '(none)'}: {out.kind}"
            + (f" (IAM role {out.role_name})" if out.role_name else ""),
            output=out.model_dump(),
        )

    def preview(self, ctx: StepContext, inp: ResolveIdentityInput) -> dict[str, Any]:
        return self._resolve(ctx).model_dump()
