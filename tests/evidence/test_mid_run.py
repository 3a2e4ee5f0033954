"""Evidence or store removed while a run is under way: the run never ends ``succeeded`` over the loss.

A whole shipped playbook runs on real parts (moto over HTTP, SQLite, the local evidence folder); an
observer — the engine's own progress hook — removes the folder or the store file right after the
first evidence step, as an operator's cleanup script or an attacker would.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from responder.config import load_settings
from responder.engine.events import EngineEvent
from responder.errors import StoreDamaged
from responder.evidence.local import LocalLocker
from tests.helpers import engine, finding_of, sample_event, seed_user, shipped


def _remove_after_first_step(target: Path) -> Any:
    done = {"removed": False}

    def observer(event: EngineEvent) -> None:
        if event.kind == "step_finished" and event.step_id == "record_finding" and not done["removed"]:
            done["removed"] = True
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()

    return observer


@pytest.mark.usefixtures("with_scope_logs")
def test_evidence_folder_removed_mid_run_is_not_succeeded_and_verify_names_it(moto_endpoint: str) -> None:
    seed_user()
    settings = load_settings()
    evidence_root = Path(settings.evidence_url[len("file://") :])
    eng = engine(observer=_remove_after_first_step(evidence_root))
    result = eng.run(shipped(), finding_of(sample_event()))
    assert result.status != "succeeded"
    failed = [s for s in result.steps if s["status"] == "failed"]
    assert failed and any("changed outside responder" in (s.get("error") or "") for s in failed)
    report = eng.evidence.verify(result.run_id)
    assert isinstance(eng.evidence, LocalLocker)
    assert {"custody_truncated", "artifact_removed"} <= {p["kind"] for p in report.problems}


@pytest.mark.usefixtures("with_scope_logs")
def test_store_removed_mid_run_stops_the_run_with_store_damaged(moto_endpoint: str) -> None:
    seed_user()
    settings = load_settings()
    store_path = Path(settings.store_url[len("sqlite:///") :])
    eng = engine(observer=_remove_after_first_step(store_path))
    with pytest.raises(StoreDamaged, match="was removed while responder was using it"):
        eng.run(shipped(), finding_of(sample_event()))
