"""Serving copies of the marts for BI: readers of the DuckDB snapshot and the PostgreSQL load.

`load_postgres` copies every table of the serving snapshot into PostgreSQL for multi-user production serving
(env `SERVING_POSTGRES_URL`). Tables stream in Arrow record batches through `COPY … FROM STDIN`, so memory stays
flat whatever the table size. The load goes into a fresh schema that replaces the served one in a single
transaction: readers see either the old marts or the new ones, never a half-loaded table.
"""

import io
import json
from pathlib import Path

import duckdb
import psycopg2
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg2 import sql

BATCH_ROWS = 50_000


def agencies_in_snapshot(serving_path: Path) -> list[tuple[str, str]]:
    """(agency_id, region_code) of every agency in the snapshot: the agency and region roles to create.

    The «не определено» member (no region) gets no role."""
    with duckdb.connect(str(serving_path), read_only=True) as con:
        return con.sql(
            "select distinct agency_id, region_code from main.dim_agency where region_code is not null order by 1"
        ).fetchall()


def _postgres_type(arrow_type: pa.DataType) -> str:
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
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    raise TypeError(f"no PostgreSQL type for {arrow_type}")


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Nested values (lists, structs) travel as JSON text; the rest as is."""
    columns = []
    for column in batch.columns:
        if pa.types.is_nested(column.type):
            column = pa.array([None if value is None else _json(value) for value in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def load_postgres(serving_path: Path, postgres_url: str, schema: str = "serving") -> dict[str, int]:
    """Copy every table of the serving snapshot into `schema` of PostgreSQL; returns rows per table."""
    staging = f"{schema}__loading"
    rows: dict[str, int] = {}
    with duckdb.connect(str(serving_path), read_only=True) as source, psycopg2.connect(postgres_url) as target:
        tables = [row[0] for row in source.sql(
            "select table_name from information_schema.tables where table_schema = 'main' order by 1").fetchall()]
        with target.cursor() as cursor:
            cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(staging)))
            cursor.execute(sql.SQL("create schema {}").format(sql.Identifier(staging)))
            for table in tables:
                rows[table] = _copy_table(source, cursor, staging, table)
            # The swap: one transaction (psycopg2 commits when the `with` block ends).
            cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
            cursor.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(staging), sql.Identifier(schema)))
    target.close()
    return rows


def _copy_table(source: duckdb.DuckDBPyConnection, cursor, schema: str, table: str) -> int:
    reader = source.sql(f'select * from main."{table}"').to_arrow_reader(BATCH_ROWS)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(_postgres_type(_text_if_nested(field.type))))
        for field in reader.schema
    )
    target = sql.Identifier(schema, table)
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


def _text_if_nested(arrow_type: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_nested(arrow_type) else arrow_type
