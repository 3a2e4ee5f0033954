"""The embedded default: an in-process AWS emulator (moto server) seeded from a finding.

``responder run EVENT --sandbox`` and ``responder demo`` start it on a free loopback port, create
the principal, key, instance or bucket the finding names (with the finding's own ids, in the
finding's own account), point boto3 at it and run the playbook: a drill with no account and no risk.
Responder acts from the emulator's default account; a finding in another account goes through the
same cross-account path as production (assume ``ResponderRole`` with an ExternalId).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigInvalid
from ..findings.model import Finding

SANDBOX_HOME_ACCOUNT = "123456789012"
SANDBOX_ROLE = "ResponderRole"
SANDBOX_EXTERNAL_ID = "responder-sandbox"
_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{12,124}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@dataclass
class Sandbox:
    endpoint: str
    account_id: str
    region: str
    seeded: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str, account: str | None = None) -> Any:
        """A client acting *inside* an account of the emulator (for seeding and for showing state)."""
        import boto3

        client = boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        target = account or self.account_id
        if target != SANDBOX_HOME_ACCOUNT:

            def header(request: Any, **_: Any) -> None:
                request.headers["x-moto-account-id"] = target

            client.meta.events.register("before-sign.*.*", header)
        return client


def sandbox_account(finding: Finding) -> str:
    account = finding.account_id or ""
    return account if _ACCOUNT.match(account) else SANDBOX_HOME_ACCOUNT


INSTALL_HINT = "pip install 'responder[sandbox]'  (from a checkout: pip install -e '.[sandbox]')"


def require_emulator() -> Any:
    """The emulator's server class, or a clear BadInput saying how to install it.

    moto is the ``sandbox`` extra, not a runtime dependency: a production install (the Lambda, a
    responder host) carries no AWS emulator. ``moto.server`` is imported rather than ``moto`` so a
    moto without its ``[server]`` extra (no flask/werkzeug) is reported the same way.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ConfigInvalid(
            f"the sandbox needs the AWS emulator (moto[server]), which is not installed ({exc.name or exc})",
            hint=INSTALL_HINT,
        ) from None
    return ThreadedMotoServer


@contextmanager
def start_sandbox(finding: Finding) -> Iterator[Sandbox]:
    """Start moto on 127.0.0.1, seed it from the finding, and point this process's boto3 at it."""
    import logging

    server_class = require_emulator()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines in the drill's output
    server = server_class(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    saved = {k: os.environ.get(k) for k in _ENV}
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": finding.region or "us-east-1",
            }
        )
        for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            os.environ.pop(key, None)
        os.environ["AWS_CONFIG_FILE"] = os.devnull
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        box = Sandbox(endpoint=endpoint, account_id=sandbox_account(finding), region=finding.region or "us-east-1")
        seed(box, finding)
        from .k8s import k8s_sandbox

        with k8s_sandbox(box, finding):  # a Kubernetes API double for pod findings
            yield box
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def seed(box: Sandbox, finding: Finding) -> None:
    """Create what the finding names, so the playbook meets a realistic account."""
    if box.account_id != SANDBOX_HOME_ACCOUNT:
        _seed_responder_role(box)
    for resource in (finding.resource, *finding.resources):
        kind = resource.kind
        if kind == "access_key":
            _seed_user_key(box, resource.user_name, resource.access_key_id)
        elif kind == "iam_user":
            _seed_user_key(box, resource.user_name, None)
        elif kind == "role_session":
            _seed_role(box, resource.role_name)
    from .resources import seed_resources  # EC2 instances, S3 buckets, functions, databases, tasks

    seed_resources(box, finding)
    box.seeded["account_id"] = box.account_id


def _seed_responder_role(box: Sandbox) -> None:
    iam = box.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{SANDBOX_HOME_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": SANDBOX_EXTERNAL_ID}},
            }
        ],
    }
    with suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=SANDBOX_ROLE, AssumeRolePolicyDocument=json.dumps(trust))


def _seed_user_key(box: Sandbox, user_name: str | None, key_id: str | None) -> None:
    iam = box.client("iam")
    user = _iam_name(user_name) or "sandbox-user"
    try:
        iam.create_user(UserName=user, Tags=[{"Key": "team", "Value": "payments"}])
    except iam.exceptions.EntityAlreadyExistsException:
        return
    iam.put_user_policy(
        UserName=user,
        PolicyName="app-s3-access",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}],
            }
        ),
    )
    with suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_group(GroupName="developers")
    iam.add_user_to_group(GroupName="developers", UserName=user)
    iam.create_login_profile(UserName=user, Password="Sandbox-Only-Passw0rd!")
    created = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    box.seeded.setdefault("users", []).append(user)
    final = created
    if key_id and key_id != created:
        final = _rekey(box.account_id, created, key_id)
    box.seeded.setdefault("access_keys", []).append({"user_name": user, "access_key_id": final})


def _rekey(account_id: str, created: str, wanted: str) -> str:
    """Give the emulator's key the finding's own key id, so the playbook acts on the finding as is."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["aws"]
    key = backend.access_keys.pop(created, None)
    if key is None:
        return created
    key.access_key_id = wanted
    backend.access_keys[wanted] = key
    return wanted


def _seed_role(box: Sandbox, role_name: str | None) -> None:
    iam = box.client("iam")
    role = _iam_name(role_name) or "sandbox-role"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    try:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        return
    iam.put_role_policy(
        RoleName=role,
        PolicyName="app-access",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    box.seeded.setdefault("roles", []).append(role)


def _iam_name(name: str | None) -> str | None:
    """IAM names allow ``\\w+=,.@-`` up to 64 characters; a finding may carry anything."""
    if not name:
        return None
    cleaned = re.sub(r"[^\w+=,.@-]", "-", name)[:64]
    return cleaned or None


def show_principal(box: Sandbox, user_name: str | None = None, role_name: str | None = None) -> dict[str, Any]:
    """The state a person wants to see before and after: key status and deny policies."""
    iam = box.client("iam")
    if user_name:
        keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
        policies = iam.list_user_policies(UserName=user_name)["PolicyNames"]
        try:
            iam.get_login_profile(UserName=user_name)
            console = True
        except iam.exceptions.NoSuchEntityException:
            console = False
        tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user_name).get("Tags", [])}
        return {
            "principal": f"user/{user_name}",
            "access_keys": {k["AccessKeyId"]: k["Status"] for k in keys},
            "inline_policies": sorted(policies),
            "console_login": console,
            "tags": tags,
        }
    if role_name:
        policies = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        return {"principal": f"role/{role_name}", "inline_policies": sorted(policies)}
    return {}


def seed_story_leftovers(box: Sandbox, truth: Any) -> list[str]:
    """Create in the emulator what the drill's generated attack story left behind, so the closed loop
    meets it: the backdoor user with the key and console password the story minted, the role whose trust
    it changed, and the trail it stopped. Returns what was created (the drill's table shows it)."""
    story = truth.story
    iam = box.client("iam")
    made: list[str] = []
    user = _iam_name(story.backdoor_user)
    backdoor_key = next((k for k, why in truth.keys.items() if str(why).startswith("CreateAccessKey")), None)
    if user:
        with suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_user(UserName=user)
            created = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
            if backdoor_key and _KEY_ID.match(backdoor_key):
                _rekey(box.account_id, created, backdoor_key)
            iam.create_login_profile(UserName=user, Password="Attacker-Set-Passw0rd!")
            made.append(f"user/{user}")
    role = _iam_name(story.role_name)
    if role:
        trust = {
            "Version": "2012-10-17",
            "Statement": [  # the role's own trust, and the backdoor the story added beside it
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}},
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"AWS": f"arn:aws:iam::{story.external_account}:root"},
                },
            ],
        }
        with suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
            made.append(f"role/{role}")
    s3 = box.client("s3")
    trails = box.client("cloudtrail")
    bucket = f"aws-cloudtrail-logs-{box.account_id}-drill"
    with suppress(Exception):
        s3.create_bucket(Bucket=bucket)
        trails.create_trail(Name="management-events", S3BucketName=bucket)
        trails.start_logging(Name="management-events")
        trails.stop_logging(Name="management-events")
        made.append("trail/management-events (stopped)")
    box.seeded.setdefault("leftovers", []).extend(made)
    return made
