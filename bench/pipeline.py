"""`make bench SCALE=N`: times every pipeline stage on sandbox data of N appeals and writes docs/performance.md.

Each stage runs as its own child process, so its wall time, CPU time and peak RSS (of the process and the
children it waited for, such as dbt) are the kernel's own numbers from wait4(). The sandbox server (the
remote source systems) and the generator are not part of the pipeline and are not counted.

The full build lands the sources as of 11 days before the end of the period; the incremental run then moves the
sandbox clock to the end and runs every asset once, as the hourly schedule would (≈1 % new and ≈1 % changed appeals).
The floor (bench/floor.sql) computes the same marts in one hand-written DuckDB script from the same lake right
after the full dbt build; its results must equal the marts (a difference is reported and the bench exits 1).
With `--engine spark` (`make bench ENGINE=spark`) the same full build also runs on Apache Spark right after the
DuckDB one, from the same lake, on the standalone cluster of `make spark-up` (started for the bench when none runs),
and the report gives both times and their ratio (docs/scaling.md).
"""

import argparse
import json
import math
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import httpx

from dagster_project.lib import contracts, paths, settings, warehouse
from dagster_project.lib.dbt import keep_parse_state, parse_summary

FLOOR_SQL = Path(__file__).with_name("floor.sql")
REPORT = paths.REPO_ROOT / "docs" / "performance.md"
INCREMENTAL_DAYS = 11  # ≈1 % of the three-year sandbox period arrives in the incremental run

# The same aggregates over a mart (left) and its floor table (right): equal results make the ratio honest.
FLOOR_CHECKS = {
    ("fct_appeals", "floor_appeals"): (
        "count(*)",
        "count(*) filter (where is_answered)",
        "count(*) filter (where is_on_time)",
        "count(*) filter (where is_overdue_open)",
        "count(*) filter (where is_repeat)",
        "sum(response_hours)",
        "sum(response_working_days)",
        "sum(epoch(deadline_at))",
        "sum(epoch(first_response_at))",
        "sum(epoch(closed_at))",
        "count(distinct agency_id || sector_code || category_code)",
    ),
    ("agency_rating_monthly", "floor_rating"): (
        "count(*)",
        "sum(received)",
        "sum(answered_on_time)",
        "sum(open_overdue)",
        "sum(rated_4_5)",
        "sum(answered_complete)",
        "sum(score)",
        "sum(rating_rank)",
    ),
    ("sector_kpis_monthly", "floor_sector_kpis"): (
        "count(*)",
        "sum(received)",
        "sum(answered)",
        "sum(answered_on_time)",
        "sum(overdue_open)",
        "sum(rated)",
        "sum(repeats)",
        "sum(other_category)",
        "sum(median_response_hours)",
    ),
}


@dataclass
class StageResult:
    name: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    rows: int
    note: str = ""
    load: float = 0.0  # the machine's 1-minute load average when the stage ended (other work shares the cores)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s else 0.0


def run_stage(name: str, command: list[str], rows: int, env: dict[str, str], allowed_codes=(0,)) -> StageResult:
    print(f"bench: {name} …", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=paths.REPO_ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in allowed_codes:
        raise SystemExit(f"bench: stage {name!r} failed with exit code {code}: {' '.join(command)}")
    # ru_maxrss is in KiB on Linux; wait4 reports the maximum over the child and its reaped descendants.
    result = StageResult(
        name,
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        rows,
        f"exit code {code}" if code else "",
        os.getloadavg()[0],
    )
    print(
        f"bench: {name}: {wall:.1f} s wall, {result.cpu_s:.1f} s CPU, {result.peak_rss_mb:.0f} MB peak RSS", flush=True
    )
    return result


def _run(selection, with_ge_checks: bool) -> bool:
    """One in-process Dagster run of an asset selection, as `make run` does. Without the GE checks (a stage of their
    own), an asset still runs the checks it evaluates itself."""
    from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job

    from dagster_project.definitions import defs
    from dagster_project.defs import quality
    from dagster_project.defs.reports.assets import GOVERNOR_REPORT_KEY

    if isinstance(selection, str) and selection == "*":
        # every asset the hourly schedules run: the Governor's report is partitioned and runs on its own
        selection = AssetSelection.all() - AssetSelection.assets(GOVERNOR_REPORT_KEY)
    elif isinstance(selection, str):
        selection = AssetSelection.from_string(selection)
    if not with_ge_checks:
        selection = selection - AssetSelection.checks(*quality.defs.asset_checks)
    job = define_asset_job("bench", selection=selection)
    with DagsterInstance.get() as instance:
        result = (
            Definitions.merge(defs, Definitions(jobs=[job]))
            .resolve_job_def("bench")
            .execute_in_process(instance=instance, raise_on_error=False)
        )
    failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
    outcome = "SUCCESS" if result.success else "FAILURE"
    print(f"bench: run {result.run_id}: {outcome}, {len(failed_checks)} checks failed", flush=True)
    return result.success


def materialize(selection: str, with_ge_checks: bool) -> None:
    """A stage's body (in its own process): one run of the selected assets."""
    sys.exit(0 if _run(selection, with_ge_checks) else 1)


def _run_source_job(job_name: str) -> bool:
    from dagster_project.defs.extract.assets import JOBS

    (job,) = [j for j in JOBS if j.name == job_name]
    return _run(job.selection, with_ge_checks=False)


def extract_sources() -> None:
    """The extraction stage's body: every source's extraction job as its own run, as the schedules and sensors
    start them, at most one run per core at a time (the instance's run queue limit)."""
    from dagster import DagsterInstance

    from dagster_project.defs.extract.assets import JOBS

    with DagsterInstance.get():  # the instance's storage is created here, not by two runs at once
        pass
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcomes = list(pool.map(_run_source_job, [job.name for job in JOBS]))
    sys.exit(0 if all(outcomes) else 1)


def python_stage(call: str) -> list[str]:
    return [sys.executable, "-c", f"from pathlib import Path; from bench import pipeline; pipeline.{call}"]


def dbt_full_build(target_dir: Path) -> list[str]:
    """The nightly full build's dbt command (the dbt asset's arguments), outside Dagster."""
    from dagster_project.defs.resources import WarehouseResource
    from dagster_project.defs.transform.assets import dbt_build_args

    dbt = str(Path(sys.executable).parent / "dbt")
    return [
        dbt,
        *dbt_build_args(full_refresh=True, warehouse=WarehouseResource()),
        "--project-dir",
        str(paths.DBT_PROJECT_DIR),
        "--profiles-dir",
        str(paths.DBT_PROJECT_DIR),
        "--target-path",
        str(target_dir),
        "--log-path",
        str(target_dir / "logs"),
    ]


def spark_build(data_dir: Path, env: dict[str, str], duckdb_build: StageResult) -> StageResult:
    """The same full build on Spark (stage 2s): the cluster is started for it when none runs and stopped after."""
    from dagster_project import spark_cluster
    from dagster_project.lib import spark

    started = spark_cluster.alive_workers() < spark_cluster.WORKERS
    if started:
        spark_cluster.up()
    try:
        spark.prepare_sources()
        target = data_dir / "dbt_target_spark"
        # a failing dbt test is a finding about the build, not a broken stage: the exit code goes into the note
        stage = run_stage(
            "2s. dbt build --full-refresh on Spark",
            [*dbt_full_build(target), "--target", "spark"],
            duckdb_build.rows,
            env,
            allowed_codes=(0, 1),
        )
    finally:
        if started:
            spark_cluster.down()
    cores = spark_cluster.WORKERS * settings.spark_worker_resources()[0]
    stage.note = "; ".join(
        filter(
            None,
            [
                f"{cores} executor cores, {stage.wall_s / duckdb_build.wall_s:.1f} × the DuckDB build",
                stage.note,
                "dbt's timings: "
                + ", ".join(f"{kind} {seconds:.0f} s" for kind, seconds in dbt_seconds(target).items()),
            ],
        )
    )
    return stage


def dbt_seconds(target_dir: Path) -> dict[str, float]:
    """Where the dbt build's time went, by its own timings (run_results.json): model, test, unit_test, seed, and
    `floor lineage`: the models of the floor's marts and everything upstream of them (the same work as the floor)."""
    results = json.loads((target_dir / "run_results.json").read_text())["results"]
    parents = json.loads((target_dir / "manifest.json").read_text())["parent_map"]
    lineage: set[str] = set()
    pending = [f"model.cur.{mart}" for mart, _ in FLOOR_CHECKS]
    while pending:
        node = pending.pop()
        if node not in lineage:
            lineage.add(node)
            pending.extend(parent for parent in parents.get(node, []) if parent.startswith("model."))
    totals: dict[str, float] = {}
    for result in results:
        kind = result["unique_id"].split(".", 1)[0]
        totals[kind] = totals.get(kind, 0.0) + result["execution_time"]
    totals = dict(sorted(totals.items(), key=lambda kv: -kv[1]))
    totals["floor lineage"] = sum(r["execution_time"] for r in results if r["unique_id"] in lineage)
    return totals


def warehouse_value(sql: str):
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def serving_sizes(scratch: Path) -> tuple[int, int]:
    """(serving bytes, marts bytes), docs/performance.md § Serving size: the catalog and the Parquet files it refers
    to, against the same marts' rows in a DuckDB database of their own (the warehouse's storage format)."""
    from dagster_project.lib import serving

    catalog = paths.serving_path()
    marts = serving.served_marts(catalog)
    served = catalog.stat().st_size + sum(mart.file.stat().st_size for mart in marts.values())
    scratch.unlink(missing_ok=True)
    with duckdb.connect(str(scratch), config=warehouse.duckdb_settings()) as con:
        con.execute(f"attach '{paths.warehouse_path()}' as wh (read_only)")
        for name in marts:
            con.execute(f'create table main."{name}" as select * from wh.main."{name}"')
        con.execute("detach wh")
        con.execute("checkpoint")
    size = scratch.stat().st_size
    scratch.unlink()
    return served, size


def lake_rows(table: str) -> int:
    with duckdb.connect() as con:
        return con.execute(f"select count(*) from read_parquet('{paths.raw_dir(table)}/*/*.parquet')").fetchone()[0]


def floor_aggregates(con: duckdb.DuckDBPyConnection, of_floor: bool) -> dict[str, list]:
    """FLOOR_CHECKS' aggregates of each mart (warehouse connection) or of its floor table (the floor's connection)."""
    out = {}
    for (mart, floor_table), expressions in FLOOR_CHECKS.items():
        table = floor_table if of_floor else f"main.{mart}"
        row = con.execute(f"select {', '.join(expressions)} from {table}").fetchone()
        out[mart] = [None if value is None else round(float(value), 4) for value in row]
    return out


def run_floor(out_path: Path) -> None:
    """The floor stage's body (in its own process): the script, then the aggregates for the equality check."""
    script = FLOOR_SQL.read_text().replace("{lake}", str(paths.lake_dir()))
    with duckdb.connect(config=warehouse.duckdb_settings()) as con:  # the same engine settings as dbt
        con.execute(script.replace("{warehouse}", str(paths.warehouse_path())))
        out_path.write_text(json.dumps(floor_aggregates(con, of_floor=True)))


def compare_with_marts(floor_json: Path) -> list[str]:
    """Differences between the floor's aggregates and the marts' (empty: equal up to float summation order)."""
    floor = json.loads(floor_json.read_text())
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        marts = floor_aggregates(con, of_floor=False)
    differences = []
    for (mart, _), expressions in FLOOR_CHECKS.items():
        for expression, mart_value, floor_value in zip(expressions, marts[mart], floor[mart]):
            equal = mart_value == floor_value or (
                None not in (mart_value, floor_value) and math.isclose(mart_value, floor_value, rel_tol=1e-9)
            )
            if not equal:
                differences.append(f"{mart} {expression}: mart {mart_value} ≠ floor {floor_value}")
    return differences


def hold_back_recent_files(held: Path, since: datetime) -> int:
    """Daily export files of the incremental window wait outside the inbox until the incremental run."""
    moved = 0
    for source in ("sed", "portal"):
        for file in paths.inbox_dir(source).glob("*_*_*.*"):
            day = file.stem.rsplit("_", 1)[-1]
            if day.isdigit() and datetime.strptime(day, "%Y%m%d").replace(tzinfo=timezone.utc) >= since:
                (held / source).mkdir(parents=True, exist_ok=True)
                shutil.move(file, held / source / file.name)
                moved += 1
    return moved


def release_held_files(held: Path) -> None:
    for file in held.glob("*/*"):
        shutil.move(file, paths.inbox_dir(file.parent.name) / file.name)


def set_clock(base_url: str, now: datetime) -> None:
    # the server rebuilds its snapshots for the new «now»: seconds at 1M records
    response = httpx.post(f"{base_url}/admin/clock", json={"now": now.strftime("%Y-%m-%dT%H:%M:%SZ")}, timeout=600)
    response.raise_for_status()


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} × {cpu}, {memory_gib:.0f} GiB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}"
    )


def render(
    scale: int,
    full: list[StageResult],
    transform: StageResult,
    incremental: StageResult,
    floor: StageResult,
    facts: dict,
    dbt_lineage_s: float,
    serving_ratio: float,
    on_spark: StageResult | None = None,
) -> str:
    """This scale's section of docs/performance.md: the stage table and the targets."""
    stages = [*full, incremental]
    full_s = sum(s.wall_s for s in full)
    peak = max(s.peak_rss_mb for s in stages)
    lines = [
        f"## {scale:,} appeals".replace(",", " "),
        "",
        f"`make bench SCALE={scale}` (that is, `python -m bench.pipeline --scale {scale}`) on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {machine()}. «load» is the 1-minute load "
        f"average when the stage ended; above {os.cpu_count()} other work shared the cores, and the times are upper "
        "bounds.",
        "",
        "| stage | wall, s | CPU, s | peak RSS, MB | rows | rows/s | load | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in [*stages, floor, *([on_spark] if on_spark else [])]:
        lines.append(
            f"| {s.name} | {s.wall_s:.1f} | {s.cpu_s:.1f} | {s.peak_rss_mb:.0f} | {s.rows:,} | "
            f"{s.rows_per_s:,.0f} | {s.load:.1f} | {s.note} |"
        )
    lines += [
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| full build (landing → marts → checks → publish) < 600 s | {full_s:.0f} s "
        f"| {'yes' if full_s < 600 else 'no'} |",
        f"| incremental run < 5 % of the full build | {100 * incremental.wall_s / full_s:.1f} % "
        f"| {'yes' if incremental.wall_s < 0.05 * full_s else 'no'} |",
        f"| peak RSS < 4 GB | {peak:.0f} MB | {'yes' if peak < 4096 else 'no'} |",
        f"| serving ≤ 1.2 × the marts it holds | {serving_ratio:.2f} × | {'yes' if serving_ratio <= 1.2 else 'no'} |",
        f"| transform ≤ 2 × the floor | {transform.wall_s / floor.wall_s:.1f} × "
        f"| {'yes' if transform.wall_s <= 2 * floor.wall_s else 'no'} |",
        f"| (the same work: dbt's models of the floor's marts and their upstream, ≤ 2 × the floor) "
        f"| {dbt_lineage_s / floor.wall_s:.1f} × | {'yes' if dbt_lineage_s <= 2 * floor.wall_s else 'no'} |",
        "",
        "Data: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in facts.items()) + ".",
        "",
    ]
    return "\n".join(lines)


def write_report(scale: int, section: str) -> None:
    """Replaces this scale's section of docs/performance.md and keeps the rest (prose, other scales)."""
    heading = f"## {scale:,} appeals".replace(",", " ")
    text = REPORT.read_text() if REPORT.exists() else "# Performance\n\n"
    start = text.find(heading + "\n")
    if start < 0:
        marker = "<!-- bench results -->\n"
        start = end = text.index(marker) + len(marker) if marker in text else len(text)
    else:
        following = text.find("\n## ", start + len(heading))
        end = len(text) if following < 0 else following + 1
    REPORT.write_text(text[:start] + section + "\n" + text[end:].lstrip("\n"))


def prepare(data_dir: Path) -> None:
    from dagster_project.cli import prepare_instance

    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    os.environ["CUR_DATA_DIR"] = str(data_dir)
    os.environ["WAREHOUSE_PATH"] = str(data_dir / "warehouse.duckdb")
    os.environ["DAGSTER_HOME"] = str(data_dir / "dagster_home")
    for name in ("CUR_INBOX_DIR", "SERVING_PATH", "SUPERSET_URL", "SERVING_POSTGRES_URL", "DBT_TARGET"):
        os.environ.pop(name, None)
    prepare_instance()


def bench(scale: int, seed: int, data_dir: Path, engine: str = "duckdb") -> int:
    from sandbox import generate
    from sandbox.manual_inputs import write_manual_inputs
    from sandbox.server import running_server

    prepare(data_dir)
    started = time.monotonic()
    summary = generate(paths.sandbox_dir(), paths.inbox_dir(""), scale, seed=seed)
    write_manual_inputs(paths.data_dir(), seed=seed)
    print(f"bench: sandbox generated in {time.monotonic() - started:.0f} s: {summary}", flush=True)
    generate_s = time.monotonic() - started
    meta = json.loads((paths.sandbox_dir() / "api" / "meta.json").read_text())
    period_end = datetime.fromisoformat(meta["default_now"].rstrip("Z"))
    incremental_from = period_end - timedelta(days=INCREMENTAL_DAYS)
    held = data_dir / "held_back"
    held_files = hold_back_recent_files(held, incremental_from.replace(tzinfo=timezone.utc))
    env = dict(os.environ, DO_NOT_TRACK="1")
    dbt_target = data_dir / "dbt_target"

    stages = []
    with running_server(paths.sandbox_dir(), now=incremental_from, startup_timeout_s=600) as base_url:
        env |= {"POS_BASE_URL": f"{base_url}/pos/v1", "INCIDENT_BASE_URL": f"{base_url}/im/v1"}
        extraction = run_stage("1. extraction and landing", python_stage("extract_sources()"), 0, env)
        extraction.rows = sum(lake_rows(t) for t in contracts.RAW_TABLES)
        records = sum(lake_rows(t) for t in contracts.RAW_TABLES if not t.endswith(("_events", "_polls")))
        extraction.note = f"{records:,} source records (appeal versions), {records / extraction.wall_s:,.0f} records/s"
        stages.append(extraction)

        dbt_command = dbt_full_build(dbt_target)  # after the extraction: the number of threads depends on the lake
        transform = run_stage("2. dbt build --full-refresh", dbt_command, 0, env)
        transform.rows = warehouse_value("select count(*) from main.fct_appeals")
        dbt_split = dbt_seconds(dbt_target)
        transform.note = f"dbt threads {dbt_command[dbt_command.index('--threads') + 1]}; dbt's timings: " + ", ".join(
            f"{kind} {seconds:.0f} s" for kind, seconds in dbt_split.items()
        )
        stages.append(transform)
        keep_parse_state(dbt_target)  # as after the nightly full build, the hourly build starts from its parse
        # not a stage of the platform's run: the same build on the other engine, for the comparison
        on_spark = spark_build(data_dir, env, transform) if engine == "spark" else None

        floor_json = data_dir / "floor.json"
        floor = run_stage(
            "floor: bench/floor.sql (DuckDB)",
            python_stage(f"run_floor(Path({str(floor_json)!r}))"),
            transform.rows,
            env,
        )
        # A floor that differs from the marts makes the ratio meaningless: the report says so, the bench exits 1.
        differences = compare_with_marts(floor_json)
        for difference in differences:
            print(f"bench: the floor differs from the marts: {difference}", flush=True)
        floor.note = (
            f"DIFFERS from the marts: {'; '.join(differences)}"
            if differences
            else "equals the marts (" + ", ".join(mart for mart, _ in FLOOR_CHECKS) + ")"
        )

        # Failed expectations are findings about the data, not a broken stage: the exit code goes into the note.
        quality = [sys.executable, "-m", "dagster_project.defs.quality", "run-all"]
        checks = run_stage("3. Great Expectations checks", quality, transform.rows, env, allowed_codes=(0, 1))
        stages.append(checks)
        publish = run_stage(
            "4. publish", python_stage("materialize('key:\"serving/marts\"', False)"), transform.rows, env
        )
        served_bytes, marts_bytes = serving_sizes(data_dir / "marts_only.duckdb")
        publish.note = (
            f"serving {served_bytes / 2**20:,.1f} MiB for marts of {marts_bytes / 2**20:,.1f} MiB "
            f"({served_bytes / marts_bytes:.2f} ×)"
        )
        stages.append(publish)

        before = transform.rows
        release_held_files(held)
        set_clock(base_url, period_end)
        hourly_started = time.time()
        incremental = run_stage(
            "5. incremental hourly run (every asset and check)",
            python_stage('materialize("*", True)'),
            0,
            env,
            allowed_codes=(0, 1),
        )
        hourly_targets = [
            p.parent
            for p in (paths.DBT_PROJECT_DIR / "target").glob("*/run_results.json")
            if p.stat().st_mtime >= hourly_started
        ]
        after = warehouse_value("select count(*) from main.fct_appeals")
        changed = warehouse_value(f"select count(*) from main.fct_appeals where updated_at >= '{incremental_from}'")
        incremental.rows = changed
        counts = f"{after - before:,} new, {changed - (after - before):,} changed appeals"
        parse = parse_summary(max(hourly_targets, key=lambda p: p.stat().st_mtime)) if hourly_targets else ""
        incremental.note = "; ".join(filter(None, [counts, parse, incremental.note]))

    facts = {
        "appeals": scale,
        "raw rows landed": extraction.rows,
        "held-back daily files": held_files,
        "status events": warehouse_value("select count(*) from main.fct_appeal_status_events"),
        "sandbox generation (not counted)": f"{generate_s:.0f} s",
    }
    section = render(
        scale,
        stages,
        transform,
        incremental,
        floor,
        facts,
        dbt_split["floor lineage"],
        served_bytes / marts_bytes,
        on_spark,
    )
    write_report(scale, section)
    print(f"bench: results written to {REPORT}")
    return 1 if differences else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=1_000_000, help="number of sandbox appeals (default 1000000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="spark: also build the warehouse on Apache Spark, beside DuckDB (default duckdb only)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=paths.REPO_ROOT / "data" / "bench",
        help="scratch data root, wiped first (default data/bench)",
    )
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be a positive number of appeals")
    return bench(args.scale, args.seed, args.data_dir.resolve(), args.engine)


if __name__ == "__main__":
    sys.exit(main())
