"""The attack story: leaked key → recon with AccessDenied bursts → AssumeRole pivot → data access →
persistence (backdoor user and key, trust-policy change) → instance launch and egress → console login
of the backdoor user, commands on and SSH keys pushed to the instance → S3 ransomware (SSE-C re-encryption,
mass deletion), a bucket policy for an outside account, model invocations → logs blinded (event selectors,
flow logs, DNS query logs, the trail stopped).

Each ATT&CK tactic scope names (:mod:`responder.scope.techniques`) appears at least once; the ground truth
lists them (``tactics``). Every record it makes goes into the ground truth by eventID; the noise never
reuses its keys.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from .model import EgressTruth, GroundTruth, StoryParams
from .records import console_user, iam_user, key_id, record, role_session, ts

CONSOLE_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
ATTACKER_AGENT = "aws-cli/2.15.30 Python/3.11.8 Linux/6.6.9-amd64 exe/x86_64.kali.2024 prompt/off command/{}"
BACKDOOR_AGENT = "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.6.9 lang/python#3.11.8"


class Story:
    """Builds the story's CloudTrail records and flow-log lines and fills the ground truth."""

    def __init__(self, params: StoryParams, rng: random.Random, truth: GroundTruth) -> None:
        self.p = params
        self.rng = rng
        self.truth = truth
        self.records: list[dict[str, Any]] = []
        self.flows: list[tuple[str, str]] = []  # (region, line)

    def _add(self, rec: dict[str, Any]) -> dict[str, Any]:
        self.records.append(rec)
        self.truth.story_event_ids.append(rec["eventID"])
        name = rec["eventName"]
        self.truth.api_calls[name] = self.truth.api_calls.get(name, 0) + 1
        if rec.get("errorCode") == "AccessDenied":
            self.truth.access_denied += 1
        region = rec["awsRegion"]
        if region not in self.truth.regions:
            self.truth.regions.append(region)
        return rec

    def build(self) -> None:
        p, rng = self.p, self.rng
        acct, t = p.account_id, p.start
        leaked = iam_user(acct, p.user_name, p.access_key_id, "AIDA" + key_id(rng, "")[:17])
        self.truth.keys[p.access_key_id] = "leaked key (seed)"

        def cli(
            at: datetime,
            ident: dict[str, Any],
            source: str,
            name: str,
            *,
            region: str | None = None,
            ip: str | None = None,
            agent: str | None = None,
            **kw: Any,
        ) -> dict[str, Any]:
            return self._add(
                record(
                    rng,
                    at=at,
                    identity=ident,
                    source=source,
                    name=name,
                    region=region or p.region,
                    ip=ip or p.attacker_ip,
                    agent=agent or ATTACKER_AGENT.format(name.lower()),
                    account=acct,
                    **kw,
                )
            )

        # 1. the key is tried, then recon: AccessDenied bursts where the user's policy stops it
        cli(t, leaked, "sts.amazonaws.com", "GetCallerIdentity")
        step = t + timedelta(seconds=20)
        recon = [
            ("iam.amazonaws.com", "ListUsers", None, "AccessDenied"),
            ("iam.amazonaws.com", "GetAccountAuthorizationDetails", None, "AccessDenied"),
            ("iam.amazonaws.com", "ListAttachedUserPolicies", {"userName": p.user_name}, None),
            ("iam.amazonaws.com", "ListRoles", None, None),
            ("secretsmanager.amazonaws.com", "ListSecrets", None, "AccessDenied"),
            ("ssm.amazonaws.com", "DescribeParameters", None, "AccessDenied"),
            ("lambda.amazonaws.com", "ListFunctions20150331", None, "AccessDenied"),
            ("rds.amazonaws.com", "DescribeDBInstances", None, "AccessDenied"),
            ("kms.amazonaws.com", "ListKeys", None, "AccessDenied"),
            ("dynamodb.amazonaws.com", "ListTables", None, "AccessDenied"),
            ("organizations.amazonaws.com", "DescribeOrganization", None, "AccessDenied"),
            ("s3.amazonaws.com", "ListBuckets", None, None),
        ]
        for source, name, req, err in recon:
            cli(step, leaked, source, name, request=req, error=err)
            step += timedelta(seconds=rng.randint(1, 4))
        for region in (p.region, "us-west-2", "eu-west-1", "ap-southeast-1"):
            cli(
                step,
                leaked,
                "ec2.amazonaws.com",
                "DescribeInstances",
                region=region,
                request={"instancesSet": {}, "filterSet": {}},
            )
            step += timedelta(seconds=2)

        # 2. the pivot: the leaked user may assume an automation role
        t2 = t + timedelta(minutes=10)
        role_arn = f"arn:aws:iam::{acct}:role/{p.role_name}"
        session = f"botocore-session-{rng.randint(1_600_000_000, 1_700_000_000)}"
        role_id = "AROA" + key_id(rng, "")[:17]
        pivot_key = key_id(rng, "ASIA")
        self.truth.role_arn = role_arn
        self.truth.session_arn = f"arn:aws:sts::{acct}:assumed-role/{p.role_name}/{session}"
        self.truth.keys[pivot_key] = f"AssumeRole {role_arn} by {p.access_key_id}"
        cli(
            t2,
            leaked,
            "sts.amazonaws.com",
            "AssumeRole",
            request={"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600},
            response={
                "credentials": {
                    "accessKeyId": pivot_key,
                    "sessionToken": "IQoJb3JpZ2luX2VjE[redacted]",
                    "expiration": ts(t2 + timedelta(hours=1)),
                },
                "assumedRoleUser": {"assumedRoleId": f"{role_id}:{session}", "arn": self.truth.session_arn},
            },
            extra={"resources": [{"accountId": acct, "type": "AWS::IAM::Role", "ARN": role_arn}]},
        )
        sess = role_session(acct, p.role_name, session, pivot_key, role_id, t2)

        # 3. data access through the role
        t3 = t2 + timedelta(minutes=1)
        cli(t3, sess, "s3.amazonaws.com", "ListBuckets")
        cli(
            t3 + timedelta(seconds=5),
            sess,
            "s3.amazonaws.com",
            "ListObjects",
            request={"bucketName": p.bucket, "Host": f"{p.bucket}.s3.amazonaws.com", "list-type": "2"},
            extra={"resources": [{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{p.bucket}"}]},
        )
        self.truth.buckets.append(p.bucket)
        at = t3 + timedelta(seconds=20)
        for index in range(1, 9):
            obj = f"exports/2026/customers-{index:04d}.csv.gz"
            size = 48_000_000 + index * 1_000_003
            cli(
                at,
                sess,
                "s3.amazonaws.com",
                "GetObject",
                request={"bucketName": p.bucket, "key": obj, "Host": f"{p.bucket}.s3.amazonaws.com"},
                extra={
                    "additionalEventData": {"bytesTransferredOut": float(size), "x-amz-id-2": "story"},
                    "resources": [
                        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{p.bucket}/{obj}"},
                        {"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{p.bucket}"},
                    ],
                },
            )
            self.truth.objects_read.append(f"{p.bucket}/{obj}")
            at += timedelta(seconds=rng.randint(3, 9))
        secret = f"arn:aws:secretsmanager:{p.region}:{acct}:secret:prod/payments/stripe-api-key-Ab12Cd"
        cli(at, sess, "secretsmanager.amazonaws.com", "GetSecretValue", request={"secretId": secret})
        self.truth.secrets_read.append(secret)
        cli(
            at + timedelta(seconds=4),
            sess,
            "ssm.amazonaws.com",
            "GetParameter",
            request={"name": "/prod/db/master-password", "withDecryption": True},
        )
        self.truth.secrets_read.append("/prod/db/master-password")
        batch = [f"arn:aws:secretsmanager:{p.region}:{acct}:secret:prod/crm/api-token-Zx81Qa", "prod/smtp/relay"]
        cli(
            at + timedelta(seconds=5),
            sess,
            "secretsmanager.amazonaws.com",
            "BatchGetSecretValue",
            request={"secretIdList": batch},
        )
        params = ["/prod/app/jwt-signing-key", "/prod/app/oauth-client-secret"]
        cli(
            at + timedelta(seconds=5),
            sess,
            "ssm.amazonaws.com",
            "GetParameters",
            request={"names": params, "withDecryption": True},
        )
        self.truth.secrets_read += batch + params
        cli(
            at + timedelta(seconds=6),
            sess,
            "kms.amazonaws.com",
            "Decrypt",
            request={
                "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                "keyId": f"arn:aws:kms:{p.region}:{acct}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            },
            extra={
                "resources": [
                    {
                        "accountId": acct,
                        "type": "AWS::KMS::Key",
                        "ARN": f"arn:aws:kms:{p.region}:{acct}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                    }
                ]
            },
        )

        # 4. persistence: a backdoor user with a key and a password, admin, and a trust-policy backdoor
        t4 = t2 + timedelta(minutes=15)
        backdoor_key = key_id(rng, "AKIA")
        self.truth.keys[backdoor_key] = f"CreateAccessKey for {p.backdoor_user} by {pivot_key}"
        user_arn = f"arn:aws:iam::{acct}:user/{p.backdoor_user}"
        persistence = [
            (
                "CreateUser",
                {"userName": p.backdoor_user},
                {
                    "user": {
                        "userName": p.backdoor_user,
                        "arn": user_arn,
                        "userId": "AIDA" + key_id(rng, "")[:17],
                        "createDate": "Nov 20, 2026 2:35:00 PM",
                        "path": "/",
                    }
                },
            ),
            (
                "AttachUserPolicy",
                {"userName": p.backdoor_user, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
                None,
            ),
            (
                "CreateAccessKey",
                {"userName": p.backdoor_user},
                {
                    "accessKey": {
                        "accessKeyId": backdoor_key,
                        "status": "Active",
                        "userName": p.backdoor_user,
                        "createDate": "Nov 20, 2026 2:35:10 PM",
                    }
                },
            ),
            (
                "CreateLoginProfile",
                {"userName": p.backdoor_user, "passwordResetRequired": False},
                {"loginProfile": {"userName": p.backdoor_user, "passwordResetRequired": False}},
            ),
            (
                "UpdateAssumeRolePolicy",
                {
                    "roleName": p.role_name,
                    # the backdoor is added beside the role's own trust (as Stratus Red Team's iam-backdoor-role)
                    "policyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
                    '{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":'
                    f'{{"AWS":"arn:aws:iam::{p.external_account}:root"}},'
                    '"Action":"sts:AssumeRole"}]}',
                },
                None,
            ),
        ]
        at = t4
        for name, req, resp in persistence:
            cli(at, sess, "iam.amazonaws.com", name, request=req, response=resp, read_only=False)
            self.truth.persistence.append(name)
            if name == "UpdateAssumeRolePolicy":
                self.truth.external_accounts.append(p.external_account)
            at += timedelta(seconds=rng.randint(4, 12))

        # 5. the backdoor key, from a second address: launch an instance, share a snapshot
        t5 = t4 + timedelta(minutes=10)
        backdoor = iam_user(acct, p.backdoor_user, backdoor_key, "AIDA" + key_id(rng, "")[:17])
        cli(t5, backdoor, "sts.amazonaws.com", "GetCallerIdentity", ip=p.second_ip, agent=BACKDOOR_AGENT)
        instance_id = "i-0" + f"{rng.getrandbits(64):016x}"
        eni = "eni-0" + f"{rng.getrandbits(64):016x}"
        ip = f"10.20.{rng.randint(1, 250)}.{rng.randint(4, 250)}"
        self.truth.instance_id, self.truth.eni, self.truth.instance_ip = instance_id, eni, ip
        cli(
            t5 + timedelta(seconds=30),
            backdoor,
            "ec2.amazonaws.com",
            "RunInstances",
            region="us-west-2",
            ip=p.second_ip,
            agent=BACKDOOR_AGENT,
            read_only=False,
            request={
                "instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": 1, "maxCount": 1}]},
                "instanceType": "c5.4xlarge",
            },
            response={
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": instance_id,
                            "imageId": "ami-0abcdef1234567890",
                            "privateIpAddress": ip,
                            "networkInterfaceSet": {"items": [{"networkInterfaceId": eni, "privateIpAddress": ip}]},
                        }
                    ]
                }
            },
        )
        snapshot = "snap-0" + f"{rng.getrandbits(64):016x}"
        self.truth.snapshot_id = snapshot
        cli(
            t5 + timedelta(seconds=50),
            backdoor,
            "ec2.amazonaws.com",
            "ModifySnapshotAttribute",
            ip=p.second_ip,
            agent=BACKDOOR_AGENT,
            read_only=False,
            request={
                "snapshotId": snapshot,
                "attributeType": "CREATE_VOLUME_PERMISSION",
                "createVolumePermission": {"add": {"items": [{"userId": p.external_account}]}},
            },
            response={"_return": True},
        )
        self.truth.persistence.append("ModifySnapshotAttribute")
        self.truth.external_accounts.append(p.external_account)
        self._later_tactics(t5, backdoor, user_arn, instance_id, sess, cli)
        self.truth.first_activity = t
        self.truth.last_activity = max(
            datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00")) for r in self.records
        )

        # 6. egress from the new instance to the attacker, and rejected probes at it
        start = int((t5 + timedelta(minutes=2)).timestamp())
        total_bytes = total_packets = 0
        for index in range(12):
            packets = 40_000 + index * 1_117
            size = packets * 1_400
            total_bytes += size
            total_packets += packets
            s = start + index * 60
            self.flows.append(
                (
                    "us-west-2",
                    f"2 {acct} {eni} {ip} {p.attacker_ip} {40000 + index} 4444 6 "
                    f"{packets} {size} {s} {s + 59} ACCEPT OK",
                )
            )
        self.truth.egress.append(
            EgressTruth(destination=p.attacker_ip, port=4444, bytes=total_bytes, packets=total_packets)
        )
        for index in range(6):
            s = start - 90 + index * 10
            self.flows.append(
                ("us-west-2", f"2 {acct} {eni} {p.attacker_ip} {ip} {50000 + index} 22 6 1 60 {s} {s + 30} REJECT OK")
            )

    def _later_tactics(
        self, t5: datetime, backdoor: dict[str, Any], user_arn: str, instance_id: str, sess: dict[str, Any], cli: Any
    ) -> None:
        """Initial access, execution, lateral movement, impact and defense evasion, in that order."""
        p, rng, acct = self.p, self.rng, self.p.account_id
        # initial access: the backdoor user signs in to the console (no MFA) and works from there
        t6 = t5 + timedelta(minutes=3)
        login = {k: v for k, v in backdoor.items() if k != "accessKeyId"}
        self._add(
            record(
                rng,
                at=t6,
                identity=login,
                source="signin.amazonaws.com",
                name="ConsoleLogin",
                region=p.region,
                ip=p.second_ip,
                agent=CONSOLE_AGENT,
                account=acct,
                read_only=False,
                response={"ConsoleLogin": "Success"},
                extra={
                    "additionalEventData": {
                        "MFAUsed": "No",
                        "MobileVersion": "No",
                        "LoginTo": "https://console.aws.amazon.com/console/home",
                    },
                    "eventType": "AwsConsoleSignIn",
                },
            )
        )
        console_key = key_id(rng, "ASIA")
        self.truth.keys[console_key] = f"console session of {user_arn}"
        console = console_user(acct, p.backdoor_user, console_key, backdoor["principalId"], t6)
        extra = {"sessionCredentialFromConsole": "true"}
        # execution and lateral movement on the instance the backdoor key launched
        cli(
            t6 + timedelta(seconds=40),
            console,
            "ssm.amazonaws.com",
            "SendCommand",
            region="us-west-2",
            ip=p.second_ip,
            agent=CONSOLE_AGENT,
            read_only=False,
            extra=extra,
            request={
                "instanceIds": [instance_id],
                "documentName": "AWS-RunShellScript",
                "parameters": "HIDDEN_DUE_TO_SECURITY_REASONS",
            },
            response={"command": {"commandId": "7f3e0c7a-story", "documentName": "AWS-RunShellScript"}},
        )
        cli(
            t6 + timedelta(seconds=55),
            console,
            "ec2-instance-connect.amazonaws.com",
            "SendSSHPublicKey",
            region="us-west-2",
            ip=p.second_ip,
            agent=CONSOLE_AGENT,
            read_only=False,
            extra=extra,
            request={
                "instanceId": instance_id,
                "instanceOSUser": "ec2-user",
                "sSHPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStory attacker",
            },
            response={"success": True},
        )
        # impact through the role session: re-encrypt with a key only the attacker has, then delete
        t7 = t5 + timedelta(minutes=6)
        at = t7
        for index in range(1, 4):
            obj = f"exports/2026/customers-{index:04d}.csv.gz"
            cli(
                at,
                sess,
                "s3.amazonaws.com",
                "CopyObject",
                read_only=False,
                request={
                    "bucketName": p.bucket,
                    "key": obj,
                    "Host": f"{p.bucket}.s3.amazonaws.com",
                    "x-amz-copy-source": f"{p.bucket}/{obj}",
                    "x-amz-server-side-encryption-customer-algorithm": "AES256",
                },
                extra={
                    "additionalEventData": {"SSEApplied": "SSE_C", "x-amz-id-2": "story"},
                    "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{p.bucket}/{obj}"}],
                },
            )
            self.truth.objects_encrypted.append(f"{p.bucket}/{obj}")
            at += timedelta(seconds=2)
        cli(
            at + timedelta(seconds=5),
            sess,
            "s3.amazonaws.com",
            "DeleteObjects",
            read_only=False,
            request={"bucketName": p.bucket, "Host": f"{p.bucket}.s3.amazonaws.com", "delete": ""},
            extra={"resources": [{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{p.bucket}"}]},
        )
        self.truth.objects_deleted.append(f"{p.bucket}/* (DeleteObjects)")
        # exfiltration by policy: the bucket readable from the attacker's account
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{p.external_account}:root"},
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{p.bucket}", f"arn:aws:s3:::{p.bucket}/*"],
                }
            ],
        }
        cli(
            at + timedelta(seconds=20),
            sess,
            "s3.amazonaws.com",
            "PutBucketPolicy",
            read_only=False,
            request={
                "bucketName": p.bucket,
                "Host": f"{p.bucket}.s3.amazonaws.com",
                "bucketPolicy": policy,
                "policy": "",
            },
        )
        self.truth.persistence.append("PutBucketPolicy")
        self.truth.external_accounts.append(p.external_account)
        # resource hijacking: model invocations on the victim's bill
        for index in range(3):
            cli(
                at + timedelta(seconds=40 + index * 3),
                sess,
                "bedrock.amazonaws.com",
                "InvokeModel",
                request={"modelId": "anthropic.claude-3-haiku-20240307-v1:0"},
            )
        # defense evasion last: the logs that would show the rest are blinded, then the trail stops
        t8 = t5 + timedelta(minutes=9)
        trail = f"arn:aws:cloudtrail:{p.region}:{acct}:trail/management-events"
        evasion = [
            (
                "cloudtrail.amazonaws.com",
                "PutEventSelectors",
                {
                    "trailName": trail,
                    "eventSelectors": [
                        {
                            "readWriteType": "ReadOnly",
                            "includeManagementEvents": False,
                            "dataResources": [],
                            "excludeManagementEventSources": [],
                        }
                    ],
                },
            ),
            (
                "ec2.amazonaws.com",
                "DeleteFlowLogs",
                {"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": "fl-0a1b2c3d4e5f67890"}}},
            ),
            (
                "route53resolver.amazonaws.com",
                "DeleteResolverQueryLogConfig",
                {"resolverQueryLogConfigId": "rqlc-4b1f0e2a9c7d5e31"},
            ),
            ("cloudtrail.amazonaws.com", "StopLogging", {"name": trail}),
        ]
        at = t8
        for source, name, req in evasion:
            cli(at, sess, source, name, request=req, read_only=False)
            self.truth.persistence.append(name)
            at += timedelta(seconds=rng.randint(3, 8))
        self.truth.tactics = [
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
        ]

    def trap(self, benign_user: dict[str, Any]) -> list[dict[str, Any]]:
        """Benign records from the attacker's address by someone else (the Story B trap)."""
        out = []
        for index in range(5):
            rec = record(
                self.rng,
                at=self.p.start + timedelta(minutes=3 + index),
                identity=benign_user,
                source="ec2.amazonaws.com",
                name="DescribeInstances",
                region=self.p.region,
                ip=self.p.attacker_ip,
                agent="console.ec2.amazonaws.com",
                account=self.p.account_id,
                request={"instancesSet": {}, "filterSet": {}},
            )
            self.truth.trap_event_ids.append(rec["eventID"])
            out.append(rec)
        return out


__all__ = ["Story", "console_user"]
