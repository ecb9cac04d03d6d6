"""Great Expectations 1.x on DuckDB: runs the committed suites of `expectations/` and turns the results into checks.

Validation runs inside DuckDB through SQLAlchemy (duckdb-engine); nothing is loaded into pandas:
- raw tables: Parquet of the lake, through views of a throwaway catalog database (one per validation) that
  show the rows of the latest landed run (`<table>`) and the volume/freshness figures of the source
  (`<table>_activity`);
- marts: the warehouse itself, opened read-only and closed right after the validation (DuckDB allows one
  writer process, and dbt runs in a subprocess).

A suite's expectations carry `meta.check` (the Dagster asset check they belong to) and GE's own `severity`:
`critical` fails the check at ERROR, `warning` at WARN. A critical row-level expectation with
`meta.error_tolerance_percent` / `meta.error_tolerance_rows` fails at ERROR only when more than that share of the
load *and* more than that many rows break it: isolated bad rows (which the warehouse absorbs: deduplication, the
«не определено» members) fail at WARN, a systematic fault is an ERROR. Codes the reference data does not know are
never more than a WARN: they land as «не определено» and are counted (mart unknown_codes_monthly).

What an ERROR blocks: on a mart, the downstream assets (the serving snapshot). On a raw table, only the failing
load: its parts are held out of the warehouse (lib/held_loads.py) while every other load, source and region goes on
to the marts — with one dbt graph reading every source, a blocking check there would stop them all. The check
`load_admitted` (blocking, so that the warehouse build waits for the verdict) says whether the load was held.
"""

import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import duckdb
from duckdb_engine import Dialect as DuckDBDialect
from sqlalchemy.dialects import registry

from dagster_project.lib import data_docs, held_loads, paths, settings, warehouse
from dagster_project.lib.contracts import STATUS_CODES

UNKNOWN_OKTMO = "00000000"  # the «не определено» member of dim_municipality
VOLUME_HISTORY_DAYS = 28
VOLUME_BAND_LOW = 0.5  # × the 10th percentile of the daily history
VOLUME_BAND_HIGH = 2.0  # × the 90th percentile
VOLUME_OUTAGE_MIN_MEDIAN = 5  # zero records in a day is an outage only where a day usually brings at least this many
SAMPLE_SIZE = 10


@dataclass(frozen=True)
class RawSource:
    version_column: str  # the record version's timestamp: volume and freshness are measured on it
    freshness_warn_hours: int
    freshness_outage_hours: int | None  # None: silence is never «clearly an outage» (sparse sources)


RAW_SOURCES: dict[str, RawSource] = {
    "pos_messages": RawSource("updated_at", 24, 72),
    "pos_message_events": RawSource("updated_at", 24, 72),
    "pos_polls": RawSource("updated_at", 24 * 30, None),  # a few polls a month or fewer: staleness is normal
    "incidents": RawSource("updated_at", 24, 72),
    "incident_events": RawSource("updated_at", 24, 72),
    "sed_appeals": RawSource("exported_at", 48, 120),  # daily file exports
    "portal_appeals": RawSource("updated_at", 48, 120),
}
MARTS = (
    "agency_rating_monthly",
    "sector_kpis_monthly",
    "problem_heat_map",
    "municipality_pareto",
    "governor_monthly_summary",
)


class ReadOnlyDuckDBDialect(DuckDBDialect):
    """duckdb-engine for read-only validation connections.

    GE returns a query's result after handing its connection back to the pool; the pool's rollback makes DuckDB
    drop the pending result, so every metric would come back empty. Read-only connections have nothing to
    roll back, so transaction calls are no-ops here. Every connection is remembered so that
    `close_connections()` releases the database files for the next writer.
    """

    supports_statement_cache = True
    opened: ClassVar[list] = []

    def connect(self, *args, **kwargs):
        connection = super().connect(*args, **kwargs)
        self.opened.append(connection)
        return connection

    def do_begin(self, dbapi_connection) -> None:
        pass

    def do_rollback(self, dbapi_connection) -> None:
        pass

    def do_commit(self, dbapi_connection) -> None:
        pass

    @classmethod
    def close_connections(cls) -> None:
        while cls.opened:
            cls.opened.pop().close()


registry.register("duckdb.readonly", __name__, "ReadOnlyDuckDBDialect")


def readonly_url(database: Path) -> str:
    options = "".join(f"&{name}={value}" for name, value in warehouse.duckdb_settings().items())
    return f"duckdb+readonly:///{database}?access_mode=read_only{options}"


def seeds_dir() -> Path:
    return Path(settings.env("CUR_SEEDS_DIR", paths.SEEDS_DIR)).resolve()


def quality_dir() -> Path:
    return paths.data_dir() / "quality"


def data_docs_index() -> Path:
    return quality_dir() / "data_docs" / "index.html"


# --- targets: which checkpoints validate an asset, and which checks they define --------------------------------

VALIDATED_ASSETS: list[tuple[str, ...]] = [("raw", table) for table in RAW_SOURCES] + [(mart,) for mart in MARTS]


def checkpoints_for(asset_path: tuple[str, ...]) -> list[str]:
    if len(asset_path) == 2 and asset_path[0] == "raw" and asset_path[1] in RAW_SOURCES:
        return [f"raw_{asset_path[1]}", f"raw_{asset_path[1]}_activity"]
    if len(asset_path) == 1 and asset_path[0] in MARTS:
        return [f"mart_{asset_path[0]}"]
    raise KeyError(f"no quality checkpoints for asset {'/'.join(asset_path)}")


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _suite_of_checkpoint(checkpoint: str) -> dict:
    """The committed suite JSON a checkpoint validates (one validation definition per checkpoint here)."""
    cp = _read_json(paths.EXPECTATIONS_DIR / "checkpoints" / f"{checkpoint}.json")
    (vd_ref,) = cp["validation_definitions"]
    vd = _read_json(paths.EXPECTATIONS_DIR / "validation_definitions" / f"{vd_ref['name']}.json")
    return _read_json(paths.EXPECTATIONS_DIR / "expectations" / f"{vd['suite']['name']}.json")


@dataclass(frozen=True)
class CheckSpec:
    name: str
    description: str
    blocking: bool  # a failure at ERROR stops the assets downstream in the run


LOAD_ADMITTED = CheckSpec(
    "load_admitted",
    "Последняя загрузка допущена в хранилище: её не задержала ошибка структуры (ops.held_loads)",
    # blocking only so that the warehouse build of the same run waits for the verdict; it fails at WARN
    blocking=True,
)


def _is_raw(asset_path: tuple[str, ...]) -> bool:
    return len(asset_path) == 2 and asset_path[0] == "raw"


def checks_for(asset_path: tuple[str, ...]) -> list[CheckSpec]:
    """The asset checks of an asset, read from the committed suites (no GE import: cheap at definition load).
    A mart's check with an ERROR-level expectation is blocking; a raw table's checks never block the graph (an ERROR
    holds the load instead), and `load_admitted` orders the build after them."""
    specs: dict[str, CheckSpec] = {}
    for checkpoint in checkpoints_for(asset_path):
        suite = _suite_of_checkpoint(checkpoint)
        descriptions = suite["meta"]["checks"]
        for expectation in suite["expectations"]:
            name = expectation["meta"]["check"]
            blocking = not _is_raw(asset_path) and (
                expectation["severity"] == "critical" or (name in specs and specs[name].blocking)
            )
            specs[name] = CheckSpec(name, descriptions[name], blocking)
    return [*specs.values(), LOAD_ADMITTED] if _is_raw(asset_path) else list(specs.values())


# --- the data GE sees ------------------------------------------------------------------------------------------


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


PARTS_GLOB = "*/*.parquet"  # a raw table's landed parts: load_date=…/<name>.parquet


def _parts_pattern(table: str) -> str:
    return _sql_str(str(paths.raw_dir(table) / PARTS_GLOB))


def _parquet_scan(table: str, *options: str) -> str:
    return f"read_parquet({', '.join([_parts_pattern(table), 'union_by_name = true', *options])})"


def _has_parts(table: str) -> bool:
    return any(paths.raw_dir(table).glob(PARTS_GLOB))


def reference_time() -> datetime:
    """«Now» for freshness and volume: env CUR_AS_OF (ISO-8601, UTC), else the latest record version landed by
    any source (a version from the future does not count) — so one source falling silent behind the others
    shows, also under the sandbox's simulated clock."""
    configured = settings.env("CUR_AS_OF")
    if configured:
        moment = datetime.fromisoformat(configured.replace("Z", "+00:00"))
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return _latest_version(_lake_fingerprint())


def _lake_fingerprint() -> tuple:
    """What the lake holds (its part files): the reference time is computed again only when that changes."""
    parts = (p for table in RAW_SOURCES for p in paths.raw_dir(table).glob(PARTS_GLOB))
    return str(paths.lake_dir()), tuple(sorted((str(p), p.stat().st_size) for p in parts))


@lru_cache(maxsize=4)
def _latest_version(fingerprint: tuple) -> datetime:
    """The latest record version ≤ now in the lake (every check of a run asks; one pass answers them all).

    The Parquet row-group statistics answer without reading the data: a row group whose largest version is ≤ now
    contributes that maximum; only the files holding a row group with a later version (or without statistics)
    are scanned for their largest version ≤ now."""
    now = datetime.now(UTC).replace(tzinfo=None)
    candidates = []
    with duckdb.connect(config=warehouse.duckdb_settings()) as con:
        for table, source in RAW_SOURCES.items():
            if not _has_parts(table):
                continue
            from_statistics, to_scan = con.execute(
                f"""WITH row_groups AS (
                        SELECT file_name,
                               CASE WHEN max_is_exact IS NOT false THEN try_cast(stats_max AS TIMESTAMP) END AS largest
                        FROM parquet_metadata({_parts_pattern(table)})
                        WHERE path_in_schema = {_sql_str(source.version_column)} AND row_group_num_rows > 0
                    )
                    SELECT max(largest) FILTER (WHERE largest <= $now),
                           list(DISTINCT file_name) FILTER (WHERE largest IS NULL OR largest > $now)
                    FROM row_groups""",
                {"now": now},
            ).fetchone()
            candidates.append(from_statistics)
            if to_scan:
                files = ", ".join(_sql_str(name) for name in to_scan)
                candidates.append(
                    con.execute(
                        f"""SELECT max({source.version_column}) FROM read_parquet([{files}], union_by_name = true)
                        WHERE {source.version_column} <= $now""",
                        {"now": now},
                    ).fetchone()[0]
                )
    latest = [moment for moment in candidates if moment is not None]
    return max(latest) if latest else now


def _activity_sql(table: str, as_of: datetime) -> str:
    """One row: records of the last 24 h before the reference time, the band learned from the 24-hour windows
    of the preceding VOLUME_HISTORY_DAYS, and how far the latest record lags behind."""
    source = RAW_SOURCES[table]
    ts = f"TIMESTAMP {_sql_str(as_of.isoformat(sep=' '))}"
    outage_hours = "NULL::INTEGER" if source.freshness_outage_hours is None else source.freshness_outage_hours
    return f"""
        WITH versions AS (
            SELECT {source.version_column} AS version_at
            FROM {_parquet_scan(table)}
            WHERE {source.version_column} <= {ts}
        ),
        windows AS (
            SELECT
                CAST(floor((epoch({ts}) - epoch(version_at)) / 86400) AS INTEGER) AS window_index,
                count(*) AS records
            FROM versions
            WHERE version_at > {ts} - INTERVAL {VOLUME_HISTORY_DAYS + 1} DAY
            GROUP BY ALL
        ),
        history AS (
            SELECT coalesce(w.records, 0) AS records
            FROM range(1, {VOLUME_HISTORY_DAYS + 1}) AS r(window_index)
            LEFT JOIN windows AS w ON w.window_index = r.window_index
        ),
        latest AS (
            SELECT max(version_at) AS latest_record_at FROM versions
        ),
        band AS (
            SELECT
                quantile_cont(records, 0.5) AS history_median,
                CASE WHEN sum(records) > 0 THEN {VOLUME_BAND_LOW} * quantile_cont(records, 0.1) END AS volume_low,
                CASE WHEN sum(records) > 0 THEN {VOLUME_BAND_HIGH} * quantile_cont(records, 0.9) END AS volume_high
            FROM history
        )
        SELECT
            {ts} AS reference_time,
            latest.latest_record_at,
            round((epoch({ts}) - epoch(latest.latest_record_at)) / 3600, 1) AS hours_behind,
            {source.freshness_warn_hours} AS freshness_warn_hours,
            {outage_hours} AS freshness_outage_hours,
            coalesce((SELECT records FROM windows WHERE window_index = 0), 0) AS records_last_24h,
            band.history_median,
            band.volume_low,
            band.volume_high,
            {VOLUME_OUTAGE_MIN_MEDIAN} AS outage_min_median
        FROM band CROSS JOIN latest
    """


def _build_lake_catalog(catalog: Path, tables: list[str], as_of: datetime) -> dict[str, tuple[str | None, list[str]]]:
    """Views for the raw tables in a fresh catalog database (one for the whole validation pass); returns each table's
    validated (latest landed) run id and its part files."""
    for table in tables:
        if not _has_parts(table):
            raise FileNotFoundError(f"no landed Parquet under {paths.raw_dir(table)}")
    loads = {}
    with duckdb.connect(str(catalog), config=warehouse.duckdb_settings()) as con:
        for table in tables:
            # Only the latest load is validated: a fault blocks the pipeline until a good load follows it, not
            # forever (the lake is immutable). Its own files only, so that a column missing from them shows.
            latest = con.execute(
                f"""SELECT _run_id, list(DISTINCT filename) FROM {_parquet_scan(table, "filename = true")}
                    GROUP BY _run_id ORDER BY max(_landed_at) DESC LIMIT 1"""
            ).fetchone()
            if latest:
                run_id, files = latest
                scan = f"read_parquet([{', '.join(_sql_str(f) for f in files)}], union_by_name = true)"
            else:  # only zero-row schema parts so far
                run_id, files = None, [str(p) for p in paths.raw_dir(table).glob(PARTS_GLOB)]
                scan = _parquet_scan(table)
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM {scan}")
            con.execute(f"CREATE VIEW {table}_activity AS {_activity_sql(table, as_of)}")
            loads[table] = (run_id, files)
        # the seed list that the ОКТМО × region consistency expectation joins to
        con.execute(
            f"CREATE TABLE ref_municipalities AS SELECT oktmo, region_code FROM {_seed_csv('municipalities.csv')}"
        )
    return loads


def _seed_csv(name: str) -> str:
    return f"read_csv({_sql_str(str(seeds_dir() / name))}, all_varchar = true, header = true)"


def _seed_parameters() -> dict[str, Any]:
    """Reference lists of the seeds that the raw suites compare codes against (suite parameters)."""

    def values(query: str) -> list:
        return [row[0] for row in con.execute(query).fetchall()]

    with duckdb.connect() as con:
        return {
            "category_codes": values(f"SELECT category_code FROM {_seed_csv('categories.csv')} ORDER BY 1"),
            "subcategory_codes": values(f"SELECT subcategory_code FROM {_seed_csv('subcategories.csv')} ORDER BY 1"),
            "classifier_codes": values(f"SELECT classifier_code FROM {_seed_csv('classifier_codes.csv')} ORDER BY 1"),
            "agency_ids": values(f"SELECT agency_id FROM {_seed_csv('agencies.csv')} ORDER BY 1"),
            "region_codes": values(f"SELECT region_code FROM {_seed_csv('regions.csv')} ORDER BY 1"),
            "oktmo_codes": [UNKNOWN_OKTMO, *values(f"SELECT oktmo FROM {_seed_csv('municipalities.csv')} ORDER BY 1")],
            "status_codes": sorted(STATUS_CODES),
        }


# --- running and reading the results ---------------------------------------------------------------------------


@dataclass
class CheckOutcome:
    name: str
    passed: bool = True
    severity: str = "warn"  # of the failure: "error" or "warn"
    unexpected_count: int = 0
    samples: list = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    data_docs: str | None = None
    validated_run_id: str | None = None


def _exception_messages(exception_info: dict) -> list[str]:
    """GE reports an exception either directly or per metric that failed to resolve (e.g. a missing column)."""
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    return [
        info["exception_message"] for info in infos if info.get("raised_exception") and info.get("exception_message")
    ]


def _record_failure(outcome: CheckOutcome, result) -> None:
    """Adds a failed expectation result to its check: count, sample, and the severity of this failure."""
    config = result.expectation_config
    target = config.kwargs.get("column") or config.kwargs.get("column_list")
    if config.kwargs.get("column_A"):
        target = [config.kwargs["column_A"], config.kwargs["column_B"]]
    label = f"{config.type}({target})" if target else (config.description or config.type)
    details = result.result or {}
    percent = details.get("unexpected_percent")
    if "unexpected_count" in details:  # column (pair) map expectations, SUMMARY
        count, sample = details["unexpected_count"], details.get("partial_unexpected_list", [])
    elif "unexpected_rows" in details.get("details", {}):  # UnexpectedRowsExpectation, COMPLETE
        count, sample = details["observed_value"], details["details"]["unexpected_rows"]
    elif isinstance(details.get("observed_value"), int):  # UnexpectedRowsExpectation, SUMMARY: a count only
        count, sample = details["observed_value"], []
    elif details:  # table-level expectations: what was observed
        count, sample = 0, [details.get("details", details.get("observed_value"))]
    else:
        count, sample = 0, []
        label += ": could not be evaluated: " + "; ".join(_exception_messages(result.exception_info or {}))[:500]
    outcome.passed = False
    within_tolerance = percent is not None and (
        percent <= config.meta.get("error_tolerance_percent", -1)
        or count <= config.meta.get("error_tolerance_rows", -1)
    )
    if config.severity == "critical" and not within_tolerance:
        outcome.severity = "error"
    outcome.unexpected_count += count
    outcome.failures.append(f"{label}: {count} unexpected" + (f" ({percent:.2f} %)" if percent else ""))
    outcome.samples.extend(sample[: SAMPLE_SIZE - len(outcome.samples)])


def _context(catalog: Path):
    import great_expectations as gx

    return gx.get_context(
        mode="file",
        context_root_dir=str(paths.EXPECTATIONS_DIR),
        runtime_environment={
            "CUR_DATA_DIR": str(paths.data_dir()),
            "CUR_GX_LAKE_URL": readonly_url(catalog),
            "CUR_GX_WAREHOUSE_URL": readonly_url(paths.warehouse_path()),
        },
    )


def validate(asset_path: tuple[str, ...]) -> list[CheckOutcome]:
    """The checks of one asset (see `validate_many`)."""
    return validate_many([asset_path])[asset_path]


def validate_many(asset_paths: list[tuple[str, ...]]) -> dict[tuple[str, ...], list[CheckOutcome]]:
    """One validation pass over several assets: one GE context, one lake catalog with the views of every raw table
    among them, every checkpoint of every asset, and Data Docs rebuilt once for all their results; the expectation
    results grouped by asset and check. Raw tables are validated for their latest landed run, which is held out of
    the warehouse when a check fails at ERROR (outcome `load_admitted`); marts as they are in the warehouse."""
    outcomes: dict[tuple[str, ...], dict[str, CheckOutcome]] = {asset_path: {} for asset_path in asset_paths}
    loads: dict[str, tuple[str | None, list[str]]] = {}
    with tempfile.TemporaryDirectory(prefix="cur-gx-") as tmp:
        catalog = Path(tmp) / "lake.duckdb"
        if raw_tables := [asset_path[1] for asset_path in asset_paths if _is_raw(asset_path)]:
            loads = _build_lake_catalog(catalog, raw_tables, reference_time())
        parameters = _seed_parameters()
        try:
            context = _context(catalog)
            results = {}  # validation result identifier → (asset, suite result)
            for asset_path in asset_paths:
                for checkpoint in checkpoints_for(asset_path):
                    run = context.checkpoints.get(checkpoint).run(expectation_parameters=parameters)
                    results |= {identifier: (asset_path, result) for identifier, result in run.run_results.items()}
            docs_started = time.time() - 1  # file times may be coarser than the clock
            context.build_data_docs(resource_identifiers=list(results))
            data_docs.localize(data_docs_index().parent, since=docs_started)
            for identifier, (asset_path, suite_result) in results.items():
                docs = context.get_docs_sites_urls(resource_identifier=identifier)
                run_id = loads.get(asset_path[-1], (None, []))[0] if _is_raw(asset_path) else None
                for result in suite_result.results:
                    name = result.expectation_config.meta["check"]
                    outcome = outcomes[asset_path].setdefault(name, CheckOutcome(name, validated_run_id=run_id))
                    outcome.data_docs = docs[0]["site_url"] if docs else None
                    if not result.success:
                        _record_failure(outcome, result)
        finally:
            ReadOnlyDuckDBDialect.close_connections()
    for asset_path in asset_paths:
        if _is_raw(asset_path):
            run_id, files = loads[asset_path[1]]
            outcomes[asset_path][LOAD_ADMITTED.name] = _admission(
                asset_path[1], run_id, files, list(outcomes[asset_path].values())
            )
    return {asset_path: list(checks.values()) for asset_path, checks in outcomes.items()}


def _admission(table: str, run_id: str | None, files: list[str], outcomes: list[CheckOutcome]) -> CheckOutcome:
    """Holds the validated load when a check failed at ERROR (only the load's own checks: the volume and freshness
    of the source say nothing about this load's rows), and reports whether the load is held."""
    activity = {e["meta"]["check"] for e in _suite_of_checkpoint(f"raw_{table}_activity")["expectations"]}
    errors = [o for o in outcomes if not o.passed and o.severity == "error" and o.name not in activity]
    if errors:
        reason = "; ".join(f"{o.name}: {failure}" for o in errors for failure in o.failures)
        held_loads.hold(table, run_id, files, reason[:2000])
    admitted = CheckOutcome(LOAD_ADMITTED.name, validated_run_id=run_id)
    if held_loads.is_held(table, files):
        admitted.passed, admitted.unexpected_count = False, len(files)
        admitted.samples = [held_loads.part_name(f) for f in files[:SAMPLE_SIZE]]
        admitted.failures = [
            f"load {run_id} held out of the warehouse ({len(files)} parts) after an ERROR of "
            f"{', '.join(o.name for o in errors) or 'an earlier validation'}; release it after "
            f"checking: python -m dagster_project.defs.quality release {run_id}"
        ]
    return admitted
