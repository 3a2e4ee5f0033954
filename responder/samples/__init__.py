"""Generated CloudTrail and VPC Flow Logs in the real S3 layouts, with an attack story hidden in noise.

``generate(out_dir, records)`` writes ``out_dir/cloudtrail/AWSLogs/...`` (``{"Records": [...]}`` gzip,
5-minute-or-longer delivery files per region, digest files beside them) and ``out_dir/flowlogs/AWSLogs/...``
(v2 default format with header, gzip text or Parquet), and returns the story's :class:`GroundTruth`.
``records`` counts both: 80 % CloudTrail records, 20 % flow-log lines.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from .model import EgressTruth, GroundTruth, StoryParams
from .noise import Noise, flow_lines
from .records import key_id
from .story import Story

__all__ = ["EgressTruth", "GroundTruth", "StoryParams", "generate"]

FLOW_HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
)
_REGION_WEIGHTS = {"us-east-1": 0.6, "us-west-2": 0.25, "eu-west-1": 0.15}
_PARQUET_COLUMNS = FLOW_HEADER.replace("-", "_").split()


def _slot_seconds(span: float, records: int, regions: int) -> int:
    """Real trails deliver every ~5 minutes; small data sets get longer slots so files stay realistic in size."""
    per_file = 1500
    seconds = span * regions * per_file / max(records, 1)
    return max(300, int(seconds // 300) * 300)


def _ct_path(root: Path, account: str, region: str, at: datetime, rng: random.Random) -> Path:
    day = root / "AWSLogs" / account / "CloudTrail" / region / at.strftime("%Y/%m/%d")
    name = f"{account}_CloudTrail_{region}_{at.strftime('%Y%m%dT%H%MZ')}_{key_id(rng, '')[:16]}.json.gz"
    return day / name


def _write_ct(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"Records": records}, separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(body, compresslevel=3, mtime=0))


def _write_flow(path: Path, lines: list[str], fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: list[list[Any]] = [[] for _ in _PARQUET_COLUMNS]
        for line in lines:
            for index, value in enumerate(line.split()):
                columns[index].append(None if value == "-" else value)
        ints = {"version", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end"}
        arrays = [
            pa.array([None if v is None else int(v) for v in col], pa.int64())
            if name in ints
            else pa.array(col, pa.string())
            for name, col in zip(_PARQUET_COLUMNS, columns, strict=True)
        ]
        pq.write_table(pa.table(arrays, names=_PARQUET_COLUMNS), path)
        return
    body = FLOW_HEADER + "\n" + "\n".join(lines) + "\n"
    path.write_bytes(gzip.compress(body.encode(), compresslevel=3, mtime=0))


def generate(
    out_dir: Path,
    records: int,
    *,
    story: StoryParams | None = None,
    seed: int = 7,
    flow_format: Literal["text", "parquet"] = "text",
) -> GroundTruth:
    """Write a data set of about ``records`` records and return its answer key."""
    params = story or StoryParams()
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    ct_root, flow_root = out_dir / "cloudtrail", out_dir / "flowlogs"
    span_start = (params.start - timedelta(hours=36)).replace(minute=0, second=0, microsecond=0)
    span_end = params.start + timedelta(hours=12)
    truth = GroundTruth(
        story=params, cloudtrail_dir=ct_root, flow_logs_dir=flow_root, span_start=span_start, span_end=span_end
    )
    tale = Story(params, rng, truth)
    tale.build()
    noise = Noise(params, rng, span_start)
    fixed = tale.records + tale.trap(noise.trap_user.identity) + noise.special
    ct_total = max(int(records * 0.8), len(fixed))
    flow_total = max(records - ct_total, len(tale.flows))
    noise_ct = ct_total - len(fixed)
    span = (span_end - span_start).total_seconds()
    regions = dict(_REGION_WEIGHTS)
    if params.region not in regions:
        regions = {params.region: 0.6, "us-west-2": 0.25, "eu-west-1": 0.15}
    slot = _slot_seconds(span, ct_total, len(regions))
    slots = int(span // slot) + 1

    placed: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in fixed:
        at = datetime.fromisoformat(rec["eventTime"].replace("Z", "+00:00"))
        placed[(int((at - span_start).total_seconds() // slot), rec["awsRegion"])].append(rec)
    story_flows: dict[tuple[int, str], list[str]] = defaultdict(list)
    for region, line in tale.flows:
        start = int(line.split()[10])
        story_flows[(int((start - span_start.timestamp()) // slot), region)].append(line)

    enis = {
        region: [
            ("eni-0" + f"{rng.getrandbits(64):016x}", f"10.{10 + index}.{rng.randint(0, 255)}.{rng.randint(4, 250)}")
            for _ in range(30)
        ]
        for index, region in enumerate(sorted({*regions, "us-west-2"}))
    }
    flow_ids = {region: f"fl-0{rng.getrandbits(56):014x}" for region in enis}
    ct_files = flow_files = ct_count = flow_count = 0
    keys = sorted({*regions, *(r for _, r in placed)} | {r for _, r in story_flows})
    for index in range(slots):
        begin = span_start + timedelta(seconds=index * slot)
        end = begin + timedelta(seconds=slot)
        for region in keys:
            weight = regions.get(region, 0.0)
            count = int(noise_ct * weight / slots + rng.random())
            batch = noise.records(count, begin, slot, region) + placed.pop((index, region), [])
            if batch:
                rng.shuffle(batch)
                _write_ct(_ct_path(ct_root, params.account_id, region, end, rng), batch)
                ct_files += 1
                ct_count += len(batch)
            if region not in enis:
                continue
            fcount = int(flow_total * (weight or 0.05) / slots + rng.random())
            lines = flow_lines(rng, params.account_id, fcount, int(begin.timestamp()), slot, enis[region])
            lines += story_flows.pop((index, region), [])
            if lines:
                lines.sort(key=lambda ln: ln.split()[10])
                suffix = "log.parquet" if flow_format == "parquet" else "log.gz"
                name = (
                    f"{params.account_id}_vpcflowlogs_{region}_{flow_ids[region]}_{end.strftime('%Y%m%dT%H%MZ')}"
                    f"_{rng.getrandbits(32):08x}.{suffix}"
                )
                folder = flow_root / "AWSLogs" / params.account_id / "vpcflowlogs" / region / end.strftime("%Y/%m/%d")
                _write_flow(folder / name, lines, flow_format)
                flow_files += 1
                flow_count += len(lines)
    if placed or story_flows:  # a story record outside every slot would silently vanish from the data
        raise RuntimeError(f"story records not written: {sorted(placed)} {sorted(story_flows)}")
    # digest files share the tree in real buckets; scope must skip them
    digest = (
        ct_root
        / "AWSLogs"
        / params.account_id
        / "CloudTrail-Digest"
        / params.region
        / params.start.strftime("%Y/%m/%d")
        / (
            f"{params.account_id}_CloudTrail-Digest_{params.region}_trail_"
            f"{params.region}_{params.start.strftime('%Y%m%dT%H%M%SZ')}.json.gz"
        )
    )
    digest.parent.mkdir(parents=True, exist_ok=True)
    digest.write_bytes(
        gzip.compress(
            json.dumps(
                {"awsAccountId": params.account_id, "logFiles": [], "digestSignatureAlgorithm": "SHA256withRSA"}
            ).encode(),
            mtime=0,
        )
    )
    truth.cloudtrail_records, truth.flow_records = ct_count, flow_count
    truth.cloudtrail_files, truth.flow_files = ct_files, flow_files
    return truth
