"""Every way a SQLite run store can be damaged is answered with StoreDamaged (exit 2) naming the file and
the next step — never a traceback, never a silent empty store that would start a finding's run again.

Each fault is made for real on a real file: truncation, corruption, a broken row, a directory, a
read-only file (a process without write access), a size limit (RLIMIT_FSIZE), a zero-byte file, a
dropped table, the file removed or replaced mid-run. ``responder runs`` and ``responder doctor`` are run
as real processes against each damaged store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from responder.errors import StoreDamaged
from responder.evidence.base import check_not_forgotten, has_run
from responder.evidence.local import open_locker
from responder.state.sqlite import SqliteStore
from tests.state.contract import run_record

AT = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def seeded(path: Path, runs: int = 30) -> SqliteStore:
    store = SqliteStore(path)
    for n in range(runs):
        store.claim_run(run_record(f"run-{n:03d}", f"f-{n}"))
        store.audit(f"run-{n:03d}", AT, "run_created", actor="t", note="x" * 400)
    store.close()
    return store


def truncate_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[100:8192] = b"\xa5" * (8192 - 100)  # the header's tail and the first pages of the b-trees
    path.write_bytes(bytes(data))


def corrupt_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:16] = b"not sqlite at al"
    path.write_bytes(bytes(data))


def zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def drop_table(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE items")
    conn.close()


def a_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "something").write_text("x")


def broken_row(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE items SET data='{\"run_id\": \"run-007\", trunc' WHERE pk='RUN#run-007' AND sk='META'")
    conn.commit()
    conn.close()


FAULTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (truncate_half, "truncated or corrupt"),
    "corrupt pages": (corrupt_pages, "truncated or corrupt"),
    "corrupt header": (corrupt_header, "truncated or corrupt"),
    "zero bytes": (zero_bytes, "is empty (0 bytes)"),
    "dropped table": (drop_table, "was dropped"),
    "a directory": (a_directory, "is a directory"),
    "broken row": (broken_row, "RUN#run-007 / META is damaged"),
}


def _read_everything(path: Path) -> None:
    store = SqliteStore(path)
    store.list_runs()
    store.get_run("run-007")
    store.claim_run(run_record("run-new", "f-new"))


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_is_named_with_the_store_and_what_to_do(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "runs.sqlite3"
    seeded(path)
    damage, said = FAULTS[fault]
    damage(path)
    with pytest.raises(StoreDamaged) as caught:
        _read_everything(path)
    assert str(path) in str(caught.value) and said in str(caught.value)
    assert caught.value.exit_code == 2 and caught.value.hint


def test_a_zero_byte_or_dropped_store_is_never_silently_recreated(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    seeded(path)
    drop_table(path)
    for _ in range(2):  # opening again does not "repair" it into an empty store
        with pytest.raises(StoreDamaged, match="dropped"):
            SqliteStore(path)
    zero_bytes(path)
    with pytest.raises(StoreDamaged, match="0 bytes"):
        SqliteStore(path)
    assert path.stat().st_size == 0


def test_removed_mid_run_stops_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = SqliteStore(path)
    store.claim_run(run_record("run-1"))
    path.unlink()
    with pytest.raises(StoreDamaged, match="was removed while responder was using it"):
        store.update_run("run-1", status="succeeded")


def test_replaced_mid_run_stops_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = SqliteStore(path)
    store.claim_run(run_record("run-1"))
    other = tmp_path / "other.sqlite3"
    SqliteStore(other).close()
    os.replace(other, path)
    with pytest.raises(StoreDamaged, match="replaced by another file"):
        store.get_run("run-1")


def test_table_dropped_while_open_is_named(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = SqliteStore(path)
    store.claim_run(run_record("run-1"))
    drop_table(path)
    with pytest.raises(StoreDamaged, match="dropped while in use"):
        store.get_run("run-1")


def _child(code: str, path: Path, *, as_nobody: bool = False, fsize: int | None = None) -> subprocess.CompletedProcess:
    """Run store code in a real process: without write access, or under a file-size limit."""
    script = (
        "import os, resource, signal, sqlite3, json, contextlib, random, threading, time\n"
        "from responder.errors import StoreDamaged\n"
        "from responder.state.sqlite import SqliteStore\n"
        "from tests.state.contract import run_record\n"
    )
    if fsize is not None:
        script += (
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize}))\n"
        )
    if as_nobody and os.geteuid() == 0:
        script += "os.setgid(65534); os.setuid(65534)\n"  # root ignores file modes: drop to nobody
    script += (
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + "except StoreDamaged as exc:\n"
        "    print('DAMAGED', exc, '|', exc.hint)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_read_only_store_is_named() -> None:
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="responder-ro-"))  # under /tmp: reachable by an unprivileged user
    try:
        folder.chmod(0o755)
        path = folder / "runs.sqlite3"
        seeded(path)
        path.chmod(0o444)
        folder.chmod(0o555)
        out = _child(
            "import sys\ns = SqliteStore(sys.argv[1])\nprint(len(s.list_runs()))\ns.claim_run(run_record('run-x'))",
            path,
            as_nobody=True,
        )
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)
    assert "Traceback" not in out.stderr, out.stderr
    assert "DAMAGED run store" in out.stdout and str(path) in out.stdout, out.stdout
    assert "read-only" in out.stdout or "cannot be opened" in out.stdout, out.stdout


def test_store_over_a_size_limit_is_named(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    seeded(path, runs=1)
    out = _child(
        "import sys\ns = SqliteStore(sys.argv[1])\nfor n in range(400):\n"
        "    s.put_item('big', f'k{n}', {'blob': 'x' * 20000})",
        path,
        fsize=256 * 1024,
    )
    assert "Traceback" not in out.stderr, out.stderr
    assert "DAMAGED run store" in out.stdout and "size limit" in out.stdout


def test_many_processes_creating_and_writing_one_store_never_see_locked(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "runs.sqlite3"
    code = (
        "import sys\ns = SqliteStore(sys.argv[1])\n"
        "for n in range(60):\n"
        "    s.claim_run(run_record(f'run-{n % 7}', 'f'))\n"
        "    s.update_run(f'run-{n % 7}', status='running')\n"
        "print('OK')"
    )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from responder.state.sqlite import SqliteStore\nfrom tests.state.contract import run_record\n" + code,
                str(path),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(out.strip() == "OK" for out, _ in outs), outs
    assert not any("locked" in err for _, err in outs)
    assert len(SqliteStore(path).list_runs()) == 7


def _cli(home: Path, *args: str, store: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPONDER_", "AWS_"))}
    env["RESPONDER_HOME"] = str(home)
    if store is not None:
        env["RESPONDER_STORE"] = f"sqlite:///{store}"
    return subprocess.run(
        [sys.executable, "-m", "responder", *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )


@pytest.mark.parametrize("fault", ["truncated", "zero bytes", "dropped table", "a directory", "broken row"])
def test_cli_answers_a_damaged_store_with_exit_2_and_no_traceback(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "runs.sqlite3"
    seeded(path)
    FAULTS[fault][0](path)
    out = _cli(tmp_path / "home", "runs", "--json", store=path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and str(path) in out.stderr


def test_locker_remembers_a_run_the_store_forgot(tmp_path: Path) -> None:
    """A store truncated to zero and removed by someone 'fixing' it: the locker still holds the run."""
    path = tmp_path / "runs.sqlite3"
    store = SqliteStore(path)
    locker = open_locker(f"file://{tmp_path / 'evidence'}", store=store)
    store.claim_run(run_record("run-1"))
    locker.put_json("run-1", "finding.json", {"id": "f-1"}, collected_by="t", at=AT)
    check_not_forgotten(store, locker, "run-1")  # both know it: fine
    check_not_forgotten(store, locker, "run-2")  # neither: a new run, fine
    store.close()
    path.unlink()
    fresh = SqliteStore(path)
    assert has_run(locker, "run-1")
    with pytest.raises(StoreDamaged, match="already holds its evidence"):
        check_not_forgotten(fresh, locker, "run-1")


def test_doctor_healthy_then_damaged(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = SqliteStore(home / "runs.sqlite3")
    locker = open_locker(f"file://{home / 'evidence'}", store=store)
    store.claim_run(run_record("run-1"))
    locker.put_json("run-1", "finding.json", {"id": "f-1"}, collected_by="t", at=AT)
    store.close()
    healthy = _cli(home, "doctor", "--json")
    assert healthy.returncode == 0, healthy.stderr
    data = json.loads(healthy.stdout)
    assert data["healthy"] and data["store"]["runs"] == 1 and data["store"]["anchored"] == 1
    assert data["locker"]["runs"] == 1
    (home / "runs.sqlite3").write_bytes(b"")
    damaged = _cli(home, "doctor", "--json")
    assert damaged.returncode == 2 and "Traceback" not in damaged.stderr
    data = json.loads(damaged.stdout)
    assert not data["healthy"] and data["store"]["problems"][0]["kind"] == "store_damaged"
    (home / "runs.sqlite3").unlink()  # "fixed" by removing it: the store is new and empty
    forgot = _cli(home, "doctor")
    assert forgot.returncode == 2 and "run_unrecorded" in forgot.stdout


def test_doctor_names_damaged_evidence_and_a_broken_row(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = SqliteStore(home / "runs.sqlite3")
    locker = open_locker(f"file://{home / 'evidence'}", store=store)
    for run_id in ("run-001", "run-007"):
        store.claim_run(run_record(run_id, run_id))
        locker.put_json(run_id, "finding.json", {"id": run_id}, collected_by="t", at=AT)
    store.close()
    (home / "evidence" / "run-001" / "custody.jsonl").write_text("")
    broken_row(home / "runs.sqlite3")
    out = _cli(home, "doctor", "--json")
    assert out.returncode == 2, out.stderr
    data = json.loads(out.stdout)
    kinds = {(p["kind"], p["subject"]) for p in data["store"]["problems"] + data["locker"]["problems"]}
    assert ("item_damaged", "RUN#run-007 / META") in kinds
    assert ("evidence_damaged", "run-001") in kinds


def test_another_programs_database_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreDamaged, match="a SQLite database of something else"):
        SqliteStore(path)
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["photos"]
    conn.close()


def test_a_store_from_before_the_mark_is_adopted(tmp_path: Path) -> None:
    """A store an older responder created (no user_version) keeps working and gets the mark."""
    path = tmp_path / "runs.sqlite3"
    seeded(path, runs=2)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=0")
    conn.commit()
    conn.close()
    assert len(SqliteStore(path).list_runs()) == 2
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
