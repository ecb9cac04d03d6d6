"""The one extractor for every file source: inbox file → format checks → wire rows → contract rows → one atomic
Parquet part.

Exactly once per content: a file is identified by the SHA-256 of its bytes. Its part is named after the hash,
so neither a run killed after landing nor a second copy of the file lands it again; ops.processed_files
records the outcome per file (name and hash); only then is the file moved to processed/ or rejected/. A file name
from outside (a directory entry, a sensor's run config) is only ever matched against the inbox listing and
sanitized, never joined as a path.
"""

import logging
import os
import re
import stat
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from dagster_project.defs.extract import conform, mapping, wire
from dagster_project.defs.extract.load_result import LoadResult, quarantine_row
from dagster_project.defs.extract.specs import FileSpec
from dagster_project.defs.extract.wire import RejectedFile
from dagster_project.lib import landing, paths, retention, warehouse
from dagster_project.lib.landing import file_sha256

log = logging.getLogger(__name__)

CONFORM_ROWS = 200_000  # rows per conversion batch of a file (the whole file is read; its rows land in one part)
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")
HIDDEN_MIN_AGE_S = 600  # a younger hidden file may be a copy in progress (rsync writes `.name.XXXXXX`)


@dataclass(frozen=True)
class InboxFile:
    path: Path
    name: str  # the original name, as listed by the OS
    content_hash: str


def safe_name(name: str) -> str:
    """A file name reduced to harmless characters for the processed/ and rejected/ folders and for logs."""
    cleaned = re.sub(r"[^\w.\-]", "_", name.replace("\x00", ""))
    cleaned = cleaned.lstrip(".") or "file"
    return cleaned[:150]


def pending_files(inbox: Path) -> list[Path]:
    """Regular files directly in the inbox (no folders, symlinks, hidden or still-copying files), by name."""
    if not inbox.is_dir():
        return []
    found = []
    with os.scandir(inbox) as entries:
        for entry in entries:
            if entry.name.startswith(".") or entry.name.endswith(IN_PROGRESS_SUFFIXES):
                continue
            if entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    return sorted(found, key=lambda p: p.name)


def odd_entries(inbox: Path) -> list[tuple[Path, str]]:
    """Inbox entries that are not exports to read, each with the reason it is moved to rejected/: symbolic links
    (never followed), anything but a regular file, hidden files (once HIDDEN_MIN_AGE_S old: rsync copies into hidden
    temporary names) and files this process cannot read."""
    if not inbox.is_dir():
        return []
    found = []
    with os.scandir(inbox) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                continue
            info = entry.stat(follow_symlinks=False)
            if entry.is_symlink():
                reason = (
                    f"a symbolic link (to {os.readlink(entry.path)!r}): links are never followed; put the "
                    "export itself into the inbox"
                )
            elif not stat.S_ISREG(info.st_mode):
                reason = f"not a regular file ({_file_kind(info.st_mode)}): not an export"
            elif entry.name.endswith(IN_PROGRESS_SUFFIXES):
                continue  # still being copied
            elif entry.name.startswith("."):
                if time.time() - info.st_mtime < HIDDEN_MIN_AGE_S:
                    continue
                reason = "a hidden file (its name starts with a dot): not an export"
            elif problem := _unreadable(entry.path, info):
                reason = problem
            else:
                continue
            found.append((Path(entry.path), reason))
    return sorted(found)


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a file")


def _unreadable(path: str, info: os.stat_result) -> str | None:
    """Why this process cannot open the file for reading, None when it can."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK))
    except OSError as exc:
        return (
            f"cannot be read: {exc.strerror} (mode {stat.filemode(info.st_mode)}, owner uid {info.st_uid}); "
            "give the platform's user read access and drop it again"
        )
    return None


def reject_odd_entries(inbox: Path, result: LoadResult, source: str) -> None:
    """Moves every odd inbox entry (odd_entries) to rejected/ with its reason: none stays in the inbox unnoticed."""
    for path, reason in odd_entries(inbox):
        target_dir = inbox / "rejected"
        target_dir.mkdir(exist_ok=True)
        target = target_dir / safe_name(path.name)
        if target.exists() or target.is_symlink():
            target = target.with_name(f"{target.name}.{time.time_ns()}")
        os.replace(path, target)  # a link is moved as a link; its target is never touched
        if target.is_symlink():
            os.utime(target, follow_symlinks=False)
        else:
            retention.archive(target)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        result.files_rejected += 1
        log.warning("%s: rejected %s: %s", source, safe_name(path.name), reason)


def find_pending_file(inbox: Path, file_name: str) -> Path:
    """The inbox entry with exactly this name; the name is looked up, never used to build a path."""
    for path in pending_files(inbox):
        if path.name == file_name:
            return path
    raise FileNotFoundError(f"no pending file named {safe_name(file_name)!r} in the inbox")


# --- one file -----------------------------------------------------------------------------------


def _move(inbox_file: InboxFile, folder: str, reason: str | None = None) -> Path:
    target_dir = inbox_file.path.parent / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / safe_name(inbox_file.name)
    if target.exists():
        target = target.with_name(f"{target.stem}.{inbox_file.content_hash[:12]}{target.suffix}")
    os.replace(inbox_file.path, target)
    retention.archive(target)  # 0600, and its retention period starts now
    if reason:
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target


def file_spec(specs: list[FileSpec], name: str) -> tuple[FileSpec, str]:
    """The spec that reads a file (the source's contract, else the one mapping file whose pattern matches its name) and
    the file's region; RejectedFile when none or several match, or the region is unknown."""
    matching = [(spec, match) for spec in specs if (match := spec.file_name_re.fullmatch(name))]
    if not matching:
        expected = " or ".join(spec.file_name_re.pattern for spec in specs)
        raise RejectedFile(f"unexpected file name (expected {expected})")
    if len(matching) > 1 and matching[0][0].mapping is not None:  # the contract's own pattern wins over mappings
        raise RejectedFile(
            "the file name matches more than one mapping file: " + ", ".join(str(spec.mapping) for spec, _ in matching)
        )
    spec, match = matching[0]
    region = spec.file_region(match)
    if region not in conform.region_zones():
        raise RejectedFile(f"unknown region code {region!r} in the file name")
    return spec, region


def read_file(spec: FileSpec, path: Path, shown: str) -> wire.WireBatch:
    """The file's wire table (XLSX by its extension, else CSV in the first allowed encoding that fits)."""
    if path.suffix.lower() == ".xlsx":
        return wire.xlsx_rows(spec, path, shown)
    return wire.csv_rows(spec, path, wire.detect_csv_encoding(spec, path), shown)


def conformed_batches(spec: FileSpec, batch: wire.WireBatch, region: str, converter: conform.Converter):
    """(positions in the wire table, the records, their conversion) per conversion batch, repeated rows left out."""
    rows = wire.first_versions(wire.version_keys(batch.table, spec.key_column, spec.updated_column))
    for start in range(0, len(rows), CONFORM_ROWS):
        positions = rows[start : start + CONFORM_ROWS]
        records = batch.table.take(pa.array(positions))
        yield positions, records, converter.conform(spec, records, file_region=region)


def _land_file(
    specs: list[FileSpec],
    inbox_file: InboxFile,
    run_id: str,
    result: LoadResult,
    converter: conform.Converter,
    processed_before: bool,
) -> tuple[list[tuple], str | None]:
    """Reads, validates and lands one file; returns its quarantine rows and a note. The content is landed once: a
    copy of a processed file is not read again; a file whose part a killed run left without recording the file is
    read again only to re-derive its quarantine (the part stays as it is). Raises RejectedFile."""
    spec, region = file_spec(specs, inbox_file.name)
    name_suffix = f"-{inbox_file.content_hash[:16]}"
    landed_before = bool(landing.existing_parts(spec.name, name_suffix))
    if landed_before and processed_before:
        return [], "content already landed by an earlier run; not landed again"
    shown = safe_name(inbox_file.name)
    batch = read_file(spec, inbox_file.path, shown)
    for warning in batch.warnings:
        log.warning("%s: %s: %s", spec.name, shown, warning)

    writer = (
        None
        if landed_before
        else landing.PartWriter(
            spec.name, f"{run_id}{name_suffix}", run_id, source_file=f"{inbox_file.content_hash}:{shown}"
        )
    )
    quarantine: list[tuple] = []
    fetched = 0
    try:
        for positions, records, conformed in conformed_batches(spec, batch, region, converter):
            fetched += len(positions)
            if writer:
                writer.write(conformed.rows[spec.name])
            for position, reason in conformed.invalid:
                quarantine.append(
                    _quarantined(spec, batch, records, int(positions[position]), position, reason, shown, run_id)
                )
        if writer:
            result.add_part(spec.name, writer.commit())
    except BaseException:
        if writer:
            writer.abort()
        raise
    result.fetched += fetched
    result.landed += fetched - len(quarantine)
    result.quarantined += len(quarantine)
    result.duplicates_skipped += batch.table.num_rows - fetched
    notes = [*batch.warnings, *(["landed by an interrupted run; its quarantine re-derived"] if landed_before else [])]
    return quarantine, "; ".join(notes) or None


def _quarantined(
    spec: FileSpec,
    batch: wire.WireBatch,
    records: pa.Table,
    original: int,
    position: int,
    reason: str,
    shown: str,
    run_id: str,
) -> tuple:
    row = records.slice(position, 1).to_pylist()[0]
    record_key = f"{shown}:{row['_line']}"
    if not row["_decode_error"]:
        if row[spec.key_column] and row[spec.updated_column]:
            record_key += f":{row[spec.key_column]}"
        personal = tuple(str(row[wire.pii_column(spec.headers[h])] or "") for h in spec.identity_headers)
    else:
        personal = ()  # shifted cells can put personal data anywhere: only the row's shape is kept
    return quarantine_row(run_id, spec.name, record_key, reason, batch.payload(original), personal)


def process_file(
    specs: list[FileSpec],
    con: duckdb.DuckDBPyConnection,
    path: Path,
    run_id: str,
    result: LoadResult,
    converter: conform.Converter,
) -> None:
    """Processes one inbox file exactly once: lands it (or finds it landed) or rejects it, then moves it. `specs`: the
    source's contract first, then its mapping files."""
    spec = specs[0]
    shown = safe_name(path.name)
    try:
        inbox_file = InboxFile(path, path.name, file_sha256(path))
    except OSError as exc:  # gone or unreadable since it was listed: the next listing explains it
        log.warning("%s: %s could not be read (%s); left for the next run", spec.name, shown, exc.strerror)
        return
    done = warehouse.processed_outcome(con, inbox_file.content_hash, spec.name, inbox_file.name)
    if done is not None:  # the same delivery again, or a run stopped after recording, before moving the file
        _move(inbox_file, done)
        return
    record = dict(content_hash=inbox_file.content_hash, source=spec.name, original_name=inbox_file.name, run_id=run_id)
    processed_before = warehouse.content_processed(con, inbox_file.content_hash, spec.name)
    try:
        quarantine, note = _land_file(specs, inbox_file, run_id, result, converter, processed_before)
    except Exception as exc:  # noqa: BLE001 — any failure to read or convert this file is this file's problem
        if isinstance(exc, mapping.MappingError) or (
            isinstance(exc, OSError) and exc.filename and Path(exc.filename) != path
        ):
            raise  # a configuration or a lake/warehouse problem, not the file's
        reason = str(exc) if isinstance(exc, RejectedFile) else unexpected_failure(exc)
        if not isinstance(exc, RejectedFile):
            log.exception("%s: %s could not be read or converted", spec.name, shown)
        warehouse.record_processed_file(con, **record, outcome="rejected", reason=reason)
        _move(inbox_file, "rejected", reason)
        result.files_rejected += 1
        log.warning("%s: rejected %s: %s", spec.name, shown, reason)
        return
    warehouse.record_processed_file(con, **record, outcome="processed", reason=note, quarantine_rows=quarantine)
    _move(inbox_file, "processed")
    result.files_processed += 1
    result.checksums.append(inbox_file.content_hash)
    day = export_date(specs, inbox_file.name)
    if day:
        result.cursor_from = min(filter(None, [result.cursor_from, day.isoformat()]))
        result.cursor_to = max(filter(None, [result.cursor_to, day.isoformat()]))


def unexpected_failure(exc: BaseException) -> str:
    """The rejection reason of a file whose reading or conversion failed in a way no check foresaw."""
    message = (str(exc).splitlines() or [""])[0][:300]
    return (
        f"could not be read or converted ({type(exc).__name__}: {message}): a damaged file, or a kind of breakage "
        "the checks do not name yet; the rest of the batch went on"
    )


def export_date(specs: FileSpec | list[FileSpec], name: str) -> date | None:
    """The export's date from its file name (its daily partition), None when the name has none."""
    for spec in specs if isinstance(specs, list) else [specs]:
        if (match := spec.file_name_re.fullmatch(name)) and match.groupdict().get("date"):
            try:
                return datetime.strptime(match["date"], "%Y%m%d").date()
            except ValueError:
                return None
    return None


def source_specs(spec: FileSpec) -> list[FileSpec]:
    """The source's contract and the mapping files for it (CUR_SOURCE_MAPPINGS_DIR); MappingError when one is
    invalid (the load stops before touching any file: the file meant for it would be read wrongly)."""
    return [spec, *mapping.load_mappings(paths.source_mappings_dir(), spec.name)]


def extract_files(
    spec: FileSpec,
    inbox: Path,
    result: LoadResult,
    *,
    key: bytes,
    run_id: str,
    file_name: str | None = None,
    export_days: tuple[date, date] | None = None,
) -> None:
    """Processes one named inbox file (sensor runs) or every pending file (scheduled and `make run` runs); with
    `export_days` [first, end) only the files exported on those days (a partitioned run)."""
    landing.ensure_table(spec.name)
    specs = source_specs(spec)
    if file_name:
        try:
            files = [find_pending_file(inbox, file_name)]
        except FileNotFoundError as exc:  # e.g. a scheduled run took it first
            log.warning("%s: %s; nothing to do", spec.name, exc)
            files = []
    else:
        files = pending_files(inbox)
    if export_days:
        in_window = [p for p in files if (day := export_date(specs, p.name)) and export_days[0] <= day < export_days[1]]
        if file_name and not in_window and files:
            raise ValueError(
                f"{safe_name(file_name)} is not an export of the run's days {export_days[0]} … {export_days[1]}"
            )
        files = in_window
    reject_odd_entries(inbox, result, spec.name)
    if not files:
        return
    # One connection for the step: opening DuckDB costs ~0.1 s, too much per file of a daily batch.
    converter = conform.Converter(key)
    with warehouse.connect() as con:
        for path in files:
            process_file(specs, con, path, run_id, result, converter)
