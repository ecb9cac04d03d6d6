"""Immutable, atomic Parquet parts in the raw landing zone.

A part is written under a temporary name in its final directory and renamed with os.replace, so a reader
(or a run killed at any moment) sees either the whole part or nothing. Parts are never rewritten.
Layout: `<lake>/raw/<table>/load_date=YYYY-MM-DD/<name>.parquet`.
"""

import hashlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.lib import paths
from dagster_project.lib.contracts import arrow_schema
from dagster_project.lib.warehouse import utcnow

# Zero-row part with the full schema, so the dbt glob `raw/<table>/*/*.parquet` always resolves.
EMPTY_PART = Path("load_date=1970-01-01") / "empty-schema.parquet"
STALE_TEMP_S = 6 * 3600
ROW_GROUP_ROWS = 128 * 1024  # DuckDB reads a row group per thread: big enough to amortize, small enough to spread


@dataclass(frozen=True)
class LandedPart:
    path: Path
    rows: int
    bytes: int
    sha256: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class PartWriter:
    """Streams row batches of one table into one Parquet part; `commit()` makes it visible atomically."""

    def __init__(self, table: str, name: str, run_id: str, source_file: str | None = None):
        self.table = table
        self.schema = arrow_schema(table)
        load_date = utcnow().date().isoformat()
        self.path = paths.raw_dir(table) / f"load_date={load_date}" / f"{name}.parquet"
        self.tmp_path = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.constants = {"_run_id": run_id, "_landed_at": utcnow(), "_source_file": source_file}
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, rows: pa.Table | None) -> None:
        """Appends contract rows (the table's columns and `_extra`); the run's lineage columns are added here."""
        if rows is None or not rows.num_rows:
            return
        columns = [
            pa.repeat(pa.scalar(self.constants[f.name], f.type), rows.num_rows)
            if f.name in self.constants
            else rows.column(f.name)
            for f in self.schema
        ]
        batch = pa.Table.from_arrays(columns, schema=self.schema)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.tmp_path, self.schema, compression="zstd")
        self._writer.write_table(batch, row_group_size=ROW_GROUP_ROWS)
        self.rows += rows.num_rows

    def commit(self) -> LandedPart | None:
        """Closes and renames the part into place; None when nothing was written."""
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        with self.tmp_path.open("rb") as f:
            os.fsync(f.fileno())
        if self.path.exists():
            raise FileExistsError(f"landed parts are immutable: {self.path}")
        os.replace(self.tmp_path, self.path)
        return LandedPart(self.path, self.rows, self.path.stat().st_size, file_sha256(self.path))

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.tmp_path.unlink(missing_ok=True)


def write_part(
    table: str, name: str, run_id: str, rows: pa.Table | None, source_file: str | None = None
) -> LandedPart | None:
    writer = PartWriter(table, name, run_id, source_file)
    try:
        writer.write(rows)
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def ensure_table(table: str) -> None:
    """Writes the zero-row schema part once, so a source that has landed nothing yet still reads in dbt,
    and removes temp files that a killed run left behind (old enough not to belong to a running one)."""
    cutoff = time.time() - STALE_TEMP_S
    for stale in paths.raw_dir(table).glob("load_date=*/*.parquet.tmp"):
        if stale.stat().st_mtime < cutoff:
            stale.unlink(missing_ok=True)
    path = paths.raw_dir(table) / EMPTY_PART
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(arrow_schema(table).empty_table(), tmp)
    os.replace(tmp, path)


def existing_parts(table: str, name_suffix: str) -> list[Path]:
    """Landed parts of a table whose name ends with the suffix (finds a file source's part by content hash)."""
    return sorted(paths.raw_dir(table).glob(f"load_date=*/*{name_suffix}.parquet"))


def last_landed_at(table: str) -> datetime | None:
    """When the newest part with rows landed in `table` (UTC), None before the first: parts are immutable and only
    written for rows, so this is when the source last gave new data."""
    times = [
        part.stat().st_mtime
        for part in paths.raw_dir(table).glob("load_date=*/*.parquet")
        if part.parent.name != EMPTY_PART.parent.name
    ]
    return datetime.fromtimestamp(max(times), UTC) if times else None
