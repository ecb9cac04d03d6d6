"""Wire tables → contract rows and quarantine reasons, for a whole batch at once in DuckDB.

One SQL statement per batch, generated from the source's spec, converts every value to its contract kind (JSON
types for the APIs, cell texts for the exports: local times → UTC, Russian words, empty = missing), maps statuses,
and gives each record the first contract rule it breaks:
  1. a value of the wrong JSON type or a malformed row (wire.py's `_decode_error`);
  2. the export's region unknown (its local time cannot be read);
  3. per contract column, in order: a missing required value, a value that does not parse;
  4. an unknown status; a counter or rating out of range; dates in an impossible order;
  5. no citizen identity to hash;
  6. the first broken element of a list in the record (status history, poll options).
Personal data: the identity becomes its keyed hash (HMAC-SHA256, pii.sql_hmac) in SQL, and free text is masked by
pii.mask_text wherever the SQL gate (pii.sql_mask_gate) says a mask could apply.
"""

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.defs.extract.specs import VALUE_RANGES, ApiSpec, FileSpec, ListSpec
from dagster_project.defs.extract.wire import list_column, pii_column
from dagster_project.lib import paths, pii, settings
from dagster_project.lib.contracts import BOOL, INT, RAW_TABLES, STATUS_CODES, STR, TS, Column, arrow_schema, columns_of
from dagster_project.lib.pii import sql_literal as lit

STATUS_LIST = ", ".join(lit(s) for s in sorted(STATUS_CODES))


@dataclass
class Conformed:
    rows: dict[str, pa.Table]  # landed rows per table (contract columns + `_extra`)
    invalid: list[tuple[int, str]]  # (record position, reason), in record order


def _quoted(expr: str, limit: int = 40) -> str:
    """Python's repr of a short text in messages: 'text'."""
    return f"'''' || left({expr}, {limit}) || ''''"


def _reason(condition: str, message: str) -> str:
    return f"case when {condition} then {message} end"


def _first(reasons: list[str]) -> str:
    return f"coalesce({', '.join(reasons)})" if len(reasons) > 1 else reasons[0] if reasons else "NULL"


# --- one value ------------------------------------------------------------------------------------------------
# The statement has two layers: `typed` converts each wire value into its contract value, named like the column,
# and keeps the wire value as `_raw_<column>`; the rules then read both by name (a small expression tree: planning
# a statement costs as much as running it on a page). wire.py has already turned blank text into null (and
# stripped export cells), so null is "missing".


def raw(column: str) -> str:
    return f"_raw_{column}"


def _missing(column: Column) -> str:
    return (
        "NULL"
        if column.nullable
        else _reason(f"{raw(column.name)} is null", lit(f"missing required field {column.name}"))
    )


def _unreadable(column: Column, message: str) -> str:
    """The wire value is there but did not convert."""
    return _reason(
        f"{raw(column.name)} is not null and {column.name} is null",
        lit(f"{column.name}: {message} ") + " || " + _quoted(raw(column.name)),
    )


def _json_value(column: Column) -> tuple[str, str]:
    """(value, rules) of a JSON-typed wire value (timestamps as ISO-8601 text, a zone-less one meaning UTC)."""
    if column.kind != TS:
        return raw(column.name), _missing(column)
    value = f"timezone('UTC', try_cast({raw(column.name)} as timestamptz))"
    return value, _first([_missing(column), _unreadable(column, "not an ISO-8601 timestamp:")])


def _text_value(column: Column, spec: FileSpec) -> tuple[str, str]:
    """(value, rules) of an export cell: text; numbers with a comma or a point; Russian yes/no; local dates."""
    cell = raw(column.name)
    if column.kind == STR:
        return cell, _missing(column)
    if column.kind == INT:
        number = f"try_cast(replace({cell}, ',', '.') as double)"
        integral = f"(isfinite({number}) and {number} = trunc({number}) and abs({number}) < 9e18)"
        value = f"(case when {integral} then cast({number} as bigint) end)"
        bad = _first(
            [  # a number that is not integral also converts to null: the text tells them apart
                _reason(
                    f"{cell} is not null and {number} is null",
                    lit(f"{column.name}: not a number: ") + " || " + _quoted(cell),
                ),
                _unreadable(column, "not an integer:"),
            ]
        )
    elif column.kind == BOOL:
        value = (
            "(case "
            + " ".join(f"when lower({cell}) = {lit(w)} then {str(v).lower()}" for w, v in spec.bool_words.items())
            + " end)"
        )
        bad = _unreadable(column, f"expected one of {sorted(spec.bool_words)}, got")
    else:
        formats = ", ".join(lit(f) for f in spec.date_formats)
        value = f"timezone('UTC', timezone(_zone, try_strptime({cell}, [{formats}])))"
        bad = _unreadable(column, f"not a date in {' / '.join(spec.date_formats)}:")
    return value, _first([_missing(column), bad])


# --- the statement --------------------------------------------------------------------------------------------


@cache
def region_zones() -> dict[str, str]:
    with (paths.SEEDS_DIR / "regions.csv").open(encoding="utf-8") as f:
        return {row["region_code"]: row["timezone"] for row in csv.DictReader(f)}


def _zone_of(region: str) -> str:
    return (
        "(case "
        + " ".join(f"when {region} = {lit(code)} then {lit(zone)}" for code, zone in region_zones().items())
        + " end)"
    )


def _implausible(column: Column, window: tuple[datetime, datetime], is_file: bool) -> str:
    """A timestamp outside the plausibility window (lib/settings.py), shown as the source sent it (an export's local
    time, an API's ISO text)."""
    earliest, latest = window
    shown = f"{raw(column.name)} || {lit(' local' if is_file else '')}"
    return (
        f"case when {column.name} < {_timestamp(earliest)} then {lit(column.name + ': ')} || {shown} || "
        f"{lit(f' is before {earliest:%Y-%m-%d}, the earliest plausible date (CUR_EARLIEST_TIMESTAMP)')} "
        f"when {column.name} > {_timestamp(latest)} then {lit(column.name + ': ')} || {shown} || "
        f"{lit(f' is later than {latest:%Y-%m-%d %H:%M} UTC, the load time plus CUR_LATEST_TIMESTAMP_AHEAD_HOURS')}"
        " end"
    )


def _timestamp(moment: datetime) -> str:
    return f"timestamp '{moment:%Y-%m-%d %H:%M:%S}'"


def _unknown_status(column: str) -> str:
    """True for a status that is not a warehouse code, null included (`x not in (…)` alone is null for null)."""
    return f"({column} is null or {column} not in ({STATUS_LIST}))"


def _record_checks(spec: ApiSpec | FileSpec, columns: set[str], hash_column: str | None) -> list[str]:
    """Rules beyond single values: status, ranges, order of dates, identity (rules 4–5), over typed columns."""
    reasons = []
    if "status" in columns:  # a word the source's mapping does not know converts to null: null is unknown too
        shown = f"lower({raw('status')})" if isinstance(spec, FileSpec) else "status"
        reasons.append(_reason(_unknown_status("status"), "'unknown status ' || " + _quoted(shown)))
    for column, (low, high) in VALUE_RANGES.items():
        if column in columns:
            out = " or ".join(f"{column} {op} {bound}" for op, bound in (("<", low), (">", high)) if bound is not None)
            reasons.append(_reason(out, f"'{column} out of range: ' || {column}"))
    for earlier, later in getattr(spec, "chronology", ()):  # an export's times as the file has them: local
        shown = {c: (f"{raw(c)} || ' local'" if isinstance(spec, FileSpec) else c) for c in (earlier, later)}
        reasons.append(
            _reason(
                f"{later} < {earlier}",
                f"'{later} (' || {shown[later]} || ') is before {earlier} (' || {shown[earlier]} || ')'",
            )
        )
    if hash_column:
        reasons.append(_reason("_identity is null", "'no citizen identity (name, phone, e-mail or handle)'"))
    return reasons


def _list_sql(spec: ListSpec, table: str, source: str, window: tuple[datetime, datetime]) -> str:
    """The elements of a list column with their contract values and their first broken rule (`_reason`)."""
    contract = columns_of(table)
    typed, reasons = [], []
    for column in spec.fields:
        value, reason = _json_value(contract[column])
        typed.append(f"_element.{column} as {raw(column)}")
        if contract[column].kind == TS:
            reason = _first([reason, _implausible(contract[column], window, is_file=False)])
        reasons.append(reason)
    if "status" in spec.fields:
        reasons.append(
            _reason(_unknown_status("status"), lit(f"{spec.list_field}: unknown status ") + " || " + _quoted("status"))
        )
    values = [f"{_json_value(contract[c])[0]} as {c}" for c in spec.fields]
    seq = f"_seq as {spec.seq_column}" if spec.seq_column else "_seq"
    return f"""
        with elements as (
            select _record, unnest(_list) as _element, generate_subscripts(_list, 1) as _seq from {source}
        ),
        wire_values as (select _record, _seq, {", ".join(typed)} from elements),
        typed as (select *, {", ".join(values)} from wire_values)
        select _record, {", ".join(spec.fields)}, {seq}, {_first(reasons)} as _reason from typed
    """


def _identity_kinds(spec: ApiSpec | FileSpec) -> list[str]:
    return list(spec.identity) if isinstance(spec, ApiSpec) else [spec.headers[h] for h in spec.identity_headers]


def _record_sql(spec: ApiSpec | FileSpec, source: str, window: tuple[datetime, datetime]) -> str:
    """The conversion of a batch's records: contract values, `_reason` (rules 1–6), `_gate` (masking needed)."""
    contract = columns_of(spec.name)
    is_api = isinstance(spec, ApiSpec)
    columns = list(spec.fields) if is_api else [c for h, c in spec.headers.items() if h not in spec.identity_headers]
    renamed = ", ".join(f"{c} as {raw(c)}" for c in columns)
    typed, reasons = [], []
    zone = ""
    if not is_api:
        region = "_file_region" if spec.region_from_file_name else raw("region_code")
        zone = f", {_zone_of(region)} as _zone"
        reasons.append(_reason("_zone is null", f"'unknown region code ' || coalesce({_quoted(region)}, 'None')"))
    for column in columns:
        value, reason = _json_value(contract[column]) if is_api else _text_value(contract[column], spec)
        if column == "status" and not is_api:
            value = (
                "(case "
                + " ".join(
                    f"when lower({raw('status')}) = {lit(w)} then {lit(code)}" for w, code in spec.status_map.items()
                )
                + " end)"
            )
        if contract[column].kind == TS:
            reason = _first([reason, _implausible(contract[column], window, is_file=not is_api)])
        typed.append(f"{value} as {column}")
        reasons.append(reason)
    if not is_api and spec.region_from_file_name:
        typed.append("_file_region as region_code")
        columns.append("region_code")
    hash_column = spec.hash_column if is_api else "citizen_hash"
    if hash_column:
        typed.append(f"{pii.sql_hmac('_identity')} as {hash_column}")
    rules = _first(["_decode_error", *reasons, *_record_checks(spec, set(columns), hash_column), "_list_reason"])
    # The record's gate over all its texts at once; per text only where the record's gate is open.
    gate = pii.sql_mask_gate(list(spec.masked_columns), "_known") if spec.masked_columns else "false"
    text_gates = "".join(
        f", case when _gate then {pii.sql_mask_gate([c], '_known')} else false end as _gate_{c}"
        for c in spec.masked_columns
    )
    landed = [c.name for c in RAW_TABLES[spec.name] if c.name in columns or c.name == hash_column]
    return f"""
        with wire_values as (select * rename ({renamed}){zone} from {source}),
        typed as (select *, {", ".join(typed)} from wire_values),
        gated as (select *, {gate} as _gate from typed)
        select {", ".join(landed)}, _extra, {rules} as _reason{text_gates} from gated
    """


def _lists(spec: ApiSpec | FileSpec) -> list[tuple[ListSpec, str]]:
    return [(s, s.table or spec.name) for s in (getattr(spec, "explode", None), getattr(spec, "child", None)) if s]


class Converter:
    """One in-memory DuckDB for a load: each source's statements are prepared once over the batch's Arrow tables
    (registered per batch), and the HMAC key lives only in this connection's memory."""

    def __init__(self, key: bytes, window: tuple[datetime, datetime] | None = None):
        self.window = window or settings.timestamp_window()  # plausible timestamps, from this load's start
        self.con = duckdb.connect()
        self.con.execute("set TimeZone = 'UTC'")
        pads = pii.hmac_pads(key)
        self.con.execute(
            "create temp table hmac_pads as select $hmac_ipad::blob as ipad, $hmac_opad::blob as opad", pads
        )
        self._prepared: set[str] = set()

    def _query(self, name: str, sql: str, source: str, table: pa.Table) -> pa.Table:
        """Runs a statement over `table` registered as `source`; it is prepared (parsed and planned) on first use
        (profiled: planning a statement cost as much as running it on a day's export)."""
        self.con.register(source, table)
        try:
            if name not in self._prepared:
                self.con.execute(f"prepare {name} as {sql}")
                self._prepared.add(name)
            return self.con.sql(f"execute {name}").to_arrow_table()
        finally:
            self.con.unregister(source)

    def conform(self, spec: ApiSpec | FileSpec, wire: pa.Table, file_region: str | None = None) -> Conformed:
        """Contract rows of the valid records of a wire table and the reasons of the others (see the module doc).
        DuckDB keeps the order of a plain projection of one input, so results come back in record order."""
        wire = pii.with_generalized_addresses(wire)  # 152-ФЗ: street and house only, before anything lands
        lists = _lists(spec)
        personal = {kind: wire[pii_column(kind)].combine_chunks() for kind in _identity_kinds(spec)}
        elements, list_reason = {}, pa.nulls(wire.num_rows, pa.string())
        for list_spec, table in lists:
            elements[list_spec.list_field], first_broken = self._elements(wire, list_spec, table)
            list_reason = pc.coalesce(list_reason, first_broken)
        extended = wire.append_column("_list_reason", list_reason)
        extended = extended.append_column("_file_region", pa.repeat(pa.scalar(file_region, pa.string()), wire.num_rows))
        if personal:
            extended = extended.append_column("_identity", pii.identity_array(**personal, length=wire.num_rows))
            extended = extended.append_column("_known", pii.known_patterns_array(list(personal.values())))
        source = f"wire_{spec.name}"
        variant = re.sub(r"\W", "_", getattr(spec, "mapping", None) or "contract")  # a mapping file's own statement
        checked = self._query(
            f"conformed_{spec.name}_{variant}", _record_sql(spec, source, self.window), source, extended
        )
        return _assemble(spec, lists, checked, elements, personal)

    def _elements(self, wire: pa.Table, spec: ListSpec, table: str) -> tuple[pa.Table, pa.Array]:
        """The list's elements (with `_record`, in record and list order) and each record's first broken element."""
        source = f"lists_{spec.list_field}"
        sql = _list_sql(spec, table, source, self.window)
        lists = pa.table({"_list": wire[list_column(spec)], "_record": pa.array(np.arange(wire.num_rows))})
        found = self._query(f"elements_{spec.list_field}", sql, source, lists)
        broken = found.filter(pc.is_valid(found["_reason"]))
        records, first = np.unique(broken["_record"].to_numpy(), return_index=True)
        reasons = np.full(wire.num_rows, None, dtype=object)
        reasons[records] = np.asarray(broken["_reason"].to_pylist(), dtype=object)[first] if len(first) else []
        return found, pa.array(reasons, pa.string())


def _assemble(
    spec: ApiSpec | FileSpec, lists, checked: pa.Table, elements: dict[str, pa.Table], personal: dict[str, pa.Array]
) -> Conformed:
    """Valid records → rows per table (masked; polls exploded per option; list elements as child rows)."""
    broken = pc.is_valid(checked["_reason"])
    positions = np.flatnonzero(broken.to_numpy(zero_copy_only=False))
    invalid = list(zip(positions.tolist(), checked["_reason"].filter(broken).to_pylist()))
    valid = pc.invert(broken)
    main = _mask(checked.filter(valid), spec.masked_columns, [personal[kind].filter(valid) for kind in personal])
    rows = {}
    explode = next((s for s, _ in lists if s.table is None), None)
    if explode is not None:  # one row per element (poll options), the record's own columns repeated
        options = elements[explode.list_field]
        options = options.filter(pc.take(valid, options["_record"]))
        main_index = np.cumsum(valid.to_numpy(zero_copy_only=False)) - 1
        main = main.take(pa.array(main_index[options["_record"].to_numpy()]))
        for column in explode.fields:
            main = main.append_column(column, options[column])
    rows[spec.name] = _to_contract(main, spec.name)
    for list_spec, table in lists:
        if list_spec.table:
            children = elements[list_spec.list_field]
            children = children.filter(pc.take(valid, children["_record"]))
            owner = pa.array(children["_record"].to_numpy())
            children = children.append_column(spec.key_column, checked[spec.key_column].take(owner))
            children = children.append_column("updated_at", checked["updated_at"].take(owner))
            rows[table] = _to_contract(
                children.append_column("_extra", pa.nulls(children.num_rows, pa.string())), table
            )
    return Conformed(rows, invalid)


def _mask(table: pa.Table, columns: tuple[str, ...], personal: list[pa.Array]) -> pa.Table:
    """pii.mask_text on the texts their gate flags, with the record's own personal values."""
    for column in columns:
        gated = np.flatnonzero(table[f"_gate_{column}"].to_numpy(zero_copy_only=False))
        if not len(gated):
            continue
        take = pa.array(gated)
        known = list(zip(*(values.take(take).to_pylist() for values in personal))) or [()] * len(gated)
        masked = [
            pii.mask_text(text, tuple(v for v in values if v and v.strip()))
            for text, values in zip(table[column].take(take).to_pylist(), known)
        ]
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[gated] = True
        values = pc.replace_with_mask(table[column].combine_chunks(), pa.array(mask), pa.array(masked, pa.string()))
        table = table.set_column(table.schema.get_field_index(column), column, values)
    return table


# A text a spreadsheet would run as a formula (=HYPERLINK(…), +cmd|…, -2+3, @SUM(…), a leading tab or CR) when an
# analyst exports it to Excel (Superset CSV/XLSX, the reports): neutralised at landing by a leading apostrophe
# (OWASP «CSV injection»), so the lake, the warehouse and every export carry the safe text (docs/sources.md).
FORMULA_START = r"^[=+\-@\t\r]"
FORMULA_PREFIX = "'"


def formula_safe(table: pa.Table) -> pa.Table:
    """Every landed text column with a leading apostrophe before a formula's first character."""
    for index, field in enumerate(table.schema):
        if not pa.types.is_string(field.type) or field.name.startswith("_"):
            continue
        column = table.column(index)
        risky = pc.fill_null(pc.match_substring_regex(column, FORMULA_START), False)
        if pc.any(risky).as_py():
            safe = pc.if_else(risky, pc.binary_join_element_wise(FORMULA_PREFIX, column, ""), column)
            table = table.set_column(index, field, safe)
    return table


def _to_contract(table: pa.Table, name: str) -> pa.Table:
    """The landed columns of a table (contract + `_extra`), nothing else: personal data and gates stay behind."""
    schema = arrow_schema(name)
    names = [f.name for f in schema if f.name in table.column_names]
    return formula_safe(table.select(names).cast(pa.schema([schema.field(n) for n in names])))
