"""What the subject left behind, in a shape containment can act on.

The scope report's ``persistence`` list holds one item per record whose request created or changed
something that outlives the attacker's session: a credential, an account, a policy, a trust, a share, or
a blinded log. Each item is machine-usable — the closed-loop containment reads it to undo what it names::

    {
      "kind": "access_key_created",        # see KINDS below (one word per thing left behind)
      "tactic": "persistence",             # ATT&CK short name of the call (scope.techniques)
      "technique_id": "T1098.001",
      "time": "2026-11-20T14:35:10Z", "event_name": "CreateAccessKey", "event_source": "iam.amazonaws.com",
      "event_id": "…", "region": "us-east-1", "account_id": "210987654321",  # where it happened
      "access_key_id": "ASIA…",            # the subject's key that made the call
      "error_code": null, "succeeded": true,
      "resource_type": "iam_user",         # iam_user, iam_role, iam_group, policy, access_key, trail,
                                           # flow_log, resolver_query_log_config, detector, config_recorder,
                                           # organization, snapshot, image, db_snapshot, bucket, kms_key,
                                           # resource_share, lambda_function, security_group, key_pair,
                                           # trust_anchor, identity_provider, log_group, event_rule
      "resource_ids": ["svc-backup-sync"], # the ids to act on (user names, trail ARNs, snapshot ids, …)
      "target": "svc-backup-sync",         # the first resource id (what older readers show)
      "new_key": "AKIA…",                  # CreateAccessKey / GetFederationToken: the credential minted
      "policy_arn": null,                  # Attach*Policy
      "policy_document": {…},              # trust / inline / bucket / key policy as the request sent it
      "external_accounts": ["999988887777"],  # accounts outside the organisation granted access
      "public": false                      # granted to everyone ("all", "*", AllUsers)
    }

``external_accounts`` in the report lists every such grant once per (account, event): ``{"account_id",
"event_name", "event_id", "time", "resource_type", "resource_id", "kind"}`` (``account_id`` "*" for a public
grant). An account counts as outside when it is neither the record's own account nor one the caller names as
the organisation's (``scope.organization_accounts`` in config).

Every value here comes from log records, which an attacker can shape: it is parsed as data, never evaluated,
and the report renders it escaped.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from .techniques import normalise, rows_for

_ACCOUNT = re.compile(r"^\d{12}$")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-zA-Z-]*:[a-z0-9-]*:[a-z0-9-]*:(\d{12}):")

# event name → (kind, resource type, request parameter paths that name the resource)
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "CreateAccessKey": ("access_key_created", "iam_user", ("userName",)),
    "CreateUser": ("user_created", "iam_user", ("userName",)),
    "CreateLoginProfile": ("login_profile_created", "iam_user", ("userName",)),
    "UpdateLoginProfile": ("login_profile_updated", "iam_user", ("userName",)),
    "CreateServiceSpecificCredential": ("credential_created", "iam_user", ("userName",)),
    "UploadSSHPublicKey": ("credential_created", "iam_user", ("userName",)),
    "UploadSigningCertificate": ("credential_created", "iam_user", ("userName",)),
    "CreateVirtualMFADevice": ("mfa_device_created", "iam_user", ("virtualMFADeviceName",)),
    "EnableMFADevice": ("mfa_device_enabled", "iam_user", ("userName",)),
    "AttachUserPolicy": ("policy_attached", "iam_user", ("userName",)),
    "AttachRolePolicy": ("policy_attached", "iam_role", ("roleName",)),
    "AttachGroupPolicy": ("policy_attached", "iam_group", ("groupName",)),
    "PutUserPolicy": ("inline_policy_put", "iam_user", ("userName",)),
    "PutRolePolicy": ("inline_policy_put", "iam_role", ("roleName",)),
    "PutGroupPolicy": ("inline_policy_put", "iam_group", ("groupName",)),
    "AddUserToGroup": ("user_added_to_group", "iam_user", ("userName",)),
    "CreatePolicy": ("policy_created", "policy", ("policyName",)),
    "CreatePolicyVersion": ("policy_version_created", "policy", ("policyArn",)),
    "SetDefaultPolicyVersion": ("policy_version_set", "policy", ("policyArn",)),
    "PutUserPermissionsBoundary": ("permissions_boundary_changed", "iam_user", ("userName",)),
    "DeleteUserPermissionsBoundary": ("permissions_boundary_changed", "iam_user", ("userName",)),
    "DeleteRolePermissionsBoundary": ("permissions_boundary_changed", "iam_role", ("roleName",)),
    "CreateRole": ("role_created", "iam_role", ("roleName",)),
    "UpdateAssumeRolePolicy": ("trust_policy_changed", "iam_role", ("roleName",)),
    "CreateSAMLProvider": ("identity_provider_created", "identity_provider", ("name",)),
    "UpdateSAMLProvider": ("identity_provider_changed", "identity_provider", ("sAMLProviderArn",)),
    "CreateOpenIDConnectProvider": ("identity_provider_created", "identity_provider", ("url",)),
    "AddClientIDToOpenIDConnectProvider": (
        "identity_provider_changed",
        "identity_provider",
        ("openIDConnectProviderArn",),
    ),
    "GetFederationToken": ("federation_token", "iam_user", ("name",)),
    "CreateTrustAnchor": ("trust_anchor_created", "trust_anchor", ("name",)),
    "CreateProfile": ("roles_anywhere_profile_created", "trust_anchor", ("name",)),
    "CreateKeyPair": ("key_pair_created", "key_pair", ("keyName",)),
    "ImportKeyPair": ("key_pair_created", "key_pair", ("keyName",)),
    "AddPermission": ("lambda_permission_added", "lambda_function", ("functionName",)),
    "UpdateFunctionCode": ("lambda_code_updated", "lambda_function", ("functionName",)),
    "UpdateFunctionConfiguration": ("lambda_configuration_updated", "lambda_function", ("functionName",)),
    "PublishLayerVersion": ("lambda_layer_published", "lambda_function", ("layerName",)),
    "CreateFunction": ("lambda_function_created", "lambda_function", ("functionName",)),
    "PutRule": ("event_rule_changed", "event_rule", ("name",)),
    "PutTargets": ("event_rule_changed", "event_rule", ("rule",)),
    "StopLogging": ("trail_stopped", "trail", ("name",)),
    "DeleteTrail": ("trail_deleted", "trail", ("name",)),
    "UpdateTrail": ("trail_updated", "trail", ("name",)),
    "PutEventSelectors": ("event_selectors_changed", "trail", ("trailName",)),
    "PutInsightSelectors": ("event_selectors_changed", "trail", ("trailName",)),
    "DeleteFlowLogs": ("flow_logs_deleted", "flow_log", ()),
    "DeleteResolverQueryLogConfig": (
        "resolver_query_logging_deleted",
        "resolver_query_log_config",
        ("resolverQueryLogConfigId",),
    ),
    "DisassociateResolverQueryLogConfig": (
        "resolver_query_logging_disassociated",
        "resolver_query_log_config",
        ("resolverQueryLogConfigId", "resourceId"),
    ),
    "DeleteDetector": ("guardduty_disabled", "detector", ("detectorId",)),
    "UpdateDetector": ("guardduty_changed", "detector", ("detectorId",)),
    "DisassociateFromMasterAccount": ("guardduty_disabled", "detector", ("detectorId",)),
    "DisassociateFromAdministratorAccount": ("guardduty_disabled", "detector", ("detectorId",)),
    "CreateFilter": ("guardduty_filter_created", "detector", ("detectorId",)),
    "CreateIPSet": ("guardduty_ipset_created", "detector", ("detectorId",)),
    "StopConfigurationRecorder": ("config_recorder_stopped", "config_recorder", ("configurationRecorderName",)),
    "DeleteConfigurationRecorder": ("config_recorder_deleted", "config_recorder", ("configurationRecorderName",)),
    "DeleteDeliveryChannel": ("config_delivery_channel_deleted", "config_recorder", ("deliveryChannelName",)),
    "DisableSecurityHub": ("security_hub_disabled", "detector", ()),
    "LeaveOrganization": ("left_organization", "organization", ()),
    "DeleteLogGroup": ("log_group_deleted", "log_group", ("logGroupName",)),
    "PutRetentionPolicy": ("log_retention_changed", "log_group", ("logGroupName",)),
    "PutBucketLifecycle": ("bucket_lifecycle_changed", "bucket", ("bucketName",)),
    "PutBucketLogging": ("bucket_logging_changed", "bucket", ("bucketName",)),
    "DeleteModelInvocationLoggingConfiguration": ("model_invocation_logging_deleted", "log_group", ()),
    "DeleteGuardrail": ("guardrail_deleted", "detector", ("guardrailIdentifier",)),
    "ModifySnapshotAttribute": ("snapshot_shared", "snapshot", ("snapshotId",)),
    "ModifyImageAttribute": ("image_shared", "image", ("imageId",)),
    "ModifyDBSnapshotAttribute": ("db_snapshot_shared", "db_snapshot", ("dBSnapshotIdentifier",)),
    "ModifyDBClusterSnapshotAttribute": ("db_snapshot_shared", "db_snapshot", ("dBClusterSnapshotIdentifier",)),
    "PutBucketPolicy": ("bucket_policy_changed", "bucket", ("bucketName",)),
    "PutBucketAcl": ("bucket_acl_changed", "bucket", ("bucketName",)),
    "CreateGrant": ("kms_grant_created", "kms_key", ("keyId",)),
    "PutKeyPolicy": ("key_policy_changed", "kms_key", ("keyId",)),
    "CreateResourceShare": ("resource_shared", "resource_share", ("name",)),
    "AssociateResourceShare": ("resource_shared", "resource_share", ("resourceShareArn",)),
    "AuthorizeSecurityGroupIngress": ("security_group_opened", "security_group", ("groupId", "groupName")),
}
# calls whose request names secrets read in bulk (GetSecretValue / GetParameter name one: the RESOURCES query)
BULK_SECRET_READS = ("BatchGetSecretValue", "GetParameters", "GetParametersByPath")
NAMES: tuple[str, ...] = (*KINDS, *BULK_SECRET_READS)


def _json(text: Any) -> Any:
    if text is None or isinstance(text, dict | list):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _get(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _items(value: Any) -> list[Any]:
    """EC2 wraps lists as {"items": [...]}; some records hold a bare list or one dict."""
    if isinstance(value, dict) and "items" in value:
        value = value["items"]
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _strings(value: Any, pattern: re.Pattern[str]) -> list[str]:
    """Every string anywhere in ``value`` matching ``pattern`` (for ids the request nests oddly)."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and pattern.match(item) and item not in found:
            found.append(item)
    return found


def _principal_accounts(document: Any) -> tuple[list[str], bool]:
    """Accounts named as principals in a policy document, and whether it grants to everyone."""
    doc = _json(document) if isinstance(document, str) else document
    accounts: list[str] = []
    public = False
    statements = _items(doc.get("Statement")) if isinstance(doc, dict) else []
    for stmt in statements:
        if not isinstance(stmt, dict) or stmt.get("Effect", "Allow") != "Allow":
            continue
        principal = stmt.get("Principal")
        values: list[Any] = []
        if principal == "*":
            public = True
        elif isinstance(principal, dict):
            for key in ("AWS", "Federated"):
                values += _items(principal.get(key))
        for value in values:
            text = str(value)
            if text == "*":
                public = True
            elif _ACCOUNT.match(text):
                accounts.append(text)
            elif match := _ARN_ACCOUNT.match(text):
                accounts.append(match.group(1))
    return list(dict.fromkeys(accounts)), public


def _grants(name: str, req: dict[str, Any]) -> tuple[list[str], bool]:
    """Accounts (and public) a sharing or policy call grants access to."""
    accounts: list[str] = []
    public = False
    if name == "ModifySnapshotAttribute":
        adds = _items(_get(req, "createVolumePermission.add"))
    elif name == "ModifyImageAttribute":
        adds = _items(_get(req, "launchPermission.add"))
    else:
        adds = []
    for item in adds:
        if isinstance(item, dict):
            if item.get("group") == "all":
                public = True
            if item.get("userId"):
                accounts.append(str(item["userId"]))
    if name in ("ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute"):
        for value in _items(req.get("valuesToAdd")):
            if str(value) == "all":
                public = True
            else:
                accounts.append(str(value))
    if name in ("PutBucketPolicy", "PutKeyPolicy"):
        found, public = _principal_accounts(req.get("bucketPolicy") or req.get("policy"))
        accounts += found
    if name in ("UpdateAssumeRolePolicy", "CreateRole"):
        found, public = _principal_accounts(req.get("policyDocument") or req.get("assumeRolePolicyDocument"))
        accounts += found
    if name == "PutBucketAcl":
        acl = _get(req, "AccessControlPolicy.AccessControlList") or {}
        for grant in _items(acl.get("Grant") if isinstance(acl, dict) else None):
            uri = str(_get(grant, "Grantee.URI") or "")
            if uri.endswith("/AllUsers") or uri.endswith("/AuthenticatedUsers"):
                public = True
        for header in ("x-amz-grant-read", "x-amz-grant-full-control", "x-amz-grant-write", "x-amz-grant-read-acp"):
            text = str(req.get(header) or "")
            public = public or "AllUsers" in text or "AuthenticatedUsers" in text
            accounts += re.findall(r"\d{12}", text)
        public = public or req.get("x-amz-acl") in ("public-read", "public-read-write", "authenticated-read")
    if name == "CreateGrant":
        for key in ("granteePrincipal", "retiringPrincipal"):
            value = str(req.get(key) or "")
            if match := _ARN_ACCOUNT.match(value):
                accounts.append(match.group(1))
            elif _ACCOUNT.match(value):
                accounts.append(value)
    if name in ("CreateResourceShare", "AssociateResourceShare"):
        for value in _items(req.get("principals")):
            text = str(value)
            if _ACCOUNT.match(text):
                accounts.append(text)
            elif match := _ARN_ACCOUNT.match(text):
                accounts.append(match.group(1))
    if name == "AddPermission":
        value = str(req.get("principal") or "")
        if value == "*":
            public = True
        elif _ACCOUNT.match(value):
            accounts.append(value)
        elif match := _ARN_ACCOUNT.match(value):
            accounts.append(match.group(1))
    if name == "AuthorizeSecurityGroupIngress":
        public = "0.0.0.0/0" in json.dumps(req) or "::/0" in json.dumps(req)
    return list(dict.fromkeys(accounts)), public


def _resource_ids(name: str, paths: tuple[str, ...], req: dict[str, Any], resp: Any) -> list[str]:
    ids = [str(v) for p in paths if (v := _get(req, p)) not in (None, "")]
    if name == "DeleteFlowLogs":
        ids = _strings(req, re.compile(r"^fl-[0-9a-f]+$"))
    if name == "CreateRole" and not ids:
        ids = [str(_get(resp, "role.roleName") or "")]
    if name == "GetFederationToken":
        arn = _get(resp, "federatedUser.arn")
        ids = [str(arn)] if arn else ids
    return [i for i in ids if i]


def _policy_document(name: str, req: dict[str, Any]) -> Any:
    for key in ("policyDocument", "assumeRolePolicyDocument", "bucketPolicy", "policy"):
        if key in req and name not in ("CreateGrant",):
            value = req[key]
            parsed = _json(value) if isinstance(value, str) else value
            return parsed if parsed is not None else value
    return None


def attribute(
    rows: list[dict[str, Any]], *, organization: set[str] | frozenset[str] = frozenset(), iso: Any = str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Records from the ATTRIBUTION question → (persistence items, external account grants, bulk secret reads)."""
    persistence: list[dict[str, Any]] = []
    external: list[dict[str, Any]] = []
    secrets: list[str] = []
    for row in rows:
        name = normalise(row.get("event_name"))
        req = _json(row.get("request_parameters"))
        req = req if isinstance(req, dict) else {}
        resp = _json(row.get("response_elements"))
        ok = row.get("error_code") is None
        if name in BULK_SECRET_READS:
            if ok:
                secrets += [str(v) for v in _items(req.get("secretIdList") or req.get("names")) if v]
                if name == "GetParametersByPath" and req.get("path"):
                    secrets.append(f"{req['path']}*")
            continue
        if name not in KINDS:
            continue
        kind, rtype, paths = KINDS[name]
        technique = next(iter(rows_for(row.get("event_source"), name, None)), None)
        accounts, public = _grants(name, req)
        own = row.get("recipient_account_id")
        outside = [a for a in accounts if a != own and a not in organization]
        if name in (
            "ModifySnapshotAttribute",
            "ModifyImageAttribute",
            "ModifyDBSnapshotAttribute",
            "ModifyDBClusterSnapshotAttribute",
        ) and not (outside or public):
            continue  # a removal or an attribute read-back: nothing was granted
        ids = _resource_ids(name, paths, req, resp)
        new_key = (
            (_get(resp, "accessKey.accessKeyId") or _get(resp, "credentials.accessKeyId"))
            if isinstance(resp, dict)
            else None
        )
        item = {
            "kind": kind,
            "tactic": technique.tactic if technique else None,
            "technique_id": technique.technique_id if technique else None,
            "time": iso(row.get("time")),
            "event_name": row.get("event_name"),
            "event_source": row.get("event_source"),
            "event_id": row.get("event_id"),
            "region": row.get("region"),
            "account_id": own,
            "access_key_id": row.get("access_key_id"),
            "error_code": row.get("error_code"),
            "succeeded": ok,
            "resource_type": rtype,
            "resource_ids": ids,
            "target": ids[0] if ids else None,
            "new_key": new_key,
            "policy_arn": req.get("policyArn"),
            "policy_document": _policy_document(name, req),
            "external_accounts": outside,
            "public": public,
        }
        persistence.append(item)
        if ok:
            for account in [*outside, *(["*"] if public else [])]:
                external.append(
                    {
                        "account_id": account,
                        "event_name": row.get("event_name"),
                        "event_id": row.get("event_id"),
                        "time": item["time"],
                        "kind": kind,
                        "resource_type": rtype,
                        "resource_id": item["target"],
                    }
                )
    return persistence, external, list(dict.fromkeys(secrets))


def iso_time(value: Any) -> str | None:
    if isinstance(value, datetime):
        text = value.isoformat()
        return text + "Z" if value.tzinfo is None else text.replace("+00:00", "Z")
    return None if value is None else str(value)


__all__ = ["BULK_SECRET_READS", "KINDS", "NAMES", "attribute", "iso_time"]
