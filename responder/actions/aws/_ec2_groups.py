"""The two per-VPC security groups instance isolation moves ENIs through.

Why two: security groups are stateful, and a group swap leaves *tracked* connections open, so an
attacker's established shell survives an ordinary isolation. A group that allows all traffic in and out
(0.0.0.0/0 and ::/0) makes connections *untracked*; moving the ENI from there to a group with no rules
at all (default egress removed) then cuts every connection, established ones included. (AWS Security
Incident Response guide, "connection tracking"; EC2 User Guide, "Untracked connections".)

Groups are shared per VPC, found by tag first and by deterministic name second, and created only when
neither exists, so re-runs and other incidents in the same VPC reuse them. Nothing here deletes a group.
"""

from __future__ import annotations

from typing import Any

ROLE_TAG = "responder:role"
ISOLATION = "isolation"
UNTRACKING = "untracking"
ALL_TRAFFIC = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}


def group_name(role: str, vpc_id: str) -> str:
    """Deterministic, so a re-run (or a person) finds the group responder made."""
    return f"responder-{role}-{vpc_id}"


def find_group(ec2: Any, role: str, vpc_id: str) -> dict[str, Any] | None:
    """By tag first (survives a rename), then by deterministic name."""
    for filters in (
        [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": f"tag:{ROLE_TAG}", "Values": [role]}],
        [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [group_name(role, vpc_id)]}],
    ):
        found = ec2.describe_security_groups(Filters=filters).get("SecurityGroups", [])
        if found:
            return dict(sorted(found, key=lambda g: g["GroupId"])[0])
    return None


def _create(ec2: Any, role: str, vpc_id: str, run_id: str) -> dict[str, Any]:
    description = {
        ISOLATION: "responder isolation: no rules in or out (incident containment; do not add rules)",
        UNTRACKING: "responder untracking step: allows all so tracked connections become untracked",
    }[role]
    created = ec2.create_security_group(
        GroupName=group_name(role, vpc_id), Description=description, VpcId=vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [
            {"Key": ROLE_TAG, "Value": role}, {"Key": "Name", "Value": group_name(role, vpc_id)},
            {"Key": "responder:created-by-run", "Value": run_id[:255]}]}])
    return {"GroupId": created["GroupId"], "IpPermissions": [], "IpPermissionsEgress": _default_egress(ec2,
                                                                                                 created["GroupId"])}


def _default_egress(ec2: Any, group_id: str) -> list[dict[str, Any]]:
    found = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return list(found[0].get("IpPermissionsEgress", [])) if found else []


def _strip(perms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Permissions as returned by Describe, cut to what Revoke accepts."""
    keep = ("IpProtocol", "FromPort", "ToPort", "IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs")
    return [{k: v for k, v in p.items() if k in keep and v not in (None, [])} for p in perms]


def _covers_all(perms: list[dict[str, Any]]) -> tuple[bool, bool]:
    v4 = any(p.get("IpProtocol") == "-1" and any(r.get("CidrIp") == "0.0.0.0/0" for r in p.get("IpRanges", []))
             for p in perms)
    v6 = any(p.get("IpProtocol") == "-1" and any(r.get("CidrIpv6") == "::/0" for r in p.get("Ipv6Ranges", []))
             for p in perms)
    return v4, v6


def ensure_isolation_group(ec2: Any, vpc_id: str, run_id: str) -> tuple[str, list[str]]:
    """The VPC's no-rules group; any rule found on it (default egress, or one added by hand) is revoked."""
    notes: list[str] = []
    group = find_group(ec2, ISOLATION, vpc_id) or _create(ec2, ISOLATION, vpc_id, run_id)
    gid = group["GroupId"]
    if group.get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=_strip(group["IpPermissions"]))
        notes.append(f"removed {len(group['IpPermissions'])} ingress rule(s) found on isolation group {gid}")
    if group.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=_strip(group["IpPermissionsEgress"]))
    return gid, notes


def ensure_untracking_group(ec2: Any, vpc_id: str, run_id: str) -> str:
    """The VPC's allow-all group (IPv4 and IPv6, both directions)."""
    group = find_group(ec2, UNTRACKING, vpc_id) or _create(ec2, UNTRACKING, vpc_id, run_id)
    gid = group["GroupId"]
    for perms, authorize in ((group.get("IpPermissions", []), ec2.authorize_security_group_ingress),
                             (group.get("IpPermissionsEgress", []), ec2.authorize_security_group_egress)):
        v4, v6 = _covers_all(perms)
        wanted: dict[str, Any] = {"IpProtocol": "-1"}
        if not v4:
            wanted["IpRanges"] = [{"CidrIp": "0.0.0.0/0"}]
        if not v6:
            wanted["Ipv6Ranges"] = [{"CidrIpv6": "::/0"}]
        if len(wanted) > 1:
            try:
                authorize(GroupId=gid, IpPermissions=[wanted])
            except Exception as exc:
                if "Duplicate" not in str(exc):
                    raise
    return gid
