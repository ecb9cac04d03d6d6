"""Runs of killed processes are marked failed (lib/runs.py): by the sweep and by the daemon's sensor; a run whose
process is alive, or that carries no process tag, is left alone."""

import os
import subprocess
import sys
import time

import pytest
from dagster import DagsterInstance, DagsterRunStatus, SkipReason, build_sensor_context

from dagster_project.defs.operations.sensors import fail_runs_of_dead_processes
from dagster_project.lib import runs

pytestmark = pytest.mark.integration  # Dagster runs in other processes

SLOW_RUN = """
import time
from dagster import DagsterInstance, job, op
from dagster_project.lib import runs

@op
def sleeps():
    print("started", flush=True)
    time.sleep(600)

@job
def slow():
    sleeps()

with DagsterInstance.get() as instance:
    slow.execute_in_process(instance=instance, tags=runs.process_tags())
"""


def start_slow_run() -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", SLOW_RUN], stdout=subprocess.PIPE, text=True, env=os.environ)
    while process.stdout.readline().strip() != "started":
        assert process.poll() is None, "the run ended before its op started"
    return process


def statuses(instance: DagsterInstance) -> dict[str, DagsterRunStatus]:
    return {run.run_id: run.status for run in instance.get_runs()}


def test_runs_of_killed_processes_are_marked_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    killed, alive = start_slow_run(), start_slow_run()
    try:
        killed.kill()  # SIGKILL: the run cannot report anything
        killed.wait()
        with DagsterInstance.get() as instance:
            before = statuses(instance)
            assert list(before.values()) == [DagsterRunStatus.STARTED] * 2
            killed_run = next(run for run in instance.get_runs() if f":{killed.pid}:" in run.tags[runs.PROCESS_TAG])
            # the daemon's sensor sweeps: the killed process's run fails, the live one runs on
            result = fail_runs_of_dead_processes(build_sensor_context(instance=instance))
            assert isinstance(result, SkipReason) and "1 run(s) of ended processes marked failed" in result.skip_message
            after = statuses(instance)
            assert after[killed_run.run_id] == DagsterRunStatus.FAILURE
            assert [status for run_id, status in after.items() if run_id != killed_run.run_id] == [
                DagsterRunStatus.STARTED
            ]
            # a second sweep finds nothing more
            assert runs.fail_runs_of_dead_processes(instance) == []
    finally:
        alive.kill()
        alive.wait()
    with DagsterInstance.get() as instance:
        assert len(runs.fail_runs_of_dead_processes(instance)) == 1


def test_a_reused_pid_is_not_the_same_process():
    """The tag names the process by pid and start time: another process with the same pid later is not it."""
    tag = runs.process_tags()[runs.PROCESS_TAG]
    assert not runs.process_is_gone(tag)
    host, pid, started = tag.rsplit(":", 2)
    assert runs.process_is_gone(f"{host}:{pid}:{int(started) - 1}")
    sleeper = subprocess.Popen(["sleep", "30"])
    time.sleep(0.1)
    sleeper.kill()
    sleeper.wait()
    assert runs.process_is_gone(f"{host}:{sleeper.pid}:{started}")
    assert not runs.process_is_gone(f"another-host:{sleeper.pid}:{started}")


def test_the_summary_of_a_failed_run_survives_an_unreadable_warehouse(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    from dagster_project import cli

    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(b"not a DuckDB database, as a half-written file after a crash would be")
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
    result = SimpleNamespace(run_id="r1", success=False, get_asset_check_evaluations=lambda: [])
    cli.print_summary(result)
    out = capsys.readouterr().out
    assert "status: FAILURE" in out
    assert "rows per mart:\n  not readable: " in out
    assert "checks: 0 passed, 0 failed" in out
