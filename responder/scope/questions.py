"""The scope questions, each defined once, over two normalised relations.

``ct``: one row per CloudTrail record — ``log_day`` ('YYYY/MM/DD', the delivery folder), ``event_time``
(UTC), ``event_source``, ``event_name``, ``aws_region``, ``source_ip``, ``user_agent``, ``error_code``,
``identity_type``, ``principal_arn``, ``access_key_id``, ``issuer_arn``, ``user_name``, and
``request_parameters`` / ``response_elements`` / ``additional_event_data`` kept as JSON text because their
shape changes per event (as in the Athena table).
``flow``: one row per flow-log record — ``log_day``, ``interface_id``, ``srcaddr``, ``dstaddr``,
``srcport``, ``dstport``, ``protocol``, ``packets``, ``bytes``, ``start_time``, ``action``, ``log_status``.

The subject is ``$keys`` (access key ids), ``$principals`` (principal ARNs) and ``$roles`` (role ARNs,
matched against the session issuer). Nothing from a finding is ever part of this text.
"""

from __future__ import annotations

from .sql import Question
from .techniques import NORMALISED_NAME, VARIANT_SQL

WINDOW = "event_time >= $since AND event_time < $until AND log_day BETWEEN $since_day AND $until_day"
ATTRIBUTED = "(access_key_id IN ($keys) OR principal_arn IN ($principals) OR issuer_arn IN ($roles))"
SUBJECT = f"SELECT * FROM ct WHERE {ATTRIBUTED} AND {WINDOW}"
DENIED = (
    "(error_code LIKE '%AccessDenied%' OR error_code LIKE '%UnauthorizedOperation%' "
    "OR error_code LIKE '%Unauthorized%' OR error_code = 'Forbidden')"
)

# Calls that hand out credentials: their new key belongs to whoever called (a backdoor user's key too).
MINTING = (
    "'AssumeRole', 'GetSessionToken', 'GetFederationToken', 'AssumeRoleWithWebIdentity', "
    "'AssumeRoleWithSAML', 'CreateAccessKey'"
)
MINTED_KEY = (
    "coalesce(json_extract_string(response_elements, '$.credentials.accessKeyId'), "
    "json_extract_string(response_elements, '$.accessKey.accessKeyId'))"
)
PERSISTENCE = (
    "'CreateUser', 'CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile', 'AttachUserPolicy', "
    "'PutUserPolicy', 'AddUserToGroup', 'AttachGroupPolicy', 'PutGroupPolicy', 'CreateRole', "
    "'AttachRolePolicy', 'PutRolePolicy', 'UpdateAssumeRolePolicy', 'CreatePolicy', "
    "'CreatePolicyVersion', 'SetDefaultPolicyVersion', 'CreateSAMLProvider', 'UpdateSAMLProvider', "
    "'CreateOpenIDConnectProvider', 'CreateVirtualMFADevice', 'EnableMFADevice', "
    "'DeactivateMFADevice', 'CreateServiceSpecificCredential', 'UploadSSHPublicKey', "
    "'ModifySnapshotAttribute', 'ModifyImageAttribute', 'PutBucketPolicy', 'PutBucketAcl', "
    "'ModifyDBSnapshotAttribute', 'CreateFunction20150331', 'UpdateFunctionCode20150331v2', "
    "'CreateEventSubscription', 'PutRule', 'CreateTrail', 'StopLogging', 'DeleteTrail'"
)


def _rp(path: str) -> str:
    return f"json_extract_string(request_parameters, '$.{path}')"


def _re(path: str) -> str:
    return f"json_extract_string(response_elements, '$.{path}')"


IDENTITIES = Question(
    "identities",
    "ct",
    f"""
SELECT access_key_id, principal_arn, identity_type, issuer_arn, user_name, count(*) AS count,
       min(event_time) AS first_seen, max(event_time) AS last_seen
FROM ct WHERE {ATTRIBUTED} AND {WINDOW}
GROUP BY access_key_id, principal_arn, identity_type, issuer_arn, user_name
ORDER BY count DESC""",
    "Which keys and principals the subject's records carry.",
)

PIVOTS = Question(
    "pivots",
    "ct",
    f"""
SELECT event_time, event_name, event_id, access_key_id AS from_key, principal_arn AS by_principal,
       {MINTED_KEY} AS new_key,
       {_rp("roleArn")} AS role_arn, {_rp("roleSessionName")} AS session_name,
       {_re("assumedRoleUser.arn")} AS session_arn,
       coalesce({_rp("userName")}, {_re("accessKey.userName")}) AS for_user,
       {_re("federatedUser.arn")} AS federated_arn
FROM ct WHERE {ATTRIBUTED} AND {WINDOW} AND event_name IN ({MINTING}) AND error_code IS NULL
ORDER BY event_time""",
    "Credentials the subject obtained or minted (followed transitively).",
)

CREATED_USERS = Question(
    "created_users",
    "ct",
    f"""
SELECT DISTINCT 'arn:aws:iam::' || recipient_account_id || ':user/' || {_rp("userName")} AS user_arn,
       min(event_time) AS created, min(event_id) AS event_id, min(access_key_id) AS by_key
FROM ct WHERE {ATTRIBUTED} AND {WINDOW} AND event_name = 'CreateUser' AND error_code IS NULL
  AND {_rp("userName")} IS NOT NULL AND recipient_account_id IS NOT NULL
GROUP BY 1""",
    "Users the subject created: whatever they do (a console sign-in too) is the subject's.",
)

ISSUANCE = Question(
    "issuance",
    "ct",
    f"""
SELECT event_time, event_name, event_id, {MINTED_KEY} AS new_key, identity_type AS issued_to_type,
       coalesce(invoked_by, principal_arn, source_ip) AS issued_by,
       {_rp("roleArn")} AS role_arn, {_rp("roleSessionName")} AS session_name,
       {_re("assumedRoleUser.arn")} AS session_arn, {_rp("userName")} AS for_user
FROM ct WHERE event_name IN ({MINTING}) AND error_code IS NULL AND {MINTED_KEY} IN ($keys)
  AND event_time >= $since AND event_time < $until AND log_day BETWEEN $since_day AND $until_day
ORDER BY event_time""",
    "Who issued the subject's keys: resolves an ASIA key to its role session.",
)

CONSOLE = Question(
    "console_sessions",
    "ct",
    f"""
SELECT access_key_id, principal_arn, count(*) AS count, min(event_time) AS first_seen
FROM ct WHERE principal_arn IN ($users) AND identity_type = 'IAMUser' AND access_key_id LIKE 'ASIA%'
  AND {WINDOW}
GROUP BY access_key_id, principal_arn ORDER BY first_seen""",
    "Console (and session-token) sessions of users.",
)

COUNTS = Question(
    "counts",
    "ct",
    f"""
SELECT count(*) AS events, count(error_code) AS errors, count(*) FILTER (WHERE {DENIED}) AS access_denied,
       min(event_time) AS first_activity, max(event_time) AS last_activity
FROM ct WHERE {ATTRIBUTED} AND {WINDOW}""",
)

TIMELINE = Question(
    "timeline",
    "ct",
    f"""
SELECT event_time, event_source, event_name, aws_region, source_ip, user_agent, error_code, access_key_id,
       principal_arn, identity_type, event_id, request_parameters, response_elements
FROM ct WHERE {ATTRIBUTED} AND {WINDOW}
ORDER BY event_time, event_id""",
    "Every record attributed to the subject, in time order.",
)

API_CALLS = Question(
    "api_calls",
    "ct",
    f"""
SELECT event_source, event_name, count(*) AS count, count(error_code) AS errors,
       count(*) FILTER (WHERE {DENIED}) AS access_denied, min(event_time) AS first_seen,
       max(event_time) AS last_seen
FROM ct WHERE {ATTRIBUTED} AND {WINDOW}
GROUP BY event_source, event_name
ORDER BY count DESC, event_source, event_name""",
    "API calls by service and name with error counts.",
)

DENIED_BURSTS = Question(
    "denied_bursts",
    "ct",
    f"""
SELECT date_trunc('minute', event_time) AS minute, count(*) AS denied, count(DISTINCT event_name) AS apis
FROM ct WHERE {ATTRIBUTED} AND {WINDOW} AND {DENIED}
GROUP BY date_trunc('minute', event_time)
HAVING count(*) >= 3
ORDER BY minute""",
    "Minutes with three or more denied calls: recon.",
)

REGIONS = Question(
    "regions",
    "ct",
    f"""
SELECT aws_region AS region, count(*) AS count
FROM ct WHERE {ATTRIBUTED} AND {WINDOW}
GROUP BY aws_region ORDER BY count DESC, region""",
)

SOURCE_IPS = Question(
    "source_ips",
    "ct",
    f"""
SELECT source_ip AS ip, count(*) AS count, array_agg(DISTINCT user_agent ORDER BY user_agent) AS user_agents,
       min(event_time) AS first_seen, max(event_time) AS last_seen
FROM ct WHERE {ATTRIBUTED} AND {WINDOW}
GROUP BY source_ip ORDER BY count DESC, ip""",
)

_RESOURCE_KIND = f"""CASE
  WHEN event_source = 's3.amazonaws.com' AND {_rp("key")} IS NOT NULL THEN 's3_object'
  WHEN event_source = 's3.amazonaws.com' AND {_rp("bucketName")} IS NOT NULL THEN 's3_bucket'
  WHEN event_source = 's3.amazonaws.com' AND event_name = 'ListBuckets' THEN 's3_bucket_list'
  WHEN event_source = 'secretsmanager.amazonaws.com' AND {_rp("secretId")} IS NOT NULL THEN 'secret'
  WHEN event_source = 'ssm.amazonaws.com' AND {_rp("name")} IS NOT NULL THEN 'parameter'
  WHEN event_source = 'kms.amazonaws.com' AND event_name IN ('Decrypt', 'GenerateDataKey', 'ReEncrypt')
    THEN 'kms_key'
  WHEN event_name IN ('ModifySnapshotAttribute', 'CreateSnapshot', 'CopySnapshot') THEN 'snapshot'
  WHEN event_name IN ('ModifyImageAttribute', 'CreateImage', 'CopyImage') THEN 'image'
  WHEN event_name = 'RunInstances' THEN 'instance'
  WHEN event_source = 'ecr.amazonaws.com' AND {_rp("repositoryName")} IS NOT NULL THEN 'ecr_repository'
  WHEN event_source = 'lambda.amazonaws.com' AND {_rp("functionName")} IS NOT NULL THEN 'lambda_function'
  WHEN event_source = 'iam.amazonaws.com' AND {_rp("userName")} IS NOT NULL THEN 'iam_user'
  WHEN event_source = 'iam.amazonaws.com' AND {_rp("roleName")} IS NOT NULL THEN 'iam_role'
  WHEN event_source = 'sts.amazonaws.com' AND {_rp("roleArn")} IS NOT NULL THEN 'iam_role'
  WHEN event_source = 'dynamodb.amazonaws.com' AND {_rp("tableName")} IS NOT NULL THEN 'dynamodb_table'
END"""
_RESOURCE_ID = f"""CASE
  WHEN event_source = 's3.amazonaws.com' AND {_rp("key")} IS NOT NULL
    THEN {_rp("bucketName")} || '/' || {_rp("key")}
  WHEN event_source = 's3.amazonaws.com' AND {_rp("bucketName")} IS NOT NULL THEN {_rp("bucketName")}
  WHEN event_source = 's3.amazonaws.com' THEN '*'
  WHEN event_source = 'secretsmanager.amazonaws.com' THEN {_rp("secretId")}
  WHEN event_source = 'ssm.amazonaws.com' THEN {_rp("name")}
  WHEN event_source = 'kms.amazonaws.com' THEN coalesce({_rp("keyId")}, '(key from ciphertext)')
  WHEN event_name IN ('ModifySnapshotAttribute', 'CopySnapshot') THEN {_rp("snapshotId")}
  WHEN event_name = 'CreateSnapshot' THEN coalesce({_re("snapshotId")}, {_rp("volumeId")})
  WHEN event_name IN ('ModifyImageAttribute', 'CreateImage', 'CopyImage')
    THEN coalesce({_rp("imageId")}, {_re("imageId")})
  WHEN event_name = 'RunInstances' THEN coalesce({_re("instancesSet.items[0].instanceId")}, '(failed launch)')
  WHEN event_source = 'ecr.amazonaws.com' THEN {_rp("repositoryName")}
  WHEN event_source = 'lambda.amazonaws.com' THEN {_rp("functionName")}
  WHEN event_source = 'iam.amazonaws.com' THEN coalesce({_rp("userName")}, {_rp("roleName")})
  WHEN event_source = 'sts.amazonaws.com' THEN {_rp("roleArn")}
  WHEN event_source = 'dynamodb.amazonaws.com' THEN {_rp("tableName")}
END"""
_BYTES_OUT = "TRY_CAST(json_extract_string(additional_event_data, '$.bytesTransferredOut') AS DOUBLE)"

RESOURCES = Question(
    "resources",
    "ct",
    f"""
SELECT kind, id, array_agg(DISTINCT event_name ORDER BY event_name) AS actions, count(*) AS count,
       count(error_code) AS errors, CAST(coalesce(sum(bytes_out), 0) AS BIGINT) AS bytes_out,
       min(event_time) AS first_seen, max(event_time) AS last_seen
FROM (SELECT {_RESOURCE_KIND} AS kind, {_RESOURCE_ID} AS id, event_name, error_code, event_time,
             {_BYTES_OUT} AS bytes_out
      FROM ct WHERE {ATTRIBUTED} AND {WINDOW}) touched
WHERE kind IS NOT NULL AND id IS NOT NULL
GROUP BY kind, id ORDER BY kind, count DESC, id""",
    "What the subject touched: objects, secrets, keys, ...",
)

INSTANCES = Question(
    "instances",
    "ct",
    f"""
SELECT event_time, aws_region, {_re("instancesSet.items[0].instanceId")} AS instance_id,
       {_re("instancesSet.items[0].networkInterfaceSet.items[0].networkInterfaceId")} AS interface_id,
       {_re("instancesSet.items[0].privateIpAddress")} AS private_ip
FROM ct WHERE {ATTRIBUTED} AND {WINDOW} AND event_name = 'RunInstances' AND error_code IS NULL
ORDER BY event_time""",
    "Instances the subject launched: their interfaces lead into the flow logs.",
)

PERSISTENCE_Q = Question(
    "persistence",
    "ct",
    f"""
SELECT event_time AS time, event_name, event_source,
       coalesce({_rp("userName")}, {_rp("roleName")}, {_rp("groupName")}, {_rp("policyArn")},
                {_rp("snapshotId")}, {_rp("imageId")}, {_rp("bucketName")}, {_rp("functionName")},
                {_rp("name")}, {_rp("policyName")}, {_re("role.arn")}, {_re("policy.arn")}) AS target,
       {_rp("policyArn")} AS policy_arn, {MINTED_KEY} AS new_key, error_code, access_key_id, event_id
FROM ct WHERE {ATTRIBUTED} AND {WINDOW} AND event_name IN ({PERSISTENCE})
ORDER BY event_time""",
    "New users, keys, roles, policies, login profiles, trust changes, sharing.",
)

ACTOR_ACTIVITY = Question(
    "actor_activity",
    "ct",
    f"""
SELECT source_ip AS ip, identity_type, principal_arn, access_key_id, event_source, event_name, error_code,
       count(*) AS count, min(event_time) AS first_seen, max(event_time) AS last_seen
FROM ct WHERE source_ip IN ($ips) AND {WINDOW}
GROUP BY source_ip, identity_type, principal_arn, access_key_id, event_source, event_name, error_code
ORDER BY first_seen""",
    "Everything from the finding's actor addresses, whoever signed it (anonymous too).",
)

FLOW_WINDOW = (
    "(start_time IS NULL OR (start_time >= $since AND start_time < $until)) "
    "AND log_day BETWEEN $since_day AND $until_day"
)
AFFECTED = "(interface_id IN ($enis) OR srcaddr IN ($local_ips) OR dstaddr IN ($actor_ips))"

EGRESS = Question(
    "egress",
    "flow",
    f"""
SELECT dstaddr AS destination, dstport AS port, CAST(sum(bytes) AS BIGINT) AS bytes,
       CAST(sum(packets) AS BIGINT) AS packets, count(*) AS flows, min(start_time) AS first_seen,
       max(start_time) AS last_seen
FROM flow WHERE action = 'ACCEPT' AND {AFFECTED} AND NOT coalesce(dstaddr IN ($local_ips), FALSE) AND {FLOW_WINDOW}
GROUP BY dstaddr, dstport ORDER BY bytes DESC, destination, port""",
    "Bytes out by destination.",
)

REJECTED = Question(
    "rejected",
    "flow",
    f"""
SELECT srcaddr AS source, dstaddr AS destination, dstport AS port, count(*) AS flows,
       CAST(sum(packets) AS BIGINT) AS packets
FROM flow WHERE action = 'REJECT'
  AND (interface_id IN ($enis) OR dstaddr IN ($local_ips) OR srcaddr IN ($actor_ips)) AND {FLOW_WINDOW}
GROUP BY srcaddr, dstaddr, dstport ORDER BY flows DESC, source, destination, port""",
)

UNUSUAL_PORTS = Question(
    "unusual_ports",
    "flow",
    f"""
SELECT dstaddr AS destination, dstport AS port, protocol, CAST(sum(bytes) AS BIGINT) AS bytes, count(*) AS flows
FROM flow WHERE action = 'ACCEPT' AND {AFFECTED}
  AND dstport NOT IN (22, 53, 80, 123, 443, 3306, 5432, 6379, 8080, 8443) AND dstport < 32768
  AND {FLOW_WINDOW}
GROUP BY dstaddr, dstport, protocol ORDER BY bytes DESC, destination, port""",
)

ACTOR_FLOWS = Question(
    "actor_flows",
    "flow",
    f"""
SELECT srcaddr AS source, dstaddr AS destination, dstport AS port, action, count(*) AS flows,
       CAST(sum(bytes) AS BIGINT) AS bytes, CAST(sum(packets) AS BIGINT) AS packets
FROM flow WHERE (srcaddr IN ($actor_ips) OR dstaddr IN ($actor_ips)) AND {FLOW_WINDOW}
GROUP BY srcaddr, dstaddr, dstport, action ORDER BY bytes DESC, source, destination""",
)

TECHNIQUE_CALLS = Question(
    "technique_calls",
    "ct",
    f"""
SELECT event_source, {NORMALISED_NAME} AS event_name, variant, count(*) AS count, count(error_code) AS errors,
       min(event_time) AS first_seen, max(event_time) AS last_seen
FROM (SELECT event_source, event_name, error_code, event_time, {VARIANT_SQL} AS variant
      FROM ct WHERE {ATTRIBUTED} AND {WINDOW}) calls
GROUP BY event_source, {NORMALISED_NAME}, variant
ORDER BY first_seen""",
    "Calls by source, normalised name and variant: what the ATT&CK table is matched against.",
)

ATTRIBUTION = Question(
    "attribution",
    "ct",
    f"""
SELECT event_time AS time, event_source, event_name, aws_region AS region, error_code, access_key_id,
       principal_arn, event_id, recipient_account_id, request_parameters, response_elements
FROM ct WHERE {ATTRIBUTED} AND {WINDOW} AND {NORMALISED_NAME} IN ($names)
ORDER BY event_time, event_id
LIMIT 5000""",
    "The records whose request names what the subject left behind (see scope.attribution).",
)

SSE_C_WRITES = Question(
    "sse_c_writes",
    "ct",
    f"""
SELECT {_rp("bucketName")} || '/' || {_rp("key")} AS object, count(*) AS count, min(event_time) AS first_seen
FROM ct WHERE {ATTRIBUTED} AND {WINDOW} AND event_source = 's3.amazonaws.com'
  AND event_name IN ('PutObject', 'CopyObject', 'CreateMultipartUpload') AND error_code IS NULL
  AND request_parameters LIKE '%server-side-encryption-customer-algorithm%'
GROUP BY 1 ORDER BY first_seen, object
LIMIT 1000""",
    "Objects rewritten with a customer-provided key: the S3 ransomware re-encryption.",
)

BUCKET_ACCESS = Question(
    "bucket_access",
    "ct",
    f"""
SELECT {_rp("bucketName")} AS bucket, principal_arn, access_key_id, identity_type,
       array_agg(DISTINCT event_name ORDER BY event_name) AS actions,
       array_agg(DISTINCT source_ip ORDER BY source_ip) AS source_ips, count(*) AS count,
       count(error_code) AS errors, CAST(coalesce(sum({_BYTES_OUT}), 0) AS BIGINT) AS bytes_out,
       min(event_time) AS first_seen, max(event_time) AS last_seen
FROM ct WHERE event_source = 's3.amazonaws.com' AND {_rp("bucketName")} IN ($buckets) AND {WINDOW}
GROUP BY 1, principal_arn, access_key_id, identity_type
ORDER BY count DESC, principal_arn
LIMIT 500""",
    "Who read and wrote the buckets (any principal, anonymous too): the bucket's readers and writers.",
)

ALL: tuple[Question, ...] = (
    IDENTITIES,
    PIVOTS,
    ISSUANCE,
    CONSOLE,
    COUNTS,
    TIMELINE,
    API_CALLS,
    DENIED_BURSTS,
    REGIONS,
    SOURCE_IPS,
    RESOURCES,
    INSTANCES,
    PERSISTENCE_Q,
    ACTOR_ACTIVITY,
    EGRESS,
    REJECTED,
    UNUSUAL_PORTS,
    ACTOR_FLOWS,
    TECHNIQUE_CALLS,
    ATTRIBUTION,
    SSE_C_WRITES,
)
BY_NAME = {q.name: q for q in ALL}
