from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.approval_drill import ONCALL, Drill, start
from tests.slack_double import SlackDouble


@pytest.fixture
def slack() -> Iterator[SlackDouble]:
    with SlackDouble(groups={"S0ONCALL": [ONCALL], "S0LEADS": ["U0LEAD"]}) as double:
        yield double


@pytest.fixture
def drill(moto_endpoint: str, slack: SlackDouble, monkeypatch: pytest.MonkeyPatch) -> Drill:
    return start(monkeypatch, moto_endpoint, slack)
