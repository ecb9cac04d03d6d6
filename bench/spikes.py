"""`python -m bench.spikes --scale N`: quality of the spike detector (problem_spikes) on the sandbox.

Not a timed test. Builds two sandboxes of N ordinary appeals with the same seed — one with the labelled bursts
(default: 60 per million appeals, their ground truth in api/meta.json) and one without any — lands each through the
real extraction (sandbox HTTP server + file exports) and builds the detector's lineage with dbt over the whole
period (var spike_history_days covers it), then compares the alarms with the ground truth:

- recall: the bursts whose municipality × category series has an alarm hour (spike_alarm_hours, any window) ending
  within 24 h after the onset; the delay is from the onset to the end of that first alarm hour;
- precision: the category spikes of the burst run that match a burst (same municipality and category, detected
  from the onset to 24 h after the burst's end);
- false alarms: the spikes (category and sector series) of the run without bursts, per region per week of the
  evaluated period (the period minus the baseline warm-up).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from dagster_project.lib import paths

HISTORY_DAYS = 1200  # more than the sandbox's default three years: the whole period is evaluated


def use_data_dir(data_dir: Path) -> None:
    os.environ["CUR_DATA_DIR"] = str(data_dir)
    os.environ["WAREHOUSE_PATH"] = str(data_dir / "warehouse.duckdb")
    os.environ["DAGSTER_HOME"] = str(data_dir / "dagster_home")


def build_variant(data_dir: Path, scale: int, seed: int, bursts: int | None) -> None:
    """Generate, land and build one sandbox (the warehouse up to fct_appeals and the dimensions)."""
    from bench import pipeline
    from sandbox import generate
    from sandbox.manual_inputs import write_manual_inputs
    from sandbox.server import running_server

    pipeline.prepare(data_dir)
    summary = generate(paths.sandbox_dir(), paths.inbox_dir(""), scale, seed=seed, bursts=bursts)
    write_manual_inputs(paths.data_dir(), seed=seed)
    print(
        f"bench_spikes: {data_dir.name}: generated {summary['bursts']} bursts, "
        f"{summary['burst_appeals']} burst appeals",
        flush=True,
    )
    env = dict(os.environ, DO_NOT_TRACK="1")
    with running_server(paths.sandbox_dir(), startup_timeout_s=600) as base_url:
        env |= {"POS_BASE_URL": f"{base_url}/pos/v1", "INCIDENT_BASE_URL": f"{base_url}/im/v1"}
        subprocess.run(pipeline.python_stage("extract_sources()"), env=env, cwd=paths.REPO_ROOT, check=True)
    run_dbt(data_dir, "+problem_spikes", {})


def run_dbt(data_dir: Path, selection: str, dbt_vars: dict) -> float:
    """The selected models (and seeds) without tests, the whole period evaluated; returns the seconds of the
    detector's models."""
    use_data_dir(data_dir)
    dbt = str(Path(sys.executable).parent / "dbt")
    target = data_dir / "dbt_target"
    subprocess.run(
        [
            dbt,
            "build",
            "--select",
            selection,
            "--exclude-resource-type",
            "test",
            "unit_test",
            "--vars",
            json.dumps({"spike_history_days": HISTORY_DAYS, **dbt_vars}),
            "--project-dir",
            str(paths.DBT_PROJECT_DIR),
            "--profiles-dir",
            str(paths.DBT_PROJECT_DIR),
            "--target-path",
            str(target),
            "--log-path",
            str(target / "logs"),
        ],
        env=dict(os.environ, DO_NOT_TRACK="1"),
        cwd=paths.REPO_ROOT,
        check=True,
    )
    results = json.loads((target / "run_results.json").read_text())["results"]
    return sum(
        r["execution_time"]
        for r in results
        if r["unique_id"] in ("model.cur.spike_alarm_hours", "model.cur.problem_spikes")
    )


def meta_of(data_dir: Path) -> dict:
    return json.loads((data_dir / "sandbox" / "api" / "meta.json").read_text())


def read(sql: str) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.execute(sql).fetchall()


def evaluate_bursts(meta: dict) -> dict:
    alarms = read(
        "select oktmo, series_code, hour_at + interval 1 hour from main.spike_alarm_hours "
        "where series_kind = 'category'"
    )
    spikes = read("select oktmo, category_code, detected_at from main.problem_spikes where series_kind = 'category'")
    by_series: dict[tuple, list[datetime]] = {}
    for oktmo, code, alarm_end in alarms:
        by_series.setdefault((oktmo, code), []).append(alarm_end)
    delays, missed = [], []
    for burst in meta["bursts"]:
        onset = datetime.fromisoformat(burst["onset_at"].rstrip("Z"))
        hits = [
            t
            for t in by_series.get((burst["oktmo"], burst["category_code"]), [])
            if onset <= t <= onset + timedelta(hours=24)
        ]
        if hits:
            delays.append((min(hits) - onset).total_seconds() / 3600)
        else:
            missed.append(burst)
    matched = 0
    for oktmo, code, detected in spikes:
        matched += any(
            b["oktmo"] == oktmo
            and b["category_code"] == code
            and datetime.fromisoformat(b["onset_at"].rstrip("Z"))
            <= detected
            <= datetime.fromisoformat(b["onset_at"].rstrip("Z")) + timedelta(hours=b["duration_hours"] + 24)
            for b in meta["bursts"]
        )
    sizes = [b["size"] for b in meta["bursts"]]
    return {
        "bursts": len(meta["bursts"]),
        "burst_size_median": statistics.median(sizes),
        "burst_size_range": [min(sizes), max(sizes)],
        "detected_within_24h": len(delays),
        "recall": len(delays) / len(meta["bursts"]),
        "median_delay_hours": statistics.median(delays) if delays else None,
        "delay_hours_p90": sorted(delays)[int(0.9 * (len(delays) - 1))] if delays else None,
        "category_spikes": len(spikes),
        "category_spikes_matching_a_burst": matched,
        "precision": matched / len(spikes) if spikes else None,
        "missed": [
            {k: b[k] for k in ("burst_id", "oktmo", "category_code", "onset_at", "size", "duration_hours")}
            for b in missed
        ],
    }


def evaluate_false_alarms(meta: dict) -> dict:
    from sandbox.model import BURST_WARMUP_DAYS

    start, end = date.fromisoformat(meta["start"]), date.fromisoformat(meta["end"])
    weeks = ((end - start).days + 1 - BURST_WARMUP_DAYS) / 7
    rows = read(
        f"select region_code, series_kind, count(*) from main.problem_spikes "
        f"where detected_at >= timestamp '{start + timedelta(days=BURST_WARMUP_DAYS)}' group by all"
    )
    regions = len(read("select region_code from main.dim_region"))
    by_kind = {kind: sum(n for _, k, n in rows if k == kind) for kind in ("category", "sector")}
    per_region = {}
    for region_code, _, n in rows:
        per_region[region_code] = per_region.get(region_code, 0) + n
    total = sum(by_kind.values())
    return {
        "weeks": round(weeks, 1),
        "regions": regions,
        "spikes": by_kind,
        "false_alarms_per_region_week": total / (regions * weeks),
        "worst_region_per_week": max(per_region.values(), default=0) / weeks,
        "by_region": per_region,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.spikes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bursts", type=int, default=None, help="bursts in the first run (default: the sandbox's)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=paths.REPO_ROOT / "data" / "bench_spikes",
        help="scratch data root, wiped first (default data/bench_spikes)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the two warehouses of a previous run: rebuild and evaluate only the detector",
    )
    parser.add_argument(
        "--vars",
        type=json.loads,
        default={},
        help="dbt vars for the detector, e.g. '{\"spike_z\": 4.5}' (default: dbt_project.yml)",
    )
    args = parser.parse_args(argv)
    root = args.data_dir.resolve()
    started = datetime.now()
    with_bursts, without_bursts = root / "with_bursts", root / "without_bursts"
    if not args.reuse:
        build_variant(with_bursts, args.scale, args.seed, args.bursts)
        build_variant(without_bursts, args.scale, args.seed, 0)
    seconds = run_dbt(with_bursts, "spike_alarm_hours problem_spikes", args.vars)
    detection = evaluate_bursts(meta_of(with_bursts))
    run_dbt(without_bursts, "spike_alarm_hours problem_spikes", args.vars)
    false_alarms = evaluate_false_alarms(meta_of(without_bursts))
    report = {
        "command": "python -m bench.spikes " + " ".join(argv or sys.argv[1:]),
        "scale": meta_of(with_bursts)["n_appeals"],
        "seed": meta_of(with_bursts)["seed"],
        "vars": args.vars,
        "detector_dbt_seconds": round(seconds, 1),
        "minutes": round((datetime.now() - started).seconds / 60, 1),
        "detection": detection,
        "false_alarms": false_alarms,
    }
    print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    (root / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
