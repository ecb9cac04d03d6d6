"""Copy the landed raw lake (Parquet) and the manual inputs (CSV) into PostgreSQL, so that `dbt build --target postgres`
reads the same sources as DuckDB.

Tables go to schema `raw` (env `CUR_RAW_SCHEMA`, which tests set to isolate themselves): `raw.<table>` for the lake,
`raw.manual_<name>` (all columns text) for `data/manual/<name>.csv`. Every load replaces them: the lake is the
system of record, PostgreSQL only mirrors it for the portability build.
"""

import os
import tempfile
from pathlib import Path

import duckdb
import psycopg2
from psycopg2 import sql

from dagster_project.lib import paths

RAW_TABLES = (
    "pos_messages",
    "pos_message_events",
    "pos_polls",
    "incidents",
    "incident_events",
    "sed_appeals",
    "portal_appeals",
)

# DuckDB type (as DESCRIBE prints it) → PostgreSQL type; anything else lands as text.
_PG_TYPES = {
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def connect():
    """A connection with the same env defaults as dbt/profiles.yml."""
    return psycopg2.connect(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=int(os.environ.get("PGPORT", "5432")),
        user=os.environ.get("PGUSER", "postgres"),
        password=os.environ.get("PGPASSWORD", ""),
        dbname=os.environ.get("PGDATABASE", "test"),
    )


def raw_schema() -> str:
    return os.environ.get("CUR_RAW_SCHEMA", "raw")


def load_lake(data_dir: Path | None = None, schema: str | None = None) -> dict[str, int]:
    """Replace `<schema>.<table>` with the union of each table's landed Parquet files and `<schema>.manual_<name>`
    with each manual CSV; returns rows per table."""
    data_dir = Path(data_dir or paths.data_dir())
    schema = schema or raw_schema()
    loaded = {}
    with connect() as pg, pg.cursor() as cursor, tempfile.TemporaryDirectory() as tmp, duckdb.connect() as con:
        cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        sources = {table: sorted((data_dir / "lake" / "raw" / table).glob("*/*.parquet")) for table in RAW_TABLES}
        for table, files in sources.items():
            if files:
                relation = con.read_parquet([str(f) for f in files], union_by_name=True, hive_partitioning=False)
                loaded[table] = _replace_table(pg, cursor, schema, table, relation, Path(tmp))
        for manual in sorted((data_dir / "manual").glob("*.csv")):
            relation = con.read_csv(str(manual), header=True, all_varchar=True)
            table = f"manual_{manual.stem}"
            loaded[table] = _replace_table(pg, cursor, schema, table, relation, Path(tmp))
    return loaded


def _replace_table(pg, cursor, schema: str, table: str, relation: duckdb.DuckDBPyRelation, tmp: Path) -> int:
    """(Re)create the table with the relation's columns and COPY the rows in through a CSV file, in which NULL is
    an unquoted empty field and an empty string a quoted one."""
    columns = list(zip(relation.columns, (str(t) for t in relation.types)))
    csv_path = tmp / f"{table}.csv"
    relation.write_csv(str(csv_path), header=True)
    target = sql.Identifier(schema, table)
    cursor.execute(sql.SQL("drop table if exists {}").format(target))
    cursor.execute(
        sql.SQL("create table {} ({})").format(
            target,
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(_PG_TYPES.get(kind, "text")))
                for name, kind in columns
            ),
        )
    )
    copy = sql.SQL("copy {} ({}) from stdin with (format csv, header true)").format(
        target, sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
    )
    with csv_path.open(encoding="utf-8") as data:
        cursor.copy_expert(copy.as_string(pg), data)
    return cursor.rowcount


def drop_schemas(prefix: str) -> None:
    """Drop schema `prefix` and every `prefix_*` schema (a test's target schema, its folder schemas and raw copy)."""
    with connect() as pg, pg.cursor() as cursor:
        cursor.execute(
            "select nspname from pg_namespace where nspname = %s or nspname like %s", (prefix, prefix + r"\_%")
        )
        for (name,) in cursor.fetchall():
            cursor.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))


if __name__ == "__main__":
    print(load_lake())
