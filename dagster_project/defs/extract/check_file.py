"""`python -m dagster_project.cli check-file PATH [--mapping F]`: a dry run of one export file.

Reads and converts the file exactly as the extractor would (same specs, same mapping files, same rules) and prints
what would land, what would be quarantined and why (by file line, with the row's local times as the file has them),
and which codes among the rows that would land the reference data does not know. Nothing is written: no lake part,
no warehouse row, the file stays where it is. The citizens' identities are hashed with a throw-away key.
"""

import os
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

from dagster_project.defs.extract import conform, mapping
from dagster_project.defs.extract.files import conformed_batches, file_spec, read_file, safe_name, source_specs
from dagster_project.defs.extract.specs import FILE_SPECS, FileSpec
from dagster_project.defs.extract.wire import RejectedFile
from dagster_project.lib.contracts import TS

# Landed columns checked against the reference data: (column, seed file, its code column).
REFERENCE_CODES = (
    ("category_code", "categories.csv", "category_code"),
    ("subcategory_code", "subcategories.csv", "subcategory_code"),
    ("classifier_code", "classifier_codes.csv", "classifier_code"),
    ("agency_id", "agencies.csv", "agency_id"),
    ("oktmo", "municipalities.csv", "oktmo"),
)
EXIT_OK, EXIT_REJECTED, EXIT_BAD_MAPPING = 0, 2, 3


def candidate_specs(path: Path, mapping_file: Path | None) -> list[FileSpec]:
    """The given mapping alone, else every file source's contract and mapping files (in the extractor's order)."""
    if mapping_file is not None:
        return [mapping.load_mapping(mapping_file)]
    specs = []
    for spec in FILE_SPECS:
        candidates = source_specs(spec)
        if any(s.file_name_re.fullmatch(path.name) for s in candidates):
            return candidates
        specs += candidates
    return specs


def _local_times(spec: FileSpec, row: dict) -> str:
    """The row's dates as the file has them (local time of the region)."""
    timestamps = {
        c
        for c in spec.headers.values()
        if conform.columns_of(spec.name).get(c) and conform.columns_of(spec.name)[c].kind == TS
    }
    headers = {column: header for header, column in spec.headers.items()}
    shown = [f"{headers[c]} {row[c]}" for c in spec.headers.values() if c in timestamps and row.get(c)]
    return "; ".join(shown)


def check_file(path: Path, mapping_file: Path | None = None, limit: int = 50, out: TextIO | None = None) -> int:
    """Prints the dry run of `path`; the exit code says: 0 readable, 2 the file would be rejected, 3 bad mapping."""
    out = out or sys.stdout
    path = Path(path)
    shown = safe_name(path.name)
    try:
        specs = candidate_specs(path, mapping_file)
    except mapping.MappingError as exc:
        print(f"mapping error: {exc}", file=out)
        return EXIT_BAD_MAPPING
    try:
        spec, region = file_spec(specs, path.name)
        if not path.is_file() or path.is_symlink():
            raise RejectedFile("not a regular file")
        batch = read_file(spec, path, shown)
    except RejectedFile as exc:
        print(f"{shown}: would be REJECTED (moved to rejected/): {exc}", file=out)
        return EXIT_REJECTED
    print(
        f"{shown}: source {spec.name}"
        + (f", mapping {spec.mapping}" if spec.mapping else "")
        + f", region {region} ({conform.region_zones()[region]}; times in the file are local)",
        file=out,
    )

    converter = conform.Converter(os.urandom(32))
    fetched, quarantined, reasons, unknown = 0, [], Counter(), {column: Counter() for column, _, _ in REFERENCE_CODES}
    for _, records, conformed in conformed_batches(spec, batch, region, converter):
        fetched += records.num_rows
        for position, reason in conformed.invalid:
            row = records.slice(position, 1).to_pylist()[0]
            quarantined.append((row["_line"], reason, _local_times(spec, row)))
            reasons[reason.split(":")[0].split(" '")[0].split(" (")[0]] += 1
        landed = conformed.rows[spec.name]
        for column, seed, seed_column in REFERENCE_CODES:
            if column in landed.column_names:
                known = mapping.seed_codes(seed, seed_column)
                unknown[column].update(
                    v if v is not None else "(не указан)"
                    for v in landed[column].to_pylist()
                    if v not in known and not (v is None and column == "subcategory_code")
                )
    repeated = batch.table.num_rows - fetched
    print(f"rows read: {batch.table.num_rows} ({repeated} repeated rows would be skipped)", file=out)
    print(f"would land: {fetched - len(quarantined)}", file=out)
    print(f"would be quarantined: {len(quarantined)}", file=out)
    for reason, count in reasons.most_common():
        print(f"  {count:>6}  {reason}", file=out)
    for line, reason, times in sorted(quarantined)[:limit]:
        print(f"  line {line}: {reason}" + (f"  [{times}]" if times else ""), file=out)
    if len(quarantined) > limit:
        print(f"  … {len(quarantined) - limit} more (--limit)", file=out)
    codes = {column: counts for column, counts in unknown.items() if counts}
    if codes:
        print(
            "unknown codes among the rows that would land (shown as «не определено» in the marts, counted in "
            "unknown_codes_monthly):",
            file=out,
        )
        for column, counts in codes.items():
            print(f"  {column}: " + ", ".join(f"{code!r} ×{n}" for code, n in counts.most_common()), file=out)
    else:
        print("unknown codes: none", file=out)
    print("nothing was landed or moved (dry run)", file=out)
    return EXIT_OK
