"""`python -m dagster_project.cli run`: the whole pipeline against the configured sources, through the same
Definitions as the UI; `ui`: the Dagster UI; `check-file`: a dry run of one export file (nothing lands).

`run` needs every real source (CUR_INBOX_DIR, POS_BASE_URL, INCIDENT_BASE_URL); it generates, serves and deletes
nothing. The sandbox's `make run` (`python -m sandbox run`) generates and serves the sandbox sources and then calls
`run_pipeline()` here.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster_project.deploy import restore_default_signals
from dagster_project.lib import paths, settings

REAL_SOURCE_ENV = ("CUR_INBOX_DIR", "POS_BASE_URL", "INCIDENT_BASE_URL")
INSTANCE_TEMPLATE = Path(__file__).with_name("instance") / "dagster.yaml"


def prepare_instance() -> Path:
    """The Dagster instance's folder (paths.dagster_home()), given instance/dagster.yaml when it has no config."""
    home = paths.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    return home


def materialize_all(asset_selection=None, sources: dict[str, str] | None = None):
    """One in-process run of every asset (or of `asset_selection`, asset keys), tagged with this process so that a
    later run marks it failed if this process is killed; runs of earlier killed processes are marked failed first.
    `sources` ({POS_BASE_URL: …, INCIDENT_BASE_URL: …}) points the API resources elsewhere for this run only."""
    from dagster import DagsterInstance

    from dagster_project.definitions import defs
    from dagster_project.defs.extract.resources import api_resources_run_config
    from dagster_project.defs.reports.assets import GOVERNOR_REPORT_KEY
    from dagster_project.lib import runs

    job = defs.resolve_implicit_global_asset_job_def()
    if asset_selection is None:
        # The Governor's report is partitioned by month × region: one run cannot hold it without a partition key, so
        # it is left to its automation after each closed month, a backfill, or `make report`.
        graph = defs.resolve_asset_graph()
        asset_selection = [
            key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable and key != GOVERNOR_REPORT_KEY
        ]
    run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if sources:
        run_config["resources"] = api_resources_run_config(sources)
    with DagsterInstance.from_config(str(prepare_instance())) as instance:
        for run_id in runs.fail_runs_of_dead_processes(instance):
            print(f"run {run_id}: its process is gone (killed?): marked failed", flush=True)
        return job.execute_in_process(
            instance=instance,
            run_config=run_config,
            raise_on_error=False,
            tags=runs.process_tags(),
            asset_selection=asset_selection,
        )


def mart_row_counts() -> dict[str, int]:
    """Rows of every mart in the warehouse after the run (a mart that failed to build shows as missing)."""
    from dagster_project.defs.resources import WarehouseResource
    from dagster_project.lib.dbt import mart_models

    with WarehouseResource().read_only("run summary") as con:
        existing = {
            row[0]
            for row in con.sql(
                "select table_name from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        }
        return {
            name: con.execute(f'select count(*) from main."{name}"').fetchone()[0] if name in existing else -1
            for name in mart_models()
        }


def print_summary(result) -> None:
    evaluations = result.get_asset_check_evaluations()
    failed = [e for e in evaluations if not e.passed]
    print("\n=== ЦУР pipeline summary ===")
    print(f"run: {result.run_id}  status: {'SUCCESS' if result.success else 'FAILURE'}")
    print("rows per mart:")
    import duckdb

    from dagster_project.lib.warehouse import WarehouseLocked

    try:
        counts = mart_row_counts()
    except (duckdb.Error, WarehouseLocked) as error:
        # After a failed run the warehouse may be locked or unreadable: say so, and still list the failed checks and
        # the status, so that the run's own error stays the one a reader sees.
        print(f"  not readable: {error}")
        counts = {}
    for name, rows in counts.items():
        print(f"  {name:<40} {rows:>10,}" if rows >= 0 else f"  {name:<40} {'not built':>10}")
    print(f"checks: {len(evaluations) - len(failed)} passed, {len(failed)} failed")
    for evaluation in failed:
        print(
            f"  FAILED [{evaluation.severity.value}] {evaluation.asset_key.to_user_string()}: {evaluation.check_name}"
        )
    print(f"warehouse: {paths.warehouse_path()}")


def real_sources() -> dict[str, str]:
    """The real sources the environment configures (empty: the sandbox mode)."""
    return {name: value for name in REAL_SOURCE_ENV if (value := settings.env(name))}


def run_pipeline(sources: dict[str, str] | None = None) -> int:
    """Materialize every asset in this process (the API sources at `sources`, see materialize_all), print the
    summary; 0 when the run succeeded."""
    started = time.monotonic()
    result = materialize_all(sources=sources)
    print_summary(result)
    print(f"pipeline wall time: {time.monotonic() - started:.1f} s")
    return 0 if result.success else 1


def run() -> int:
    """The pipeline against the real sources, every one of them configured."""
    configured = real_sources()
    missing = [name for name in REAL_SOURCE_ENV if name not in configured]
    if not configured:
        print(f"no source configured: set {', '.join(missing)} (or run the sandbox: `make run`)", file=sys.stderr)
        return 2
    if missing:
        print(
            f"real-source mode ({', '.join(configured)} set) needs every source: set {', '.join(missing)} too; "
            "no sandbox is started for a real installation",
            file=sys.stderr,
        )
        return 2
    print("real-source mode: " + ", ".join(f"{k}={v}" for k, v in configured.items()), flush=True)
    return run_pipeline()


def ui(port: int, env: dict[str, str] | None = None) -> int:
    """`dagster dev` on 127.0.0.1 on the instance of `run` (plus `env`, e.g. the sandbox's API URLs)."""
    env = settings.child_env({"DO_NOT_TRACK": "1", "DAGSTER_HOME": str(prepare_instance()), **(env or {})})
    dagster = str(Path(sys.executable).parent / "dagster")
    child = subprocess.Popen(
        [dagster, "dev", "-m", "dagster_project.definitions", "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        preexec_fn=restore_default_signals,
    )

    # SIGTERM or SIGINT here (make forwards SIGTERM) → SIGINT to `dagster dev`, which then stops its webserver
    # and daemon.
    def stop(signum, frame):
        child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return child.wait()


def main(argv: list[str] | None = None) -> int:
    from dagster_project.lib import retention, settings

    settings.check_production()  # CUR_ENV=production: no start without strong secrets
    retention.restrict_new_files()
    parser = argparse.ArgumentParser(prog="python -m dagster_project.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="materialize every asset from the configured real sources, print a summary")
    ui_parser = commands.add_parser("ui", help="the Dagster UI (dagster dev)")
    ui_parser.add_argument("--port", type=int, default=3000)
    check_parser = commands.add_parser(
        "check-file",
        help="dry run of one export: what would land, be quarantined (why, which line) or rejected, "
        "which codes are unknown; lands nothing",
    )
    check_parser.add_argument("path", type=Path)
    check_parser.add_argument(
        "--mapping",
        type=Path,
        help="a mapping file (default: the contracts and the mapping files of CUR_SOURCE_MAPPINGS_DIR)",
    )
    check_parser.add_argument("--limit", type=int, default=50, help="quarantined rows to list (default 50)")
    args = parser.parse_args(argv)
    if args.command == "ui":
        return ui(args.port)
    if args.command == "check-file":
        from dagster_project.defs.extract.check_file import check_file

        return check_file(args.path, args.mapping, args.limit)
    return run()


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is closed by now; skipping interpreter finalization avoids DuckDB 2.0's spurious nanobind
    # "leaked instance" report for DuckDB type objects that module-level caches still reference at exit.
    os._exit(code)
