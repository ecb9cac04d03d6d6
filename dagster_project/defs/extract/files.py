"""The one extractor for every file source: inbox file → checks → validated rows → one atomic Parquet part.

Exactly once per content: a file is identified by the SHA-256 of its bytes. Its part is named after the hash,
so neither a run killed after landing nor a second copy of the file lands it again; ops.processed_files
records the outcome per file (name and hash); only then is the file moved to processed/ or rejected/. A file name from outside (a directory entry,
a sensor's run config) is only ever matched against the inbox listing and sanitized, never joined as a path.
"""

import codecs
import csv
import io
import logging
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from dagster_project.defs.extract.load_result import LoadResult, quarantine_row
from dagster_project.defs.extract.records import InvalidRecord, TextParser
from dagster_project.defs.extract.specs import FileSpec
from dagster_project.lib import landing, paths, warehouse
from dagster_project.lib.landing import file_sha256

log = logging.getLogger(__name__)

CHUNK_ROWS = 20_000
# Encodings and delimiters tried only to explain why a file does not match its contract.
DIAGNOSTIC_ENCODINGS = ("utf-8-sig", "cp1251", "koi8_r", "utf-16")
DIAGNOSTIC_DELIMITERS = (";", ",", "\t", "|")
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


class RejectedFile(Exception):
    """The file as a whole breaks its contract; the message is the rejection reason."""


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


def find_pending_file(inbox: Path, file_name: str) -> Path:
    """The inbox entry with exactly this name; the name is looked up, never used to build a path."""
    for path in pending_files(inbox):
        if path.name == file_name:
            return path
    raise FileNotFoundError(f"no pending file named {safe_name(file_name)!r} in the inbox")


@cache
def _region_zones() -> dict[str, ZoneInfo]:
    with (paths.SEEDS_DIR / "regions.csv").open(encoding="utf-8") as f:
        return {row["region_code"]: ZoneInfo(row["timezone"]) for row in csv.DictReader(f)}


class RegionParsers:
    """A TextParser per region, since export times are the region's local time."""

    def __init__(self, spec: FileSpec):
        self.spec = spec
        self.parsers: dict[str, TextParser] = {}

    def __call__(self, region: str | None) -> TextParser:
        if region not in self.parsers:
            zone = _region_zones().get(region or "")
            if zone is None:
                raise InvalidRecord(f"unknown region code {region!r}")
            self.parsers[region] = TextParser(self.spec.date_formats, self.spec.bool_words, zone)
        return self.parsers[region]


# --- format checks ------------------------------------------------------------------------------


def _header_problem(spec: FileSpec, header: list[str]) -> str | None:
    names = [h.strip() for h in header]
    missing = [h for h in spec.headers if h not in names]
    duplicated = sorted({h for h in names if names.count(h) > 1})
    if missing or duplicated:
        return f"columns do not match the contract: missing {missing}, duplicated {duplicated}"
    return None


def _warn_unexpected_columns(spec: FileSpec, header: list[str], name: str) -> None:
    unexpected = [h for h in header if h not in spec.headers]
    if unexpected:
        log.warning("%s: %s has columns outside the contract %s; kept in _extra", spec.name, name, unexpected)


def _first_line(raw: bytes, encoding: str) -> str | None:
    try:
        text = codecs.getincrementaldecoder(encoding)(errors="strict").decode(raw, final=False)
    except UnicodeError:  # includes UTF-16 without a byte-order mark
        return None
    return text.splitlines()[0] if text else ""


def detect_csv_encoding(spec: FileSpec, path: Path) -> str:
    """The allowed encoding whose header matches the contract, else RejectedFile saying what is wrong."""
    with path.open("rb") as f:
        head = f.read(64 * 1024)
    if not head.strip():
        raise RejectedFile("empty file")
    for encoding in spec.encodings:
        line = _first_line(head, encoding)
        if line is not None and _header_problem(spec, next(csv.reader([line], delimiter=spec.delimiter))) is None:
            _check_whole_file_decodes(path, encoding)
            return encoding
    for encoding in DIAGNOSTIC_ENCODINGS:
        line = _first_line(head, encoding)
        if line is None:
            continue
        for delimiter in DIAGNOSTIC_DELIMITERS:
            if _header_problem(spec, next(csv.reader([line], delimiter=delimiter))) is None:
                problems = []
                if encoding not in spec.encodings:
                    problems.append(f"encoding {encoding}, expected {' or '.join(spec.encodings)}")
                if delimiter != spec.delimiter:
                    problems.append(f"delimiter {delimiter!r}, expected {spec.delimiter!r}")
                raise RejectedFile("wrong " + " and ".join(problems))
    line = _first_line(head, spec.encodings[0])
    if line is None:
        raise RejectedFile(f"wrong encoding: the file is not {' or '.join(spec.encodings)}")
    raise RejectedFile(_header_problem(spec, next(csv.reader([line], delimiter=spec.delimiter))) or "bad header")


def _check_whole_file_decodes(path: Path, encoding: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with path.open("rb") as f:
        try:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                decoder.decode(chunk)
                offset += len(chunk)
            decoder.decode(b"", final=True)
        except UnicodeError as exc:
            position = offset + getattr(exc, "start", 0)
            raise RejectedFile(f"wrong encoding: not valid {encoding} near byte {position}") from None


# --- row readers: yield (line number, header → cell) or (line number, reason, raw cells) -----------


def _csv_rows(spec: FileSpec, path: Path, encoding: str) -> Iterator[tuple[int, dict | None, list]]:
    with path.open("rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
        reader = csv.reader(text, delimiter=spec.delimiter)
        header = [h.strip() for h in next(reader)]
        _warn_unexpected_columns(spec, header, safe_name(path.name))
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield reader.line_num, None, cells
            else:
                yield reader.line_num, dict(zip(header, cells)), cells


def _xlsx_rows(spec: FileSpec, path: Path) -> Iterator[tuple[int, dict | None, list]]:
    import openpyxl  # only the portals send Excel

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise RejectedFile(f"not a readable XLSX workbook: {type(exc).__name__}") from None
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        problem = _header_problem(spec, header)
        if problem:
            raise RejectedFile(problem)
        _warn_unexpected_columns(spec, header, safe_name(path.name))
        for line_no, values in enumerate(rows, start=2):
            cells = list(values)
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
                continue
            cells += [None] * (len(header) - len(cells))
            yield line_no, dict(zip(header, cells[: len(header)])), cells
    finally:
        workbook.close()


# --- one file -----------------------------------------------------------------------------------


def _move(inbox_file: InboxFile, folder: str, reason: str | None = None) -> Path:
    target_dir = inbox_file.path.parent / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / safe_name(inbox_file.name)
    if target.exists():
        target = target.with_name(f"{target.stem}.{inbox_file.content_hash[:12]}{target.suffix}")
    os.replace(inbox_file.path, target)
    if reason:
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target


def _personal_cells(spec: FileSpec, header_cells: dict) -> tuple[str, ...]:
    return tuple(str(header_cells.get(h) or "") for h in spec.identity_headers)


def _land_file(
    spec: FileSpec, inbox_file: InboxFile, key: bytes, run_id: str, result: LoadResult
) -> list[tuple] | None:
    """Parses, validates and lands one file; returns its quarantine rows, or None when a part with this
    content is already in the lake (a copy of a landed file, or a run killed after landing). Raises RejectedFile."""
    match = spec.file_name_re.match(inbox_file.name)
    if match is None:
        raise RejectedFile(f"unexpected file name (expected {spec.file_name_re.pattern})")
    region = match["region"]
    if region not in _region_zones():
        raise RejectedFile(f"unknown region code {region!r} in the file name")
    name_suffix = f"-{inbox_file.content_hash[:16]}"
    if landing.existing_parts(spec.name, name_suffix):
        return None
    if match["ext"] == "xlsx":
        rows = _xlsx_rows(spec, inbox_file.path)
    else:
        rows = _csv_rows(spec, inbox_file.path, detect_csv_encoding(spec, inbox_file.path))

    writer = landing.PartWriter(
        spec.name, f"{run_id}{name_suffix}", run_id, source_file=f"{inbox_file.content_hash}:{safe_name(inbox_file.name)}"
    )
    parsers = RegionParsers(spec)
    quarantine: list[tuple] = []
    chunk: list[dict] = []
    seen: set[tuple] = set()
    fetched = landed = duplicates = 0
    try:
        for line_no, cells, raw_cells in rows:
            dedupe_key = spec.dedupe_key(cells) if cells is not None else None
            if dedupe_key is not None:
                if dedupe_key in seen:
                    duplicates += 1
                    continue
                seen.add(dedupe_key)
            fetched += 1
            record_key = f"{safe_name(inbox_file.name)}:{line_no}"
            if cells is None:
                # Shifted cells can put personal data anywhere, so only the shape and the first cell are kept.
                payload = {"line": line_no, "fields": len(raw_cells), "first_field": raw_cells[0] if raw_cells else None}
                reason = f"wrong number of fields: {len(raw_cells)}, the header has a different count"
                quarantine.append(quarantine_row(run_id, spec.name, record_key, reason, payload))
                continue
            try:
                chunk.append(spec.map_row(cells, parsers, region, key))
            except InvalidRecord as exc:
                record_key = f"{record_key}:{dedupe_key[0]}" if dedupe_key else record_key
                quarantine.append(quarantine_row(
                    run_id, spec.name, record_key, str(exc), cells, _personal_cells(spec, cells)
                ))
                continue
            landed += 1
            if len(chunk) >= CHUNK_ROWS:
                writer.write(chunk)
                chunk = []
        writer.write(chunk)
        result.add_part(spec.name, writer.commit())
    except BaseException:
        writer.abort()
        raise
    result.fetched += fetched
    result.landed += landed
    result.quarantined += len(quarantine)
    result.duplicates_skipped += duplicates
    return quarantine


def process_file(
    spec: FileSpec, con: duckdb.DuckDBPyConnection, path: Path, key: bytes, run_id: str, result: LoadResult
) -> None:
    """Processes one inbox file exactly once: lands it (or finds it landed) or rejects it, then moves it."""
    inbox_file = InboxFile(path, path.name, file_sha256(path))
    shown = safe_name(inbox_file.name)
    done = warehouse.processed_outcome(con, inbox_file.content_hash, spec.name, inbox_file.name)
    if done is not None:  # the same delivery again, or a run stopped after recording, before moving the file
        _move(inbox_file, done)
        return
    record = dict(content_hash=inbox_file.content_hash, source=spec.name, original_name=inbox_file.name, run_id=run_id)
    try:
        quarantine = _land_file(spec, inbox_file, key, run_id, result)
    except RejectedFile as exc:
        reason = str(exc)
        warehouse.record_processed_file(con, **record, outcome="rejected", reason=reason)
        _move(inbox_file, "rejected", reason)
        result.files_rejected += 1
        log.warning("%s: rejected %s: %s", spec.name, shown, reason)
        return
    reason = None if quarantine is not None else "content already landed by an earlier run; not landed again"
    warehouse.record_processed_file(con, **record, outcome="processed", reason=reason, quarantine_rows=quarantine or ())
    _move(inbox_file, "processed")
    result.files_processed += 1
    result.checksums.append(inbox_file.content_hash)
    export_date = _export_date(spec, inbox_file.name)
    if export_date:
        result.cursor_from = min(filter(None, [result.cursor_from, export_date]))
        result.cursor_to = max(filter(None, [result.cursor_to, export_date]))


def _export_date(spec: FileSpec, name: str) -> str | None:
    match = spec.file_name_re.match(name)
    try:
        return datetime.strptime(match["date"], "%Y%m%d").date().isoformat() if match else None
    except ValueError:
        return None


def extract_files(
    spec: FileSpec, inbox: Path, result: LoadResult, *, key: bytes, run_id: str, file_name: str | None = None
) -> None:
    """Processes one named inbox file (sensor runs) or every pending file (scheduled and `make run` runs)."""
    landing.ensure_table(spec.name)
    if file_name:
        try:
            files = [find_pending_file(inbox, file_name)]
        except FileNotFoundError as exc:  # e.g. a scheduled run took it first
            log.warning("%s: %s; nothing to do", spec.name, exc)
            files = []
    else:
        files = pending_files(inbox)
    if not files:
        return
    # One connection for the step: opening DuckDB costs ~0.1 s, too much per file of a daily batch.
    with warehouse.connect() as con:
        for path in files:
            process_file(spec, con, path, key, run_id, result)

