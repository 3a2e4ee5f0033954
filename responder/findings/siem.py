"""Findings forwarded by a SIEM or a webhook: Falco events, and responder's generic finding shape.

Generic shape (for Splunk/Elastic alert actions, or any webhook)::

    {"source": "siem", "id": "...", "type": "Execution:Kubernetes/...", "severity": 7,
     "account_id": "...", "region": "...", "resource": {"kind": "k8s_pod", "namespace": "...", ...},
     "actor": {"ip": "..."}, "first_seen": "ISO-8601"}
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..errors import FindingInvalid
from .fields import dict_of, number, text, timestamp
from .model import Actor, Finding, Other, Pod, Resource, Source, severity_label

_FALCO_PRIORITY = {
    "emergency": 10.0,
    "alert": 9.0,
    "critical": 8.5,
    "error": 7.0,
    "warning": 5.0,
    "notice": 3.0,
    "informational": 1.0,
    "info": 1.0,
    "debug": 0.0,
}


def looks_like_falco(obj: dict[str, Any]) -> bool:
    return isinstance(obj, dict) and "rule" in obj and "output" in obj and "priority" in obj


def looks_like_generic(obj: dict[str, Any]) -> bool:
    return isinstance(obj, dict) and text(obj.get("source")) == "siem" and "type" in obj


def parse_falco(obj: dict[str, Any], event: str, prefix: str = "") -> Finding:
    where = f"{prefix}." if prefix else ""
    rule = text(obj.get("rule"))
    if not rule:
        raise FindingInvalid(event, f"{where}rule", "missing: a Falco event needs its rule")
    fields = dict_of(obj.get("output_fields"))
    when = timestamp(obj.get("time"))
    score = _FALCO_PRIORITY.get((text(obj.get("priority")) or "").lower(), 5.0)
    ident = (
        text(obj.get("uuid"))
        or hashlib.sha256(
            json.dumps(
                [rule, obj.get("time"), fields.get("k8s.pod.name"), fields.get("container.id")], default=str
            ).encode()
        ).hexdigest()[:32]
    )
    pod_name = text(fields.get("k8s.pod.name"))
    resource: Any
    if pod_name:
        resource = Pod(
            namespace=text(fields.get("k8s.ns.name")),
            pod_name=pod_name,
            cluster_name=text(fields.get("k8s.cluster.name")) or text(obj.get("cluster")),
            node_name=text(obj.get("hostname")),
            containers=tuple(t for t in [text(fields.get("container.name"))] if t),
            images=tuple(t for t in [text(fields.get("container.image.repository"))] if t),
        )
    else:
        resource = Other(resource_type="host", resource_id=text(obj.get("hostname")))
    return Finding(
        id=f"falco-{ident}",
        source=Source.SIEM,
        product="Falco",
        type=f"Falco:{text(obj.get('source')) or 'syscall'}/{rule}",
        title=rule,
        description=text(obj.get("output")),
        severity=score,
        severity_label=severity_label(score),
        first_seen=when,
        last_seen=when,
        created_at=when,
        incident_start=when,
        resource=resource,
        actor=Actor(ip=text(fields.get("fd.sip")) or text(fields.get("ka.user.name") and None)),
        fields={
            "rule": rule,
            "priority": text(obj.get("priority")),
            "tags": obj.get("tags") or [],
            **{k: v for k, v in fields.items() if isinstance(v, str | int | float)},
        },
        raw=obj,
    )


_RESOURCE = TypeAdapter(Resource)
_ACTOR = TypeAdapter(Actor)


def parse_generic(obj: dict[str, Any], event: str, prefix: str = "") -> Finding:
    where = f"{prefix}." if prefix else ""
    fid = text(obj.get("id"))
    if not fid:
        raise FindingInvalid(event, f"{where}id", "missing: a SIEM finding needs an id")
    ftype = text(obj.get("type"))
    if not ftype:
        raise FindingInvalid(event, f"{where}type", "missing: a SIEM finding needs a type")
    score = number(obj.get("severity"))
    if obj.get("severity") is not None and score is None:
        raise FindingInvalid(event, f"{where}severity", "not a number (0-10)")
    score = max(0.0, min(10.0, score or 0.0))
    try:
        resource = _RESOURCE.validate_python(obj["resource"]) if isinstance(obj.get("resource"), dict) else Other()
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise FindingInvalid(event, f"{where}resource.{loc}", first["msg"]) from None
    try:
        actor = _ACTOR.validate_python(obj["actor"]) if isinstance(obj.get("actor"), dict) else Actor()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise FindingInvalid(event, f"{where}actor.{'.'.join(map(str, first['loc']))}", first["msg"]) from None
    start = timestamp(obj.get("first_seen"))
    return Finding(
        id=fid,
        source=Source.SIEM,
        product=text(obj.get("product")) or "SIEM",
        type=ftype,
        title=text(obj.get("title")),
        description=text(obj.get("description")),
        severity=score,
        severity_label=severity_label(score),
        account_id=text(obj.get("account_id")),
        region=text(obj.get("region")),
        first_seen=start,
        last_seen=timestamp(obj.get("last_seen")) or start,
        created_at=start,
        incident_start=start,
        resource=resource,
        actor=actor,
        fields={k: v for k, v in dict_of(obj.get("fields")).items()},
        raw=obj,
    )
