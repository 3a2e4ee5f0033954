"""responder.forensics for notebooks, and the shipped notebooks executed (nbclient) on generated data."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import responder.forensics as rf
from responder.samples import GroundTruth, generate
from tests.conftest import requires_datasets
from tests.scope.conftest import PUBLISHED_CT, PUBLISHED_FLOW

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> GroundTruth:
    return generate(tmp_path_factory.mktemp("logs"), 8_000)


def test_dataframes_for_the_same_subject_and_window(logs: GroundTruth, tmp_path: Path) -> None:
    key = logs.story.access_key_id
    with rf.open(cloudtrail=logs.cloudtrail_dir, flow_logs=logs.flow_logs_dir, cache_dir=tmp_path) as fx:
        timeline = fx.timeline(access_key=key, since="2026-11-20", until="2026-11-21")
        assert set(timeline["event_id"]) == set(logs.story_event_ids)
        assert timeline["event_time"].is_monotonic_increasing
        calls = fx.api_calls(access_key=key, since="2026-11-20")
        assert int(calls["count"].sum()) == len(logs.story_event_ids)
        assert set(fx.resources(access_key=key)["kind"]) >= {"s3_object", "secret", "instance", "iam_user"}
        assert list(fx.persistence(access_key=key)["event_name"]) == logs.persistence
        assert set(fx.source_ips(access_key=key)["ip"]) == {logs.story.attacker_ip, logs.story.second_ip}
        egress = fx.egress(access_key=key)
        assert int(egress["bytes"].iloc[0]) == logs.egress[0].bytes
        alone = fx.timeline(access_key=key, follow_pivots=False)
        assert len(alone) < len(timeline) and set(alone["access_key_id"]) == {key}
        assert set(fx.keys(access_key=key)["pivot"]) == {"seed", "AssumeRole", "CreateAccessKey", "console session"}
        tactics = fx.techniques(access_key=key)
        assert set(tactics["tactic"]) == set(logs.tactics) and str(tactics["first"].dt.tz) == "UTC"
        assert list(fx.external_accounts(access_key=key)["account_id"]) == logs.external_accounts


@pytest.mark.parametrize("name", ["triage.ipynb", "leaked-key-investigation.ipynb"])
def test_notebooks_execute_with_plots(name: str, logs: GroundTruth, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONDER_CLOUDTRAIL", str(logs.cloudtrail_dir))
    monkeypatch.setenv("RESPONDER_FLOW_LOGS", str(logs.flow_logs_dir))
    monkeypatch.setenv("SCOPE_ACCESS_KEY", logs.story.access_key_id)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= (3 if name == "triage.ipynb" else 1)


def _run(name: str) -> list[dict]:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def test_notebooks_say_no_egress_seen_and_why(logs: GroundTruth, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without flow logs the egress chart states it, rather than showing an empty frame."""
    monkeypatch.setenv("RESPONDER_CLOUDTRAIL", str(logs.cloudtrail_dir))
    monkeypatch.setenv("RESPONDER_FLOW_LOGS", "")
    monkeypatch.setenv("SCOPE_ACCESS_KEY", logs.story.access_key_id)
    outputs = _run("triage.ipynb")
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "No egress seen: no VPC Flow Logs were read, so egress is unknown." in text
    assert not [o for o in outputs if o.get("output_type") == "error"]


def test_time_axis_names_the_day_and_the_zone() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, ax = plt.subplots()
    times = pd.to_datetime(["2026-11-20 14:05:00", "2026-11-20 14:40:00"])
    ax.plot(times, [1, 2])
    rf.time_axis(ax, times)
    assert ax.get_xlabel() == "time (UTC), 2026-11-20"
    plt.close(fig)


@requires_datasets
@pytest.mark.parametrize("name", ["triage.ipynb", "leaked-key-investigation.ipynb"])
def test_notebooks_execute_on_the_published_story(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Story B of the shared corpus (CloudGoat cloud_breach_s3, a stolen role session)."""
    monkeypatch.setenv("RESPONDER_CLOUDTRAIL", str(PUBLISHED_CT))
    monkeypatch.setenv("RESPONDER_FLOW_LOGS", str(PUBLISHED_FLOW))
    monkeypatch.setenv("SCOPE_ACCESS_KEY", "ASIA5FLZVX4OPVKKVBMX")
    outputs = _run(name)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert [o for o in outputs if "image/png" in o.get("data", {})]
