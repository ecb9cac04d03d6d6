"""Short-lived connections to the DuckDB warehouse, the extraction control tables in schema `ops`, and the one lock
that every writer of the warehouse takes.

DuckDB allows one process per file while it writes (a reader is refused too), and dbt opens the same file in the
next step, so callers open, write and close (per committed API batch, per file-source step). Every process that
opens the warehouse — extraction, the dbt build, the quality checks, publish — first takes the warehouse lock
(`lock()`): an exclusive lock on the file `.<warehouse>.lock` beside it, which the kernel releases when the process
ends, also by kill -9. A second writer waits for it up to CUR_WAREHOUSE_LOCK_TIMEOUT_S (default 120 s) and then fails
with the holder's pid, Dagster run, purpose and start, which the holder writes into the lock file.
"""

import fcntl
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb
import yaml

from dagster_project.lib import paths, settings

log = logging.getLogger(__name__)

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


@cache
def duckdb_settings() -> dict:
    """The DuckDB settings of the dbt profile (threads, memory limit …), for every other heavy DuckDB query too
    (quality checks, the benchmark's floor): one place keeps the platform under its memory target."""
    profile = yaml.safe_load((paths.DBT_PROJECT_DIR / "profiles.yml").read_text())["cur"]["outputs"]["duckdb"]
    return {"threads": profile["threads"], **profile.get("settings", {})}


LAKE_SHARE_OF_MEMORY_FOR_ONE_THREAD = 0.25


def full_refresh_threads(threads: int, memory_limit: str) -> int:
    """dbt threads of a full refresh on DuckDB with `threads` and `memory_limit` (the warehouse resource's). Its big
    models each read the whole lake and need the whole memory limit: two at once evict each other's buffers on a large
    lake, while on a small lake two threads overlap the many small models (measured in docs/performance.md). So one
    thread once the lake (compressed Parquet) outgrows a quarter of the memory limit."""
    lake_bytes = sum(part.stat().st_size for part in paths.lake_dir().glob("raw/*/*/*.parquet"))
    one_thread_above = LAKE_SHARE_OF_MEMORY_FOR_ONE_THREAD * _bytes(memory_limit)
    return 1 if lake_bytes > one_thread_above else threads


_BYTE_UNITS = {
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def _bytes(size: str) -> float:
    """A DuckDB size setting ("3GB", "512 MiB") in bytes; DuckDB reads GB as 10^9 bytes."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]+)\s*", size)
    if not match or match[2].upper() not in _BYTE_UNITS:
        raise ValueError(f"unreadable DuckDB size {size!r} in dbt/profiles.yml")
    return float(match[1]) * _BYTE_UNITS[match[2].upper()]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class WarehouseLocked(TimeoutError):
    """Another writer held the warehouse for longer than the lock timeout."""


_process_lock = threading.Lock()  # guards the two below
# the lock file this process holds, the warehouse it guards and how many callers share it
_held: dict = {"file": None, "warehouse": None, "depth": 0}


def lock_path(warehouse: Path | None = None) -> Path:
    """The lock file of `warehouse` (default: the settings' warehouse, lib/paths.py)."""
    warehouse = warehouse or paths.warehouse_path()
    return warehouse.with_name(f".{warehouse.name}.lock")


def lock_holder(warehouse: Path | None = None) -> dict | None:
    """Who holds (or last held) the warehouse lock: pid, run_id, purpose, since; None when nobody ever took it."""
    try:
        return json.loads(lock_path(warehouse).read_text() or "null")
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def describe_holder(holder: dict | None) -> str:
    if not holder:
        return "a process that has not said who it is"
    return (
        f"pid {holder.get('pid')} (Dagster run {holder.get('run_id') or '—'}, {holder.get('purpose')}, "
        f"since {holder.get('since')} UTC)"
    )


def _current_step():
    """The context of the Dagster step running in this thread, if any: who a lock taken here belongs to."""
    if "dagster" not in sys.modules:  # a plain script: no step, and no import of Dagster for it
        return None
    from dagster import DagsterInvariantViolationError, OpExecutionContext

    try:
        return OpExecutionContext.get()
    except DagsterInvariantViolationError:
        return None


@contextmanager
def lock(
    purpose: str | None = None, run_id: str | None = None, timeout_s: float | None = None, warehouse: Path | None = None
) -> Iterator[None]:
    """Holds the lock of `warehouse` (default: the settings' warehouse; see the module doc); within one process it is
    shared, so nested and sequential callers of one run do not wait for themselves. `purpose` and `run_id` default to
    the current Dagster step."""
    warehouse = (warehouse or paths.warehouse_path()).resolve()
    with _process_lock:
        if _held["depth"]:
            if _held["warehouse"] != warehouse:  # one process writes one warehouse: a second one is a wiring error
                raise RuntimeError(f"the lock of {_held['warehouse']} is held in this process; {warehouse} asked for")
            _held["depth"] += 1
        else:
            timeout_s = settings.warehouse_lock_timeout_s() if timeout_s is None else timeout_s
            _held.update(file=_acquire(purpose, run_id, timeout_s, warehouse), warehouse=warehouse, depth=1)
    try:
        yield
    finally:
        with _process_lock:
            _held["depth"] -= 1
            if not _held["depth"]:
                _held["file"].close()  # closing the descriptor releases the lock
                _held.update(file=None, warehouse=None)


def _acquire(purpose: str | None, run_id: str | None, timeout_s: float, warehouse: Path):
    step = _current_step()
    run_id = run_id or (step.run_id if step else None)
    purpose = purpose or (f"step {step.op_def.name}" if step else "a warehouse connection")
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 — held until the last caller of this process leaves
    deadline, logged = time.monotonic() + timeout_s, False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                raise WarehouseLocked(
                    f"the warehouse {warehouse} is locked by {describe_holder(lock_holder(warehouse))}; "
                    f"{purpose} waited {timeout_s:g} s for it (CUR_WAREHOUSE_LOCK_TIMEOUT_S)"
                ) from None
            if not logged:
                (step.log if step else log).info(
                    f"{purpose} waits for the warehouse lock held by {describe_holder(lock_holder(warehouse))}"
                )
                logged = True
            time.sleep(0.2)
    handle.seek(0)
    handle.truncate()
    handle.write(
        json.dumps(
            {"pid": os.getpid(), "run_id": run_id, "purpose": purpose, "since": utcnow().isoformat(timespec="seconds")}
        )
    )
    handle.flush()
    return handle


@contextmanager
def connect() -> Iterator[duckdb.DuckDBPyConnection]:
    """Opens the warehouse (creating the ops tables) under the warehouse lock. A DuckDB lock held by a process outside
    the platform (a DuckDB shell, say) is waited out for the same timeout."""
    path = paths.warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with lock():
        deadline = time.monotonic() + settings.warehouse_lock_timeout_s()
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
            [
                run_id,
                source,
                cursor_from,
                cursor_to,
                fetched,
                landed,
                quarantined,
                checksum,
                (finished_at - started_at).total_seconds(),
                started_at,
                finished_at,
                status,
            ],
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
    return (
        con.execute(
            "select count(*) from ops.processed_files where content_hash = ? and source = ? and outcome = 'processed'",
            [content_hash, source],
        ).fetchone()[0]
        > 0
    )


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
