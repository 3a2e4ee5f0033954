"""The one path every way in calls: ``respond`` (findings → runs) and ``decide`` (approvals).

The CLI, the Lambda handlers and notebooks translate their payloads (argv, an EventBridge event, a
Slack click, a notebook call) into findings or a decision and call these; none of them selects
playbooks, records triage, keeps finding versions, retries or records decisions on its own.
"""

from __future__ import annotations

from .decide import decide
from .respond import Responder, exit_code

__all__ = ["Responder", "decide", "exit_code"]
