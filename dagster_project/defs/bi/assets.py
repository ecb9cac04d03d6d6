"""The `publish` asset: a read-only serving copy of the marts for Superset and other readers.

The snapshot is a byte copy of the warehouse file with everything but the marts dropped: copying a file runs at
disk speed, where re-encoding the marts table by table took twice as long (1M appeals: 9 s against 4.5 s,
docs/performance.md). DuckDB does not shrink a file, so the snapshot is as large as the warehouse.
"""

import os
import shutil
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
    temporary = target.with_name(f".{target.name}.{context.run.run_id}.tmp")
    for stale in (temporary, temporary.with_name(temporary.name + ".wal")):
        stale.unlink(missing_ok=True)
    warehouse = paths.warehouse_path()
    # A read-only connection holds DuckDB's shared lock: no writer changes the file while it is copied.
    with duckdb.connect(str(warehouse), read_only=True):
        shutil.copyfile(warehouse, temporary)
        wal = warehouse.with_name(warehouse.name + ".wal")
        if wal.exists():  # commits not yet checkpointed into the file (the copy replays them when opened)
            shutil.copyfile(wal, temporary.with_name(temporary.name + ".wal"))
    marts = set(mart_models())
    with duckdb.connect(str(temporary)) as con:
        for schema, name, kind in con.sql(
            "select schema_name, table_name, 'table' as kind from duckdb_tables() union all "
            "select schema_name, view_name, 'view' from duckdb_views() where not internal order by kind desc"
        ).fetchall():  # views first: they may read the tables
            if not (schema == "main" and kind == "table" and name in marts):
                con.execute(f'drop {kind} "{schema}"."{name}"')
        for (schema,) in con.sql("select schema_name from duckdb_schemas() where not internal and schema_name <> 'main'"
                                 " and database_name = current_database()").fetchall():
            con.execute(f'drop schema "{schema}"')
        rows = {name: con.execute(f'select count(*) from main."{name}"').fetchone()[0] for name in sorted(marts)}
        con.execute("checkpoint")
    os.replace(temporary, target)
    metadata = {"path": str(target), "tables": len(rows), "rows": sum(rows.values()), "rows_per_table": rows}
    # Production serving for many users: the same snapshot loaded into PostgreSQL, swapped in one transaction.
    if postgres_url := os.environ.get("SERVING_POSTGRES_URL"):
        metadata["postgres_rows"] = sum(load_postgres(target, postgres_url).values())
    metadata["duration_s"] = round(time.monotonic() - started, 2)
    return MaterializeResult(metadata=metadata)
