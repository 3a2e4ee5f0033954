"""Each shipped playbook meeting its own finding in a seeded account, for tests that run whole playbooks in
real processes (the crash matrix, the delivery storm).

A :class:`Scenario` names a playbook, the fixture finding that makes it act (moved into moto's default
account, responder's own here) and the containment steps it must apply to it. :func:`seeded` creates what
the finding names — through the sandbox's own seeding (``responder.sandbox.seed``), the Kubernetes double
for pod findings — and :func:`world` reads back everything containment can change (IAM principals, EC2
instances and interfaces, load-balancer and Auto Scaling membership, buckets, functions, databases, the
cluster's pods, policies and nodes), so a test can say "the account ends as it began".
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from responder.findings import parse_event
from responder.findings.model import Finding
from responder.k8s.access import SANDBOX_ENV
from responder.sandbox import Sandbox, seed
from tests.conftest import FIXTURES
from tests.helpers import ACCOUNT, sample_event, seed_user
from tests.k8s_double import CLUSTER, KubeDouble, running_double, seed_pod

IRSA_ROLE, IRSA_PATH = "web-irsa", "/payments/"


@dataclass(frozen=True)
class Scenario:
    """A playbook, the finding it answers (a fixture path under tests/fixtures, or None for the shipped
    sample of a leaked key) and the containment steps it applies to that finding, in order."""

    name: str
    playbook: str
    event: str | None
    steps: tuple[str, ...]
    kube: str | None = None  # the cluster the finding is about, seeded as KUBE_SEEDS names it
    original: bool = True  # one of the five playbooks issue 18 was attacked with
    approvals: tuple[str, ...] = ()  # steps a person approves (the tests approve them when asked)
    patch: tuple[tuple[str, Any], ...] = ()  # (dotted path in the event, value): a variant of the fixture

    def load_event(self) -> dict[str, Any]:
        if self.event is None:
            return sample_event()
        event = json.loads((FIXTURES / self.event).read_text())
        for path, value in self.patch:
            *parents, leaf = path.split(".")
            target = event
            for part in parents:
                target = target[part]
            target[leaf] = value
        return event

    def finding(self) -> Finding:
        return parse_event(self.load_event(), self.name)[0]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "iam-credential-compromise",
        "iam-credential-compromise",
        None,
        ("deactivate_key", "revoke_sessions", "quarantine_user", "tag_user"),
    ),
    Scenario(
        "iam-role-session-compromise/session",
        "iam-role-session-compromise",
        "findings/guardduty/iam-anomalous-role-session.json",
        ("deny_stolen_session", "tag_role"),
    ),
    Scenario(
        "iam-role-session-compromise/all",
        "iam-role-session-compromise",
        "findings/guardduty/iam-instance-credential-exfiltration.json",
        ("revoke_all_sessions", "lock_trust_policy", "tag_role"),
        approvals=("lock_trust_policy",),
    ),
    Scenario(
        "ec2-instance-compromise",
        "ec2-instance-compromise",
        "findings/guardduty/ec2-backdoor-cc.json",
        (
            "protect_instance",
            "deregister_from_load_balancers",
            "detach_from_autoscaling",
            "isolate_network",
            "revoke_role_sessions",
            "detach_instance_profile",
            "tag_quarantined",
        ),
    ),
    Scenario(
        "k8s-pod-compromise",
        "k8s-pod-compromise",
        "k8s/guardduty-eks-runtime-cryptominer.json",
        ("label_pod", "isolate_pod", "revoke_irsa_sessions", "cordon_node"),
        kube="pod",
    ),
    Scenario(
        "s3-exposure",
        "s3-exposure",
        "findings/guardduty/s3-exfiltration-maliciousipcaller.json",
        ("block_public_access",),
    ),
    # the playbooks issue 17 added
    Scenario(
        "lambda-function-compromise",
        "lambda-function-compromise",
        "findings/guardduty/lambda-cc-activity.json",
        ("restrict_function_url", "remove_foreign_permissions", "throttle_function", "revoke_role_sessions"),
        original=False,
    ),
    Scenario(
        "rds-compromise",
        "rds-compromise",
        "findings/guardduty/rds-anomalous-login.json",
        ("remove_public_access", "unshare_snapshots", "isolate_db"),
        original=False,
        approvals=("isolate_db",),
    ),
    Scenario(
        "ecs-task-compromise",
        "ecs-task-compromise",
        "findings/guardduty/ecs-task-compromise-cryptominer.json",
        ("isolate_task", "revoke_task_role_sessions"),
        original=False,
    ),
    Scenario(
        "s3-ransomware",
        "s3-ransomware",
        "findings/guardduty/s3-ransomware-anomalous-delete.json",
        ("keep_versioning_on", "deny_deletion", "deactivate_actor_key"),
        original=False,
    ),
    Scenario(
        "s3-malicious-caller",
        "s3-malicious-caller",
        "findings/guardduty/s3-malicious-caller-tor.json",
        ("revoke_role_sessions",),
        original=False,
    ),
    Scenario(
        "attack-sequence",
        "attack-sequence",
        "findings/guardduty/attack-sequence-iam-compromised-credentials.json",
        ("deactivate_actor_key", "revoke_user_sessions"),
        original=False,
    ),
    Scenario(
        "custom-detection",
        "custom-detection",
        "findings/guardduty/custom-detection-flow-logs-deleted.json",
        ("deactivate_key",),
        original=False,
        approvals=("deactivate_key",),
    ),
    Scenario(
        "eks-rbac-abuse",
        "eks-rbac-abuse",
        "findings/guardduty/eks-rbac-abuse-anonymous-access-granted.json",
        ("remove_offending_bindings",),
        kube="rbac",
        original=False,
    ),
    Scenario(
        "k8s-identity-compromise",
        "k8s-identity-compromise",
        "findings/guardduty/k8s-identity-compromise-tor-caller.json",
        ("revoke_role_sessions",),
        kube="identity",
        original=False,
    ),
    Scenario(  # the same finding from a service account: its own bindings go, after a person approves
        "k8s-identity-compromise/service-account",
        "k8s-identity-compromise",
        "findings/guardduty/k8s-identity-compromise-tor-caller.json",
        ("remove_identity_bindings",),
        kube="identity",
        original=False,
        approvals=("remove_identity_bindings",),
        patch=(
            (
                "detail.resource.kubernetesDetails.kubernetesUserDetails",
                {
                    "username": "system:serviceaccount:payments:web",
                    "uid": "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f",
                    "groups": ["system:serviceaccounts", "system:serviceaccounts:payments"],
                },
            ),
        ),
    ),
)
ORIGINAL = tuple(s for s in SCENARIOS if s.original)


def by_name(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


# ------------------------------------------------------------------------------------------- seeding
@dataclass
class World:
    """A seeded account (and cluster): the event file to deliver, the finding, the Kubernetes double."""

    scenario: Scenario
    event_path: Path
    finding: Finding
    kube: KubeDouble | None = None

    def child_env(self, aws_url: str, kube_url: str | None = None) -> dict[str, str]:
        """The environment of a responder process reaching AWS (and the cluster) at these URLs."""
        env = {**os.environ, "AWS_ENDPOINT_URL": aws_url}
        if self.kube is not None:
            cluster = KUBE_CLUSTERS[self.scenario.kube or ""]
            env[SANDBOX_ENV] = json.dumps({cluster: {"host": kube_url or self.kube.url}})
        return env


@contextmanager
def seeded(scenario: Scenario, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Seed what the scenario's finding names (moto must be fresh); write the event to ``folder``."""
    event = scenario.load_event()
    finding = parse_event(event, scenario.name)[0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "event.json"
    path.write_text(json.dumps(event))
    if scenario.event is None:
        seed_user()
    elif not scenario.kube:
        seed(Sandbox(endpoint=os.environ["AWS_ENDPOINT_URL"], account_id=ACCOUNT, region="us-east-1"), finding)
    if not scenario.kube:
        yield World(scenario, path, finding)
        return
    with running_double() as double:
        KUBE_SEEDS[scenario.kube](double)
        monkeypatch.setenv(SANDBOX_ENV, json.dumps({KUBE_CLUSTERS[scenario.kube]: {"host": double.url}}))
        yield World(scenario, path, finding, double)


def _role(name: str, trust: dict[str, Any], path: str = "/") -> None:
    boto3.client("iam").create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust))


def _seed_pod(double: KubeDouble) -> None:
    """The pod of tests/fixtures/k8s (tests.k8s_double.seed_pod) and the IAM role its service account uses."""
    seed_pod(double)
    federated = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EX"
    statement = {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": federated}}
    _role(IRSA_ROLE, {"Version": "2012-10-17", "Statement": [statement]}, IRSA_PATH)


def _binding(name: str, role: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "uid": f"uid-{name}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def _seed_rbac(double: KubeDouble) -> None:
    """The anonymous grants eks-rbac-abuse's finding names, beside Kubernetes' own and an unrelated one."""
    anonymous = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}
    double.state.cluster_role_bindings.extend(
        [
            _binding("system:public-info-viewer", "system:public-info-viewer", [anonymous]),
            _binding("anonymous-view", "view", [anonymous]),
            _binding("ops-admins", "cluster-admin", [{"kind": "Group", "name": "ops"}]),
        ]
    )
    double.add_role_binding("default", "default-admin", "admin", "default", "default")


def _seed_identity(double: KubeDouble) -> None:
    """The IAM role EKS maps the finding's identity to, and bindings of other service accounts."""
    double.add_role_binding("payments", "ci-reader", "view", "payments", "ci", cluster=True)
    double.add_role_binding("payments", "web-edit", "edit", "payments", "web")
    statement = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    _role("payments-deployer", {"Version": "2012-10-17", "Statement": [statement]})


KUBE_SEEDS = {"pod": _seed_pod, "rbac": _seed_rbac, "identity": _seed_identity}
KUBE_CLUSTERS = {"pod": CLUSTER, "rbac": "payments-eks", "identity": "payments-eks"}


# ------------------------------------------------------------------------------------------- state
def world(kube: KubeDouble | None = None) -> dict[str, Any]:
    """Everything containment can change, read straight from moto (and the double): compare before/after."""
    state = {"iam": _iam(), "ec2": _ec2(), "s3": _s3(), "lambda": _lambda(), "rds": _rds()}
    if kube is not None:
        state["k8s"] = _k8s(kube)
    return state


def seeded_part(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """``after`` limited to the resources ``before`` knew: what a release must restore.

    Containment may add resources on purpose: taking an instance out of its Auto Scaling group keeps the
    desired capacity, so the group launches a replacement (with its own interface) that release leaves for
    a person to retire. Those are not the seeded resources; group and target-group membership is compared
    for the seeded instances only.
    """
    out = json.loads(json.dumps(after))
    for section, maps in (("iam", ("users", "roles")), ("ec2", ("instances", "interfaces")), ("rds", ("instances",))):
        for name in maps:
            known = before.get(section, {}).get(name, {})
            out[section][name] = {k: v for k, v in out[section][name].items() if k in known}
    for name in ("s3", "lambda"):
        out[name] = {k: v for k, v in out[name].items() if k in before.get(name, {})}
    instances = set(before.get("ec2", {}).get("instances", {}))
    for name in ("autoscaling", "target_groups"):
        out["ec2"][name] = {k: [i for i in v if i in instances] for k, v in out["ec2"][name].items()}
    return out


def _iam() -> dict[str, Any]:
    iam = boto3.client("iam")
    users = {}
    for user in iam.list_users()["Users"]:
        name = user["UserName"]
        users[name] = {
            "keys": {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]},
            "inline": {
                p: iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"]
                for p in iam.list_user_policies(UserName=name)["PolicyNames"]
            },
            "attached": sorted(
                p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
            ),
            "groups": sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]),
            "tags": {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]},
            "console": _has_login_profile(iam, name),
        }
    roles = {}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        roles[name] = {
            "trust": iam.get_role(RoleName=name)["Role"].get("AssumeRolePolicyDocument"),
            "inline": {
                p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
                for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
            },
            "attached": sorted(
                p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            ),
            "tags": {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]},
        }
    return {"users": users, "roles": roles}


def _has_login_profile(iam: Any, user: str) -> bool:
    try:
        iam.get_login_profile(UserName=user)
        return True
    except iam.exceptions.NoSuchEntityException:
        return False


def _ec2() -> dict[str, Any]:
    ec2 = boto3.client("ec2")
    instances = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for inst in reservation["Instances"]:
            iid = inst["InstanceId"]
            attr = ec2.describe_instance_attribute
            instances[iid] = {
                "state": inst["State"]["Name"],
                "groups": sorted(g["GroupId"] for g in inst.get("SecurityGroups", [])),
                "termination_protection": attr(InstanceId=iid, Attribute="disableApiTermination")[
                    "DisableApiTermination"
                ]["Value"],
                "shutdown": attr(InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior")[
                    "InstanceInitiatedShutdownBehavior"
                ]["Value"],
                "tags": {t["Key"]: t["Value"] for t in inst.get("Tags", [])},
                "profile": sorted(
                    a["IamInstanceProfile"]["Arn"]
                    for a in ec2.describe_iam_instance_profile_associations(
                        Filters=[{"Name": "instance-id", "Values": [iid]}]
                    )["IamInstanceProfileAssociations"]
                    if a["State"] in ("associated", "associating")
                ),
            }
    interfaces = {
        e["NetworkInterfaceId"]: sorted(g["GroupId"] for g in e.get("Groups", []))
        for e in ec2.describe_network_interfaces()["NetworkInterfaces"]
    }
    asg = boto3.client("autoscaling")
    groups = {
        g["AutoScalingGroupName"]: sorted(i["InstanceId"] for i in g.get("Instances", []))
        for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
    }
    elb = boto3.client("elbv2")
    targets = {
        tg["TargetGroupName"]: sorted(
            d["Target"]["Id"]
            for d in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
        )
        for tg in elb.describe_target_groups()["TargetGroups"]
    }
    return {"instances": instances, "interfaces": interfaces, "autoscaling": groups, "target_groups": targets}


def _s3() -> dict[str, Any]:
    s3 = boto3.client("s3")
    buckets = {}
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        # S3 cannot turn versioning off once it was on, only suspend it: never-enabled and Suspended are one state
        status = s3.get_bucket_versioning(Bucket=name).get("Status")
        entry: dict[str, Any] = {"versioning": "Enabled" if status == "Enabled" else "off"}
        try:
            entry["public_access_block"] = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except s3.exceptions.ClientError:
            entry["public_access_block"] = None
        try:
            entry["policy"] = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
        except s3.exceptions.ClientError:
            entry["policy"] = None
        buckets[name] = entry
    return buckets


def _lambda() -> dict[str, Any]:
    lam = boto3.client("lambda")
    functions = {}
    for fn in lam.list_functions()["Functions"]:
        name = fn["FunctionName"]
        entry: dict[str, Any] = {
            "concurrency": lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        }
        try:
            entry["url_auth"] = lam.get_function_url_config(FunctionName=name).get("AuthType")
        except lam.exceptions.ResourceNotFoundException:
            entry["url_auth"] = None
        try:
            statements = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
            entry["policy"] = sorted(json.dumps(s, sort_keys=True) for s in statements)
        except lam.exceptions.ResourceNotFoundException:
            entry["policy"] = []
        functions[name] = entry
    return functions


def _rds() -> dict[str, Any]:
    rds = boto3.client("rds")
    instances = {
        db["DBInstanceIdentifier"]: {
            "public": db.get("PubliclyAccessible"),
            "groups": sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])),
        }
        for db in rds.describe_db_instances()["DBInstances"]
    }
    shared = {}
    for snap in rds.describe_db_snapshots()["DBSnapshots"]:
        sid = snap["DBSnapshotIdentifier"]
        attrs = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=sid)["DBSnapshotAttributesResult"]
        values = sorted(
            v for a in attrs["DBSnapshotAttributes"] if a["AttributeName"] == "restore" for v in a["AttributeValues"]
        )
        if values:  # evidence snapshots responder takes are never shared; only pre-existing shares are the state
            shared[sid] = values
    return {"instances": instances, "shared_snapshots": shared}


def _k8s(double: KubeDouble) -> dict[str, Any]:
    with double.lock:
        state = double.state
        return {
            "pods": {f"{ns}/{n}": dict(p["metadata"].get("labels") or {}) for (ns, n), p in state.pods.items()},
            "network_policies": sorted(f"{ns}/{n}" for ns, n in state.network_policies),
            "nodes": {n: bool((node.get("spec") or {}).get("unschedulable")) for n, node in state.nodes.items()},
            "cluster_role_bindings": _bindings(state.cluster_role_bindings),
            "role_bindings": {ns: _bindings(items) for ns, items in state.role_bindings.items() if items},
        }


def _bindings(items: list[dict[str, Any]]) -> list[str]:
    """Bindings as what they grant (name, role, subjects): a recreated binding gets a new uid, nothing else."""
    keep = ("roleRef", "subjects")
    return sorted(
        json.dumps({"name": b["metadata"]["name"], **{k: b.get(k) for k in keep}}, sort_keys=True) for b in items
    )


def differences(now: Any, then: Any, path: str = "") -> list[str]:
    """Where two world snapshots differ, as ``path: now != then`` lines (a readable failure)."""
    if isinstance(now, dict) and isinstance(then, dict):
        return [d for k in sorted({*now, *then}, key=str) for d in differences(now.get(k), then.get(k), f"{path}/{k}")]
    return [] if now == then else [f"{path}: {now!r} != {then!r}"]


def step_applied(audit: list[dict[str, Any]], step: str) -> list[dict[str, Any]]:
    """The audit entries that say the step's effect was applied (``changed=True``)."""
    return [e for e in audit if e["event"] == "step_applied" and e.get("step") == step and e.get("changed")]
