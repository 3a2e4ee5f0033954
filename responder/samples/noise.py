"""Benign activity from many principals: IAM users, role sessions (with the AssumeRole that issued each),
AWS services and console users, over the APIs a working estate calls.

It shares the story's role, bucket and region and even its source address (a trap), so only the
keys and their pivots separate attacker from everyone else.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .model import StoryParams
from .records import console_user, iam_user, key_id, record, role_session, service, ts

Request = Callable[[random.Random], dict[str, Any] | None]

_BUCKETS = ("app-assets-prod", "ml-training-data", "logs-archive-2026", "build-artifacts")
_AGENTS = (
    "aws-cli/2.15.10 Python/3.11.6 Darwin/23.2.0 exe/x86_64 prompt/off",
    "Boto3/1.34.20 md/Botocore#1.34.20 ua/2.0 os/linux#5.10.205 lang/python#3.11.7",
    "aws-sdk-go-v2/1.24.1 os/linux lang/go#1.21.5 md/GOOS#linux api/ec2#1.142.0",
    "terraform-provider-aws/5.31.0 (+https://registry.terraform.io) aws-sdk-go-v2/1.24.0",
    "aws-sdk-java/2.21.40 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.9+9-LTS",
)
_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


def _obj(rng: random.Random) -> dict[str, Any]:
    bucket = rng.choice(_BUCKETS)
    return {"bucketName": bucket, "key": f"data/{rng.randint(1, 5000):05d}.json", "Host": f"{bucket}.s3.amazonaws.com"}


_APIS: tuple[tuple[str, str, Request, int], ...] = (
    ("ec2.amazonaws.com", "DescribeInstances", lambda r: {"instancesSet": {}, "filterSet": {}}, 14),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", lambda r: {"securityGroupSet": {}, "filterSet": {}}, 6),
    ("ec2.amazonaws.com", "DescribeVolumes", lambda r: {"volumeSet": {}, "filterSet": {}}, 4),
    ("s3.amazonaws.com", "GetObject", _obj, 16),
    ("s3.amazonaws.com", "PutObject", _obj, 6),
    ("s3.amazonaws.com", "ListObjects", lambda r: {"bucketName": r.choice(_BUCKETS), "list-type": "2"}, 5),
    ("s3.amazonaws.com", "ListBuckets", lambda r: None, 2),
    ("sts.amazonaws.com", "GetCallerIdentity", lambda r: None, 6),
    ("iam.amazonaws.com", "GetUser", lambda r: None, 2),
    ("iam.amazonaws.com", "ListRoles", lambda r: None, 2),
    ("kms.amazonaws.com", "Decrypt", lambda r: {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}, 8),
    ("kms.amazonaws.com", "GenerateDataKey", lambda r: {"keySpec": "AES_256"}, 3),
    (
        "ssm.amazonaws.com",
        "GetParameter",
        lambda r: {"name": f"/app/config/{r.choice(('db_host', 'queue', 'flags'))}"},
        5,
    ),
    ("secretsmanager.amazonaws.com", "GetSecretValue", lambda r: {"secretId": "prod/app/db-readonly"}, 3),
    ("lambda.amazonaws.com", "ListFunctions20150331", lambda r: None, 2),
    ("dynamodb.amazonaws.com", "DescribeTable", lambda r: {"tableName": "orders"}, 4),
    ("monitoring.amazonaws.com", "GetMetricData", lambda r: None, 5),
    (
        "logs.amazonaws.com",
        "CreateLogStream",
        lambda r: {"logGroupName": "/aws/lambda/orders", "logStreamName": "2026/11/20/[$LATEST]abc"},
        3,
    ),
    ("rds.amazonaws.com", "DescribeDBInstances", lambda r: None, 2),
)
_API_WEIGHTS = [w for *_, w in _APIS]


class Actor:
    __slots__ = ("agent", "identity", "ip")

    def __init__(self, identity: dict[str, Any], ip: str, agent: str) -> None:
        self.identity, self.ip, self.agent = identity, ip, agent


class Noise:
    """The benign population and its record stream."""

    def __init__(self, params: StoryParams, rng: random.Random, span_start: datetime) -> None:
        self.p, self.rng = params, rng
        acct = params.account_id
        self.special: list[dict[str, Any]] = []
        self.actors: list[Actor] = []
        for index in range(40):
            team, person = rng.choice(("dev", "ci", "data", "ops", "svc")), rng.choice(("anna", "bo", "chen", "dara"))
            name = f"{team}-{person}{index}"
            ident = iam_user(acct, name, key_id(rng, "AKIA"), "AIDA" + key_id(rng, "")[:17])
            self.actors.append(Actor(ident, self._ip(), rng.choice(_AGENTS)))
        self.trap_user = Actor(
            console_user(acct, "carol-ops", key_id(rng, "ASIA"), "AIDA" + key_id(rng, "")[:17], span_start),
            params.attacker_ip,
            "console.ec2.amazonaws.com",
        )
        roles = [params.role_name, "EtlJobRole", "WebAppInstanceRole", "LambdaOrdersRole", "GitHubActionsDeploy"]
        for index in range(24):
            role = roles[index % len(roles)]
            session = f"{role.lower()}-{index}"
            key = key_id(rng, "ASIA")
            created = span_start + timedelta(seconds=index)
            ident = role_session(acct, role, session, key, "AROA" + key_id(rng, "")[:17], created)
            issuer = (
                self.actors[index % 10].identity
                if role in (params.role_name, "GitHubActionsDeploy")
                else service("ec2.amazonaws.com" if role == "WebAppInstanceRole" else "lambda.amazonaws.com")
            )
            self.special.append(
                record(
                    rng,
                    at=created,
                    identity=issuer,
                    source="sts.amazonaws.com",
                    name="AssumeRole",
                    region=params.region,
                    ip=issuer.get("invokedBy") or self._ip(),
                    agent=issuer.get("invokedBy") or _AGENTS[1],
                    account=acct,
                    request={"roleArn": f"arn:aws:iam::{acct}:role/{role}", "roleSessionName": session},
                    response={
                        "credentials": {"accessKeyId": key, "expiration": ts(created + timedelta(hours=12))},
                        "assumedRoleUser": {"arn": ident["arn"]},
                    },
                )
            )
            self.actors.append(Actor(ident, self._ip(), rng.choice(_AGENTS)))
        for index in range(5):
            ident = console_user(
                acct, f"console-{index}", key_id(rng, "ASIA"), "AIDA" + key_id(rng, "")[:17], span_start
            )
            self.actors.append(Actor(ident, self._ip(), "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"))
        admin = self.actors[0].identity
        for hours in (5, 30):
            self.special.append(
                record(
                    rng,
                    at=span_start + timedelta(hours=hours),
                    identity=admin,
                    source="iam.amazonaws.com",
                    name="CreateAccessKey",
                    region=params.region,
                    ip=self.actors[0].ip,
                    agent=_AGENTS[0],
                    account=acct,
                    read_only=False,
                    request={"userName": "ci-runner"},
                    response={
                        "accessKey": {"accessKeyId": key_id(rng, "AKIA"), "status": "Active", "userName": "ci-runner"}
                    },
                )
            )
        self.services = [
            service(s)
            for s in (
                "ec2.amazonaws.com",
                "autoscaling.amazonaws.com",
                "cloudtrail.amazonaws.com",
                "config.amazonaws.com",
            )
        ]

    def _ip(self) -> str:
        r = self.rng
        first = r.choice((34, 35, 52, 54, 3, 18, 44, 81))
        return f"{first}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

    def records(self, count: int, start: datetime, seconds: float, region: str) -> list[dict[str, Any]]:
        """``count`` benign records in ``region`` between ``start`` and ``start + seconds``."""
        rng, acct, out = self.rng, self.p.account_id, []
        picks = rng.choices(_APIS, weights=_API_WEIGHTS, k=count)
        for source, name, request, _ in picks:
            at = start + timedelta(seconds=rng.random() * seconds)
            roll = rng.random()
            if roll < 0.04:
                ident = rng.choice(self.services)
                ip, agent = ident["invokedBy"], ident["invokedBy"]
            else:
                actor = rng.choice(self.actors)
                ident, ip, agent = actor.identity, actor.ip, actor.agent
            error = "AccessDenied" if rng.random() < 0.01 else None
            extra = None
            if name == "GetObject":
                extra = {"additionalEventData": {"bytesTransferredOut": rng.randint(200, 2_000_000)}}
            out.append(
                record(
                    rng,
                    at=at,
                    identity=ident,
                    source=source,
                    name=name,
                    region=region,
                    ip=ip,
                    agent=agent,
                    account=acct,
                    request=request(rng),
                    error=error,
                    extra=extra,
                )
            )
        return out


def flow_lines(
    rng: random.Random, account: str, count: int, start: int, seconds: int, enis: list[tuple[str, str]]
) -> list[str]:
    """Benign v2 default-format lines, with REJECTs from scanners and NODATA/SKIPDATA records."""
    out = []
    for _ in range(count):
        eni, ip = rng.choice(enis)
        s = start + int(rng.random() * seconds)
        roll = rng.random()
        if roll < 0.01:
            out.append(f"2 {account} {eni} - - - - - - - {s} {s + 60} - NODATA")
        elif roll < 0.015:
            out.append(f"2 {account} {eni} - - - - - - - {s} {s + 60} - SKIPDATA")
        elif roll < 0.06:
            scanner = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            port = rng.choice((22, 23, 3389, 445, 5900, 8080))
            out.append(
                f"2 {account} {eni} {scanner} {ip} {rng.randint(1024, 65535)} {port} 6 1 44 {s} {s + 30} REJECT OK"
            )
        else:
            dst = f"{rng.choice((52, 54, 3, 13, 99))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            port = rng.choice((443, 443, 443, 80, 53, 5432, 6379))
            packets = rng.randint(1, 400)
            proto = 17 if port == 53 else 6
            out.append(
                f"2 {account} {eni} {ip} {dst} {rng.randint(1024, 65535)} {port} {proto} {packets} "
                f"{packets * rng.randint(60, 1400)} {s} {s + 60} ACCEPT OK"
            )
    return out
