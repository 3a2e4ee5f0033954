"""Shared data for the scope tests: the published logs (read in place) and one generated data set."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.samples import GroundTruth, generate
from tests.conftest import DATASETS

LOGS = DATASETS / "logs"
PUBLISHED_CT = LOGS / "cloudtrail"
PUBLISHED_FLOW = LOGS / "flowlogs"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GroundTruth:
    """20k records (16k CloudTrail, 4k flow lines) with the leaked-key story; generated once per session."""
    return generate(tmp_path_factory.mktemp("samples"), 20_000)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"
