"""The Spark side of the platform without Spark (docs/scaling.md): the inputs written before a build, the marts
exposed to the DuckDB warehouse after it, the cluster's processes. The build itself: tests/test_marts.py (marker
spark)."""

import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project import spark_cluster
from dagster_project.lib import spark


def test_inputs_for_spark_are_the_calendar_of_the_lake_and_no_held_parts(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    part = tmp_path / "lake" / "raw" / "pos_messages" / "load_date=2024-05-01"
    part.mkdir(parents=True)
    created = pa.array([1_704_067_200_000_000], pa.timestamp("us"))  # 2024-01-01: the calendar starts in that year
    pq.write_table(pa.table({"message_id": ["1"], "created_at": created}), part / "a.parquet")
    rows = spark.prepare_sources()
    calendar = pq.read_table(tmp_path / "spark" / "production_calendar.parquet")
    assert min(calendar["date_day"].to_pylist()).isoformat() == "2024-01-01"
    assert rows == {"production_calendar": calendar.num_rows, "held_parts": 0}
    assert pq.read_table(tmp_path / "spark" / "held_parts.parquet").schema.names == ["source", "part_name"]


def test_marts_written_by_spark_become_views_of_the_warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("SPARK_SCHEMA", raising=False)
    for table, values in {"agency_rating_monthly": [3, 4], "dim_agency": [7]}.items():
        folder = tmp_path / "spark" / "warehouse" / "cur.db" / table
        folder.mkdir(parents=True)
        for n, value in enumerate(values):  # Spark writes one file per task
            pq.write_table(pa.table({"x": [value]}), folder / f"part-0000{n}.parquet")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create table main.agency_rating_monthly as select 1 as x")  # left by an earlier DuckDB build
    exposed = spark.expose_marts(["agency_rating_monthly", "dim_agency", "sector_kpis_monthly"])
    assert exposed == ["agency_rating_monthly", "dim_agency"]  # sector_kpis_monthly: Spark did not write it
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select sum(x) from main.agency_rating_monthly").fetchone()[0] == 7
        kinds = dict(
            con.execute(
                "select table_name, table_type from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        )
    assert kinds == {"agency_rating_monthly": "VIEW", "dim_agency": "VIEW"}


def test_cluster_is_a_master_and_two_workers_on_loopback(monkeypatch):
    pytest.importorskip("pyspark", reason="the cluster's commands come from pyspark's distribution: make spark-install")
    monkeypatch.setenv("CUR_SPARK_MASTER_PORT", "3577")
    monkeypatch.setenv("CUR_SPARK_UI_PORT", "3580")
    commands = spark_cluster.commands()
    assert list(commands) == ["spark_master", "spark_worker_1", "spark_worker_2"]
    assert commands["spark_master"][1:] == [
        "org.apache.spark.deploy.master.Master",
        "--host",
        "127.0.0.1",
        "--port",
        "3577",
        "--webui-port",
        "3580",
    ]
    for n, ui_port in [(1, "3581"), (2, "3582")]:
        worker = commands[f"spark_worker_{n}"]
        assert worker[-1] == "spark://127.0.0.1:3577" and worker[worker.index("--webui-port") + 1] == ui_port


def test_great_expectations_imports_in_a_process_without_a_main_file():
    """Dagster's run workers have a __main__ without a file; with pyspark installed but not Spark Connect's
    dependencies, importing GE there ended the process with exit code 0 (pyspark's doctest guard) and every GE step
    failed. `python -c` has the same kind of __main__."""
    result = subprocess.run(
        [sys.executable, "-c", "import great_expectations; print('imported')"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("imported"), result.stderr[-2000:]
