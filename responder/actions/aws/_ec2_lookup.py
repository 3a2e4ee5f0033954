"""Read-only EC2 lookups shared by the EC2 actions: the instance, its ENIs, volumes, groups and memberships.

Every function reads current state from the API (never from the finding, which is attacker data and may
be stale); a missing instance is ``TargetChanged``, because it was terminated or never existed here.
"""

from __future__ import annotations

from typing import Any

from ...errors import TargetChanged


def instance(ec2: Any, instance_id: str) -> dict[str, Any]:
    """The instance as ``DescribeInstances`` returns it."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except Exception as exc:
        if "InvalidInstanceID" in str(exc):
            raise TargetChanged(f"instance {instance_id} does not exist in this account/region "
                                "(terminated, or the finding names another account)") from None
        raise
    for reservation in reservations:
        for inst in reservation.get("Instances", []):
            if inst.get("InstanceId") == instance_id:
                return dict(inst)
    raise TargetChanged(f"instance {instance_id} does not exist in this account/region")


def network_interfaces(ec2: Any, instance_id: str) -> list[dict[str, Any]]:
    """Every ENI attached to the instance, primary (device index 0) first."""
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["NetworkInterfaces"]
    return sorted(enis, key=lambda e: (e.get("Attachment") or {}).get("DeviceIndex", 99))


def eni_groups(eni: dict[str, Any]) -> list[str]:
    return sorted(g["GroupId"] for g in eni.get("Groups", []))


def volumes(ec2: Any, instance_id: str) -> list[dict[str, Any]]:
    found = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    return sorted(found, key=lambda v: v["VolumeId"])


def attribute(ec2: Any, instance_id: str, name: str) -> Any:
    """``DisableApiTermination`` → bool, ``InstanceInitiatedShutdownBehavior`` → str."""
    reply = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute=name[0].lower() + name[1:])
    return (reply.get(name) or {}).get("Value")


def profile_association(ec2: Any, instance_id: str) -> dict[str, Any] | None:
    """The instance's current (associated or associating) instance-profile association, if any."""
    found = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]).get("IamInstanceProfileAssociations", [])
    live = [a for a in found if a.get("State") in ("associated", "associating")]
    return dict(live[0]) if live else None


def autoscaling_group(asg: Any, instance_id: str) -> dict[str, Any] | None:
    """The Auto Scaling membership of the instance (group name, lifecycle state), if any."""
    found = asg.describe_auto_scaling_instances(InstanceIds=[instance_id]).get("AutoScalingInstances", [])
    return dict(found[0]) if found else None


def target_registrations(elbv2: Any, instance_id: str) -> list[dict[str, Any]]:
    """Every target group the instance is registered in, with the port it is registered on."""
    out: list[dict[str, Any]] = []
    for page in elbv2.get_paginator("describe_target_groups").paginate():
        for group in page.get("TargetGroups", []):
            if group.get("TargetType", "instance") != "instance":
                continue
            arn = group["TargetGroupArn"]
            health = elbv2.describe_target_health(TargetGroupArn=arn).get("TargetHealthDescriptions", [])
            for desc in health:
                target = desc.get("Target", {})
                state = (desc.get("TargetHealth") or {}).get("State")
                if target.get("Id") == instance_id and state not in ("unused", "draining"):
                    out.append({"target_group_arn": arn, "port": target.get("Port")})
    return sorted(out, key=lambda r: (r["target_group_arn"], r["port"] or 0))
