"""CloudTrail record and identity builders in the shapes AWS writes (eventVersion 1.08/1.09).

Shared by the story and the noise so both look alike: nothing but the access key tells them apart,
which is exactly the situation scope has to handle.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

_KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def key_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice(_KEY_CHARS) for _ in range(16))


def uid(rng: random.Random) -> str:
    """A UUID-shaped id from the seeded generator (uuid4 would make data sets differ run to run)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def iam_user(account: str, name: str, key: str, principal_id: str) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": principal_id,
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
        "accessKeyId": key,
        "userName": name,
    }


def console_user(account: str, name: str, key: str, principal_id: str, created: datetime) -> dict[str, Any]:
    ident = iam_user(account, name, key, principal_id)
    ident["sessionContext"] = {
        "sessionIssuer": {},
        "webIdFederationData": {},
        "attributes": {"creationDate": ts(created), "mfaAuthenticated": "true"},
    }
    return ident


def role_session(account: str, role: str, session: str, key: str, role_id: str, created: datetime) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": ts(created), "mfaAuthenticated": "false"},
        },
    }


def service(name: str) -> dict[str, Any]:
    return {"type": "AWSService", "invokedBy": name}


GLOBAL_SOURCES = {"iam.amazonaws.com", "sts.amazonaws.com", "signin.amazonaws.com"}


def record(
    rng: random.Random,
    *,
    at: datetime,
    identity: dict[str, Any],
    source: str,
    name: str,
    region: str,
    ip: str,
    agent: str,
    account: str,
    read_only: bool | None = None,
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One management/data event. Global services log in us-east-1, as CloudTrail does."""
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": ts(at),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1" if source in GLOBAL_SOURCES and source != "sts.amazonaws.com" else region,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": uid(rng),
        "eventID": uid(rng),
        "readOnly": read_only if read_only is not None else name.startswith(("Get", "List", "Describe", "Head")),
        "eventType": "AwsApiCall",
        "managementEvent": source != "s3.amazonaws.com" or name in ("ListBuckets",),
        "recipientAccountId": account,
        "eventCategory": "Management" if source != "s3.amazonaws.com" or name == "ListBuckets" else "Data",
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = (
            f"User: {identity.get('arn')} is not authorized to perform: "
            f"{source.split('.')[0]}:{name} because no identity-based policy allows it"
            if error == "AccessDenied"
            else error
        )
        rec["responseElements"] = None
    if extra:
        rec.update(extra)
    return rec
