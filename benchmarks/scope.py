"""Scope benchmark: responder's cold and warm questions against the hand-written alternatives.

    .venv/bin/python benchmarks/scope.py            # 1M generated records
    .venv/bin/python benchmarks/scope.py --large    # 10M
    .venv/bin/python benchmarks/scope.py --json

Phases run in child processes so each peak RSS is its own: generate (once, reused), responder cold
(empty cache: ingest + the principal-activity question), raw DuckDB read_json over the same gzip files,
the pandas approach (json + json_normalize + filter), responder warm (cache built), raw DuckDB COPY to
Parquet (ingest baseline). The principal-activity question: API calls by service and name, with error
counts, for the attacker's keys (the leaked key and its pivots).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _files(data: Path) -> list[str]:
    from responder.scope.sources import cloudtrail_files

    return [f.path for f in cloudtrail_files(data / "cloudtrail")]


def _truth(data: Path) -> dict:
    return json.loads((data / "truth.json").read_text())


def _values(keys: list[str]) -> dict:
    from datetime import UTC, datetime

    from responder.scope.pivots import base_values
    from responder.scope.subject import Window

    return {**base_values(Window(until=datetime(2030, 1, 1, tzinfo=UTC))), "keys": keys, "principals": [], "roles": []}


def phase_generate(data: Path, records: int) -> dict:
    from responder.samples import generate

    began = time.perf_counter()
    truth = generate(data, records)
    (data / "truth.json").write_text(truth.model_dump_json())
    return {
        "seconds": time.perf_counter() - began,
        "cloudtrail_records": truth.cloudtrail_records,
        "flow_records": truth.flow_records,
        "files": truth.cloudtrail_files,
    }


def phase_responder(data: Path, cache: Path, repeat: int) -> dict:
    from responder.scope import questions as Q
    from responder.scope.duck import LocalBackend

    keys = sorted(_truth(data)["keys"])
    times = []
    rows: list = []
    ingest = 0.0
    for _ in range(repeat):
        began = time.perf_counter()
        with LocalBackend(cloudtrail=data / "cloudtrail", flow_logs=None, cache_dir=cache) as backend:
            rows = backend.run(Q.API_CALLS, _values(keys))
            ingest = ingest or sum(s.records_added for s in backend.syncs)
        times.append(time.perf_counter() - began)
    return {
        "seconds": statistics.median(times),
        "all": times,
        "events": sum(r["count"] for r in rows),
        "records_ingested": ingest,
    }


def phase_investigate(data: Path, cache: Path, repeat: int = 1) -> dict:
    """The whole report (`responder scope` / the playbook step): pivots, every question, techniques, egress.
    Each repeat opens the backend afresh, as a new CLI invocation does; the median is reported."""
    from datetime import UTC, datetime

    from responder.scope import investigate, subject_for_key
    from responder.scope.duck import LocalBackend
    from responder.scope.subject import Window

    truth = _truth(data)
    times = []
    report = None
    for _ in range(repeat):
        began = time.perf_counter()
        with LocalBackend(cloudtrail=data / "cloudtrail", flow_logs=data / "flowlogs", cache_dir=cache) as backend:
            report = investigate(
                backend,
                subject_for_key(truth["story"]["access_key_id"]),
                Window(until=datetime(2030, 1, 1, tzinfo=UTC)),
            )
        times.append(time.perf_counter() - began)
    assert report is not None
    return {
        "seconds": statistics.median(times),
        "all": times,
        "events": report.events,
        "keys": len(report.keys),
        "tactics": len({t.tactic for t in report.techniques}),
    }


def phase_raw_duckdb(data: Path) -> dict:
    import duckdb

    keys = sorted(_truth(data)["keys"])
    files = _files(data)
    began = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 2")
    rows = con.execute(
        "SELECT r.eventSource, r.eventName, count(*) AS n, count(r.errorCode) AS errors FROM "
        "(SELECT unnest(Records) AS r FROM read_json(?, maximum_object_size = 67108864)) "
        "WHERE r.userIdentity.accessKeyId IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL",
        [files, keys],
    ).fetchall()
    return {"seconds": time.perf_counter() - began, "events": sum(r[2] for r in rows)}


def phase_pandas(data: Path, fraction: float) -> dict:
    import gzip

    import pandas as pd

    keys = set(_truth(data)["keys"])
    files = _files(data)
    step = max(1, round(1 / fraction))
    chosen = files[::step]
    began = time.perf_counter()
    frames = []
    for path in chosen:
        with gzip.open(path, "rt") as handle:
            records = json.load(handle)["Records"]
        frame = pd.json_normalize(records)
        frames.append(frame[frame["userIdentity.accessKeyId"].isin(keys)])
    hits = pd.concat(frames)
    counts = hits.groupby(["eventSource", "eventName"]).size()
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds * len(files) / len(chosen),
        "measured_seconds": seconds,
        "files_read": len(chosen),
        "extrapolated": len(chosen) < len(files),
        "events": int(counts.sum()),
    }


def phase_raw_copy(data: Path) -> dict:
    import duckdb

    files = _files(data)
    out = Path(tempfile.mkdtemp()) / "raw.parquet"
    began = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = false")
    con.execute(
        f"COPY (SELECT unnest(Records) AS r FROM read_json(?, maximum_object_size = 67108864)) "
        f"TO '{out}' (FORMAT parquet)",
        [files],
    )
    seconds = time.perf_counter() - began
    rows = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()[0]
    out.unlink()
    return {"seconds": seconds, "records": rows}


def _child(args: list[str]) -> tuple[dict, float]:
    """Run one phase in a fresh interpreter; return its result and its peak RSS in MiB."""
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"phase {args} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result, result.pop("_peak_rss_mib")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--large", action="store_true", help="10M records")
    parser.add_argument("--data", type=Path, help="where to keep the generated data (reused when present)")
    parser.add_argument(
        "--pandas-fraction",
        type=float,
        default=None,
        help="share of files the pandas approach reads (extrapolated); default 1 (0.1 at --large)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    records = 10_000_000 if args.large else args.records
    data = args.data or Path(tempfile.gettempdir()) / f"responder-bench-{records}"

    if args.phase:
        phases = {
            "generate": lambda: phase_generate(data, records),
            "responder": lambda: phase_responder(data, args.cache, args.repeat),
            "investigate": lambda: phase_investigate(data, args.cache, args.repeat),
            "raw_duckdb": lambda: phase_raw_duckdb(data),
            "pandas": lambda: phase_pandas(data, args.pandas_fraction or 1.0),
            "raw_copy": lambda: phase_raw_copy(data),
        }
        before = resource.getrusage(resource.RUSAGE_SELF)
        result = phases[args.phase]()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["cpu_seconds"] = (usage.ru_utime - before.ru_utime) + (usage.ru_stime - before.ru_stime)
        result["_peak_rss_mib"] = usage.ru_maxrss / 1024
        print(json.dumps(result, default=str))
        return

    common = ["--records", str(records), "--data", str(data)]
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    if not (data / "truth.json").exists():
        log(f"generating {records:,} records into {data} …")
        gen, _ = _child(["--phase", "generate", *common])
    else:
        gen = {"reused": True, **{k: v for k, v in _truth(data).items() if k in ("cloudtrail_records", "flow_records")}}
    cache = Path(tempfile.mkdtemp(prefix="responder-bench-cache-"))
    log("responder cold (empty cache) …")
    cold, cold_rss = _child(["--phase", "responder", "--cache", str(cache), *common])
    log("responder warm (cache built) …")
    warm, warm_rss = _child(["--phase", "responder", "--cache", str(cache), "--repeat", "5", *common])
    log("responder full investigation, cold (flow logs not yet in the cache) …")
    full_cold, full_cold_rss = _child(["--phase", "investigate", "--cache", str(cache), *common])
    log("responder full investigation, warm …")
    full, full_rss = _child(["--phase", "investigate", "--cache", str(cache), "--repeat", "5", *common])
    log("raw DuckDB read_json …")
    raw, raw_rss = _child(["--phase", "raw_duckdb", *common])
    log("raw DuckDB COPY … TO parquet …")
    copy, _ = _child(["--phase", "raw_copy", *common])
    fraction = args.pandas_fraction or (0.1 if records > 2_000_000 else 1.0)
    log(f"pandas json_normalize (fraction {fraction}) …")
    pandas, pandas_rss = _child(["--phase", "pandas", "--pandas-fraction", str(fraction), *common])

    ct_records = int(cold["records_ingested"])
    ingest_rate = ct_records / cold["seconds"]
    copy_rate = copy["records"] / copy["seconds"]
    result = {
        "records": records,
        "cloudtrail_records": ct_records,
        "generate": gen,
        "cold_seconds": round(cold["seconds"], 3),
        "raw_duckdb_seconds": round(raw["seconds"], 3),
        "pandas_seconds": round(pandas["seconds"], 3),
        "pandas_extrapolated": pandas["extrapolated"],
        "warm_seconds": round(warm["seconds"], 4),
        "warm_full_investigation_seconds": round(full["seconds"], 3),
        "cold_full_investigation_seconds": round(full_cold["seconds"], 3),
        "cold_vs_raw_duckdb": round(cold["seconds"] / raw["seconds"], 2),
        "pandas_vs_cold": round(pandas["seconds"] / cold["seconds"], 1),
        "cold_vs_warm": round(cold["seconds"] / warm["seconds"], 1),
        "ingest_records_per_s": round(ingest_rate),
        "raw_copy_records_per_s": round(copy_rate),
        "raw_copy_vs_ingest_time": round(copy_rate / ingest_rate, 2),
        "cpu_seconds": {
            "responder_cold": round(cold["cpu_seconds"], 2),
            "raw_duckdb": round(raw["cpu_seconds"], 2),
            "pandas": round(pandas["cpu_seconds"] * (1 / fraction if pandas["extrapolated"] else 1), 2),
            "responder_warm": round(warm["cpu_seconds"] / 5, 3),
            "full_investigation_warm": round(full["cpu_seconds"] / 5, 3),
        },
        "load_average": os.getloadavg()[0],
        "peak_rss_mib": {
            "responder_cold": round(cold_rss),
            "responder_warm": round(warm_rss),
            "investigation": round(full_rss),
            "investigation_cold": round(full_cold_rss),
            "raw_duckdb": round(raw_rss),
            "pandas": round(pandas_rss),
        },
        "answers_agree": cold["events"] == warm["events"] == raw["events"]
        and (pandas["extrapolated"] or pandas["events"] == raw["events"]),
        "targets": {
            "cold ≤ 1.3× raw DuckDB": cold["seconds"] <= 1.3 * raw["seconds"],
            "≥ 5× faster than pandas": pandas["seconds"] >= 5 * cold["seconds"],
            "warm ≥ 50× faster than cold": cold["seconds"] >= 50 * warm["seconds"],
            "warm < 1 s": warm["seconds"] < 1.0,
            "full investigation warm < 1 s": full["seconds"] < 1.0,
            "ingest ≤ 1.5× raw COPY": ingest_rate * 1.5 >= copy_rate,
            "peak RSS < 1.5 GiB": max(cold_rss, warm_rss, full_rss, full_cold_rss) < 1536,
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"scope benchmark: {records:,} records ({ct_records:,} CloudTrail) — principal-activity question")
    print(f"  cold  responder (ingest + question) {cold['seconds']:8.2f} s   peak RSS {cold_rss:6.0f} MiB")
    print(
        f"        raw DuckDB read_json          {raw['seconds']:8.2f} s   ratio {result['cold_vs_raw_duckdb']}×"
        "   (target ≤ 1.3×)"
    )
    tag = " (extrapolated)" if pandas["extrapolated"] else ""
    print(
        f"        pandas json_normalize         {pandas['seconds']:8.2f} s{tag}   responder "
        f"{result['pandas_vs_cold']}× faster (target ≥ 5×)   peak RSS {pandas_rss:.0f} MiB"
    )
    print(
        f"  warm  responder (cache)             {warm['seconds']:8.4f} s   {result['cold_vs_warm']}× faster than cold"
        "   (target ≥ 50×, < 1 s)"
    )
    print(f"  full investigation cold (+ flow ingest) {full_cold['seconds']:6.2f} s   peak RSS {full_cold_rss:.0f} MiB")
    print(
        f"  full investigation warm (whole report)  {full['seconds']:6.3f} s   peak RSS {full_rss:.0f} MiB   "
        f"(target < 1 s; {full['cpu_seconds'] / 5:.2f} CPU s each; {full['tactics']} tactics named)"
    )
    print(
        f"  ingest responder {ingest_rate:,.0f} rec/s vs raw COPY→parquet {copy_rate:,.0f} rec/s "
        f"= {result['raw_copy_vs_ingest_time']}× (target ≤ 1.5×)"
    )
    cpu = result["cpu_seconds"]
    print(
        f"  CPU seconds: responder cold {cpu['responder_cold']}, raw DuckDB {cpu['raw_duckdb']}, pandas "
        f"{cpu['pandas']}, warm {cpu['responder_warm']} (load average {result['load_average']:.1f} on "
        f"{os.cpu_count()} cores: wall times are shared)"
    )
    print(
        f"  answers agree: {result['answers_agree']}; targets: "
        + ", ".join(f"{k}: {'ok' if v else 'MISSED'}" for k, v in result["targets"].items())
    )


if __name__ == "__main__":
    main()
