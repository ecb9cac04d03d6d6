"""Helpers the tests share to look for personal data and to clean up PostgreSQL: not product code."""

from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
from psycopg2 import sql

from dagster_project.lib import pii, postgres


def find_pii(text: str) -> list[str]:
    """Every phone, e-mail or ФИО pattern in a text (the PII scans of the lake and the warehouse)."""
    return [m.group(0) for pattern in (pii.EMAIL_RE, pii.PHONE_RE, pii.FIO_RE) for m in pattern.finditer(text)]


def drop_schemas(prefix: str) -> None:
    """Drop schema `prefix` and every `prefix_*` schema (a test's target schema, its folder schemas and raw copy)."""
    with postgres.connect() as pg, pg.cursor() as cursor:
        cursor.execute(
            "select nspname from pg_namespace where nspname = %s or nspname like %s", (prefix, prefix + r"\_%")
        )
        for (name,) in cursor.fetchall():
            cursor.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))


def served_values(serving_dir: Path) -> dict[Path, list[str]]:
    """Everything the serving files hold, decoded (the Parquet files are compressed, so their bytes cannot be
    grepped): per file, every value of every column as text, the column names, the footer's key-value metadata and
    the min/max statistics; for the catalog, its views' SQL and every row of its tables. Any other file fails."""
    found: dict[Path, list[str]] = {}
    for path in sorted(p for p in Path(serving_dir).rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            found[path] = _parquet_values(path)
        elif path.suffix == ".duckdb":
            found[path] = _catalog_values(path)
        elif path.name.endswith(".lock") and path.stat().st_size == 0:
            continue
        else:
            raise AssertionError(f"unexpected file in the serving folder: {path}")
    return found


def _parquet_values(path: Path) -> list[str]:
    file = pq.ParquetFile(path)
    values = list(file.schema_arrow.names)
    metadata = file.metadata
    for key, value in (metadata.metadata or {}).items():
        values += [key.decode(errors="replace"), value.decode(errors="replace")]
    for group in range(metadata.num_row_groups):
        for column in range(metadata.num_columns):
            stats = metadata.row_group(group).column(column).statistics
            if stats is not None and stats.has_min_max:
                values += [str(stats.min), str(stats.max)]
    table = file.read()
    for column in table.columns:
        text = column if column.type == "string" else pc.cast(column, "string", safe=False)
        values += [value for value in text.to_pylist() if value is not None]
    return values


def _catalog_values(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        values = [sql_text for (sql_text,) in con.sql("select sql from duckdb_views() where not internal").fetchall()]
        tables = con.sql("select schema_name, table_name from duckdb_tables()").fetchall()
        for schema, table in tables:
            for row in con.sql(f'select * from "{schema}"."{table}"').fetchall():
                values += [str(value) for value in row if value is not None]
    return values
