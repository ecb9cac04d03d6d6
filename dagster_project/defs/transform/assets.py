"""Every dbt model and seed as Dagster assets; every dbt test as an asset check."""

from dagster import AssetExecutionContext, Config
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_project.defs.resources import WarehouseResource
from dagster_project.lib import postgres, settings, spark
from dagster_project.lib.dbt import (
    dbt_project,
    keep_parse_state,
    mart_models,
    parse_state_args,
    parse_summary,
    translator,
)
from dagster_project.lib.warehouse import full_refresh_threads


class DbtBuildConfig(Config):
    """Run config of the dbt step."""

    # True: rebuild every incremental model from the whole lake and run every test, unit tests included (the nightly
    # or after a deploy). False (the hourly run): merge what landed since the latest run; data tests read the rows
    # this build wrote (dbt/macros/incremental/test_scope.sql) and unit tests, which test code, not data, are left to
    # the full builds and CI.
    full_refresh: bool = False


def dbt_build_args(full_refresh: bool, warehouse: WarehouseResource) -> list[str]:
    """The `dbt build` arguments of a full or an hourly (incremental) build."""
    if not full_refresh:
        return ["build", "--exclude-resource-type", "unit_test"]
    if settings.dbt_target() == "duckdb":
        config = warehouse.duckdb_config()
        threads = full_refresh_threads(config["threads"], config["memory_limit"])
        return ["build", "--full-refresh", "--threads", str(threads)]
    return ["build", "--full-refresh"]


@dbt_assets(manifest=dbt_project().manifest_path, project=dbt_project(), dagster_dbt_translator=translator)
def cur_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtBuildConfig
):
    if settings.dbt_target() == "duckdb":
        warehouse.require_settings_path("dbt's profile")
    # On PostgreSQL the raw sources are tables: mirror the lake into them first (DuckDB reads the Parquet directly).
    if settings.dbt_target() == "postgres":
        context.log.info(f"raw tables loaded into PostgreSQL: {postgres.load_lake()}")
    # On Spark the lake is read where it lies; the calendar and the held parts are written beside it (lib/spark.py).
    if settings.dbt_target() == "spark":
        context.log.info(f"inputs written for Spark: {spark.prepare_sources()}")
    # dbt is the warehouse's longest writer: it waits for the others and they wait for it (lib/warehouse.py)
    with warehouse.lock("dbt build"):
        invocation = dbt.cli(dbt_build_args(config.full_refresh, warehouse) + parse_state_args(), context=context)
        yield from invocation.stream()
        keep_parse_state(invocation.target_path)
    context.log.info(parse_summary(invocation.target_path))
    # Spark's marts, as views of the DuckDB warehouse over their Parquet: the checks and the serving copy read them
    if settings.dbt_target() == "spark":
        context.log.info(f"marts exposed from Spark: {len(spark.expose_marts(mart_models()))}")
