"""The `serving/marts` asset: the serving layer BI reads, one immutable Parquet file per mart version under a catalog
of views (lib/serving.py), and the PostgreSQL serving copy when `SERVING_POSTGRES_URL` is set.

Nothing is served while the warehouse has rows that no build has audited (write-audit-publish): the asset fails,
saying which models and since when, and BI keeps reading the last published marts.

Only what BI needs is served: the marts of Superset's datasets (superset/bundle/datasets/, the report's mart among
them) and the agencies for Superset's roles. A mart whose rows did not change keeps its file.
"""

import time

from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, MetadataValue, asset

from dagster_project.defs.resources import ServingResource, WarehouseResource
from dagster_project.lib import serving


@asset(
    key=AssetKey(["serving", "marts"]),
    deps=[AssetKey([name]) for name in serving.served_mart_names()],
    group_name="serving",
    description="Витрины для BI: файл Parquet на версию витрины и каталог представлений над ними (только нужное BI).",
)
def serving_marts(
    context: AssetExecutionContext, warehouse: WarehouseResource, serving_layer: ServingResource
) -> MaterializeResult:
    started = time.monotonic()
    catalog = serving_layer.catalog()
    # Under the warehouse lock (lib/warehouse.py) no writer changes the marts while they are exported.
    with warehouse.read_only("publish") as con:
        # Write-audit-publish: rows no build has audited yet never reach BI (dbt/macros/incremental/audit_ledger.sql)
        if unaudited := serving.unaudited_models(con):
            message = serving.refusal(unaudited, catalog)
            context.log.error(message)
            raise Failure(description=message, metadata={"unaudited_models": MetadataValue.json(unaudited)})
        result = serving.publish(con, serving.served_mart_names(), catalog, log=context.log.info)
    metadata = {
        "catalog": str(result.catalog),
        "marts": len(result.marts),
        "rows": sum(mart.rows for mart in result.marts.values()),
        "bytes": sum(mart.bytes for mart in result.marts.values()),
        "written": result.written,
        "unchanged": sorted(set(result.marts) - set(result.written)),
        "removed_files": len(result.removed_files),
    }
    # Production serving for many users: the changed marts loaded into PostgreSQL, swapped in one transaction.
    if postgres_url := serving_layer.postgres_url():
        loaded = serving.load_postgres(result.catalog, postgres_url, serving_layer.resolved_postgres_schema())
        metadata["postgres_rows_loaded"] = sum(loaded.values())
    metadata["duration_s"] = round(time.monotonic() - started, 2)
    return MaterializeResult(metadata=metadata)
