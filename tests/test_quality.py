"""Data quality (issue 7): the Great Expectations suites as Dagster asset checks.

A small lake and warehouse are written per the contract in tmp dirs: a clean one, and a corrupted one where
each raw table / mart carries its injected faults. Every suite runs once per data set (module fixtures), and
each test reads the check it is about: failing, at the right severity. Unknown codes are warnings; an ERROR on a raw
table holds that load out of the warehouse (ops.held_loads, check load_admitted) until it is released. Two Dagster
runs show that a raw ERROR does not stop the downstream asset (the load is held instead), and that the
downstream asset waits for the verdict.
"""

import json
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetCheckSeverity, AssetKey, asset, materialize

from dagster_project.defs.quality.__main__ import main as quality_cli
from dagster_project.defs.quality.checks import quality_checks
from dagster_project.defs.resources import platform_resources
from dagster_project.lib import gx, held_loads, paths
from dagster_project.lib.contracts import BOOL, INT, META_COLUMNS, RAW_TABLES, TS, arrow_schema

pytestmark = pytest.mark.integration

AS_OF = datetime(2025, 12, 31, 12, 0)
LANDED_AT = AS_OF + timedelta(hours=1)
HISTORY_PER_DAY = 30
LOAD_ROWS = 40
FAULTY_ROWS = 12  # more than the tolerance: > 1 % of the load and > 10 rows

SEEDS = {
    "regions.csv": "region_code,region_name\n64,Саратовская область\n37,Ивановская область\n",
    "municipalities.csv": (
        "oktmo,region_code,municipality_name\n63701000,64,город Саратов\n24701000,37,город Иваново\n"
    ),
    "categories.csv": (
        "category_code,sector_code,category_name\nhousing.01,housing,Отопление\nhousing.99,housing,Прочие\n"
    ),
    "subcategories.csv": "subcategory_code,category_code,subcategory_name\nhousing.01.01,housing.01,Нет отопления\n",
    "classifier_codes.csv": "classifier_code,classifier_name,category_code\n0005.0005.0056.1153,Отопление,housing.01\n",
    "agencies.csv": "agency_id,region_code,agency_kind\n64-ROIV-minstroy,64,РОИВ\n",
}
# Hours before the record version at which each moment of the life of an appeal happens (None: never).
MOMENT_OFFSETS = {
    "created_at": 10,
    "registered_at": 10,
    "published_at": 10,
    "started_at": 10,
    "detected_at": 9,
    "event_at": 8,
    "answered_at": 5,
    "reaction_at": 5,
    "rated_at": 1,
    "ended_at": 1,
    "extended_at": None,
    "redirected_at": None,
}
CLEAN_VALUES = {
    "region_code": "64",
    "oktmo": "63701000",
    "category_code": "housing.01",
    "subcategory_code": "housing.01.01",
    "classifier_code": "0005.0005.0056.1153",
    "status": "answered",
    "rating": 5,
    "votes": 3,
    "agency_id": "64-ROIV-minstroy",
    "opa_id": "64-ROIV-minstroy",
}


def clean_rows(table: str, versions: list[datetime], run_id: str, prefix: str, landed_at=LANDED_AT) -> list[dict]:
    """Rows that satisfy every expectation: one record per version time."""
    rows = []
    for i, version_at in enumerate(versions):
        row = {"_run_id": run_id, "_landed_at": landed_at, "_source_file": None, "_extra": None}
        for column in RAW_TABLES[table]:
            if column.kind == TS:
                hours = MOMENT_OFFSETS.get(column.name, 0)
                row[column.name] = None if hours is None else version_at - timedelta(hours=hours)
            elif column.name in CLEAN_VALUES:
                row[column.name] = CLEAN_VALUES[column.name]
            elif column.kind == INT:
                row[column.name] = 0 if column.name != "event_seq" else 1
            elif column.kind == BOOL:
                row[column.name] = False
            elif column is RAW_TABLES[table][0]:  # the record id
                row[column.name] = f"{prefix}-{i}"
            else:
                row[column.name] = "значение"
        rows.append(row)
    return rows


def land(data_dir: Path, table: str, run_id: str, rows: list[dict], drop: str | None = None) -> None:
    part = data_dir / "lake" / "raw" / table / f"load_date={LANDED_AT.date()}" / f"{run_id}.parquet"
    part.parent.mkdir(parents=True, exist_ok=True)
    data = pa.Table.from_pylist(rows, schema=arrow_schema(table))
    pq.write_table(data.drop_columns([drop]) if drop else data, part)


def history(table: str, per_day: int) -> list[dict]:
    """An earlier load: versions spread over the 28 days before the last 24 hours (the volume history)."""
    versions = [AS_OF - timedelta(days=day, hours=1, minutes=40 * n) for day in range(1, 29) for n in range(per_day)]
    return clean_rows(table, versions, "run-history", "h", landed_at=LANDED_AT - timedelta(days=1))


def load_versions(count: int, hours_ago: float = 1) -> list[datetime]:
    return [AS_OF - timedelta(hours=hours_ago, minutes=i) for i in range(count)]


def write_lake(data_dir: Path, corrupt: bool) -> None:
    """History (28 days × 30 records) and a latest load of 40 records for every raw table; when corrupted, the
    latest load of each table carries its injected faults."""
    loads = {table: clean_rows(table, load_versions(LOAD_ROWS), "run-load", "l") for table in RAW_TABLES}
    dropped = {}
    if corrupt:
        rows = loads["pos_messages"]
        for row in rows[:FAULTY_ROWS]:
            row["category_code"] = "housing.42"  # unknown category
        rows[-1]["region_code"] = "99"  # invalid region
        rows[-2]["oktmo"] = "12345678"  # invalid oktmo
        rows[-3]["opa_id"] = "no-such-agency"  # unknown agency
        for row in loads["incidents"][:FAULTY_ROWS]:
            row["detected_at"] = LANDED_AT + timedelta(days=3)  # later than the load: from the future
        loads["pos_message_events"] += loads["pos_message_events"][: FAULTY_ROWS // 2]  # the same id-version twice
        for row in loads["sed_appeals"][:FAULTY_ROWS]:
            row["answered_at"] = row["registered_at"] - timedelta(days=2)  # answered before registration
        for i, row in enumerate(loads["portal_appeals"][:FAULTY_ROWS]):
            row["rating"] = (0, 7)[i % 2]  # out of 1–5
        dropped["pos_polls"] = "question"  # a missing column
        # volume drop: 2 records in the last 24 h where 30 a day is usual
        loads["incident_events"] = clean_rows("incident_events", load_versions(2), "run-load", "l")
    for table, rows in loads.items():
        land(data_dir, table, "run-history", history(table, HISTORY_PER_DAY))
        land(data_dir, table, "run-load", rows, dropped.get(table))


def write_stale_lake(data_dir: Path) -> None:
    """A quiet source (3 records a day) that has delivered nothing for the last 25 hours: stale, not an outage."""
    land(data_dir, "incident_events", "run-history", history("incident_events", 3))


def write_warehouse(path: Path, corrupt: bool) -> None:
    """fct_appeals for 2 regions × 3 months and marts computed from it the way the marts define them."""
    with duckdb.connect(str(path)) as con:
        con.execute("""
            CREATE TABLE dim_region AS SELECT * FROM (VALUES ('64'), ('37')) AS t(region_code);
            CREATE TABLE fct_appeals AS
            SELECT r.region_code, DATE '2025-10-01' + INTERVAL (i % 92) DAY AS registered_date,
                   CASE WHEN i % 2 = 0 THEN 'РОИВ' ELSE 'ОМСУ' END AS agency_kind,
                   r.region_code || '-agency-' || (i % 5) AS agency_id, '6' || (i % 3) AS oktmo
            FROM range(400) AS g(i) CROSS JOIN dim_region AS r;
            CREATE TABLE agency_rating_monthly AS
            SELECT *,
                   dense_rank() OVER (PARTITION BY region_code, month_start, agency_kind ORDER BY score DESC)
                       AS rating_rank
            FROM (
                SELECT region_code, CAST(date_trunc('month', registered_date) AS DATE) AS month_start, agency_kind,
                       agency_id, count(*) AS received, 0.5 AS quantity_score, 0.75 AS speed_score,
                       NULL::DOUBLE AS quality_score, 1.0 AS completeness_score,
                       40 + 10 * CAST(right(agency_id, 1) AS INTEGER) AS score, true AS is_ranked
                FROM fct_appeals GROUP BY ALL
            );
            CREATE TABLE sector_kpis_monthly AS
            SELECT region_code, 'housing' AS sector_code,
                   CAST(date_trunc('month', registered_date) AS DATE) AS month_start,
                   count(*) AS received, 0.9 AS on_time_share, 0.8 AS satisfaction_share, 0.1 AS repeat_share,
                   0.2 AS other_share
            FROM fct_appeals GROUP BY ALL;
            CREATE TABLE problem_heat_map AS
            SELECT region_code, oktmo, CAST(date_trunc('month', registered_date) AS DATE) AS month_start,
                   count(*) AS appeals, 0.25 AS overdue_share
            FROM fct_appeals GROUP BY ALL;
            CREATE TABLE municipality_pareto AS
            SELECT *, row_number() OVER (PARTITION BY region_code, year ORDER BY appeals DESC, oktmo) AS pareto_rank,
                   appeals / sum(appeals) OVER (PARTITION BY region_code, year) AS share,
                   sum(appeals) OVER (PARTITION BY region_code, year ORDER BY appeals DESC, oktmo)
                       / sum(appeals) OVER (PARTITION BY region_code, year) AS cumulative_share
            FROM (
                SELECT region_code, year(registered_date) AS year, oktmo, count(*) AS appeals
                FROM fct_appeals GROUP BY ALL
            );
            CREATE TABLE governor_monthly_summary AS
            SELECT region_code, month_start, sum(received) AS received, 0.7 AS answered_share, 0.9 AS on_time_share,
                   0.8 AS satisfaction_share, 0.1 AS repeat_share
            FROM sector_kpis_monthly GROUP BY ALL;
        """)
        if corrupt:
            con.execute("""
                UPDATE agency_rating_monthly SET score = 120
                WHERE agency_id = '64-agency-0' AND agency_kind = 'РОИВ' AND month_start = DATE '2025-11-01';
                UPDATE municipality_pareto SET pareto_rank = 4 WHERE region_code = '37' AND pareto_rank = 3;
            """)


@pytest.fixture(scope="module")
def seeds_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seeds")
    for name, text in SEEDS.items():
        (path / name).write_text(text, encoding="utf-8")
    return path


def _environment(monkeypatch: pytest.MonkeyPatch, data_dir: Path, seeds: Path) -> None:
    monkeypatch.setenv("CUR_DATA_DIR", str(data_dir))
    monkeypatch.setenv("WAREHOUSE_PATH", str(data_dir / "warehouse.duckdb"))
    monkeypatch.setenv("CUR_SEEDS_DIR", str(seeds))
    monkeypatch.setenv("CUR_AS_OF", AS_OF.isoformat())


def _validate_all(data_dir: Path, seeds: Path, assets: list[tuple[str, ...]], one_pass: bool = False) -> dict:
    """Every asset validated on its own, or all of them in one pass (one GE context: the corrupted data's failures
    are then reported per asset as they were asset by asset)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _environment(monkeypatch, data_dir, seeds)
        if not one_pass:
            return {asset_path: {o.name: o for o in gx.validate(asset_path)} for asset_path in assets}
        contexts = []
        monkeypatch.setattr(gx, "_context", lambda catalog, context=gx._context: contexts.append(1) or context(catalog))
        results = gx.validate_many(assets)
        assert len(contexts) == 1
        return {asset_path: {o.name: o for o in outcomes} for asset_path, outcomes in results.items()}


RAW_ASSETS = [asset_path for asset_path in gx.VALIDATED_ASSETS if asset_path[0] == "raw"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory, seeds_dir) -> dict:
    data_dir = tmp_path_factory.mktemp("clean")
    write_lake(data_dir, corrupt=False)
    write_warehouse(data_dir / "warehouse.duckdb", corrupt=False)
    return _validate_all(data_dir, seeds_dir, gx.VALIDATED_ASSETS) | {"data_dir": data_dir}


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory, seeds_dir) -> dict:
    data_dir = tmp_path_factory.mktemp("corrupted")
    write_lake(data_dir, corrupt=True)
    write_warehouse(data_dir / "warehouse.duckdb", corrupt=True)
    assets = RAW_ASSETS + [("agency_rating_monthly",), ("municipality_pareto",)]
    return _validate_all(data_dir, seeds_dir, assets, one_pass=True) | {"data_dir": data_dir}


def failed(results: dict) -> dict[str, str]:
    return {name: outcome.severity for name, outcome in results.items() if not outcome.passed}


def test_clean_data_passes_every_check(clean):
    for asset_path in gx.VALIDATED_ASSETS:
        results = clean[asset_path]
        assert set(results) == {spec.name for spec in gx.checks_for(asset_path)}, asset_path
        assert failed(results) == {}, (asset_path, [o.failures for o in results.values() if not o.passed])


def test_data_docs_are_built_under_the_data_dir(clean):
    outcome = clean[("raw", "pos_messages")]["known_categories"]
    docs_index = clean["data_dir"] / "quality" / "data_docs" / "index.html"
    assert docs_index.exists()
    assert outcome.data_docs.startswith(f"file://{clean['data_dir'] / 'quality' / 'data_docs'}")
    assert Path(outcome.data_docs.removeprefix("file://")).exists()
    assert outcome.validated_run_id == "run-load"


class _Assets(HTMLParser):
    """The stylesheets, scripts and images a page loads (not its links to other pages)."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img") and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and attrs.get("href") and attrs.get("rel") in ("stylesheet", "shortcut icon", "icon"):
            self.urls.append(attrs["href"])

    def handle_data(self, data):  # CSS url(...) inside <style>
        self.urls += re.findall(r"url\(['\"]?([^'\")]+)", data)


def test_data_docs_work_offline(clean):
    """Each page loads its CSS, JS and images from the site itself (no CDN: an isolated network renders it styled), and
    the index lists every validation: the rows its bootstrap-table renders link to the validation pages there are."""
    site = clean["data_dir"] / "quality" / "data_docs"
    pages = sorted(site.rglob("*.html"))
    validation_pages = {str(page.relative_to(site)) for page in site.glob("validations/**/*.html")}
    assert len(validation_pages) >= len(gx.VALIDATED_ASSETS)
    for page in pages:
        parser = _Assets()
        parser.feed(page.read_text(encoding="utf-8"))
        scripts = [url for url in parser.urls if url.endswith(".js")]
        assert len(scripts) >= 5, page  # jQuery, Bootstrap, bootstrap-table… are there, not dropped
        for url in parser.urls:
            assert not re.match(r"(https?:)?//", url), (page, url)
            local = (page.parent / url.split("?")[0]).resolve()
            assert local.is_file() and local.stat().st_size > 0, (page, url)
    index = (site / "index.html").read_text(encoding="utf-8")
    listed = set(re.findall(r"'_table_row_link_path': '(validations/[^']+\.html)'", index))
    assert listed == validation_pages


def test_schema_expectations_follow_the_contract():
    for table in RAW_TABLES:
        suite = json.loads((paths.EXPECTATIONS_DIR / "expectations" / f"raw_{table}.json").read_text())
        (schema,) = [e for e in suite["expectations"] if e["meta"]["check"] == "schema"]
        assert schema["kwargs"]["column_set"] == [c.name for c in RAW_TABLES[table] + META_COLUMNS]


def test_reference_time_defaults_to_the_latest_landed_version(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUR_AS_OF", raising=False)
    land(tmp_path, "pos_messages", "r1", clean_rows("pos_messages", [AS_OF - timedelta(hours=5)], "r1", "a"))
    land(tmp_path, "incidents", "r1", clean_rows("incidents", [AS_OF, datetime(2099, 1, 1)], "r1", "b"))
    assert gx.reference_time() == AS_OF  # the record from 2099 does not move «now»


HELD = {"load_admitted": "warn"}  # a raw ERROR holds the load: the gate says so at WARN, it never stops the graph


def test_unknown_codes_are_warnings_and_the_load_is_admitted(corrupted):
    """Unknown codes land as «не определено» and are counted: 12 unknown categories of 40 rows (30 %), an unknown
    region, ОКТМО and agency are WARN, and the load reaches the warehouse."""
    results = corrupted[("raw", "pos_messages")]
    assert failed(results) == {"known_categories": "warn", "valid_region_oktmo": "warn", "known_agencies": "warn"}
    outcome = results["known_categories"]
    assert outcome.unexpected_count == FAULTY_ROWS and set(outcome.samples) == {"housing.42"}
    assert {"99", "12345678"} <= {str(value) for value in results["valid_region_oktmo"].samples}
    assert results["known_agencies"].samples == ["no-such-agency"]
    assert results["load_admitted"].passed


def test_future_timestamp(corrupted):
    results = corrupted[("raw", "incidents")]
    assert failed(results) == {"no_future_timestamps": "error"} | HELD
    assert results["no_future_timestamps"].unexpected_count == FAULTY_ROWS


def test_duplicate_id_version(corrupted):
    results = corrupted[("raw", "pos_message_events")]
    assert failed(results) == {"unique_version": "error"} | HELD
    assert results["unique_version"].unexpected_count == FAULTY_ROWS  # both copies of each duplicated version


def test_answer_before_registration(corrupted):
    results = corrupted[("raw", "sed_appeals")]
    assert failed(results) == {"answer_after_registration": "error"} | HELD
    assert results["answer_after_registration"].unexpected_count == FAULTY_ROWS


def test_rating_out_of_range(corrupted):
    results = corrupted[("raw", "portal_appeals")]
    assert failed(results) == {"rating_range": "error"} | HELD
    assert results["rating_range"].unexpected_count == FAULTY_ROWS and set(results["rating_range"].samples) == {0, 7}


def test_missing_column(corrupted):
    results = corrupted[("raw", "pos_polls")]
    assert results["schema"].passed is False and results["schema"].severity == "error"
    assert results["schema"].samples[0]["mismatched"]["missing"] == ["question"]
    assert failed(results) == {"schema": "error", "required_values": "warn"} | HELD  # the column is missing


def test_only_the_failing_loads_are_held(corrupted):
    """The latest load of each table with an ERROR is held, part by part; the history loads, the tables with only
    warnings (unknown codes, a volume drop) and every other load are not."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("WAREHOUSE_PATH", str(corrupted["data_dir"] / "warehouse.duckdb"))
        held = held_loads.held_parts()
        loads = held_loads.held_loads()
    date = f"load_date={LANDED_AT.date()}"
    assert held == sorted(
        (table, f"{date}/run-load.parquet")
        for table in ("incidents", "pos_message_events", "pos_polls", "portal_appeals", "sed_appeals")
    )
    assert {(table, run_id, parts) for table, run_id, parts, _, _ in loads} == {
        (table, "run-load", 1) for table, _ in held
    }
    reason = next(reason for table, _, _, reason, _ in loads if table == "portal_appeals")
    assert reason.startswith("rating_range: expect_column_values_to_be_between(rating): 12 unexpected")


def test_a_released_load_is_not_held_again(tmp_path, seeds_dir, monkeypatch, capsys):
    rows = clean_rows("portal_appeals", load_versions(LOAD_ROWS), "run-load", "p")
    for row in rows[:FAULTY_ROWS]:
        row["rating"] = 9
    land(tmp_path, "portal_appeals", "run-load", rows)
    _environment(monkeypatch, tmp_path, seeds_dir)
    first = {o.name: o for o in gx.validate(("raw", "portal_appeals"))}
    assert (first["rating_range"].severity, first["load_admitted"].passed) == ("error", False)
    assert "quality release run-load" in first["load_admitted"].failures[0]
    assert quality_cli(["held"]) == 0 and "portal_appeals run run-load: 1 parts held" in capsys.readouterr().out
    assert quality_cli(["release", "run-load"]) == 0
    again = {o.name: o for o in gx.validate(("raw", "portal_appeals"))}
    assert again["rating_range"].severity == "error"  # the data is what it is
    assert again["load_admitted"].passed and held_loads.held_parts() == []  # but the engineer let it in
    assert quality_cli(["release", "run-load"]) == 1  # nothing left to release


def test_a_load_the_warehouse_has_read_is_not_held(tmp_path, seeds_dir, monkeypatch):
    """Validated again after a build read it: holding it now would leave its rows in the hourly build but not in a
    full refresh. The ERROR stands; the load stays admitted."""
    rows = clean_rows("portal_appeals", load_versions(LOAD_ROWS), "run-load", "p")
    for row in rows[:FAULTY_ROWS]:
        row["rating"] = 9
    land(tmp_path, "portal_appeals", "run-load", rows)
    part = next((tmp_path / "lake" / "raw" / "portal_appeals").glob("*/*.parquet"))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:  # what the dbt ledger holds after a build
        con.execute(
            "create schema staging; create table staging.stg_lake__landed_parts as "
            "select 'portal_appeals' as table_name, ? as part_path",
            [str(part)],
        )
    _environment(monkeypatch, tmp_path, seeds_dir)
    results = {o.name: o for o in gx.validate(("raw", "portal_appeals"))}
    assert results["rating_range"].severity == "error"
    assert results["load_admitted"].passed and held_loads.held_parts() == []


def test_an_outage_of_the_source_holds_nothing(tmp_path, seeds_dir, monkeypatch):
    """No record in the last 24 hours where 30 a day is usual: the volume check fails at ERROR, but it is about the
    source, not about a load — there is nothing to hold."""
    land(tmp_path, "incident_events", "run-history", history("incident_events", HISTORY_PER_DAY))
    _environment(monkeypatch, tmp_path, seeds_dir)
    results = {o.name: o for o in gx.validate(("raw", "incident_events"))}
    assert results["volume"].severity == "error"
    assert results["load_admitted"].passed and held_loads.held_parts() == []


def test_volume_drop_is_a_warning(corrupted):
    results = corrupted[("raw", "incident_events")]
    assert failed(results) == {"volume": "warn"}
    (row,) = results["volume"].samples
    assert row["records_last_24h"] == 2 and row["volume_low"] == 0.5 * HISTORY_PER_DAY


def test_stale_data_is_a_warning(tmp_path, seeds_dir, monkeypatch):
    write_stale_lake(tmp_path)
    _environment(monkeypatch, tmp_path, seeds_dir)
    results = {o.name: o for o in gx.validate(("raw", "incident_events"))}
    assert results["freshness"].passed is False and results["freshness"].severity == "warn"
    (row,) = results["freshness"].samples
    assert row["hours_behind"] == 25.0
    assert results["volume"].severity == "warn"  # silent for a day, but a quiet source: not an outage


def test_mart_score_out_of_range(corrupted):
    results = corrupted[("agency_rating_monthly",)]
    assert failed(results) == {"score_range": "error"}
    assert results["score_range"].samples == [120]


def test_non_contiguous_ranks(corrupted):
    results = corrupted[("municipality_pareto",)]
    assert failed(results) == {"rank_contiguous": "error"}
    (row,) = results["rank_contiguous"].samples
    assert (row["region_code"], row["max_rank"], row["distinct_ranks"]) == ("37", 4, 3)


def test_isolated_bad_rows_within_tolerance_are_warnings(tmp_path, seeds_dir, monkeypatch):
    """Isolated bad rows are recorded, not blocking: 1 unknown category among 40 rows (2.5 %, but not more than
    10 rows), and 15 future dates among 2000 rows (more than 10 rows, but 0.75 %)."""
    rows = clean_rows("pos_messages", load_versions(LOAD_ROWS), "run-load", "m")
    rows[0]["category_code"] = "housing.42"
    land(tmp_path, "pos_messages", "run-load", rows)
    rows = clean_rows("incidents", load_versions(2000), "run-load", "i")
    for row in rows[:15]:
        row["detected_at"] = LANDED_AT + timedelta(days=1)
    land(tmp_path, "incidents", "run-load", rows)
    _environment(monkeypatch, tmp_path, seeds_dir)
    for asset_path, check in [
        (("raw", "pos_messages"), "known_categories"),
        (("raw", "incidents"), "no_future_timestamps"),
    ]:
        outcome = {o.name: o for o in gx.validate(asset_path)}[check]
        assert (outcome.passed, outcome.severity) == (False, "warn"), asset_path


# --- Dagster: a raw ERROR holds the load; the downstream asset waits for the verdict and goes on ------------------


def _pipeline(data_dir: Path, corrupt: bool):
    """Stand-ins for the extraction asset raw/pos_messages and a dbt model downstream of it, which records whether
    the load it would read was held when it ran."""

    @asset(key=AssetKey(["raw", "pos_messages"]))
    def pos_messages() -> None:
        rows = clean_rows("pos_messages", load_versions(LOAD_ROWS), "dagster-run", "m")
        if corrupt:
            for row in rows[:FAULTY_ROWS]:
                row["rating"] = 9
        land(data_dir, "pos_messages", "dagster-run", rows)

    # given priority over the checks: only the blocking load_admitted makes it wait for the verdict
    @asset(
        key=AssetKey(["stg_pos__messages"]),
        deps=[AssetKey(["raw", "pos_messages"])],
        op_tags={"dagster/priority": "10"},
    )
    def staging() -> None:
        (data_dir / "staging_built").write_text(json.dumps(held_loads.held_parts()))

    return [pos_messages, staging, quality_checks(AssetKey(["raw", "pos_messages"]))]


def test_only_load_admitted_is_blocking_on_raw_tables():
    for asset_path in RAW_ASSETS:
        assert [spec.name for spec in gx.checks_for(asset_path) if spec.blocking] == ["load_admitted"], asset_path
    assert any(spec.blocking for spec in gx.checks_for(("agency_rating_monthly",)))


@pytest.mark.parametrize("corrupt", [False, True], ids=["clean", "rating-out-of-range"])
def test_error_check_holds_the_load_and_downstream_goes_on(tmp_path, seeds_dir, monkeypatch, corrupt):
    _environment(monkeypatch, tmp_path, seeds_dir)
    result = materialize(_pipeline(tmp_path, corrupt), resources=platform_resources(), raise_on_error=False)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert {AssetKey(["raw", "pos_messages"]), AssetKey(["stg_pos__messages"])} <= materialized
    assert result.success
    held_when_downstream_ran = json.loads((tmp_path / "staging_built").read_text())
    if corrupt:
        assert evaluations["rating_range"].passed is False
        assert evaluations["rating_range"].severity == AssetCheckSeverity.ERROR
        metadata = evaluations["rating_range"].metadata
        assert metadata["unexpected_count"].value == FAULTY_ROWS and set(metadata["unexpected_sample"].value) == {9}
        assert metadata["data_docs"].value.startswith("file://")
        assert evaluations["load_admitted"].passed is False
        assert evaluations["load_admitted"].severity == AssetCheckSeverity.WARN
        # the hold was recorded before the downstream asset ran (it waited for load_admitted)
        assert held_when_downstream_ran == [["pos_messages", f"load_date={LANDED_AT.date()}/dagster-run.parquet"]]
    else:
        assert all(e.passed for e in evaluations.values())
        assert held_when_downstream_ran == []
