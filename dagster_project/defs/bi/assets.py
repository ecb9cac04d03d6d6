"""The `publish` asset: a read-only serving copy of the marts for Superset and other readers."""

import os
import time

import duckdb
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from dagster_project.lib import paths
from dagster_project.lib.dbt import mart_models
from dagster_project.lib.serving import load_postgres


@asset(
    key=AssetKey(["serving", "marts_snapshot"]),
    deps=[AssetKey([name]) for name in mart_models()],
    group_name="bi",
    description="Read-only serving snapshot of every mart (витрины для BI), swapped in atomically.",
)
def publish(context: AssetExecutionContext) -> MaterializeResult:
    started = time.monotonic()
    target = paths.serving_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{context.run_id}.tmp")
    temporary.unlink(missing_ok=True)
    rows = {}
    # Readers keep the old file open until the swap; the warehouse is only read, never locked for writing.
    with duckdb.connect(str(temporary)) as con:
        con.execute(f"attach '{paths.warehouse_path()}' as warehouse (read_only)")
        for name in mart_models():
            con.execute(f'create table main."{name}" as select * from warehouse.main."{name}"')
            rows[name] = con.execute(f'select count(*) from main."{name}"').fetchone()[0]
        con.execute("detach warehouse")
    os.replace(temporary, target)
    metadata = {"path": str(target), "tables": len(rows), "rows": sum(rows.values()), "rows_per_table": rows}
    # Production serving for many users: the same snapshot loaded into PostgreSQL, swapped in one transaction.
    if postgres_url := os.environ.get("SERVING_POSTGRES_URL"):
        metadata["postgres_rows"] = sum(load_postgres(target, postgres_url).values())
    metadata["duration_s"] = round(time.monotonic() - started, 2)
    return MaterializeResult(metadata=metadata)
