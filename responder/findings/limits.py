"""Bounds on hostile input: every event and playbook responder reads is held to these, in linear time.

Events and playbooks come from outside (an EventBridge bus, a file an operator was sent, a playbook in a
pull request). Without bounds a few hundred bytes can hang or crash the reader: a YAML "billion laughs"
expands exponentially, recursive aliases never end, JSON or YAML nested thousands deep exhausts Python's
stack, a 5,000-digit integer exceeds Python's integer-conversion limit, ``NaN``/``Infinity``/``1e999``
break every later ``int()``, a lone surrogate (``"\\ud800"``) cannot be written to SQLite, a log or Slack.
Each bound below is far above what AWS publishes and far below what hurts; beyond it the reader raises a
``BadInput`` (exit 2) that names the file or event and what exceeded which limit, before any playbook runs.

=====================  ============  ==========================================================
limit                  value         why this value
=====================  ============  ==========================================================
MAX_EVENT_BYTES        16 MiB        EventBridge and SNS deliver at most 256 KiB; a file of
                                     thousands of exported findings fits, and decoding the
                                     largest allowed file takes well under a second
MAX_FINDINGS           5,000         per file or event; GetFindings pages hold 50, EventBridge
                                     Security Hub events up to 100, BatchImportFindings 100
MAX_JSON_DEPTH         64            GuardDuty, ASFF and OCSF findings nest about 10 deep, an
                                     envelope and an SNS wrapper add 3
MAX_INT_DIGITS         100           AWS numbers are ports, counts, ASNs, epoch milliseconds
MAX_PLAYBOOK_BYTES     1 MiB         the shipped playbooks are under 10 KiB
MAX_YAML_DEPTH         64            the shipped playbooks nest 6 deep
MAX_YAML_NODES         20,000        after alias expansion (an alias counts every time it is used);
                                     the shipped playbooks have under 500
=====================  ============  ==========================================================
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import FindingInvalid

MAX_EVENT_BYTES = 16 * 1024 * 1024
MAX_FINDINGS = 5_000
MAX_JSON_DEPTH = 64
MAX_INT_DIGITS = 100
MAX_PLAYBOOK_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 20_000

_MAX_INT_BITS = int(MAX_INT_DIGITS * 3.33) + 4  # a decoded int of more than ~MAX_INT_DIGITS digits


class _TooBig(ValueError):
    """Raised inside the JSON decoder's hooks; turned into FindingInvalid with the event's name."""


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _TooBig(
            f"a number with {len(digits.lstrip('-'))} digits exceeds the limit of {MAX_INT_DIGITS} (MAX_INT_DIGITS)"
        )
    return int(digits)


def _finite_float(digits: str) -> float:
    value = float(digits)
    if math.isinf(value):
        raise _TooBig(f"the number {digits[:20]}… is beyond the range of a float")
    return value


def _no_constant(name: str) -> float:
    raise _TooBig(f"{name} is not a JSON number")


def decode_json(text: str, name: str, field: str = "(root)", *, check: bool = True) -> Any:
    """``json.loads`` held to the limits: depth, number size, Unicode. Raises ``json.JSONDecodeError`` for
    malformed text (callers word that themselves) and ``FindingInvalid`` for a limit exceeded.

    ``check=False`` leaves the structure pass to the caller (who first counts the findings, cheaply)."""
    try:
        data = json.loads(text, parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant)
    except _TooBig as exc:
        raise FindingInvalid(name, field, str(exc)) from None
    except RecursionError:
        raise FindingInvalid(
            name, field, f"nested deeper than the limit of {MAX_JSON_DEPTH} levels (MAX_JSON_DEPTH)"
        ) from None
    if check:
        check_structure(data, name, field)
    return data


def check_structure(data: Any, name: str, field: str = "(root)") -> None:
    """Depth, integer size and valid Unicode of already-decoded data (a Lambda's event, a decoded file).

    One pass, no recursion; the path of a problem is found by a second, slower pass only when there is one.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_JSON_DEPTH:
                break
            for key, item in value.items():
                if isinstance(key, str) and not _valid_text(key):
                    break
                stack.append((item, depth + 1))
            else:
                continue
            break
        elif isinstance(value, list):
            if depth > MAX_JSON_DEPTH:
                break
            stack.extend((item, depth + 1) for item in value)
        elif _bad_scalar(value):
            break
    else:
        return
    where, problem = _locate(data)
    if len(where) > 120:
        where = where[:100] + "…"
    raise FindingInvalid(name, _join(field, where), problem)


def _bad_scalar(value: Any) -> bool:
    """A string that is not valid Unicode, an integer beyond MAX_INT_DIGITS, a float that is not finite."""
    if isinstance(value, str):
        return not _valid_text(value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value.bit_length() > _MAX_INT_BITS
    return isinstance(value, float) and not math.isfinite(value)


def _valid_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _join(field: str, where: str) -> str:
    if not where:
        return field
    if field in ("", "(root)"):
        return where.lstrip(".")
    return f"{field}{where}"


def _locate(data: Any) -> tuple[str, str]:
    """Where the first problem is, as a dotted path, and what it is (only called when there is one)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
            return path, f"nested deeper than the limit of {MAX_JSON_DEPTH} levels (MAX_JSON_DEPTH)"
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and not _valid_text(key):
                    return path, "a key holds a lone surrogate (not valid Unicode)"
                stack.append((item, depth + 1, f"{path}.{str(key)[:40]}"))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{path}[{index}]") for index, item in enumerate(value))
        elif isinstance(value, str) and not _valid_text(value):
            return path, "holds a lone surrogate (not valid Unicode)"
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _MAX_INT_BITS:
            return path, f"a number of more than {MAX_INT_DIGITS} digits exceeds the limit (MAX_INT_DIGITS)"
        elif isinstance(value, float) and not math.isfinite(value):
            return path, f"{value} is not a JSON number"
    return "", "exceeds a limit"


def check_count(count: int, name: str, field: str = "(root)") -> None:
    if count > MAX_FINDINGS:
        raise FindingInvalid(
            name, field, f"holds {count} findings, more than the limit of {MAX_FINDINGS} per event (MAX_FINDINGS)"
        )
