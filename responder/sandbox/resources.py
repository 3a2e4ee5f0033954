"""Sandbox seeding for EC2 instances, role sessions and S3 buckets named by a finding.

``responder run EVENT --sandbox`` meets an emulated account that looks like the one the finding came
from: the instance (with the finding's own instance id), its VPC, subnet and a security group open to
the internet, an EBS volume, an instance profile whose role the instance uses, an Auto Scaling group and
a load-balancer target group it belongs to; or the bucket with a public policy; or the role of a stolen
session. ``describe_seeded`` returns what a person compares before and after the run (and after release).
IAM users and keys are seeded by ``responder.sandbox`` itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..findings.model import Finding

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_]{1,61}[A-Za-z0-9]$")
SANDBOX_ROLE = "sandbox-app-role"
SANDBOX_PROFILE = "sandbox-app-profile"
SANDBOX_ASG = "sandbox-web-asg"
SANDBOX_TG = "sandbox-web-tg"
SANDBOX_AMI = "ami-12c6146b"  # in moto's bundled AMI catalogue


def seed_resources(box: Any, finding: Finding) -> None:
    """Create the EC2 instances and S3 buckets the finding names (once each); record them in ``box.seeded``."""
    # An attack sequence's resources are each answered by a child run: the drill seeds one of each kind.
    sequence = finding.type.startswith("AttackSequence:")
    done: set[str] = set()
    for resource in (finding.resource, *finding.resources):
        if resource is not finding.resource and not (sequence and resource.kind not in done):
            continue
        if resource.kind == "ec2_instance":
            _seed_instance(box, resource)
        elif resource.kind == "s3_bucket":
            _seed_bucket(box, resource.bucket_name)
        done.add(resource.kind)
    seed_new_kinds(box, finding)  # Lambda, RDS, ECS (issue 17)


# ------------------------------------------------------------------------------------------ EC2
def _seed_instance(box: Any, inst: Any) -> None:
    ec2, iam = box.client("ec2"), box.client("iam")
    region = box.region
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone=f"{region}a")["Subnet"]["SubnetId"]
    web = ec2.create_security_group(GroupName="sandbox-web", Description="web and ssh from anywhere",
                                    VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    image = _image(ec2)
    created = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet,
                                SecurityGroupIds=[web])["Instances"][0]["InstanceId"]
    wanted = inst.instance_id if inst.instance_id and _INSTANCE_ID.match(inst.instance_id) else None
    instance_id = _rekey_instance(box, created, wanted) if wanted else created
    tags = {k: v for k, v in (inst.tags or {}).items() if k and not k.lower().startswith("aws:")}
    tags.setdefault("Name", "sandbox-web")
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": k[:128], "Value": str(v)[:256]} for k, v in tags.items()])
    volume = ec2.create_volume(AvailabilityZone=f"{region}a", Size=20)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=instance_id, Device="/dev/sdf")
    profile_arn = _seed_profile(iam)
    ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": profile_arn}, InstanceId=instance_id)
    tg = _seed_target_group(box, vpc)
    _seed_asg(box, image, subnet, tg, instance_id)
    box.seeded.setdefault("instances", []).append({"instance_id": instance_id, "finding_instance_id": inst.instance_id,
                                                   "vpc_id": vpc, "finding_vpc_id": inst.vpc_id,
                                                   "subnet_id": subnet, "security_group_id": web})
    box.seeded.setdefault("roles", []).append(SANDBOX_ROLE)


def _image(ec2: Any) -> str:
    """An AMI the emulator knows; asked by id first (listing its whole catalogue takes seconds)."""
    found = ec2.describe_images(ImageIds=[SANDBOX_AMI]).get("Images", []) if SANDBOX_AMI else []
    if found:
        return SANDBOX_AMI
    return str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


def _rekey_instance(box: Any, created: str, wanted: str) -> str:
    """Give the emulated instance the finding's instance id (before anything refers to it by id)."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[box.account_id][box.region]
    if backend.get_instance_by_id(wanted) is not None:
        return wanted
    instance = backend.get_instance_by_id(created)
    if instance is None:
        return created
    instance.id = wanted
    return wanted


def _seed_profile(iam: Any) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    try:
        iam.create_role(RoleName=SANDBOX_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=SANDBOX_ROLE, PolicyName="app-access", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "dynamodb:*"],
                                                    "Resource": "*"}]}))
        profile = iam.create_instance_profile(InstanceProfileName=SANDBOX_PROFILE)["InstanceProfile"]
        iam.add_role_to_instance_profile(InstanceProfileName=SANDBOX_PROFILE, RoleName=SANDBOX_ROLE)
        return str(profile["Arn"])
    except iam.exceptions.EntityAlreadyExistsException:
        return str(iam.get_instance_profile(InstanceProfileName=SANDBOX_PROFILE)["InstanceProfile"]["Arn"])


def _seed_target_group(box: Any, vpc: str) -> str:
    elbv2 = box.client("elbv2")
    return str(elbv2.create_target_group(Name=SANDBOX_TG, Protocol="HTTP", Port=80, VpcId=vpc,
                                         TargetType="instance")["TargetGroups"][0]["TargetGroupArn"])


def _seed_asg(box: Any, image: str, subnet: str, tg: str, instance_id: str) -> None:
    """An ASG the instance was attached to; attaching also registers it in the group's target group."""
    ec2, asg = box.client("ec2"), box.client("autoscaling")
    ec2.create_launch_template(LaunchTemplateName="sandbox-web", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro"})
    asg.create_auto_scaling_group(AutoScalingGroupName=SANDBOX_ASG,
                                  LaunchTemplate={"LaunchTemplateName": "sandbox-web"},
                                  MinSize=0, MaxSize=3, DesiredCapacity=0, VPCZoneIdentifier=subnet,
                                  TargetGroupARNs=[tg])
    asg.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName=SANDBOX_ASG)


# ------------------------------------------------------------------------------------------ S3
def _seed_bucket(box: Any, name: str | None) -> None:
    if not name or not _BUCKET.match(name):
        return
    s3 = box.client("s3")
    kwargs: dict[str, Any] = {"Bucket": name}
    if box.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": box.region}
    try:
        s3.create_bucket(**kwargs)
    except Exception as exc:
        if "BucketAlreadyOwnedByYou" in str(exc) or "BucketAlreadyExists" in str(exc):
            return
        raise
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*"}]}))
    s3.put_object(Bucket=name, Key="exports/customers.csv", Body=b"id,email\n1,sandbox@example.com\n")
    box.seeded.setdefault("buckets", []).append(name)


# ------------------------------------------------------------------------------------------ describe
def describe_instance(ec2: Any, asg: Any, elbv2: Any, instance_id: str) -> dict[str, Any]:
    """What containment changes on an instance, as the APIs report it now."""
    from ..actions.aws import _ec2_lookup as look

    inst = look.instance(ec2, instance_id)
    member = look.autoscaling_group(asg, instance_id)
    assoc = look.profile_association(ec2, instance_id)
    return {
        "principal": f"instance/{instance_id}",
        "state": (inst.get("State") or {}).get("Name"),
        "security_groups": {e["NetworkInterfaceId"]: look.eni_groups(e)
                            for e in look.network_interfaces(ec2, instance_id)},
        "termination_protection": bool(look.attribute(ec2, instance_id, "DisableApiTermination")),
        "shutdown_behavior": look.attribute(ec2, instance_id, "InstanceInitiatedShutdownBehavior"),
        "autoscaling_group": (member or {}).get("AutoScalingGroupName"),
        "target_groups": [r["target_group_arn"].rsplit("/", 2)[-2]
                          for r in look.target_registrations(elbv2, instance_id)],
        "instance_profile": ((assoc or {}).get("IamInstanceProfile") or {}).get("Arn"),
        "tags": {t["Key"]: t["Value"] for t in inst.get("Tags", []) if t["Key"].startswith("responder:")},
    }


def describe_bucket(s3: Any, name: str) -> dict[str, Any]:
    from ..actions.aws.s3 import public_access_block

    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    except Exception:
        policy = None
    return {"principal": f"bucket/{name}", "public_access_block": public_access_block(s3, name),
            "policy_statements": len((policy or {}).get("Statement", []))}


def describe_role_trust(iam: Any, role: str) -> dict[str, Any]:
    from ..actions.aws.iam_role import LOCKED_TRUST

    doc = iam.get_role(RoleName=role)["Role"].get("AssumeRolePolicyDocument")
    if isinstance(doc, str):
        from urllib.parse import unquote

        doc = json.loads(unquote(doc))
    return {"principal": f"role/{role} trust", "trust_policy_locked": doc == LOCKED_TRUST}


def describe_seeded(box: Any, finding: Finding) -> list[dict[str, Any]]:
    """Before/after rows for the CLI's sandbox table (one dict per resource, ``principal`` names it)."""
    rows: list[dict[str, Any]] = []
    for item in box.seeded.get("instances", []):
        rows.append(describe_instance(box.client("ec2"), box.client("autoscaling"), box.client("elbv2"),
                                      item["instance_id"]))
    for name in box.seeded.get("buckets", []):
        rows.append(describe_bucket(box.client("s3"), name))
    rows.extend(describe_new_kinds(box))  # Lambda, RDS, ECS (issue 17)
    for role in box.seeded.get("roles", []):
        try:
            rows.append(describe_role_trust(box.client("iam"), role))
        except Exception:
            continue
    return rows


# =============================================================================================
# Lambda functions, RDS instances and ECS tasks named by a finding (issue 17). Appended block.
# =============================================================================================
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DB = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
SANDBOX_OUTSIDE_ACCOUNT = "444455556666"  # the "attacker's" account the sandbox shares things with


def seed_new_kinds(box: Any, finding: Finding) -> None:
    """Seed the Lambda function, DB instance or ECS task the finding is about (its primary resource)."""
    res = finding.resource
    if finding.type.startswith("AttackSequence:"):  # a sequence names its buckets beside its principal
        for other in finding.resources:
            if other.kind == "s3_bucket":
                _seed_bucket(box, other.bucket_name)
    if res.kind == "lambda_function":
        seed_function(box, res.function_name)
    elif res.kind == "rds_instance":
        seed_db_instance(box, res.db_instance_identifier)
    elif res.kind == "ecs_task":
        seed_ecs_task(box, cluster=res.cluster_name or "sandbox-cluster", task_id=res.task_arn)


def _role(iam: Any, name: str, service: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                                                     "Action": "sts:AssumeRole"}]}
    try:
        return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    except iam.exceptions.EntityAlreadyExistsException:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])


def seed_function(box: Any, name: str | None) -> None:
    """A function with a secret-looking env var, a public URL and an invoke grant to an outside account."""
    import io
    import zipfile

    name = (name or "").rsplit(":", 1)[-1] if name and name.startswith("arn:") else name
    if not name or not _NAME.match(name):
        return
    role = _role(box.client("iam"), f"{name[:50]}-role", "lambda.amazonaws.com")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
    lam = box.client("lambda")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": buf.getvalue()},
                        Environment={"Variables": {"DB_PASSWORD": "sandbox-not-a-secret", "STAGE": "prod"}})
    lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="public-url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="outside-account", Action="lambda:InvokeFunction",
                       Principal=SANDBOX_OUTSIDE_ACCOUNT)
    box.seeded.setdefault("functions", []).append(name)
    box.seeded.setdefault("roles", []).append(f"{name[:50]}-role")


def seed_db_instance(box: Any, identifier: str | None) -> None:
    """A public DB instance in a VPC, with a managed master secret and a snapshot shared outside."""
    if not identifier or not _DB.match(identifier):
        return
    ec2, rds = box.client("ec2"), box.client("rds")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"{box.region}{z}")
               ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    group = ec2.create_security_group(GroupName="sandbox-db", Description="postgres from anywhere",
                                      VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    rds.create_db_subnet_group(DBSubnetGroupName="sandbox-db", DBSubnetGroupDescription="sandbox",
                               SubnetIds=subnets)
    rds.create_db_instance(DBInstanceIdentifier=identifier, DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="app", ManageMasterUserPassword=True, AllocatedStorage=20,
                           PubliclyAccessible=True, DBSubnetGroupName="sandbox-db", VpcSecurityGroupIds=[group])
    rds.create_db_snapshot(DBInstanceIdentifier=identifier, DBSnapshotIdentifier=f"{identifier}-export"[:255])
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=f"{identifier}-export"[:255], AttributeName="restore",
                                     ValuesToAdd=[SANDBOX_OUTSIDE_ACCOUNT])
    box.seeded.setdefault("databases", []).append(identifier)


def seed_ecs_task(box: Any, *, cluster: str, task_id: str | None) -> dict[str, Any]:
    """A running Fargate-like task with a task role, an env var and an ENI in a VPC.

    moto cannot run an ``awsvpc`` task (RunTask fails building the ENI attachment), so the task runs
    without one and gets an ENI attachment in the shape ECS reports (``attachments[].details``); the
    finding's task id is given to it, so the run meets the task the finding names.
    """
    from moto.ecs.models import ecs_backends

    ec2, ecs = box.client("ec2"), box.client("ecs")
    cluster = cluster if re.match(r"^[A-Za-z0-9_-]{1,255}$", cluster or "") else "sandbox-cluster"
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="sandbox-task", Description="task egress", VpcId=vpc)["GroupId"]
    eni = ec2.create_network_interface(SubnetId=subnet, Groups=[group],
                                       Description="arn:aws:ecs:attachment (sandbox)")["NetworkInterface"]
    role = "sandbox-task-role"
    role_arn = _role(box.client("iam"), role, "ecs-tasks.amazonaws.com")
    ecs.create_cluster(clusterName=cluster)
    # networkMode is left at its default: moto refuses awsvpc without a network configuration and fails
    # with one; the attachment below gives the task the ENI an awsvpc task has.
    ecs.register_task_definition(family="sandbox-payments", taskRoleArn=role_arn, cpu="256", memory="512",
                                 containerDefinitions=[{"name": "api", "image": "public.ecr.aws/nginx/nginx:latest",
                                                        "memory": 512, "environment": [
                                                            {"name": "PAYMENT_API_KEY",
                                                             "value": "sandbox-not-a-real-key"}]}])
    ecs.run_task(cluster=cluster, taskDefinition="sandbox-payments", launchType="FARGATE")
    backend = ecs_backends[box.account_id][box.region]
    task = next(iter(backend.tasks[cluster].values()))
    wanted = (task_id or "").rsplit("/", 1)[-1]
    if re.fullmatch(r"[a-f0-9]{32}", wanted):
        backend.tasks[cluster].pop(task.task_arn)  # moto keys tasks by ARN, which the id is part of
        task.id = wanted
        backend.tasks[cluster][task.task_arn] = task
    task.attachments = [{"id": "00000000-0000-4000-8000-000000000001", "type": "ElasticNetworkInterface",
                         "status": "ATTACHED", "details": [
                             {"name": "subnetId", "value": subnet},
                             {"name": "networkInterfaceId", "value": eni["NetworkInterfaceId"]},
                             {"name": "privateIPv4Address", "value": eni.get("PrivateIpAddress", "")}]}]
    arn = ecs.list_tasks(cluster=cluster)["taskArns"][0]
    seeded = {"cluster": cluster, "task_arn": arn, "eni": eni["NetworkInterfaceId"], "vpc_id": vpc,
              "security_group_id": group, "task_role": role}
    box.seeded.setdefault("tasks", []).append(seeded)
    box.seeded.setdefault("roles", []).append(role)
    return seeded


def describe_new_kinds(box: Any) -> list[dict[str, Any]]:
    """Before/after rows for functions, databases and tasks the sandbox seeded."""
    rows: list[dict[str, Any]] = []
    for name in box.seeded.get("functions", []):
        lam = box.client("lambda")
        try:
            auth = lam.get_function_url_config(FunctionName=name).get("AuthType")
        except Exception:
            auth = None
        try:
            sids = sorted(s["Sid"] for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"])
        except Exception:
            sids = []
        rows.append({"principal": f"function/{name}", "url_auth": auth, "policy_statements": sids,
                     "reserved_concurrency": lam.get_function_concurrency(FunctionName=name).get(
                         "ReservedConcurrentExecutions")})
    for ident in box.seeded.get("databases", []):
        rds = box.client("rds")
        db = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
        snap = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=f"{ident}-export"[:255])
        rows.append({"principal": f"db/{ident}", "publicly_accessible": db.get("PubliclyAccessible"),
                     "security_groups": sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])),
                     "snapshot_shared_with": snap["DBSnapshotAttributesResult"]["DBSnapshotAttributes"][0][
                         "AttributeValues"]})
    for task in box.seeded.get("tasks", []):
        eni = box.client("ec2").describe_network_interfaces(NetworkInterfaceIds=[task["eni"]])["NetworkInterfaces"][0]
        rows.append({"principal": f"task/{task['task_arn'].rsplit('/', 1)[-1]}",
                     "security_groups": sorted(g["GroupId"] for g in eni.get("Groups", []))})
    return rows
