"""Finding log files in the layouts AWS writes, and nothing else that shares the tree.

CloudTrail: ``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz``; digest
(``CloudTrail-Digest``) and Insights (``CloudTrail-Insight``) folders sit beside it and are skipped.
Flow logs: ``AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/*.log.gz`` or ``*.parquet`` (also
Hive-style ``year=/month=/day=`` folders). A single file passed directly is taken as it is.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput

_DATE_PATH = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/")
_HIVE_DATE = re.compile(r"year=(\d{4})/month=(\d{2})/day=(\d{2})/")
_SKIP_DIRS = {"CloudTrail-Digest", "CloudTrail-Insight"}


@dataclass(frozen=True)
class LogFile:
    path: str
    size: int
    mtime_ns: int
    log_day: str | None  # 'YYYY/MM/DD' from the folder, when the layout has one


def log_day(path: str) -> str | None:
    norm = path.replace(os.sep, "/")
    match = _DATE_PATH.search(norm) or _HIVE_DATE.search(norm)
    return "/".join(match.groups()) if match else None


def _walk(root: Path, accept: callable) -> list[LogFile]:  # type: ignore[valid-type]
    if root.is_file():
        st = root.stat()
        return [LogFile(str(root.resolve()), st.st_size, st.st_mtime_ns, log_day(str(root)))]
    if not root.is_dir():
        raise BadInput(
            f"no such file or folder: {root}",
            hint="pass the folder that holds AWSLogs/ (or set RESPONDER_CLOUDTRAIL / RESPONDER_FLOW_LOGS)",
        )
    found: list[LogFile] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            if accept(folder, name):
                path = os.path.join(folder, name)
                st = os.stat(path)
                found.append(LogFile(path, st.st_size, st.st_mtime_ns, log_day(path)))
    return found


def _cloudtrail_file(folder: str, name: str) -> bool:
    if not (name.endswith(".json.gz") or name.endswith(".json")):
        return False
    return "_CloudTrail-Digest_" not in name and "_CloudTrail-Insight_" not in name


def _flow_file(folder: str, name: str) -> bool:
    return name.endswith((".log.gz", ".log", ".parquet", ".txt.gz")) and not name.startswith(".")


def cloudtrail_files(root: Path) -> list[LogFile]:
    return _walk(Path(root).expanduser(), _cloudtrail_file)


def flow_files(root: Path) -> list[LogFile]:
    return _walk(Path(root).expanduser(), _flow_file)


def in_window(files: list[LogFile], since_day: str, until_day: str) -> list[LogFile]:
    """Files whose folder date lies in the (already widened) window; undated files always count."""
    return [f for f in files if f.log_day is None or since_day <= f.log_day <= until_day]
