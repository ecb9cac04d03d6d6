"""Serving copies of the marts for BI: readers of the DuckDB snapshot and the PostgreSQL load.

`load_postgres` copies every table of the serving snapshot into PostgreSQL for multi-user production serving
(env `SERVING_POSTGRES_URL`). Tables stream in through `lib.postgres.copy_relation`. The load goes into a fresh schema that replaces the served one in a single
transaction: readers see either the old marts or the new ones, never a half-loaded table.
"""

from pathlib import Path

import duckdb
import psycopg2
from psycopg2 import sql

from dagster_project.lib.postgres import copy_relation


def agencies_in_snapshot(serving_path: Path) -> list[tuple[str, str]]:
    """(agency_id, region_code) of every agency in the snapshot: the agency and region roles to create.

    The «не определено» member (no region) gets no role."""
    with duckdb.connect(str(serving_path), read_only=True) as con:
        return con.sql(
            "select distinct agency_id, region_code from main.dim_agency where region_code is not null order by 1"
        ).fetchall()


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
                rows[table] = copy_relation(cursor, source.sql(f'select * from main."{table}"'), staging, table)
            # The swap: one transaction (psycopg2 commits when the `with` block ends).
            cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
            cursor.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(staging), sql.Identifier(schema)))
    target.close()
    return rows
