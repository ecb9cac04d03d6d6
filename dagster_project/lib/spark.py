"""The `spark` dbt target's side of the platform (docs/scaling.md).

Before a build: Spark reads the lake's Parquet parts and the manual CSV files where they lie (dbt/macros/spark.sql
makes a view or an external table of each source at the start of every dbt invocation). Two inputs are not files of
the lake, and `prepare_sources()` writes them under `<data>/spark/`:
- the production calendar for the lake's span (lib/calendar.py), which DuckDB makes with a dbt-duckdb plugin and
  PostgreSQL gets from lib/postgres.py: `production_calendar.parquet`;
- the parts held out of the warehouse by a raw quality check (lib/held_loads.py, in the control tables of the
  DuckDB warehouse): `held_parts.parquet`, which the lake views leave out.

After a build: Spark's tables are Parquet files under `<data>/spark/warehouse/<schema>.db/<table>/`. `expose_marts()`
makes each mart a view `main.<mart>` of the DuckDB warehouse file over those files, so that what reads the marts —
the Great Expectations checks, the serving snapshot, the Governor's report — reads the Parquet Spark wrote, unchanged.
`python -m dagster_project.lib.spark` writes the inputs for the lake under CUR_DATA_DIR.
"""

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.lib import calendar, held_loads, paths, settings, warehouse

HELD_PARTS_SCHEMA = pa.schema([("source", pa.string()), ("part_name", pa.string())])


def spark_dir(data_dir: Path | None = None) -> Path:
    return Path(data_dir or paths.data_dir()) / "spark"


def prepare_sources(data_dir: Path | None = None) -> dict[str, int]:
    """Writes the calendar and the held parts for the lake under `data_dir`; returns rows per file."""
    data_dir = Path(data_dir or paths.data_dir())
    out = spark_dir(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "production_calendar": calendar.calendar_table(data_dir / "lake"),
        "held_parts": pa.Table.from_pylist(
            [{"source": table, "part_name": part} for table, part in held_loads.held_parts()], schema=HELD_PARTS_SCHEMA
        ),
    }
    for name, table in tables.items():
        pq.write_table(table, out / f"{name}.parquet")
    return {name: table.num_rows for name, table in tables.items()}


def schema_dir() -> Path:
    """Where Spark keeps the tables of the marts' schema (spark.sql.warehouse.dir of dbt/profiles.yml)."""
    return spark_dir() / "warehouse" / f"{settings.spark_schema()}.db"


def spark_tables() -> list[str]:
    """The tables (not views) of the marts' schema that Spark has written."""
    root = schema_dir()
    return sorted(table.name for table in root.iterdir() if any(table.glob("*.parquet"))) if root.exists() else []


def table_files(table: str) -> str:
    """The Parquet files of one of Spark's tables, as a glob DuckDB reads."""
    return str(schema_dir() / table / "*.parquet")


def expose_marts(marts: Iterable[str]) -> list[str]:
    """Views `main.<mart>` of the DuckDB warehouse over the Parquet files of Spark's tables of these marts (a table
    of the same name, left by a DuckDB build, is replaced); returns the marts exposed."""
    written = set(spark_tables())
    exposed = [mart for mart in marts if mart in written]
    with warehouse.connect() as con:
        kinds = dict(
            con.execute(
                "select table_name, table_type from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        )
        for mart in exposed:
            if kinds.get(mart) == "BASE TABLE":
                con.execute(f'drop table main."{mart}"')
            con.execute(f"create or replace view main.\"{mart}\" as select * from read_parquet('{table_files(mart)}')")
    return exposed


if __name__ == "__main__":
    print(prepare_sources())
