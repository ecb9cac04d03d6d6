"""Per-source mapping files: onboarding an export with its own vocabulary without code (docs/sources.md).

A mapping file (YAML) says how one foreign export fills a file source's contract: which of its files it reads (a
file-name pattern), their encoding, delimiter and date formats, which of its columns are which contract columns
(and values for contract columns it does not have), and how its status words, category names, agency names and
municipality names translate into the warehouse's codes. `load_mapping` validates it against the contract and the
reference data and returns a FileSpec: the extractor, the conversion and `cli check-file` use it as they use the
built-in specs. Values a mapping does not list pass unchanged (a code the warehouse knows, or an unknown code that the
marts show as «не определено» and count); a status word it does not list is quarantined.
"""

import codecs
import csv
import dataclasses
import re
from datetime import datetime
from functools import cache
from pathlib import Path

import yaml

from dagster_project.defs.extract.specs import FILE_SPECS, FileSpec
from dagster_project.lib import paths
from dagster_project.lib.contracts import STATUS_CODES, columns_of

MAPPING_SUFFIXES = (".yaml", ".yml")
KEYS = {
    "source": "the file source whose contract the export fills: " + ", ".join(s.name for s in FILE_SPECS),
    "description": "free text",
    "file_name": "regular expression for the whole file name; named groups `date` (YYYYMMDD) and `region`",
    "region": "region code of every file (when the file name has no `region` group)",
    "encodings": "list of encodings, tried in order",
    "delimiter": "CSV delimiter, one character",
    "date_formats": "list of strptime formats of the export's local times",
    "columns": "export header → contract header (docs/sources.md)",
    "constants": "contract header → value for every row (columns the export does not have)",
    "statuses": "status word → warehouse status code",
    "booleans": "yes/no word → true/false",
    "categories": "category name or code → category_code (seeds/categories.csv)",
    "subcategories": "subcategory name or code → subcategory_code (seeds/subcategories.csv)",
    "agencies": "agency name → agency_id (seeds/agencies.csv)",
    "municipalities": "municipality name → oktmo (seeds/municipalities.csv)",
}
# mapping key → (contract column it translates, seed file and its code column)
VALUE_MAPS = {
    "categories": ("category_code", "categories.csv", "category_code"),
    "subcategories": ("subcategory_code", "subcategories.csv", "subcategory_code"),
    "agencies": ("agency_id", "agencies.csv", "agency_id"),
    "municipalities": ("oktmo", "municipalities.csv", "oktmo"),
}
SAMPLE_MOMENT = datetime(2013, 6, 15, 0, 30)


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and every problem found."""


@cache
def seed_codes(seed: str, column: str) -> frozenset[str]:
    with (paths.SEEDS_DIR / seed).open(encoding="utf-8") as f:
        return frozenset(row[column] for row in csv.DictReader(f))


def _text_map(value, key: str, problems: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str | int) and isinstance(v, str | int | bool) for k, v in value.items()
    ):
        problems.append(f"{key}: expected a mapping of texts to texts")
        return {}
    return {str(k).strip(): (v if isinstance(v, bool) else str(v).strip()) for k, v in value.items()}


def _lowered(words: dict[str, str], key: str, problems: list[str]) -> dict[str, str]:
    """Keys compared case-insensitively: two keys that differ only by case are a conflict."""
    out: dict[str, str] = {}
    for word, target in words.items():
        lower = word.lower()
        if lower in out and out[lower] != target:
            problems.append(f"{key}: {word!r} is listed twice (case-insensitively) with different targets")
        out[lower] = target
    return out


def _spec_from(raw: dict, name: str) -> tuple[FileSpec | None, list[str]]:
    problems: list[str] = []
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        problems.append(f"unknown keys {unknown}; the keys are: " + "; ".join(f"{k} ({v})" for k, v in KEYS.items()))
    base = next((s for s in FILE_SPECS if s.name == raw.get("source")), None)
    if base is None:
        problems.append(f"source: {raw.get('source')!r} is not a file source ({KEYS['source'].split(': ')[1]})")
        return None, problems

    pattern = raw.get("file_name")
    file_name_re = None
    try:
        file_name_re = re.compile(str(pattern)) if pattern else None
    except re.error as exc:
        problems.append(f"file_name: not a regular expression: {exc}")
    if pattern is None:
        problems.append("file_name: missing (a regular expression for the names of the export's files)")
    region = str(raw["region"]) if raw.get("region") is not None else None
    zones = seed_codes("regions.csv", "region_code")
    if file_name_re is not None:
        groups = set(file_name_re.groupindex)
        if "region" not in groups and region is None:
            problems.append("file_name has no `region` group: give `region:` (the region of every file)")
        if "region" in groups and region is not None:
            problems.append("give the region either as a `region` group of file_name or as `region:`, not both")
    if region is not None and region not in zones:
        problems.append(f"region: {region!r} is not a region of seeds/regions.csv ({sorted(zones)})")

    encodings = raw.get("encodings", list(base.encodings))
    if isinstance(encodings, str):
        encodings = [encodings]
    for encoding in encodings:
        try:
            codecs.lookup(str(encoding))
        except LookupError:
            problems.append(f"encodings: {encoding!r} is not an encoding Python knows")
    delimiter = str(raw.get("delimiter", base.delimiter))
    if len(delimiter) != 1 or delimiter in '"\r\n':
        problems.append(f"delimiter: {delimiter!r} must be one character other than a quote or a line break")
    date_formats = raw.get("date_formats", list(base.date_formats))
    if isinstance(date_formats, str):
        date_formats = [date_formats]
    for fmt in date_formats:
        try:
            ok = "%" in str(fmt) and datetime.strptime(SAMPLE_MOMENT.strftime(fmt), fmt).date() == SAMPLE_MOMENT.date()
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"date_formats: {fmt!r} does not read back the date it writes (strptime format codes)")

    contract_headers = dict(base.headers)  # contract header → column or identity kind
    columns = _text_map(raw.get("columns"), "columns", problems)
    constants = _text_map(raw.get("constants"), "constants", problems)
    if not columns:
        problems.append("columns: missing (export header → contract header)")
    for foreign, target in columns.items():
        if target not in contract_headers:
            problems.append(
                f"columns: {foreign!r} → {target!r}: not a header of the {base.name} contract "
                f"({', '.join(contract_headers)})"
            )
    targets = list(columns.values())
    for target in sorted({t for t in targets if targets.count(t) > 1}):
        problems.append(f"columns: more than one export column fills {target!r}")
    for target in constants:
        if target not in contract_headers:
            problems.append(f"constants: {target!r} is not a header of the {base.name} contract")
        elif target in targets:
            problems.append(f"constants: {target!r} is also filled by a column")
        elif target in base.identity_headers:
            problems.append(f"constants: {target!r} is the applicant's personal data and cannot be a constant")
    contract = columns_of(base.name)
    missing = []
    for header, column in contract_headers.items():
        if header in targets or header in constants:
            continue
        required = header not in base.identity_headers and not contract[column].nullable
        if column == "region_code" and base.region_from_file_name:
            required = False
        if required:
            missing.append(header)
    if missing:
        problems.append(
            f"required contract columns neither mapped nor given as constants: {missing} "
            "(docs/sources.md, «Обязательные поля»)"
        )
    if not any(t in base.identity_headers for t in targets):
        problems.append(
            f"columns: no column is the applicant ({', '.join(base.identity_headers)}): repeats and "
            "completeness need the applicant's identity"
        )

    statuses = _lowered(_text_map(raw.get("statuses"), "statuses", problems), "statuses", problems)
    for word, code in statuses.items():
        if code not in STATUS_CODES:
            problems.append(
                f"statuses: {word!r} → {code!r} is not a warehouse status ({', '.join(sorted(STATUS_CODES))})"
            )
    booleans = _lowered(_text_map(raw.get("booleans"), "booleans", problems), "booleans", problems)
    for word, value in booleans.items():
        if not isinstance(value, bool):
            problems.append(f"booleans: {word!r} → {value!r} must be true or false")
    value_maps = {}
    for key, (column, seed, seed_column) in VALUE_MAPS.items():
        words = _lowered(_text_map(raw.get(key), key, problems), key, problems)
        known = seed_codes(seed, seed_column)
        for word, code in words.items():
            if code not in known:
                problems.append(f"{key}: {word!r} → {code!r} is not in seeds/{seed}")
        if words:
            if column not in contract:
                problems.append(f"{key}: the {base.name} contract has no {column}")
            value_maps[column] = words
    if problems:
        return None, problems

    # The export's headers (and the contract headers given as constants) → the contract's columns, in contract order.
    by_target = {target: foreign for foreign, target in columns.items()}
    headers, identity, filled = {}, [], {}
    for header, column in contract_headers.items():
        if header in by_target:
            headers[by_target[header]] = column
            if header in base.identity_headers:
                identity.append(by_target[header])
        else:  # a constant, or an optional column the export does not have (null)
            headers[header] = column
            filled[header] = constants.get(header)
            if header in base.identity_headers:
                identity.append(header)
    spec = dataclasses.replace(
        base,
        headers=headers,
        identity_headers=tuple(identity),
        constants=filled,
        value_maps=value_maps,
        file_name_re=file_name_re,
        encodings=tuple(str(e) for e in encodings),
        delimiter=delimiter,
        date_formats=tuple(str(f) for f in date_formats),
        status_map=statuses or base.status_map,
        bool_words=booleans or base.bool_words,
        region=region,
        mapping=name,
        description=str(raw.get("description") or base.description),
    )
    return spec, []


def load_mapping(path: Path) -> FileSpec:
    """The FileSpec of a mapping file, or MappingError naming the file and every problem in it."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc}") from None
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: a mapping file is a YAML mapping (key: value), got {type(raw).__name__}")
    spec, problems = _spec_from(raw, Path(path).name)
    if problems:
        raise MappingError(f"{path}: invalid mapping:\n  - " + "\n  - ".join(problems))
    return spec


def load_mappings(directory: Path, source: str) -> list[FileSpec]:
    """The mappings of one source in a directory (every mapping file is validated: one broken file fails all, as
    it may be the one meant for the next export)."""
    if not directory.is_dir():
        return []
    files = sorted(p for p in directory.iterdir() if p.suffix in MAPPING_SUFFIXES and p.is_file())
    return [spec for spec in map(load_mapping, files) if spec.name == source]
