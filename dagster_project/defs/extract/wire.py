"""Source payloads → "wire tables": one Arrow row per record with the values as the source sent them.

A wire table has a column per contract column (named like it, holding the source's value: typed JSON values for the
APIs — timestamps still as text — and cell texts for the file exports), `_pii_<kind>` columns with the record's
personal data (consumed by conform.py, never landed), `_list_<field>` list columns for the lists inside a record
(status histories, poll options), `_extra` (the masked JSON of unknown fields) and `_decode_error` (why the record
could not even be read as its contract's types); export rows also carry `_line`, the file line they start on.
Blank text is already null here (export cells also stripped). conform.py turns a wire table into landed rows.

An API page is parsed by Arrow's JSON reader against the contract's wire types; a page that breaks them (a number
where a string is due, a list that is an object …) is read again by json.loads, record by record, so that only the
broken records are marked and the rest of the page lands.
"""

import codecs
import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
from python_calamine import CalamineError, CalamineWorkbook

from dagster_project.defs.extract.specs import ApiSpec, FileSpec, ListSpec
from dagster_project.lib import pii
from dagster_project.lib.contracts import BOOL, INT, STR, TS, Column, columns_of
from dagster_project.lib.http_client import json_page

log = logging.getLogger(__name__)

# The JSON types a contract kind accepts on the wire (a timestamp travels as ISO-8601 text).
WIRE_TYPES = {STR: pa.string(), INT: pa.int64(), BOOL: pa.bool_(), TS: pa.string()}
JSON_KINDS = {STR: (str,), INT: (int,), BOOL: (bool,), TS: (str,)}
XLSX_DATETIME_FORMAT, XLSX_DATE_FORMAT = "%d.%m.%Y %H:%M:%S", "%d.%m.%Y"  # export date formats (FileSpec)


@dataclass
class WireBatch:
    table: pa.Table
    payload: Callable[[int], Any]  # the record at a position as the source sent it (for quarantine)
    next_cursor: str | None = None
    warnings: list[str] = field(default_factory=list)  # about the file as a whole (e.g. probably truncated)


def _normalized(table: pa.Table, trim_all: bool, trimmed: set[str] = frozenset()) -> pa.Table:
    """Every text value blank → null (in list elements too); columns in `trimmed` (or all, for exports) stripped."""
    columns = []
    for column_field in table.schema:
        column = table[column_field.name].combine_chunks()
        if column_field.name.startswith("_") and not column_field.name.startswith(("_pii_", "_list_")):
            columns.append(column)
        elif pa.types.is_string(column_field.type):
            columns.append(pii.blank_to_null(column, trim_all or column_field.name in trimmed))
        elif pa.types.is_list(column_field.type):
            elements = column.values
            fields = [
                pii.blank_to_null(elements.field(f.name), trim_all or f.name in trimmed)
                if pa.types.is_string(f.type)
                else elements.field(f.name)
                for f in elements.type
            ]
            rebuilt = pa.StructArray.from_arrays(fields, fields=list(elements.type))
            columns.append(pa.ListArray.from_arrays(column.offsets, rebuilt, mask=column.is_null()))
        else:
            columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)


def list_column(spec: ListSpec) -> str:
    return f"_list_{spec.list_field}"


def pii_column(kind: str) -> str:
    return f"_pii_{kind}"


def _list_specs(spec: ApiSpec) -> list[tuple[ListSpec, dict[str, Column]]]:
    return [(s, columns_of(s.table or spec.name)) for s in (spec.explode, spec.child) if s]


def version_keys(table: pa.Table, key_column: str, version_column: str) -> pa.Array:
    """(id, version) of each record as one text; null where either is missing."""
    return pc.binary_join_element_wise(table[key_column], table[version_column], "\x1f").combine_chunks()


def first_versions(keys: pa.Array, earlier: pa.Array | None = None) -> np.ndarray:
    """Positions of the records to keep: the first of each (id, version), none whose key is in `earlier` (a source
    may repeat records, also across pages); records without a key are kept (conform explains them)."""
    present = np.asarray(pc.is_valid(keys))
    index = np.asarray(pc.fill_null(pc.index_in(keys, value_set=pc.unique(keys.filter(present))), -1))
    keep = ~present
    keep[np.flatnonzero(present)[np.unique(index[present], return_index=True)[1]]] = True
    if earlier is not None and len(earlier):
        keep &= ~np.asarray(pc.fill_null(pc.is_in(keys, value_set=earlier), False))
    return np.flatnonzero(keep)


# --- API pages ------------------------------------------------------------------------------------------------


def _element_type(spec: ListSpec, contract: dict[str, Column]) -> pa.StructType:
    return pa.struct([(column, WIRE_TYPES[contract[column].kind]) for column in spec.fields])


@cache
def api_wire_schema(spec: ApiSpec) -> pa.Schema:
    """The flat wire table of an API source."""
    contract = columns_of(spec.name)
    fields = [pa.field(column, WIRE_TYPES[contract[column].kind]) for column in spec.fields]
    fields += [pa.field(pii_column(kind), pa.string()) for kind in spec.identity]
    fields += [pa.field(list_column(s), pa.list_(_element_type(s, c))) for s, c in _list_specs(spec)]
    fields += [pa.field("_extra", pa.string()), pa.field("_decode_error", pa.string())]
    return pa.schema(fields)


@cache
def _page_schema(spec: ApiSpec) -> pa.Schema:
    """The JSON page as the source sends it: `{"items": [<record>], "next_cursor": …}` with the contract's types."""
    tree: dict = {}
    contract = columns_of(spec.name)
    leaves = [(path, WIRE_TYPES[contract[column].kind]) for column, path in spec.fields.items()]
    leaves += [(path, pa.string()) for path in spec.identity.values()]
    for path, arrow_type in leaves:
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = arrow_type
    for list_spec, list_contract in _list_specs(spec):
        elements = [(key, WIRE_TYPES[list_contract[column].kind]) for column, key in list_spec.fields.items()]
        tree[list_spec.list_field] = pa.list_(pa.struct(elements))

    def to_type(node):
        return pa.struct([(k, to_type(v) if isinstance(v, dict) else v) for k, v in node.items()])

    return pa.schema([("items", pa.list_(to_type(tree))), ("next_cursor", pa.string())])


def api_page(spec: ApiSpec, body: bytes) -> WireBatch:
    """A page body → its wire table; raises ValueError when the body is not a page at all (fetched again)."""
    try:
        page = pa_json.read_json(
            io.BytesIO(body),
            read_options=pa_json.ReadOptions(block_size=len(body) + 1, use_threads=False),
            parse_options=pa_json.ParseOptions(
                explicit_schema=_page_schema(spec), unexpected_field_behavior="infer", newlines_in_values=True
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _json_records(spec, json_page(body))
    items = page.column("items").chunk(0).values if page.num_rows == 1 else None
    if items is None or page.column("items").null_count or items.null_count or _null_list_elements(spec, items):
        return _json_records(spec, json_page(body))  # a null record or list element: explained record by record
    return WireBatch(
        _api_normalized(spec, _flatten(spec, items)), lambda i: items[i].as_py(), page.column("next_cursor")[0].as_py()
    )


def _null_list_elements(spec: ApiSpec, items: pa.StructArray) -> bool:
    return any(pc.struct_field(items, [s.list_field]).values.null_count for s, _ in _list_specs(spec))


def _json_records(spec: ApiSpec, page: dict) -> WireBatch:
    return api_records(spec, page["items"], page.get("next_cursor") or None)


def _flatten(spec: ApiSpec, items: pa.StructArray) -> pa.Table:
    """Arrow-parsed records (nested as on the wire) → the flat wire table."""
    schema = api_wire_schema(spec)
    columns = {column: pc.struct_field(items, path.split(".")) for column, path in spec.fields.items()}
    columns |= {pii_column(kind): pc.struct_field(items, path.split(".")) for kind, path in spec.identity.items()}
    for list_spec, _ in _list_specs(spec):
        lists = pc.struct_field(items, [list_spec.list_field])
        elements = lists.values
        renamed = pa.StructArray.from_arrays(
            [elements.field(key) for key in list_spec.fields.values()], names=list(list_spec.fields)
        )
        columns[list_column(list_spec)] = pa.ListArray.from_arrays(lists.offsets, renamed, mask=lists.is_null())
    extras = [name for name in (f.name for f in items.type) if name not in spec.known_keys]
    columns["_extra"] = _extra_column(spec, items, extras, columns)
    columns["_decode_error"] = pa.nulls(len(items), pa.string())
    return pa.table([columns[f.name] for f in schema], schema=schema)


def _extra_column(spec: ApiSpec, items: pa.StructArray, extras: list[str], columns: dict) -> pa.Array:
    """The masked JSON of the unknown fields of each record (null where there are none)."""
    if not extras:
        return pa.nulls(len(items), pa.string())
    values = {name: items.field(name).to_pylist() for name in extras}
    personal = [columns[pii_column(kind)].to_pylist() for kind in spec.identity]
    out = []
    for i in range(len(items)):
        extra = {name: values[name][i] for name in extras if values[name][i] is not None}
        out.append(_masked_extra(extra, [v[i] for v in personal]))
    return pa.array(out, pa.string())


def _masked_extra(extra: dict, personal: list) -> str | None:
    """The unknown fields of a record as masked JSON, its own personal values masked too; None when there are none."""
    known = tuple(v for v in personal if isinstance(v, str) and v.strip())
    return pii.masked_json(extra, known) if extra else None


def api_records(spec: ApiSpec, items: list, next_cursor: str | None = None) -> WireBatch:
    """Decoded JSON records → the wire table, one record at a time: a value of the wrong JSON type becomes null and
    the record gets its `_decode_error` (only pages that Arrow's reader refused come this way, and tests)."""
    rows = [_api_row(spec, item) for item in items]
    table = pa.Table.from_pylist(rows, schema=api_wire_schema(spec))
    return WireBatch(_api_normalized(spec, table), lambda i: items[i], next_cursor)


def _api_normalized(spec: ApiSpec, table: pa.Table) -> pa.Table:
    """API text as sent (only blank → missing); timestamps stripped (parse_iso_utc strips)."""
    timestamps = {c for c, column in columns_of(spec.name).items() if column.kind == TS}
    for list_spec, contract in _list_specs(spec):
        timestamps |= {c for c in list_spec.fields if contract[c].kind == TS}
    return _normalized(table, trim_all=False, trimmed=timestamps)


def _api_row(spec: ApiSpec, item: Any) -> dict:
    contract = columns_of(spec.name)
    if not isinstance(item, dict):
        return {"_decode_error": "record is not a JSON object"}
    row: dict[str, Any] = {}
    errors: list[str] = []
    for column, path in spec.fields.items():
        row[column] = _typed(contract[column], _get_path(item, path, errors), errors)
    for kind, path in spec.identity.items():
        value = _get_path(item, path, [])
        row[pii_column(kind)] = value if isinstance(value, str) else None
    for list_spec, list_contract in _list_specs(spec):
        row[list_column(list_spec)] = _list_elements(item, list_spec, list_contract, errors)
    extra = {k: v for k, v in item.items() if k not in spec.known_keys}
    row["_extra"] = _masked_extra(extra, [row[pii_column(kind)] for kind in spec.identity])
    row["_decode_error"] = errors[0] if errors else None
    return row


def _get_path(record: dict, path: str, errors: list[str]) -> Any:
    value: Any = record
    for part in path.split("."):
        if value is None:
            return None
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object at {part!r}, got {type(value).__name__}")
            return None
        value = value.get(part)
    return value


def _typed(column: Column, value: Any, errors: list[str]) -> Any:
    """The value if its JSON type fits the column's kind (a bool is not an int), else null and an error."""
    if value is None or (
        isinstance(value, JSON_KINDS[column.kind]) and not (column.kind == INT and isinstance(value, bool))
    ):
        return value
    errors.append(f"{column.name}: expected {column.kind}, got {type(value).__name__}")
    return None


def _list_elements(item: dict, spec: ListSpec, contract: dict[str, Column], errors: list[str]) -> list | None:
    elements = item.get(spec.list_field)
    if elements is None:
        return None
    if not isinstance(elements, list):
        errors.append(f"{spec.list_field}: expected a list, got {type(elements).__name__}")
        return None
    out = []
    for seq, element in enumerate(elements, start=1):
        if not isinstance(element, dict):
            errors.append(f"{spec.list_field}[{seq}]: expected an object")
            return None
        out.append({column: _typed(contract[column], element.get(key), errors) for column, key in spec.fields.items()})
    return out


# --- file exports ---------------------------------------------------------------------------------------------

# Encodings and delimiters tried only to explain why a file does not match its contract.
DIAGNOSTIC_ENCODINGS = ("utf-8-sig", "cp1251", "koi8_r", "utf-16")
DIAGNOSTIC_DELIMITERS = (";", ",", "\t", "|")
MAX_BLOCK_BYTES = 1 << 30  # Arrow's CSV block is an int32
# The most characters an Excel cell holds: a longer value is not a text somebody wrote but the trace of a stray quote
# that swallowed the following lines (or a broken export); the row is quarantined, the rest of the file lands.
MAX_CELL_CHARS = 32_767


class RejectedFile(Exception):
    """The file as a whole breaks its contract; the message is the rejection reason."""


# --- file format checks (before any row is read) --------------------------------------------------------------


def header_problem(spec: FileSpec, header: list[str]) -> str | None:
    names = [h.strip() for h in header]
    missing = [h for h in spec.headers if h not in names and h not in spec.constants]
    duplicated = sorted({h for h in names if names.count(h) > 1})
    if missing or duplicated:
        return f"columns do not match the contract: missing {missing}, duplicated {duplicated}"
    return None


def _first_line(raw: bytes, encoding: str) -> str | None:
    """The first line of `raw` in `encoding`, None when that line does not decode (a bad byte further down is the
    whole-file check's business: it names the byte and the line)."""
    try:
        text = codecs.getincrementaldecoder(encoding)(errors="strict").decode(raw, final=False)
    except UnicodeDecodeError as exc:
        try:
            text = codecs.getincrementaldecoder(encoding)(errors="strict").decode(raw[: exc.start], final=False)
        except UnicodeError:
            return None
        if "\n" not in text:
            return None
    except UnicodeError:  # includes UTF-16 without a byte-order mark
        return None
    return text.splitlines()[0] if text else ""


def _unique(*groups) -> list:
    return list(dict.fromkeys(item for group in groups for item in group))


def detect_csv_encoding(spec: FileSpec, path: Path) -> str:
    """The allowed encoding whose header matches the contract, else RejectedFile naming the real problem: the
    encoding, the delimiter or the columns (as read in the encoding and with the delimiter that fit the header best),
    or a file that cannot be text at all."""
    with path.open("rb") as f:
        head = f.read(64 * 1024)
    if not head:
        raise RejectedFile("empty file (0 bytes): nothing was exported, or the copy failed")
    if not head.strip():
        raise RejectedFile("empty file: only blank lines, no header")
    candidates = []  # (contract headers found, allowed encoding, expected delimiter, order) → the reading's problem
    for order, encoding in enumerate(_unique(spec.encodings, DIAGNOSTIC_ENCODINGS)):
        line = _first_line(head, encoding)
        if line is None:
            continue
        for delimiter in _unique(spec.delimiter, DIAGNOSTIC_DELIMITERS):
            names = [n.strip() for n in next(csv.reader([line], delimiter=delimiter), [])]
            problem = header_problem(spec, names)
            allowed = encoding in spec.encodings
            if problem is None and allowed and delimiter == spec.delimiter:
                _check_whole_file_decodes(path, encoding)
                return encoding
            found = sum(1 for h in spec.headers if h in names)
            candidates.append(((found, allowed, delimiter == spec.delimiter, -order), encoding, delimiter, problem))
    best = max(candidates, key=lambda c: c[0], default=None)
    if best is None or best[0][0] == 0:
        decodable = [e for e in spec.encodings if _decodes(head, e)]
        if decodable:  # text, but no header of the contract in any reading
            raise RejectedFile(
                f"{header_problem(spec, [])}: no contract header in the first line (read as "
                f"{decodable[0]}): not an export of this source, or the header row is missing"
            )
        raise RejectedFile(
            f"wrong encoding: the file is not {' or '.join(spec.encodings)} text "
            f"({_decode_error(head, spec.encodings[0])}); binary data or another encoding"
        )

    _, encoding, delimiter, problem = best
    problems = []
    if encoding not in spec.encodings:
        problems.append(f"wrong encoding {encoding}, expected {' or '.join(spec.encodings)}")
    if delimiter != spec.delimiter:
        problems.append(f"wrong delimiter {delimiter!r}, expected {spec.delimiter!r}")
    if problem:
        problems.append(f"{problem} (header read as {encoding} with {delimiter!r})")
    raise RejectedFile(" and ".join(problems))


def _decode_error(data: bytes, encoding: str) -> str:
    """Where `data` stops being text in `encoding`."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        return f"not valid {encoding} at byte {exc.start}"
    control = next((i for i, c in enumerate(text) if ord(c) < 32 and c not in "\t\r\n"), None)
    return f"a control character at character {control}" if control is not None else f"valid {encoding}"


def _decodes(data: bytes, encoding: str) -> bool:
    """The whole of `data` is text in `encoding` (an unfinished last character allowed) without control characters."""
    try:
        text = codecs.getincrementaldecoder(encoding)(errors="strict").decode(data, final=False)
    except UnicodeError:
        return False
    return not any(ord(c) < 32 and c not in "\t\r\n" for c in text)


def _check_whole_file_decodes(path: Path, encoding: str) -> None:
    """The whole file decodes; else RejectedFile saying where (byte and line) and whether the file was cut off."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset, newlines = 0, 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeError as exc:
                # the utf-8-sig decoder counts after the byte-order mark it has taken off
                start = exc.start + (
                    3 if offset == 0 and encoding == "utf-8-sig" and chunk.startswith(codecs.BOM_UTF8) else 0
                )
                line = newlines + chunk[:start].count(b"\n") + 1
                raise RejectedFile(
                    f"wrong encoding: not valid {encoding} at byte {offset + start} (line {line}); "
                    "the file mixes encodings or is damaged there"
                ) from None
            offset += len(chunk)
            newlines += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeError:  # only the bytes of an unfinished character are left: the end is missing
        raise RejectedFile(
            f"truncated file: it ends in the middle of a character (at byte {offset}, line "
            f"{newlines + 1}); the export or its copy was cut off: deliver it again"
        ) from None


@cache
def file_wire_schema(spec: FileSpec) -> pa.Schema:
    """The flat wire table of a file source: every cell as text, the export's physical line of the row."""
    fields = [
        pa.field(target if header not in spec.identity_headers else pii_column(target), pa.string())
        for header, target in spec.headers.items()
    ]
    fields += [pa.field("_line", pa.int64()), pa.field("_extra", pa.string()), pa.field("_decode_error", pa.string())]
    return pa.schema(fields)


def csv_rows(spec: FileSpec, path: Path, encoding: str, display_name: str) -> WireBatch:
    """A CSV export (header already checked) → its wire table. Rows with a wrong number of fields are kept as
    records with a `_decode_error` (their cells could be shifted: only the shape and the first cell are shown);
    blank rows are dropped. A file Arrow cannot parse, or whose quotes do not pair up, is a RejectedFile saying
    where the quoting goes wrong."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    arrow_encoding = "utf-8" if encoding.startswith("utf-8") else encoding
    broken: list[tuple[int, int, str | None, bool]] = []  # (1-based record number, fields, first field, multi-line)

    def broken_row(row: pa_csv.InvalidRow) -> str:
        first = next(csv.reader([row.text[:1000]], delimiter=spec.delimiter), [None])  # the first cell is enough
        broken.append((row.number, row.actual_columns, first[0] if first else None, "\n" in row.text))
        return "skip"

    header = next(csv.reader([data.split(b"\n", 1)[0].decode(arrow_encoding).rstrip("\r")], delimiter=spec.delimiter))
    try:
        cells = pa_csv.read_csv(
            io.BytesIO(data),
            # one block for the whole file: a long quoted value cannot straddle two blocks
            read_options=pa_csv.ReadOptions(
                encoding=arrow_encoding, use_threads=False, block_size=min(max(len(data) + 1, 1 << 20), MAX_BLOCK_BYTES)
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=spec.delimiter, newlines_in_values=True, invalid_row_handler=broken_row
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowCapacityError) as exc:
        message = str(exc).splitlines()[0][:300]
        raise RejectedFile(f"the CSV cannot be parsed ({message}); {_quote_diagnosis(data)}") from None
    cells = cells.rename_columns([name.strip() for name in cells.column_names])
    lines = _record_lines(data)  # lines[0] is the header's
    # Quotes that do not pair up, or a malformed record running over several lines, mean the reader has swallowed
    # following rows into one value: the file cannot be trusted row by row.
    if (
        data.count(b'"') % 2
        or len(lines) != cells.num_rows + len(broken) + 1
        or any(spans for _, _, _, spans in broken)
    ):
        raise RejectedFile(f"unbalanced quotes: {_quote_diagnosis(data)}")
    skipped = {number - 1 for number, _, _, _ in broken}
    kept = [i for i in range(1, len(lines)) if i not in skipped]
    wire = _cells_to_wire(spec, cells.append_column("_line", pa.array(lines[kept], pa.int64())), display_name)
    warnings, last_line = [], int(lines[-1]) if len(lines) else 1
    cut = bool(data) and not data.endswith(b"\n")
    if cut:
        warnings.append(
            f"the file does not end with a line break: its last line {last_line} may be cut off (truncated export?)"
        )
    payloads = {}
    if broken:
        rows = []
        for number, fields, first, _ in broken:
            line = int(lines[number - 1])
            payloads[line] = {"line": line, "fields": fields, "first_field": first}
            reason = f"wrong number of fields: {fields}, the header has {len(header)}"
            if cut and line == last_line:
                reason += "; the file ends in this line without a line break: truncated file"
            rows.append({"_line": line, "_decode_error": reason})
        wire = pa.concat_tables([wire, pa.Table.from_pylist(rows, schema=wire.schema)]).sort_by("_line")
    batch = _file_batch(spec, _translated(spec, _normalized(wire, trim_all=True)), payloads)
    batch.warnings.extend(warnings)
    return batch


def _quote_diagnosis(data: bytes) -> str:
    """Where the quoting of a CSV goes wrong: the first quoted value that runs over a line break (the usual trace of a
    stray or unclosed quote), with its line and byte."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(buffer == ord('"'))
    newlines = np.flatnonzero(buffer == ord("\n"))
    if not len(quotes):
        return "no quote characters in the file"
    opens = quotes[0::2]
    closes = np.append(quotes[1::2], len(buffer)) if len(quotes) % 2 else quotes[1::2]
    lines_from = np.searchsorted(newlines, opens) + 1
    lines_to = np.searchsorted(newlines, closes) + 1
    spanning = np.flatnonzero(lines_to > lines_from)
    odd = f"an odd number of quote characters ({len(quotes)}); " if len(quotes) % 2 else ""
    if not len(spanning):
        return odd + "likely a stray quote character"
    i = spanning[0]
    end = "never closes" if closes[i] == len(buffer) else f"runs to line {lines_to[i]}"
    return (
        f"{odd}the quoted value opened at line {lines_from[i]} (byte {opens[i]}) {end}, {closes[i] - opens[i]:,} "
        "bytes: likely a stray or unclosed quote there"
    )


def _record_lines(data: bytes) -> np.ndarray:
    """The physical line on which each CSV record (header included) starts, skipping empty lines as the reader
    does. A newline ends a record only outside quotes, i.e. after an even number of quote characters."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == ord("\n"))
    quotes = np.flatnonzero(buffer == ord('"'))
    ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(buffer)]])
    lines = np.searchsorted(newlines, starts) + 1
    lengths = stops - starts
    last = buffer[np.clip(stops - 1, 0, None)] if len(buffer) else np.zeros(len(stops), dtype=np.uint8)
    empty = (lengths == 0) | ((lengths == 1) & (last == ord("\r")))
    return lines[~empty]


def xlsx_rows(spec: FileSpec, path: Path, display_name: str) -> WireBatch:
    """An XLSX export → its wire table. Excel-typed cells become the export's text forms: dates in a contract date
    format, integral numbers (codes such as 63701000) without the «.0»."""
    try:
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(skip_empty_area=False)
    except (CalamineError, OSError, ValueError, IndexError) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise RejectedFile(
            f"not a readable XLSX workbook ({type(exc).__name__}: {detail}): a damaged or truncated "
            "file, or not an XLSX"
        ) from None
    header = [str(h).strip() if h is not None else "" for h in (rows[0] if rows else [])]
    problem = header_problem(spec, header)
    if problem:
        raise RejectedFile(problem)
    columns: dict[str, list] = {name: [] for name in header}
    lines = []
    for line_no, values in enumerate(rows[1:], start=2):
        cells = [_xlsx_text(v) for v in values][: len(header)]
        if not any(c.strip() for c in cells):
            continue
        cells += [""] * (len(header) - len(cells))
        for name, cell in zip(header, cells):
            columns[name].append(cell)
        lines.append(line_no)
    table = pa.table(
        {name: pa.array(values, pa.string()) for name, values in columns.items()}
        | {"_line": pa.array(lines, pa.int64())}
    )
    wire = _cells_to_wire(spec, table, display_name).cast(file_wire_schema(spec))
    return _file_batch(spec, _translated(spec, _normalized(wire, trim_all=True)), {})


def _translated(spec: FileSpec, wire: pa.Table) -> pa.Table:
    """A mapping file's value maps (names → codes, case-insensitively); values it does not list stay as they are."""
    for column, words in spec.value_maps.items():
        values = wire[column].combine_chunks()
        found = pc.index_in(pc.utf8_lower(values), value_set=pa.array(list(words), pa.string()))
        codes = pc.take(pa.array(list(words.values()), pa.string()), found)
        wire = wire.set_column(wire.schema.get_field_index(column), column, pc.coalesce(codes, values))
    return wire


def _xlsx_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(XLSX_DATETIME_FORMAT)
    if isinstance(value, date):
        return value.strftime(XLSX_DATE_FORMAT)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cells_to_wire(spec: FileSpec, cells: pa.Table, display_name: str) -> pa.Table:
    """Header-named cells → the wire columns (contract names), blank rows dropped, unknown columns to `_extra`."""
    blank = None
    for name in cells.column_names:
        if name == "_line":
            continue
        is_blank = pc.equal(pc.utf8_trim_whitespace(cells[name]), "")
        blank = is_blank if blank is None else pc.and_(blank, is_blank)
    if blank is not None:
        cells = cells.filter(pc.invert(blank))
    schema = file_wire_schema(spec)
    columns = {
        f.name: cells[header]
        if header not in spec.constants
        else pa.repeat(pa.scalar(spec.constants[header], pa.string()), cells.num_rows)
        for header, f in zip(spec.headers, schema)
    }
    extras = [name for name in cells.column_names if name not in spec.headers and name != "_line"]
    if extras:
        log.warning("%s: %s has columns outside the contract %s; kept in _extra", spec.name, display_name, extras)
        values = {name: cells[name].to_pylist() for name in extras}
        personal = [cells[h].to_pylist() for h in spec.identity_headers if h in cells.column_names]
        extra_json = []
        for i in range(cells.num_rows):
            known = tuple(v[i].strip() for v in personal if v[i] and v[i].strip())
            extra_json.append(pii.masked_json({n: values[n][i] for n in extras}, known))
        columns["_extra"] = pa.array(extra_json, pa.string())
    else:
        columns["_extra"] = pa.nulls(cells.num_rows, pa.string())
    columns["_line"] = cells["_line"]
    columns["_decode_error"] = pa.nulls(cells.num_rows, pa.string())
    for header, f in zip(spec.headers, schema):  # a cell longer than a spreadsheet's: the row is not readable
        if header in spec.constants:
            continue
        values = columns[f.name]
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        lengths = pc.utf8_length(values)
        over = pc.fill_null(pc.greater(lengths, MAX_CELL_CHARS), False)
        if pc.any(over).as_py():
            reason = pc.binary_join_element_wise(
                f"cell «{header}» has ",
                pc.cast(lengths, pa.string()),
                f" characters, more than a spreadsheet cell holds ({MAX_CELL_CHARS}): likely a stray quote that "
                "swallowed the following lines",
                "",
            )
            nothing = pa.scalar(None, pa.string())
            columns["_decode_error"] = pc.coalesce(columns["_decode_error"], pc.if_else(over, reason, nothing))
            columns[f.name] = pc.if_else(over, nothing, values)  # not carried any further
    return pa.table([columns[f.name] for f in schema], schema=schema)


def _file_batch(spec: FileSpec, wire: pa.Table, broken_payloads: dict) -> WireBatch:
    """The quarantine payload of a row: its cells by header (or, for a broken row, its shape)."""
    schema = file_wire_schema(spec)
    headers = dict(zip((f.name for f in schema), spec.headers))

    def payload(i: int) -> Any:
        row = wire.slice(i, 1).to_pylist()[0]
        if row["_decode_error"]:
            return broken_payloads.get(row["_line"], {"line": row["_line"]})
        return {headers[name]: value for name, value in row.items() if name in headers}

    return WireBatch(wire, payload)
