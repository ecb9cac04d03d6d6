"""Write-audit-publish in the warehouse (issue 15): rows of a build whose data tests failed stay unaudited, are tested
again by every later build, and never reach the serving copy.

The case of the issue on a hand-made lake: after a good build and publish, a lake part with an appeal registered in
2031 and one in 1900 is written straight into the lake — past extraction and its plausibility window, so the warehouse
has to hold on its own. The build that reads it fails; the next build, with no new input, tests those rows again and
fails again; publish refuses both times and BI keeps the first publish. The as-of moment and the overdue flags are
those of the appeals in the fact, never of the excluded 2031 appeal.
"""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, materialize
from test_dbt_warehouse import BATCH_1, history, land, pos_message

from dagster_project.defs.bi import assets as bi_assets
from dagster_project.defs.resources import platform_resources
from dagster_project.lib import paths, serving
from sandbox.manual_inputs import write_manual_inputs

pytestmark = pytest.mark.integration

# Saratov (UTC+4), Fri 31.05.2024 10:00 local; housing.01 = 3 working days 03.06, 04.06, 05.06 → expires 06.06 00:00
# local = 05.06 20:00 UTC: not overdue at the as-of moment of the appeals in the fact (this appeal's own 31.05 06:00),
# overdue at any as-of in 2031.
P10 = pos_message(
    "P10",
    "64",
    "63701000",
    "64-ROIV-minstroy",
    "housing.01",
    "citizen-10",
    "2024-05-31 06:00",
    "registered",
    "2024-05-31 06:00",
)
P2031 = pos_message(
    "P2031",
    "64",
    "63701000",
    "64-ROIV-minstroy",
    "housing.01",
    "citizen-2031",
    "2031-06-01 06:00",
    "registered",
    "2031-06-01 06:00",
)
P1900 = pos_message(
    "P1900",
    "64",
    "63701000",
    "64-ROIV-minstroy",
    "housing.01",
    "citizen-1900",
    "1900-01-02 06:00",
    "registered",
    "1900-01-02 06:00",
)
BAD_BATCH = {
    "pos_messages": [P10, P2031, P1900],
    "pos_message_events": [
        event
        for row in (P10, P2031, P1900)
        for event in history(
            row["message_id"],
            row["updated_at"].isoformat(sep=" "),
            "64-ROIV-minstroy",
            ("registered", row["created_at"].isoformat(sep=" ")),
        )
    ],
    **{table: [] for table in ("pos_polls", "incidents", "incident_events", "sed_appeals", "portal_appeals")},
}
SERVED = ("appeals_deidentified", "governor_monthly_summary", "dim_agency")


def build(*args: str) -> subprocess.CompletedProcess:
    """`dbt build` (the hourly one: no unit tests) in a subprocess, cwd = dbt/; the exit code is the caller's."""
    command = [
        str(Path(sys.executable).parent / "dbt"),
        "build",
        "--exclude-resource-type",
        "unit_test",
        *args,
        "--profiles-dir",
        ".",
        "--target-path",
        os.environ["DBT_TARGET_PATH"],
        "--log-path",
        os.environ["DBT_LOG_PATH"],
    ]
    return subprocess.run(command, cwd=paths.DBT_PROJECT_DIR, capture_output=True, text=True, timeout=600)


def query(sql: str) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.sql(sql).fetchall()


def publish():
    return materialize(
        [bi_assets.serving_marts],
        resources=platform_resources(),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def served() -> dict:
    return {name: (mart.fingerprint, mart.rows) for name, mart in serving.served_marts(paths.serving_path()).items()}


@pytest.fixture
def lake(tmp_path, monkeypatch):
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    monkeypatch.delenv("DBT_TARGET", raising=False)
    monkeypatch.delenv("SERVING_PATH", raising=False)
    monkeypatch.delenv("SERVING_POSTGRES_URL", raising=False)
    monkeypatch.setattr(serving, "served_mart_names", lambda: SERVED)
    write_manual_inputs(tmp_path / "data", seed=7)
    return tmp_path / "data"


def test_rows_of_a_failed_build_stay_unaudited_until_a_build_passes(lake):
    land(lake, BATCH_1, "2024-01-01")
    first = build()
    assert first.returncode == 0, first.stdout[-4000:]
    assert query("select * from ops.unaudited_models") == []
    assert publish().success
    good = served()
    assert set(good) == set(SERVED)

    # run 1: the bad part lands (straight into the lake) and the build that reads it fails
    land(lake, BAD_BATCH, "2024-06-01")
    second = build()
    assert second.returncode != 0
    assert "P1900" in second.stdout and "P2031" in second.stdout  # the failing test names them
    unaudited = dict(query("select model, reason from ops.unaudited_models"))
    assert "int_appeals_excluded" in unaudited and "within_production_calendar" in unaudited["int_appeals_excluded"]
    refused = publish()
    assert not refused.success
    failure = next(event for event in refused.all_events if event.event_type_value == "STEP_FAILURE")
    assert "not published" in failure.step_failure_data.error.message
    assert "int_appeals_excluded" in failure.step_failure_data.error.message
    assert served() == good

    # run 2: no new input; the rows of run 1 are tested again, fail again and stay out of serving
    third = build()
    assert third.returncode != 0 and "P1900" in third.stdout and "P2031" in third.stdout
    assert "int_appeals_excluded" in dict(query("select model, reason from ops.unaudited_models"))
    assert not publish().success
    assert served() == good

    # the marts never show them: the facts hold the appeals of the calendar only, as of their own latest change
    assert query("select appeal_key from main.fct_appeals where appeal_key in ('pos:P2031', 'pos:P1900')") == []
    assert query("select cast(as_of_at as varchar) from main.reporting_as_of") == [("2024-05-31 06:00:00",)]
    overdue = query(
        "select appeal_key, is_overdue_open from main.fct_appeals "
        "where appeal_key in ('pos:P10', 'portal:R1') order by 1"
    )
    assert overdue == [("portal:R1", True), ("pos:P10", False)]
    assert query(
        "select count(*) from main.fct_appeals f join main.appeal_outcomes o using (appeal_key) "
        "where f.is_overdue_open is distinct from o.is_open_overdue"
    ) == [(0,)]
    months = query("select min(month_start)::varchar, max(month_start)::varchar from main.governor_monthly_summary")
    assert months == [("2023-09-01", "2024-05-01")]
