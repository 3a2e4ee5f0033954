"""GuardDuty findings (EventBridge ``detail``, ``GetFindings`` items, camelCase or PascalCase) → Finding.

The finding-level fields, severity, times and the network actor live here; every resource the finding
names (access keys and role sessions, Kubernetes users, instances, pods, clusters, buckets, containers,
ECS tasks, Lambda functions, databases, scanned volumes, attack-sequence resources) and the choice of
the primary one live in :mod:`.guardduty_resources`.
"""

from __future__ import annotations

from typing import Any

from ..errors import FindingInvalid
from .fields import dict_of, list_of, number, pick, text, timestamp
from .guardduty_resources import resources_of
from .limits import decode_json
from .model import Actor, Finding, Source, severity_label

_ACTION_KEYS = (
    "awsApiCallAction",
    "networkConnectionAction",
    "kubernetesApiCallAction",
    "rdsLoginAttemptAction",
    "dnsRequestAction",
    "portProbeAction",
    "kubernetesPermissionCheckedAction",
    "kubernetesRoleBindingDetails",
)


def looks_like(obj: dict[str, Any]) -> bool:
    """A GuardDuty finding has a type, a resource and a service block, and schemaVersion 2.x."""
    schema = text(pick(obj, "schemaVersion")) or ""
    has_core = pick(obj, "type") is not None and (pick(obj, "service") is not None or pick(obj, "resource") is not None)
    arn = text(pick(obj, "arn")) or ""
    return has_core and (schema.startswith("2") or ":guardduty:" in arn or pick(obj, "service") is not None)


def parse(obj: Any, event: str, prefix: str = "") -> Finding:
    if not isinstance(obj, dict):
        raise FindingInvalid(event, prefix or "(root)", "expected a GuardDuty finding object")
    where = f"{prefix}." if prefix else ""
    finding_id = text(pick(obj, "id"))
    if not finding_id:
        raise FindingInvalid(event, f"{where}id", "missing: a GuardDuty finding needs its id")
    ftype = text(pick(obj, "type"))
    if not ftype:
        raise FindingInvalid(event, f"{where}type", "missing: a GuardDuty finding needs its type")
    raw_sev = pick(obj, "severity")
    score = number(raw_sev)
    if raw_sev is not None and score is None:
        raise FindingInvalid(event, f"{where}severity", f"not a number: {str(raw_sev)[:40]!r}")
    score = max(0.0, min(10.0, score or 0.0))

    resource_block = dict_of(pick(obj, "resource"))
    service = dict_of(pick(obj, "service"))
    primary, resources = resources_of(ftype, resource_block, service)
    additional = dict_of(pick(service, "additionalInfo"))
    if isinstance(pick(additional, "value"), str):  # additionalInfo often carries its details as JSON text
        try:
            additional = dict_of(decode_json(pick(additional, "value"), event, f"{where}service.additionalInfo.value"))
        except ValueError:  # malformed JSON text: the raw event keeps it (a limit exceeded raises FindingInvalid)
            additional = {}

    actor = _actor(service, additional)
    action = dict_of(pick(service, "action"))
    api_action = dict_of(pick(action, "awsApiCallAction"))
    fields = {
        "resource_type": text(pick(resource_block, "resourceType")),
        "action_type": text(pick(action, "actionType")),
        "api": text(pick(api_action, "api")),
        "service_name": text(pick(api_action, "serviceName")),
        "caller_type": text(pick(api_action, "callerType")),
        "resource_role": text(pick(service, "resourceRole")),
        "feature_name": text(pick(service, "featureName")),
        "detector_id": text(pick(service, "detectorId")),
        "sample": bool(pick(additional, "sample", default=False)),
        "threat_names": [
            t
            for t in (
                text(pick(x, "name"))
                for x in list_of(
                    pick(service, "ebsVolumeScanDetails", "scanDetections", "threatDetectedByName", "threatNames")
                )
            )
            if t
        ],
    }
    return Finding(
        id=finding_id,
        source=Source.GUARDDUTY,
        product="GuardDuty",
        type=ftype,
        title=text(pick(obj, "title")),
        description=text(pick(obj, "description")),
        severity=score,
        severity_label=severity_label(score),
        account_id=text(pick(obj, "accountId")),
        region=text(pick(obj, "region")),
        partition=text(pick(obj, "partition")) or "aws",
        first_seen=timestamp(pick(service, "eventFirstSeen")),
        last_seen=timestamp(pick(service, "eventLastSeen")),
        created_at=timestamp(pick(obj, "createdAt")),
        updated_at=timestamp(pick(obj, "updatedAt")),
        incident_start=timestamp(pick(service, "eventFirstSeen")) or timestamp(pick(obj, "createdAt")),
        count=int(number(pick(service, "count"), 1) or 1),
        archived=bool(pick(service, "archived", default=False)),
        resource=primary,
        resources=resources,
        actor=actor,
        fields=fields,
        raw=obj,
    )


def _actor(service: dict[str, Any], additional: dict[str, Any]) -> Actor:
    action = dict_of(pick(service, "action"))
    remote: dict[str, Any] = {}
    user_agent = None
    domain = None
    port = None
    for key in _ACTION_KEYS:
        block = dict_of(pick(action, key))
        if not block:
            continue
        remote = remote or dict_of(pick(block, "remoteIpDetails"))
        if not remote and key == "portProbeAction":
            details = list_of(pick(block, "portProbeDetails"))
            if details:
                remote = dict_of(pick(details[0], "remoteIpDetails"))
                port = number(pick(details[0], "localPortDetails", "port"))
        if not remote and key == "kubernetesApiCallAction":
            ips = list_of(pick(block, "sourceIPs")) or list_of(pick(block, "sourceIps"))
            if ips:
                remote = {"ipAddressV4": ips[0]}
        user_agent = user_agent or text(pick(block, "userAgent"))
        domain = domain or text(pick(block, "domainDetails", "domain")) or text(pick(block, "domain"))
        port = port or number(pick(block, "remotePortDetails", "port"))
    user_agent = user_agent or text(pick(additional, "userAgent", "fullUserAgent"))
    org = dict_of(pick(remote, "organization"))
    asn = pick(org, "asn")
    return Actor(
        ip=text(pick(remote, "ipAddressV4")) or text(pick(remote, "ipAddressV6")),
        asn=text(asn),
        asn_org=text(pick(org, "asnOrg")),
        isp=text(pick(org, "isp")),
        country=text(pick(remote, "country", "countryName")),
        city=text(pick(remote, "city", "cityName")),
        user_agent=user_agent,
        domain=domain,
        port=int(port) if port is not None else None,
    )
