"""Every dbt model, seed and snapshot as Dagster assets; every dbt test as an asset check."""

import os

from dagster import AssetExecutionContext, Config
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_project.lib import postgres
from dagster_project.lib.dbt import dbt_project, translator


class DbtBuildConfig(Config):
    """Run config of the dbt step."""

    full_refresh: bool = False  # rebuild the incremental facts from scratch instead of merging the lookback window


@dbt_assets(manifest=dbt_project().manifest_path, project=dbt_project(), dagster_dbt_translator=translator)
def cur_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    # On PostgreSQL the raw sources are tables: mirror the lake into them first (DuckDB reads the Parquet directly).
    if os.environ.get("DBT_TARGET") == "postgres":
        context.log.info(f"raw tables loaded into PostgreSQL: {postgres.load_lake()}")
    args = ["build", "--full-refresh"] if config.full_refresh else ["build"]
    yield from dbt.cli(args, context=context).stream()
