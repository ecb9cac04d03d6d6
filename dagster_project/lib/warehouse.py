"""Short-lived connections to the DuckDB warehouse and the extraction control tables in schema `ops`.

DuckDB allows one writing process per file and dbt opens the same file in the next step, so callers open,
write and close (per committed API batch, per file-source step); a lock held by another process is waited
out rather than failing the load.
"""

import json
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache

import duckdb
import yaml

from dagster_project.lib import paths

OPS_DDL = """
create schema if not exists ops;
create table if not exists ops.load_log (
    run_id varchar, source varchar, cursor_from varchar, cursor_to varchar,
    fetched bigint, landed bigint, quarantined bigint, checksum varchar, duration_s double,
    started_at timestamp, finished_at timestamp, status varchar
);
create table if not exists ops.extract_cursor (
    source varchar primary key, cursor_value varchar, page_cursor varchar, updated_at timestamp
);
create table if not exists ops.quarantine (
    run_id varchar, source varchar, record_key varchar, reason varchar, payload_masked varchar,
    quarantined_at timestamp
);
create table if not exists ops.processed_files (
    content_hash varchar, source varchar, original_name varchar, processed_at timestamp,
    outcome varchar, reason varchar, run_id varchar
);
create table if not exists ops.held_loads (
    source varchar, run_id varchar, part_name varchar, reason varchar, held_at timestamp, released_at timestamp
);
"""

LOCK_WAIT_S = 120.0


@cache
def duckdb_settings() -> dict:
    """The DuckDB settings of the dbt profile (threads, memory limit …), for every other heavy DuckDB query too
    (quality checks, the benchmark's floor): one place keeps the platform under its memory target."""
    profile = yaml.safe_load((paths.DBT_PROJECT_DIR / "profiles.yml").read_text())["cur"]["outputs"]["duckdb"]
    return {"threads": profile["threads"], **profile.get("settings", {})}


LAKE_SHARE_OF_MEMORY_FOR_ONE_THREAD = 0.25


def full_refresh_threads() -> int:
    """dbt threads of a full refresh on DuckDB. Its big models each read the whole lake and need the whole memory
    limit: two at once evict each other's buffers on a large lake, while on a small lake two threads overlap the many
    small models (measured in docs/performance.md). So one thread once the lake (compressed Parquet) outgrows a
    quarter of the memory limit."""
    settings = duckdb_settings()
    lake_bytes = sum(part.stat().st_size for part in paths.lake_dir().glob("raw/*/*/*.parquet"))
    one_thread_above = LAKE_SHARE_OF_MEMORY_FOR_ONE_THREAD * _bytes(settings["memory_limit"])
    return 1 if lake_bytes > one_thread_above else settings["threads"]


_BYTE_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def _bytes(size: str) -> float:
    """A DuckDB size setting ("3GB", "512 MiB") in bytes; DuckDB reads GB as 10^9 bytes."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]+)\s*", size)
    if not match or match[2].upper() not in _BYTE_UNITS:
        raise ValueError(f"unreadable DuckDB size {size!r} in dbt/profiles.yml")
    return float(match[1]) * _BYTE_UNITS[match[2].upper()]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def connect() -> Iterator[duckdb.DuckDBPyConnection]:
    """Opens the warehouse (creating the ops tables), retrying while another process holds the write lock."""
    path = paths.warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            con = duckdb.connect(str(path))
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        con.execute(OPS_DDL)
        yield con
    finally:
        con.close()


# --- ops.extract_cursor -------------------------------------------------------------------------


def read_cursor(con: duckdb.DuckDBPyConnection, source: str) -> tuple[str | None, dict | None]:
    """(cursor_value, page_cursor) of a source; page_cursor is the resume state of an unfinished run."""
    row = con.execute("select cursor_value, page_cursor from ops.extract_cursor where source = ?", [source]).fetchone()
    if row is None:
        return None, None
    return row[0], (json.loads(row[1]) if row[1] else None)


def commit_page(
    con: duckdb.DuckDBPyConnection,
    source: str | None,
    cursor_value: str | None,
    page_cursor: dict | None,
    quarantine_rows: Sequence[tuple],
) -> None:
    """One transaction: the page's quarantined records and (for incremental runs) the advanced cursor.

    Called after the page's Parquet parts are in place, so a crash loses at most this page's cursor
    (the page is fetched again and deduplicated downstream by id and updated_at), never landed data.
    """
    con.execute("begin")
    if quarantine_rows:
        con.executemany("insert into ops.quarantine values (?, ?, ?, ?, ?, ?)", list(quarantine_rows))
    if source is not None:
        con.execute(
            "insert or replace into ops.extract_cursor values (?, ?, ?, ?)",
            [source, cursor_value, json.dumps(page_cursor) if page_cursor else None, utcnow()],
        )
    con.execute("commit")


# --- ops.load_log -------------------------------------------------------------------------------


def log_load(
    *,
    run_id: str,
    source: str,
    cursor_from: str | None,
    cursor_to: str | None,
    fetched: int,
    landed: int,
    quarantined: int,
    checksum: str,
    started_at: datetime,
    status: str,
) -> None:
    """Opens its own connection: it also runs after a failure, when the load's connection is gone."""
    finished_at = utcnow()
    with connect() as con:
        con.execute(
            "insert into ops.load_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, source, cursor_from, cursor_to, fetched, landed, quarantined, checksum,
             (finished_at - started_at).total_seconds(), started_at, finished_at, status],
        )


# --- ops.processed_files ------------------------------------------------------------------------


def processed_outcome(con: duckdb.DuckDBPyConnection, content_hash: str, source: str, name: str) -> str | None:
    """The outcome (processed/rejected) of this very file (same name, same content) if already handled."""
    row = con.execute(
        "select outcome from ops.processed_files where content_hash = ? and source = ? and original_name = ?",
        [content_hash, source, name],
    ).fetchone()
    return row[0] if row else None


def content_processed(con: duckdb.DuckDBPyConnection, content_hash: str, source: str) -> bool:
    """Whether a file with this content (under any name) was processed and recorded."""
    return con.execute(
        "select count(*) from ops.processed_files where content_hash = ? and source = ? and outcome = 'processed'",
        [content_hash, source],
    ).fetchone()[0] > 0


def record_processed_file(
    con: duckdb.DuckDBPyConnection,
    *,
    content_hash: str,
    source: str,
    original_name: str,
    outcome: str,
    reason: str | None,
    run_id: str,
    quarantine_rows: Sequence[tuple] = (),
) -> None:
    con.execute("begin")
    if quarantine_rows:
        con.executemany("insert into ops.quarantine values (?, ?, ?, ?, ?, ?)", list(quarantine_rows))
    con.execute(
        "insert into ops.processed_files values (?, ?, ?, ?, ?, ?, ?)",
        [content_hash, source, original_name, utcnow(), outcome, reason, run_id],
    )
    con.execute("commit")
