"""Killed runs (issue 15): a kill -9 of a run mid dbt build — the process running `execute_in_process` and its dbt
together, as a power loss would — then a run: the Dagster instance shows the killed run as failed, and the warehouse
equals an uninterrupted build (a full refresh of the same lake, compared table by table). On the way, the dbt step
waits for the warehouse lock held by another writer and, with a short timeout, fails naming it.

The runs are real `cli.materialize_all` runs (what `cli run` does after the extraction's sandbox is up) of the dbt
assets over a hand-made lake, in their own processes under a private DAGSTER_HOME.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus
from test_dbt_warehouse import BATCH_1, BATCH_2, differences, land, model_relations

from dagster_project.lib import paths
from sandbox.manual_inputs import write_manual_inputs

pytestmark = pytest.mark.integration

RUN = """
from dagster_project import cli
from dagster_project.defs.transform.assets import cur_dbt_models

result = cli.materialize_all(asset_selection=list(cur_dbt_models.keys))
print("RUN", result.run_id, "SUCCESS" if result.success else "FAILURE", flush=True)
"""
HOLDER = """
import sys
from dagster_project.lib import warehouse
with warehouse.lock("a test writer", run_id="run-of-the-holder"):
    print("locked", flush=True)
    sys.stdin.readline()  # until the test lets go
"""


def start_run() -> subprocess.Popen:
    """A run in its own process group (so that kill -9 reaches dbt too), output to a file."""
    log = open(Path(os.environ["DAGSTER_HOME"]) / f"run-{time.monotonic_ns()}.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-c", RUN],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ,
        start_new_session=True,
    )
    process.log = log
    return process


def finish(process: subprocess.Popen) -> tuple[str, str, str]:
    """(run id, outcome, whole output) of a run that ends by itself."""
    process.wait(timeout=900)
    process.log.seek(0)
    output = process.log.read()
    line = next((line for line in output.splitlines() if line.startswith("RUN ")), None)
    assert line, output[-4000:]
    _, run_id, outcome = line.split()
    return run_id, outcome, output


def hold_lock() -> subprocess.Popen:
    """Another writer holding the warehouse lock until a line is written to its stdin."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def runs_by_status() -> dict[str, DagsterRunStatus]:
    with DagsterInstance.get() as instance:
        return {run.run_id: run.status for run in instance.get_runs()}


@pytest.fixture
def environment(tmp_path, monkeypatch):
    for name, value in {
        "DO_NOT_TRACK": "1",
        "CUR_DATA_DIR": tmp_path / "data",
        "WAREHOUSE_PATH": tmp_path / "warehouse.duckdb",
        "DAGSTER_HOME": tmp_path / "dagster_home",
        "DBT_TARGET_PATH": tmp_path / "target",
        "DBT_LOG_PATH": tmp_path / "logs",
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("DBT_TARGET", raising=False)
    monkeypatch.delenv("CUR_WAREHOUSE_LOCK_TIMEOUT_S", raising=False)
    (tmp_path / "dagster_home").mkdir()
    write_manual_inputs(tmp_path / "data", seed=7)
    land(tmp_path / "data", BATCH_1, "2024-01-01")
    land(tmp_path / "data", BATCH_2, "2024-06-04")
    return tmp_path


def test_a_killed_run_is_marked_failed_and_the_next_run_equals_an_uninterrupted_build(environment, monkeypatch):
    # the run is killed once dbt has written the facts, with the marts still to come
    killed = start_run()
    deadline = time.monotonic() + 600
    while not list((environment / "target").glob("*/run/cur/models/marts/core/fct_appeals.sql")):
        assert killed.poll() is None and time.monotonic() < deadline, "the run ended before dbt wrote fct_appeals"
        time.sleep(0.2)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    ((killed_run_id, status),) = runs_by_status().items()
    assert status == DagsterRunStatus.STARTED  # what the instance says until a sweep looks

    # another writer holds the warehouse: with a short timeout the dbt step fails and names it
    holder = hold_lock()
    try:
        monkeypatch.setenv("CUR_WAREHOUSE_LOCK_TIMEOUT_S", "1")
        run_id, outcome, output = finish(start_run())
        assert outcome == "FAILURE"
        assert f"is locked by pid {holder.pid} (Dagster run run-of-the-holder, a test writer, since" in output
    finally:
        holder.kill()
        holder.wait()
    assert f"run {killed_run_id}: its process is gone (killed?): marked failed" in output

    # with the default timeout the next run's dbt step waits for the holder, and builds once it lets go
    monkeypatch.delenv("CUR_WAREHOUSE_LOCK_TIMEOUT_S")
    holder = hold_lock()
    recovery = start_run()
    waiting = f"dbt build waits for the warehouse lock held by pid {holder.pid}"
    deadline = time.monotonic() + 600
    while waiting not in Path(recovery.log.name).read_text():
        assert recovery.poll() is None and time.monotonic() < deadline, "the run did not wait for the lock"
        time.sleep(0.2)
    holder.communicate("go\n", timeout=60)
    run_id, outcome, output = finish(recovery)
    assert outcome == "SUCCESS", output[-4000:]
    statuses = runs_by_status()
    assert statuses[killed_run_id] == DagsterRunStatus.FAILURE and statuses[run_id] == DagsterRunStatus.SUCCESS
    with DagsterInstance.get() as instance:
        failure = [
            record.event_log_entry
            for record in instance.get_records_for_run(killed_run_id).records
            if record.event_log_entry.dagster_event and record.event_log_entry.dagster_event.is_run_failure
        ]
    assert "ended without finishing it" in failure[0].dagster_event.message

    # the warehouse equals an uninterrupted build of the same lake, and nothing in it is left unaudited
    warehouse = paths.warehouse_path()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.sql("select * from ops.unaudited_models").fetchall() == []
    uninterrupted = environment / "uninterrupted.duckdb"
    shutil.copy(warehouse, uninterrupted)
    # the data only: the recovery run's build above ran the data tests on the warehouse compared
    subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--full-refresh",
            "--exclude-resource-type",
            "unit_test",
            "test",
            "--profiles-dir",
            ".",
        ],
        cwd=paths.DBT_PROJECT_DIR,
        check=True,
        capture_output=True,
        timeout=900,
        env=dict(os.environ, WAREHOUSE_PATH=str(uninterrupted)),
    )
    manifest = json.loads((environment / "target" / "manifest.json").read_text())
    relations = model_relations(manifest)
    assert len(relations) > 40
    assert differences(warehouse, uninterrupted, relations) == {}
