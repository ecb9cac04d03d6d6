"""The serving layer for BI: one immutable Parquet file per mart version, a small DuckDB catalog of views over them,
and optionally the same marts in a PostgreSQL schema.

Layout (`paths.serving_path()` is the catalog, default `data/serving/marts.duckdb`):

    marts.duckdb                          the catalog: schema `main` has one view per mart over its current file;
                                          schema `serving_meta`, table `marts`, says which file, fingerprint and rows
    marts/<mart>/<fingerprint>.parquet    a mart's versions; a file is written once and never changed

`publish` fingerprints every served mart in the warehouse (its column names and types, its row count and an
order-independent sum of row hashes). A mart whose fingerprint is already served keeps its file; the others are
written as new files (all of them on the first publish). A new catalog is then written under a temporary name and
renamed over the old one (`os.replace`), so a reader sees the old catalog or the new one, never a mix. Readers open the
catalog read-only (`duckdb:///…/marts.duckdb?access_mode=read_only`) and read the files through its views: a reader
that opened the previous catalog keeps reading its files, which stay until the publish after next. The serving
files hold the marts' rows only: no byte of any other warehouse table reaches them.

`load_postgres` mirrors the catalog into a PostgreSQL schema for multi-user serving (env `SERVING_POSTGRES_URL`): the
marts whose fingerprint (kept as the table's comment) differs are copied in and swapped in one transaction.
"""

import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import psycopg2
from psycopg2 import sql

from dagster_project.lib import warehouse
from dagster_project.lib.postgres import copy_relation
from dagster_project.lib.superset_client import dataset_tables

META_SCHEMA = "serving_meta"
ROLE_SOURCE_MART = "dim_agency"  # the agencies (and their regions) that get Superset roles; reference data only


def served_mart_names() -> tuple[str, ...]:
    """What BI needs, and all the serving layer holds: the marts of Superset's datasets (the report's
    governor_monthly_summary among them) and the agencies for Superset's roles."""
    return tuple(sorted(set(dataset_tables()) | {ROLE_SOURCE_MART}))


@dataclass(frozen=True)
class ServedMart:
    name: str
    file: Path
    fingerprint: str
    rows: int
    bytes: int
    published_at: datetime


@dataclass(frozen=True)
class PublishResult:
    catalog: Path
    marts: dict[str, ServedMart]
    written: list[str]  # marts written as a new file by this publish
    removed_files: list[Path]  # versions no catalog refers to any more


def mart_dir(catalog: Path) -> Path:
    return catalog.parent / "marts"


def served_marts(catalog: Path) -> dict[str, ServedMart]:
    """The marts a catalog serves (empty when there is no catalog yet)."""
    if not catalog.exists():
        return {}
    with duckdb.connect(str(catalog), read_only=True) as con:
        rows = con.sql(f"select mart, file, fingerprint, rows, bytes, published_at from {META_SCHEMA}.marts").fetchall()
    return {row[0]: ServedMart(row[0], Path(row[1]), *row[2:]) for row in rows}


def agencies_in_snapshot(catalog: Path) -> list[tuple[str, str]]:
    """(agency_id, region_code) of every agency served: the agency and region roles to create.

    The «не определено» member (no region) gets no role."""
    with duckdb.connect(str(catalog), read_only=True) as con:
        return con.sql(
            f"select distinct agency_id, region_code from main.{ROLE_SOURCE_MART}"
            " where region_code is not null order by 1"
        ).fetchall()


AUDIT_LEDGER = "ops.unaudited_models"  # dbt/macros/incremental/audit_ledger.sql


def unaudited_models(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The models of the warehouse open on `con` holding rows no build has audited yet (the dbt ledger; none before
    the first build): what publish refuses to serve."""
    schema, table = AUDIT_LEDGER.split(".")
    if not con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchone()[0]:
        return []
    rows = con.execute(f"select model, unaudited_since, reason from {AUDIT_LEDGER} order by unaudited_since, model")
    return [
        {"model": model, "unaudited_since": str(since), "reason": reason} for model, since, reason in rows.fetchall()
    ]


def refusal(unaudited: list[dict], catalog: Path) -> str:
    """Why publish served nothing, for the run's log and the asset's failure."""
    listed = "; ".join(f"{row['model']} since {row['unaudited_since']} ({row['reason']})" for row in unaudited[:10])
    more = f" and {len(unaudited) - 10} more" if len(unaudited) > 10 else ""
    return (
        f"not published: {len(unaudited)} model(s) of the warehouse hold rows that no build has audited — "
        f"{listed}{more}. BI keeps the last published marts ({catalog}); the next build whose data tests pass "
        "publishes again."
    )


def fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str, int]:
    """(fingerprint, rows) of a table: equal fingerprints mean the same columns and the same multiset of rows."""
    columns = con.execute(
        "select string_agg(column_name || ' ' || data_type, ', ' order by column_index) from duckdb_columns() "
        "where schema_name = 'main' and table_name = ? and database_name = current_database()",
        [table],
    ).fetchone()[0]
    rows, row_hashes = con.execute(f'select count(*), sum(hash(t))::hugeint from main."{table}" as t').fetchone()
    digest = hashlib.sha256(f"{columns}\n{rows}\n{row_hashes}".encode()).hexdigest()
    return digest[:32], rows


def publish(con: duckdb.DuckDBPyConnection, marts: Iterable[str], catalog: Path, log=None) -> PublishResult:
    """Serve `marts` of the warehouse open on `con` (read-only: no writer changes them meanwhile): new files for the
    changed ones, then the catalog swapped in (see the module doc). One publish at a time (a lock file beside the
    catalog)."""
    catalog = Path(catalog).resolve()  # the catalog keeps absolute paths, and versions are compared by path
    catalog.parent.mkdir(parents=True, exist_ok=True)
    with _publish_lock(catalog):
        previous = served_marts(catalog)
        published_at = warehouse.utcnow()
        served, written = {}, []
        for name in sorted(set(marts)):
            digest, rows = fingerprint(con, name)
            current = previous.get(name)
            if current and current.fingerprint == digest and current.file.exists():
                served[name] = current
                continue
            file = _write_mart(con, name, mart_dir(catalog) / name / f"{digest}.parquet")
            served[name] = ServedMart(name, file, digest, rows, file.stat().st_size, published_at)
            written.append(name)
            if log:
                log(f"{name}: {rows} rows written to {file.name}")
        _write_catalog(catalog, served)
        keep = {mart.file for mart in served.values()} | {mart.file for mart in previous.values()}
        removed = _remove_unreferenced(mart_dir(catalog), keep)
    return PublishResult(catalog, served, written, removed)


@contextmanager
def _publish_lock(catalog: Path) -> Iterator[None]:
    with open(catalog.with_name(f".{catalog.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_mart(con: duckdb.DuckDBPyConnection, name: str, target: Path) -> Path:
    """The mart's rows as a new zstd-compressed Parquet file, written under a temporary name and renamed into place.

    Compressed, the files are about the size of the marts in the warehouse (docs/performance.md); what they hold is
    checked on the decoded values, not their bytes (tests/scans.py::served_values)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    con.execute(
        f"copy (select {_parquet_columns(con, name)} from main.\"{name}\") to '{_sql_path(temporary)}' "
        "(format parquet, compression zstd)"
    )
    _fsync(temporary)
    os.replace(temporary, target)
    return target


def _parquet_columns(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The select list of a mart for Parquet: DuckDB's 128-bit integers (what sum() of a bigint gives) as bigint,
    which Parquet would otherwise turn into double (a count of 647 read back as 647.0); an overflow fails loudly."""
    columns = con.execute(
        "select column_name, data_type from duckdb_columns() where schema_name = 'main' "
        "and table_name = ? and database_name = current_database() order by column_index",
        [name],
    ).fetchall()
    return ", ".join(
        f'cast("{column}" as bigint) as "{column}"' if kind in ("HUGEINT", "UHUGEINT") else f'"{column}"'
        for column, kind in columns
    )


def _write_catalog(catalog: Path, marts: dict[str, ServedMart]) -> None:
    temporary = catalog.with_name(f".{catalog.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    with duckdb.connect(str(temporary)) as con:
        for mart in marts.values():
            con.execute(f"create view main.\"{mart.name}\" as select * from read_parquet('{_sql_path(mart.file)}')")
        con.execute(f"create schema {META_SCHEMA}")
        con.execute(f"""create table {META_SCHEMA}.marts (mart varchar primary key, file varchar, fingerprint varchar,
            rows bigint, bytes bigint, published_at timestamp)""")
        con.executemany(
            f"insert into {META_SCHEMA}.marts values (?, ?, ?, ?, ?, ?)",
            [(m.name, str(m.file), m.fingerprint, m.rows, m.bytes, m.published_at) for m in marts.values()],
        )
        con.execute("checkpoint")
    _fsync(temporary)
    os.replace(temporary, catalog)


def _remove_unreferenced(root: Path, keep: set[Path]) -> list[Path]:
    """Versions neither the new nor the previous catalog refers to, and temporary files of killed publishes."""
    removed = []
    for file in sorted(root.glob("*/*")):
        if file.is_file() and file not in keep:
            file.unlink()
            removed.append(file)
    for folder in root.glob("*"):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def _sql_path(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")


def _fsync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


# --- PostgreSQL ----------------------------------------------------------------------------------------------


def load_postgres(catalog: Path, postgres_url: str, schema: str = "serving") -> dict[str, int]:
    """Bring `schema` in PostgreSQL to the catalog's marts: the marts whose fingerprint (the table comment) differs are
    copied into `<mart>__loading` tables and swapped in, the tables of marts no longer served dropped, all in one
    transaction (readers see the old marts or the new ones). Returns the rows of every mart loaded."""
    marts = served_marts(catalog)
    rows: dict[str, int] = {}
    with duckdb.connect(str(catalog), read_only=True) as source, psycopg2.connect(postgres_url) as target:
        with target.cursor() as cursor:
            cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            cursor.execute(
                """select c.relname, obj_description(c.oid, 'pg_class') from pg_class c
                              join pg_namespace n on n.oid = c.relnamespace
                              where n.nspname = %s and c.relkind in ('r', 'p')""",
                (schema,),
            )
            loaded = dict(cursor.fetchall())
            for name, mart in sorted(marts.items()):
                if loaded.get(name) == mart.fingerprint:
                    continue
                cursor.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(schema, f"{name}__loading")))
                rows[name] = copy_relation(
                    cursor, source.sql(f'select * from main."{name}"'), schema, f"{name}__loading"
                )
            for name in rows:
                cursor.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(schema, name)))
                cursor.execute(
                    sql.SQL("alter table {} rename to {}").format(
                        sql.Identifier(schema, f"{name}__loading"), sql.Identifier(name)
                    )
                )
                cursor.execute(
                    sql.SQL("comment on table {} is %s").format(sql.Identifier(schema, name)),
                    (marts[name].fingerprint,),
                )
            for name in sorted(set(loaded) - set(marts)):
                cursor.execute(sql.SQL("drop table {}").format(sql.Identifier(schema, name)))
    target.close()
    return rows
