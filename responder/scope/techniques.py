"""The ATT&CK mapping: which CloudTrail calls are which technique, as data.

Each :class:`Technique` row names one MITRE ATT&CK (Enterprise, cloud matrix) technique, its tactic (the
ATT&CK short name), the event source and the event names that carry it, and — when the call alone does not
say it — a *variant* the scope SQL computes from the request (``sse_c``: an S3 write with a customer key,
the ransomware re-encryption; ``user_data``: an instance attribute change that sets user data). Which calls
matter follows the AWS techniques Stratus Red Team publishes (its tactic folders), widened to the services
attackers use in AWS; the technique ids are ATT&CK's (https://attack.mitre.org/techniques/<id>/).

Event names are compared *normalised*: Lambda's versioned names (``CreateFunction20150331``,
``UpdateFunctionCode20150331v2``) lose their date suffix, so one row covers every API version.

:func:`techniques_from` turns the aggregated calls (one row per source, name and variant, with counts and
first/last times) into the report's ``techniques`` list, one entry per (tactic, technique).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_VERSION_SUFFIX = re.compile(r"20\d{6}(v\d+)?$")
# the same normalisation, in SQL (DuckDB and Trino both have regexp_replace)
NORMALISED_NAME = "regexp_replace(event_name, '20[0-9]{6}(v[0-9]+){0,1}$', '')"


def normalise(event_name: str | None) -> str:
    return _VERSION_SUFFIX.sub("", event_name or "")


@dataclass(frozen=True)
class Technique:
    tactic: str  # ATT&CK short name
    technique_id: str
    technique: str
    source: str  # eventSource, e.g. "iam.amazonaws.com"
    events: tuple[str, ...]
    variant: str | None = None  # only calls of this variant (see module docstring)
    basis: str = ""  # the Stratus Red Team technique (or ATT&CK page) this row follows


def _t(
    tactic: str, tid: str, name: str, service: str, events: str, variant: str | None = None, basis: str = ""
) -> Technique:
    return Technique(tactic, tid, name, f"{service}.amazonaws.com", tuple(events.split()), variant, basis)


TECHNIQUES: tuple[Technique, ...] = (
    # -- initial access --------------------------------------------------------------------------------
    _t(
        "initial-access",
        "T1078.004",
        "Valid Accounts: Cloud Accounts",
        "signin",
        "ConsoleLogin",
        basis="aws.initial-access.console-login-without-mfa",
    ),
    # -- execution -------------------------------------------------------------------------------------
    _t(
        "execution",
        "T1651",
        "Cloud Administration Command",
        "ssm",
        "SendCommand StartSession",
        basis="aws.execution.ssm-send-command, aws.execution.ssm-start-session",
    ),
    _t(
        "execution",
        "T1059",
        "Command and Scripting Interpreter",
        "ec2",
        "ModifyInstanceAttribute",
        variant="user_data",
        basis="aws.execution.ec2-user-data",
    ),
    _t("execution", "T1648", "Serverless Execution", "lambda", "CreateFunction Invoke", basis="ATT&CK T1648"),
    _t(
        "execution",
        "T1059",
        "Command and Scripting Interpreter",
        "sagemaker",
        "CreateNotebookInstanceLifecycleConfig UpdateNotebookInstanceLifecycleConfig",
        basis="aws.execution.sagemaker-update-lifecycle-config",
    ),
    # -- persistence -----------------------------------------------------------------------------------
    _t(
        "persistence",
        "T1098.001",
        "Account Manipulation: Additional Cloud Credentials",
        "iam",
        "CreateAccessKey CreateLoginProfile CreateServiceSpecificCredential UploadSSHPublicKey "
        "UploadSigningCertificate CreateVirtualMFADevice EnableMFADevice",
        basis="aws.persistence.iam-backdoor-user, aws.persistence.iam-create-user-login-profile",
    ),
    _t(
        "persistence",
        "T1136.003",
        "Create Account: Cloud Account",
        "iam",
        "CreateUser",
        basis="aws.persistence.iam-create-admin-user",
    ),
    _t(
        "persistence",
        "T1098",
        "Account Manipulation",
        "iam",
        "UpdateAssumeRolePolicy CreateRole CreateSAMLProvider UpdateSAMLProvider CreateOpenIDConnectProvider "
        "AddClientIDToOpenIDConnectProvider",
        basis="aws.persistence.iam-backdoor-role, aws.persistence.iam-create-backdoor-role",
    ),
    _t(
        "persistence",
        "T1098.001",
        "Account Manipulation: Additional Cloud Credentials",
        "sts",
        "GetFederationToken",
        basis="aws.persistence.sts-federation-token",
    ),
    _t(
        "persistence",
        "T1098.001",
        "Account Manipulation: Additional Cloud Credentials",
        "rolesanywhere",
        "CreateTrustAnchor CreateProfile",
        basis="aws.persistence.rolesanywhere-create-trust-anchor",
    ),
    _t(
        "persistence",
        "T1098.001",
        "Account Manipulation: Additional Cloud Credentials",
        "ec2",
        "CreateKeyPair ImportKeyPair",
        basis="aws.persistence.ec2-create-suspicious-keypair",
    ),
    _t(
        "persistence",
        "T1546",
        "Event Triggered Execution",
        "lambda",
        "AddPermission UpdateFunctionCode UpdateFunctionConfiguration PublishLayerVersion "
        "AddLayerVersionPermission CreateEventSourceMapping",
        basis="aws.persistence.lambda-backdoor-function, aws.persistence.lambda-overwrite-code, "
        "aws.persistence.lambda-layer-extension",
    ),
    _t("persistence", "T1546", "Event Triggered Execution", "events", "PutRule PutTargets", basis="ATT&CK T1546"),
    # -- privilege escalation --------------------------------------------------------------------------
    _t(
        "privilege-escalation",
        "T1098.003",
        "Account Manipulation: Additional Cloud Roles",
        "iam",
        "AttachUserPolicy PutUserPolicy AttachRolePolicy PutRolePolicy AttachGroupPolicy PutGroupPolicy "
        "AddUserToGroup CreatePolicyVersion SetDefaultPolicyVersion CreatePolicy PassRole "
        "PutUserPermissionsBoundary DeleteUserPermissionsBoundary DeleteRolePermissionsBoundary",
        basis="aws.persistence.iam-create-admin-user",
    ),
    _t(
        "privilege-escalation",
        "T1098",
        "Account Manipulation",
        "iam",
        "UpdateLoginProfile",
        basis="aws.privilege-escalation.iam-update-user-login-profile",
    ),
    _t(
        "privilege-escalation",
        "T1078.004",
        "Valid Accounts: Cloud Accounts",
        "sts",
        "AssumeRole AssumeRoleWithWebIdentity AssumeRoleWithSAML",
        basis="ATT&CK T1078.004",
    ),
    # -- defense evasion -------------------------------------------------------------------------------
    _t(
        "defense-evasion",
        "T1562.008",
        "Impair Defenses: Disable or Modify Cloud Logs",
        "cloudtrail",
        "StopLogging DeleteTrail UpdateTrail PutEventSelectors PutInsightSelectors DeleteEventDataStore "
        "StopEventDataStoreIngestion",
        basis="aws.defense-evasion.cloudtrail-stop, aws.defense-evasion.cloudtrail-delete, "
        "aws.defense-evasion.cloudtrail-event-selectors",
    ),
    _t(
        "defense-evasion",
        "T1562.008",
        "Impair Defenses: Disable or Modify Cloud Logs",
        "ec2",
        "DeleteFlowLogs",
        basis="aws.defense-evasion.vpc-remove-flow-logs",
    ),
    _t(
        "defense-evasion",
        "T1562.008",
        "Impair Defenses: Disable or Modify Cloud Logs",
        "route53resolver",
        "DeleteResolverQueryLogConfig DisassociateResolverQueryLogConfig",
        basis="aws.defense-evasion.dns-delete-logs",
    ),
    _t(
        "defense-evasion",
        "T1562.008",
        "Impair Defenses: Disable or Modify Cloud Logs",
        "s3",
        "PutBucketLifecycle DeleteBucketLifecycle PutBucketLogging",
        basis="aws.defense-evasion.cloudtrail-lifecycle-rule",
    ),
    _t(
        "defense-evasion",
        "T1562.008",
        "Impair Defenses: Disable or Modify Cloud Logs",
        "logs",
        "DeleteLogGroup DeleteLogStream PutRetentionPolicy DeleteSubscriptionFilter",
        basis="ATT&CK T1562.008",
    ),
    _t(
        "defense-evasion",
        "T1562.008",
        "Impair Defenses: Disable or Modify Cloud Logs",
        "bedrock",
        "DeleteModelInvocationLoggingConfiguration",
        basis="aws.defense-evasion.bedrock-model-invocation-logging-delete",
    ),
    _t(
        "defense-evasion",
        "T1562.001",
        "Impair Defenses: Disable or Modify Tools",
        "guardduty",
        "DeleteDetector UpdateDetector DisassociateFromMasterAccount DisassociateFromAdministratorAccount "
        "DeleteMembers StopMonitoringMembers CreateFilter UpdateFilter CreateIPSet UpdateIPSet "
        "DeletePublishingDestination",
        basis="ATT&CK T1562.001",
    ),
    _t(
        "defense-evasion",
        "T1562.001",
        "Impair Defenses: Disable or Modify Tools",
        "config",
        "StopConfigurationRecorder DeleteConfigurationRecorder DeleteDeliveryChannel DeleteConfigRule",
        basis="ATT&CK T1562.001",
    ),
    _t(
        "defense-evasion",
        "T1562.001",
        "Impair Defenses: Disable or Modify Tools",
        "securityhub",
        "DisableSecurityHub BatchUpdateFindings DeleteInsight",
        basis="ATT&CK T1562.001",
    ),
    _t(
        "defense-evasion",
        "T1562.001",
        "Impair Defenses: Disable or Modify Tools",
        "bedrock",
        "DeleteGuardrail",
        basis="aws.defense-evasion.bedrock-guardrail-delete",
    ),
    _t(
        "defense-evasion",
        "T1666",
        "Modify Cloud Resource Hierarchy",
        "organizations",
        "LeaveOrganization",
        basis="aws.defense-evasion.organizations-leave",
    ),
    _t(
        "defense-evasion",
        "T1562.007",
        "Impair Defenses: Disable or Modify Cloud Firewall",
        "ec2",
        "AuthorizeSecurityGroupIngress AuthorizeSecurityGroupEgress CreateNetworkAclEntry ReplaceNetworkAclEntry",
        basis="aws.exfiltration.ec2-security-group-open-port-22-ingress",
    ),
    _t(
        "defense-evasion",
        "T1578.002",
        "Modify Cloud Compute Infrastructure: Create Cloud Instance",
        "ec2",
        "RunInstances",
        basis="aws.execution.ec2-launch-unusual-instances",
    ),
    _t(
        "defense-evasion",
        "T1578.001",
        "Modify Cloud Compute Infrastructure: Create Snapshot",
        "ec2",
        "CreateSnapshot CreateSnapshots CopySnapshot CreateImage CopyImage",
        basis="ATT&CK T1578.001",
    ),
    # -- credential access -----------------------------------------------------------------------------
    _t(
        "credential-access",
        "T1555.006",
        "Credentials from Password Stores: Cloud Secrets Management Stores",
        "secretsmanager",
        "GetSecretValue BatchGetSecretValue",
        basis="aws.credential-access.secretsmanager-retrieve-secrets, "
        "aws.credential-access.secretsmanager-batch-retrieve-secrets",
    ),
    _t(
        "credential-access",
        "T1555.006",
        "Credentials from Password Stores: Cloud Secrets Management Stores",
        "ssm",
        "GetParameter GetParameters GetParametersByPath",
        basis="aws.credential-access.ssm-retrieve-securestring-parameters",
    ),
    _t(
        "credential-access",
        "T1552",
        "Unsecured Credentials",
        "ec2",
        "GetPasswordData",
        basis="aws.credential-access.ec2-get-password-data",
    ),
    _t(
        "credential-access",
        "T1552.005",
        "Unsecured Credentials: Cloud Instance Metadata API",
        "ec2",
        "DescribeInstanceAttribute",
        variant="user_data",
        basis="aws.discovery.ec2-download-user-data",
    ),
    # -- discovery -------------------------------------------------------------------------------------
    _t(
        "discovery",
        "T1087.004",
        "Account Discovery: Cloud Account",
        "iam",
        "ListUsers ListRoles GetUser GetRole ListAccessKeys ListAccountAliases GetLoginProfile",
        basis="aws.discovery.ec2-enumerate-from-instance",
    ),
    _t(
        "discovery",
        "T1087.004",
        "Account Discovery: Cloud Account",
        "sts",
        "GetCallerIdentity GetAccessKeyInfo",
        basis="aws.discovery.ec2-enumerate-from-instance",
    ),
    _t(
        "discovery",
        "T1069.003",
        "Permission Groups Discovery: Cloud Groups",
        "iam",
        "GetAccountAuthorizationDetails ListAttachedUserPolicies ListUserPolicies ListGroups ListGroupsForUser "
        "ListAttachedRolePolicies ListRolePolicies ListPolicies GetPolicy GetPolicyVersion SimulatePrincipalPolicy",
        basis="ATT&CK T1069.003",
    ),
    _t(
        "discovery",
        "T1580",
        "Cloud Infrastructure Discovery",
        "ec2",
        "DescribeInstances DescribeSnapshots DescribeImages DescribeVolumes DescribeVpcs DescribeSubnets "
        "DescribeSecurityGroups DescribeRegions DescribeKeyPairs DescribeInstanceTypes",
        basis="aws.discovery.ec2-enumerate-from-instance",
    ),
    _t(
        "discovery",
        "T1580",
        "Cloud Infrastructure Discovery",
        "rds",
        "DescribeDBInstances DescribeDBClusters DescribeDBSnapshots",
        basis="ATT&CK T1580",
    ),
    _t(
        "discovery",
        "T1619",
        "Cloud Storage Object Discovery",
        "s3",
        "ListBuckets ListObjects ListObjectsV2 ListObjectVersions GetBucketPolicy GetBucketAcl",
        basis="ATT&CK T1619",
    ),
    _t("discovery", "T1526", "Cloud Service Discovery", "secretsmanager", "ListSecrets", basis="ATT&CK T1526"),
    _t(
        "discovery",
        "T1526",
        "Cloud Service Discovery",
        "ssm",
        "DescribeParameters DescribeInstanceInformation",
        basis="ATT&CK T1526",
    ),
    _t("discovery", "T1526", "Cloud Service Discovery", "lambda", "ListFunctions GetFunction", basis="ATT&CK T1526"),
    _t("discovery", "T1526", "Cloud Service Discovery", "kms", "ListKeys ListAliases", basis="ATT&CK T1526"),
    _t("discovery", "T1526", "Cloud Service Discovery", "dynamodb", "ListTables", basis="ATT&CK T1526"),
    _t(
        "discovery",
        "T1526",
        "Cloud Service Discovery",
        "organizations",
        "DescribeOrganization ListAccounts ListRoots",
        basis="ATT&CK T1526",
    ),
    _t(
        "discovery",
        "T1526",
        "Cloud Service Discovery",
        "cloudtrail",
        "DescribeTrails GetTrailStatus ListTrails",
        basis="ATT&CK T1526",
    ),
    _t("discovery", "T1526", "Cloud Service Discovery", "guardduty", "ListDetectors GetDetector", basis="ATT&CK T1526"),
    _t(
        "discovery",
        "T1526",
        "Cloud Service Discovery",
        "ses",
        "GetAccountSendingEnabled GetSendQuota ListIdentities GetIdentityVerificationAttributes ListEmailIdentities "
        "GetAccount",
        basis="aws.discovery.ses-enumerate",
    ),
    _t(
        "discovery",
        "T1526",
        "Cloud Service Discovery",
        "bedrock",
        "ListFoundationModels GetFoundationModelAvailability GetModelInvocationLoggingConfiguration",
        basis="aws.discovery.bedrock-enumerate-models-multiple-regions",
    ),
    # -- lateral movement ------------------------------------------------------------------------------
    _t(
        "lateral-movement",
        "T1021.008",
        "Remote Services: Direct Cloud VM Connections",
        "ec2-instance-connect",
        "SendSSHPublicKey SendSerialConsoleSSHPublicKey",
        basis="aws.lateral-movement.ec2-instance-connect, aws.lateral-movement.ec2-serial-console-send-ssh-public-key",
    ),
    # -- collection ------------------------------------------------------------------------------------
    _t(
        "collection",
        "T1530",
        "Data from Cloud Storage",
        "s3",
        "GetObject SelectObjectContent RestoreObject",
        basis="ATT&CK T1530",
    ),
    _t(
        "collection",
        "T1530",
        "Data from Cloud Storage",
        "dynamodb",
        "Scan Query ExportTableToPointInTime",
        basis="ATT&CK T1530",
    ),
    _t(
        "collection",
        "T1113",
        "Screen Capture",
        "ec2",
        "GetConsoleScreenshot GetConsoleOutput",
        basis="aws.collection.ec2-console-screenshots",
    ),
    # -- exfiltration ----------------------------------------------------------------------------------
    _t(
        "exfiltration",
        "T1537",
        "Transfer Data to Cloud Account",
        "ec2",
        "ModifySnapshotAttribute",
        basis="aws.exfiltration.ec2-share-ebs-snapshot",
    ),
    _t(
        "exfiltration",
        "T1537",
        "Transfer Data to Cloud Account",
        "ec2",
        "ModifyImageAttribute",
        basis="aws.exfiltration.ec2-share-ami",
    ),
    _t(
        "exfiltration",
        "T1537",
        "Transfer Data to Cloud Account",
        "rds",
        "ModifyDBSnapshotAttribute ModifyDBClusterSnapshotAttribute",
        basis="aws.exfiltration.rds-share-snapshot",
    ),
    _t(
        "exfiltration",
        "T1537",
        "Transfer Data to Cloud Account",
        "s3",
        "PutBucketPolicy PutBucketAcl",
        basis="aws.exfiltration.s3-backdoor-bucket-policy",
    ),
    _t(
        "exfiltration",
        "T1537",
        "Transfer Data to Cloud Account",
        "kms",
        "CreateGrant PutKeyPolicy",
        basis="ATT&CK T1537",
    ),
    _t(
        "exfiltration",
        "T1537",
        "Transfer Data to Cloud Account",
        "ram",
        "CreateResourceShare AssociateResourceShare",
        basis="ATT&CK T1537",
    ),
    # -- impact ----------------------------------------------------------------------------------------
    _t(
        "impact",
        "T1485",
        "Data Destruction",
        "s3",
        "DeleteObjects DeleteObject DeleteBucket",
        basis="aws.impact.s3-ransomware-batch-deletion, aws.impact.s3-ransomware-individual-deletion",
    ),
    _t(
        "impact",
        "T1486",
        "Data Encrypted for Impact",
        "s3",
        "PutObject CopyObject CreateMultipartUpload",
        variant="sse_c",
        basis="aws.impact.s3-ransomware-client-side-encryption",
    ),
    _t(
        "impact",
        "T1485",
        "Data Destruction",
        "ec2",
        "DeregisterImage DeleteSnapshot DeleteVolume",
        basis="aws.impact.ec2-deregister-ami",
    ),
    _t(
        "impact",
        "T1485",
        "Data Destruction",
        "rds",
        "DeleteDBInstance DeleteDBCluster DeleteDBSnapshot",
        basis="ATT&CK T1485",
    ),
    _t("impact", "T1485", "Data Destruction", "kms", "ScheduleKeyDeletion DisableKey", basis="ATT&CK T1485"),
    _t(
        "impact",
        "T1490",
        "Inhibit System Recovery",
        "s3",
        "PutBucketVersioning DeleteBucketReplication",
        basis="ATT&CK T1490",
    ),
    _t(
        "impact",
        "T1490",
        "Inhibit System Recovery",
        "backup",
        "DeleteRecoveryPoint DeleteBackupVault",
        basis="ATT&CK T1490",
    ),
    _t(
        "impact",
        "T1496",
        "Resource Hijacking",
        "bedrock",
        "InvokeModel InvokeModelWithResponseStream Converse ConverseStream",
        basis="aws.impact.bedrock-invoke-model",
    ),
)

TACTICS = (
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "exfiltration",
    "impact",
)

# (event source, normalised event name, variant) → the rows it belongs to
_INDEX: dict[tuple[str, str, str | None], list[Technique]] = {}
for _row in TECHNIQUES:
    for _name in _row.events:
        _INDEX.setdefault((_row.source, _name, _row.variant), []).append(_row)

# the variants, as SQL over ``ct`` (our text only; no finding data)
VARIANT_SQL = (
    "CASE WHEN event_source = 's3.amazonaws.com' AND event_name IN ('PutObject', 'CopyObject', "
    "'CreateMultipartUpload') AND request_parameters LIKE '%server-side-encryption-customer-algorithm%' "
    "THEN 'sse_c' WHEN event_name IN ('ModifyInstanceAttribute', 'DescribeInstanceAttribute') "
    "AND request_parameters LIKE '%userData%' THEN 'user_data' END"
)


def rows_for(source: str | None, event_name: str | None, variant: str | None) -> list[Technique]:
    """The rows a call belongs to: its variant's rows, and its plain rows (a plain call has no variant)."""
    key = (source or "", normalise(event_name))
    rows = list(_INDEX.get((*key, None), []))
    if variant:
        rows += _INDEX.get((*key, variant), [])
    return rows


def techniques_from(
    calls: list[dict[str, Any]], resources: dict[str, list[str]] | None = None, iso: Any = str
) -> list[dict[str, Any]]:
    """One entry per (tactic, technique) seen, in tactic order then first time.

    ``calls``: rows with ``event_source``, ``event_name``, ``variant``, ``count``, ``errors``, ``first_seen``,
    ``last_seen``. ``resources``: normalised event name → resource ids those calls touched.
    """
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for call in calls:
        for row in rows_for(call.get("event_source"), call.get("event_name"), call.get("variant")):
            entry = found.setdefault(
                (row.tactic, row.technique_id),
                {
                    "tactic": row.tactic,
                    "technique_id": row.technique_id,
                    "technique": row.technique,
                    "event_names": [],
                    "count": 0,
                    "errors": 0,
                    "first": None,
                    "last": None,
                    "resources": [],
                    "basis": [],
                },
            )
            name = normalise(call.get("event_name"))
            if name not in entry["event_names"]:
                entry["event_names"].append(name)
            if row.basis and row.basis not in entry["basis"]:
                entry["basis"].append(row.basis)
            entry["count"] += int(call.get("count") or 0)
            entry["errors"] += int(call.get("errors") or 0)
            first, last = iso(call.get("first_seen")), iso(call.get("last_seen"))
            if first and (entry["first"] is None or first < entry["first"]):
                entry["first"] = first
            if last and (entry["last"] is None or last > entry["last"]):
                entry["last"] = last
            for rid in (resources or {}).get(name, []):
                if rid not in entry["resources"] and len(entry["resources"]) < 50:
                    entry["resources"].append(rid)
    order = {t: i for i, t in enumerate(TACTICS)}
    return sorted(found.values(), key=lambda e: (order.get(e["tactic"], 99), e["first"] or "", e["technique_id"]))


__all__ = [
    "NORMALISED_NAME",
    "TACTICS",
    "TECHNIQUES",
    "VARIANT_SQL",
    "Technique",
    "normalise",
    "rows_for",
    "techniques_from",
]
