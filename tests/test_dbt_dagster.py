"""dbt in the Dagster asset graph: models downstream of the extraction assets, dbt tests as asset checks."""

import pytest
from dagster import AssetKey, Failure

from dagster_project.defs.resources import WarehouseResource
from dagster_project.defs.transform.assets import cur_dbt_models, dbt_build_args
from dagster_project.lib import warehouse


def test_staging_models_depend_on_extraction_assets():
    deps = {spec.key: {dep.asset_key for dep in spec.deps} for spec in cur_dbt_models.specs}
    for model, table in [
        ("stg_pos__messages", "pos_messages"),
        ("stg_pos__message_events", "pos_message_events"),
        ("stg_pos__poll_options", "pos_polls"),
        ("stg_incident__incidents", "incidents"),
        ("stg_incident__incident_events", "incident_events"),
        ("stg_sed__appeals", "sed_appeals"),
        ("stg_portal__appeals", "portal_appeals"),
    ]:
        assert AssetKey(["raw", table]) in deps[AssetKey(["staging", model])]
    assert AssetKey(["intermediate", "int_appeals_deadlines_computed"]) in deps[AssetKey(["fct_appeals"])]


def test_dbt_tests_are_asset_checks():
    checks = {(check.asset_key, check.name) for check in cur_dbt_models.check_specs}
    assert (AssetKey(["fct_appeals"]), "unique_fct_appeals_appeal_key") in checks
    assert any(
        key == AssetKey(["dim_agency"]) and name.startswith("scd2_versions_do_not_overlap") for key, name in checks
    )
    assert any(
        key == AssetKey(["staging", "stg_pos__messages"]) and name.startswith("accounted_for") for key, name in checks
    )


def test_hourly_and_full_builds():
    """The hourly build merges and tests what changed, leaving unit tests to full builds and CI; the full build
    rebuilds and runs everything."""
    assert dbt_build_args(full_refresh=True, warehouse=WarehouseResource())[:2] == ["build", "--full-refresh"]
    assert dbt_build_args(full_refresh=False, warehouse=WarehouseResource()) == [
        "build",
        "--exclude-resource-type",
        "unit_test",
    ]


def test_full_refresh_runs_one_model_at_a_time_on_a_large_lake(tmp_path, monkeypatch):
    """A full refresh overlaps models while the lake is small against DuckDB's memory limit, and runs them one at a
    time beyond a quarter of it (each big model needs the whole limit)."""
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DBT_TARGET", raising=False)
    part = tmp_path / "lake" / "raw" / "pos_messages" / "load_date=2025-01-01" / "run.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"PAR1")
    assert dbt_build_args(full_refresh=True, warehouse=WarehouseResource()) == [
        "build",
        "--full-refresh",
        "--threads",
        "2",
    ]
    limit = warehouse._bytes(warehouse.duckdb_settings()["memory_limit"])
    with part.open("r+b") as sparse:  # a sparse file: its size counts, no disk is written
        sparse.truncate(int(limit * warehouse.LAKE_SHARE_OF_MEMORY_FOR_ONE_THREAD) + 1)
    assert dbt_build_args(full_refresh=True, warehouse=WarehouseResource()) == [
        "build",
        "--full-refresh",
        "--threads",
        "1",
    ]
    monkeypatch.setenv("DBT_TARGET", "postgres")
    assert dbt_build_args(full_refresh=True, warehouse=WarehouseResource()) == ["build", "--full-refresh"]


def test_the_warehouse_resource_sets_the_full_refresh_threads_and_must_be_dbts_warehouse(tmp_path, monkeypatch):
    """The full refresh's threads follow the warehouse resource's threads and memory limit; the dbt asset refuses a
    resource pointing at another file than the one dbt's profile reads from the environment."""
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("WAREHOUSE_PATH", raising=False)
    monkeypatch.delenv("DBT_TARGET", raising=False)
    part = tmp_path / "lake" / "raw" / "incidents" / "load_date=2025-01-01" / "run.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 300_000)  # more than a quarter of 1 MB, less than a quarter of 2 MB
    assert dbt_build_args(True, WarehouseResource(threads=3, memory_limit="2MB"))[-2:] == ["--threads", "3"]
    assert dbt_build_args(True, WarehouseResource(threads=3, memory_limit="1MB"))[-2:] == ["--threads", "1"]
    WarehouseResource(path=str(tmp_path / "warehouse.duckdb")).require_settings_path("dbt's profile")
    with pytest.raises(Failure, match="set WAREHOUSE_PATH instead"):
        WarehouseResource(path=str(tmp_path / "other.duckdb")).require_settings_path("dbt's profile")


def test_duckdb_sizes_are_read_as_duckdb_reads_them():
    assert warehouse._bytes("3GB") == 3 * 10**9
    assert warehouse._bytes("512 MiB") == 512 * 2**20
    with pytest.raises(ValueError):
        warehouse._bytes("lots")
