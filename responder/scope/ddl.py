"""Athena DDL for the standard tables the Athena backend queries.

CloudTrail: the table from the AWS CloudTrail docs ("Creating the table for CloudTrail logs in Athena
using partition projection"): JSON SerDe, ``requestparameters`` / ``responseelements`` as strings,
projection on ``region`` and ``timestamp`` ('yyyy/MM/dd'). Flow logs: the v2 default fields with
projection on ``day``. Names and locations come from flags, never from findings; they are still
checked, because they are spliced into DDL text.
"""

from __future__ import annotations

import re

from ..errors import BadInput

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_S3 = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*()/=-]*)?$")
_ACCOUNT = re.compile(r"^\d{12}$")
REGIONS = (
    "us-east-1,us-east-2,us-west-1,us-west-2,af-south-1,ap-east-1,ap-south-1,ap-south-2,ap-northeast-1,"
    "ap-northeast-2,ap-northeast-3,ap-southeast-1,ap-southeast-2,ap-southeast-3,ap-southeast-4,ca-central-1,"
    "ca-west-1,eu-central-1,eu-central-2,eu-west-1,eu-west-2,eu-west-3,eu-north-1,eu-south-1,eu-south-2,"
    "il-central-1,me-south-1,me-central-1,sa-east-1"
)


def ident(value: str, what: str) -> str:
    if not _IDENT.match(value or ""):
        raise BadInput(f"{what} {value!r} is not a plain identifier", hint="letters, digits and _ only")
    return value


def _location(url: str | None, kind: str, account: str | None) -> str:
    if not url or not url.startswith("s3://"):
        raise BadInput(f"--print-ddl needs the {kind} location in S3", hint=f"pass --{kind} s3://BUCKET[/PREFIX]")
    url = url.rstrip("/") + "/"
    if not _S3.match(url):
        raise BadInput(f"{url!r} is not an S3 location responder accepts", hint="s3://bucket/prefix/")
    folder = "CloudTrail" if kind == "cloudtrail" else "vpcflowlogs"
    if "/AWSLogs/" not in url:
        if not account or not _ACCOUNT.match(account):
            raise BadInput(
                "--print-ddl needs the account id for a bucket-level location",
                hint=f"pass --account 123456789012, or --{kind} s3://BUCKET/AWSLogs/ACCOUNT/{folder}/",
            )
        url = f"{url}AWSLogs/{account}/{folder}/"
    elif not url.rstrip("/").endswith(folder):
        url = f"{url}{folder}/"
    return url


def cloudtrail_ddl(
    location: str, *, database: str = "default", table: str = "cloudtrail_logs", start: str = "2013/01/01"
) -> str:
    db, tb = ident(database, "database"), ident(table, "table")
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS {db}.{tb} (
    eventversion STRING,
    useridentity STRUCT<
        type: STRING, principalid: STRING, arn: STRING, accountid: STRING, invokedby: STRING,
        accesskeyid: STRING, username: STRING, onbehalfof: STRUCT<userid: STRING, identitystorearn: STRING>,
        sessioncontext: STRUCT<
            attributes: STRUCT<mfaauthenticated: STRING, creationdate: STRING>,
            sessionissuer: STRUCT<type: STRING, principalid: STRING, arn: STRING, accountid: STRING,
                                  username: STRING>,
            ec2roledelivery: STRING, webidfederationdata: STRUCT<federatedprovider: STRING,
                                                                 attributes: MAP<STRING, STRING>>,
            sourceidentity: STRING>>,
    eventtime STRING,
    eventsource STRING,
    eventname STRING,
    awsregion STRING,
    sourceipaddress STRING,
    useragent STRING,
    errorcode STRING,
    errormessage STRING,
    requestparameters STRING,
    responseelements STRING,
    additionaleventdata STRING,
    requestid STRING,
    eventid STRING,
    readonly STRING,
    resources ARRAY<STRUCT<arn: STRING, accountid: STRING, type: STRING>>,
    eventtype STRING,
    apiversion STRING,
    recipientaccountid STRING,
    serviceeventdetails STRING,
    sharedeventid STRING,
    vpcendpointid STRING,
    vpcendpointaccountid STRING,
    eventcategory STRING,
    addendum STRUCT<reason: STRING, updatedfields: STRING, originalrequestid: STRING, originaleventid: STRING>,
    sessioncredentialfromconsole STRING,
    edgedevicedetails STRING,
    tlsdetails STRUCT<tlsversion: STRING, ciphersuite: STRING, clientprovidedhostheader: STRING>
)
PARTITIONED BY (region STRING, `timestamp` STRING)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{location}'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.region.type' = 'enum',
    'projection.region.values' = '{REGIONS}',
    'projection.timestamp.type' = 'date',
    'projection.timestamp.format' = 'yyyy/MM/dd',
    'projection.timestamp.interval' = '1',
    'projection.timestamp.interval.unit' = 'DAYS',
    'projection.timestamp.range' = '{start},NOW',
    'storage.location.template' = '{location}${{region}}/${{timestamp}}'
);"""


def flow_ddl(
    location: str, *, database: str = "default", table: str = "vpc_flow_logs", start: str = "2015/01/01"
) -> str:
    db, tb = ident(database, "database"), ident(table, "table")
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS {db}.{tb} (
    version INT, account_id STRING, interface_id STRING, srcaddr STRING, dstaddr STRING, srcport INT,
    dstport INT, protocol BIGINT, packets BIGINT, bytes BIGINT, start BIGINT, `end` BIGINT, action STRING,
    log_status STRING
)
PARTITIONED BY (region STRING, day STRING)
ROW FORMAT DELIMITED FIELDS TERMINATED BY ' '
LOCATION '{location}'
TBLPROPERTIES (
    'skip.header.line.count' = '1',
    'projection.enabled' = 'true',
    'projection.region.type' = 'enum',
    'projection.region.values' = '{REGIONS}',
    'projection.day.type' = 'date',
    'projection.day.format' = 'yyyy/MM/dd',
    'projection.day.range' = '{start},NOW',
    'projection.day.interval' = '1',
    'projection.day.interval.unit' = 'DAYS',
    'storage.location.template' = '{location}${{region}}/${{day}}'
);"""


def print_ddl(*, cloudtrail: str | None, flow_logs: str | None, account: str | None, database: str = "default") -> str:
    parts = [cloudtrail_ddl(_location(cloudtrail, "cloudtrail", account), database=database)]
    if flow_logs:
        parts.append(flow_ddl(_location(flow_logs, "flow-logs", account), database=database))
    return "\n\n".join(parts)
