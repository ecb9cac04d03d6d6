"""Copy the landed raw lake (Parquet) and the manual inputs (CSV) into PostgreSQL, so that `dbt build --target postgres`
reads the same sources as DuckDB.

Tables go to schema `raw` (env `CUR_RAW_SCHEMA`, which tests set to isolate themselves): `raw.<table>` for the lake,
`raw.manual_<name>` (all columns text) for `data/manual/<name>.csv`, and `raw.production_calendar`, the production
calendar for the lake's span (lib/calendar.py; on DuckDB dbt makes it itself). The parts of loads held out of the
warehouse by a raw quality check (lib/held_loads.py) are not copied. Every load replaces them: the lake is the system
of record, PostgreSQL only mirrors it for the portability build.
"""

import io
import json
from pathlib import Path

import duckdb
import psycopg2
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg2 import sql

from dagster_project.lib import calendar, contracts, held_loads, paths, settings

COPY_BATCH_ROWS = 50_000


def connect():
    """A connection with the same env defaults as dbt/profiles.yml."""
    return psycopg2.connect(**settings.postgres_connection())


def raw_schema() -> str:
    return settings.env("CUR_RAW_SCHEMA", "raw")


def load_lake(data_dir: Path | None = None, schema: str | None = None) -> dict[str, int]:
    """Replace `<schema>.<table>` with the union of each table's landed Parquet files and `<schema>.manual_<name>`
    with each manual CSV; returns rows per table."""
    data_dir = Path(data_dir or paths.data_dir())
    schema = schema or raw_schema()
    loaded = {}
    relations = {}
    held = set(held_loads.held_parts())
    with connect() as pg, pg.cursor() as cursor, duckdb.connect() as con:
        cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        for table in contracts.RAW_TABLES:
            parts = sorted((data_dir / "lake" / "raw" / table).glob("*/*.parquet"))
            if files := [part for part in parts if (table, held_loads.part_name(part)) not in held]:
                relations[table] = con.read_parquet(
                    [str(f) for f in files], union_by_name=True, hive_partitioning=False
                )
        for manual in sorted((data_dir / "manual").glob("*.csv")):
            relations[f"manual_{manual.stem}"] = con.read_csv(str(manual), header=True, all_varchar=True)
        relations["production_calendar"] = con.from_arrow(calendar.calendar_table(data_dir / "lake"))
        for table, relation in relations.items():
            cursor.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(schema, table)))
            loaded[table] = copy_relation(cursor, relation, schema, table)
    return loaded


def copy_relation(cursor, relation: duckdb.DuckDBPyRelation, schema: str, table: str) -> int:
    """Create `schema.table` with the relation's columns and stream its rows in through COPY, in Arrow batches,
    so memory stays flat whatever the size. Used for the raw mirror here and for the BI serving copy."""
    reader = relation.to_arrow_reader(COPY_BATCH_ROWS)
    target = sql.Identifier(schema, table)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(_postgres_type(field.type)))
        for field in reader.schema
    )
    cursor.execute(sql.SQL("create table {} ({})").format(target, columns))
    copy = sql.SQL("copy {} from stdin with (format csv, header false)").format(target).as_string(cursor)
    loaded = 0
    for batch in reader:
        buffer = io.BytesIO()
        # Strings are always quoted, so an empty string stays '' and only an unquoted empty field is NULL.
        pa_csv.write_csv(_csv_ready(batch), buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
        buffer.seek(0)
        cursor.copy_expert(copy, buffer)
        loaded += batch.num_rows
    return loaded


def _postgres_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_nested(arrow_type):
        return "text"  # lists and structs travel as JSON text
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_floating(arrow_type):
        return "double precision"
    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "text"
    raise TypeError(f"no PostgreSQL type for {arrow_type}")


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = [
        pa.array(
            [
                None if value is None else json.dumps(value, ensure_ascii=False, default=str)
                for value in column.to_pylist()
            ],
            pa.string(),
        )
        if pa.types.is_nested(column.type)
        else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


if __name__ == "__main__":
    print(load_lake())
