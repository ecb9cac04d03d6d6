"""A real Apache Superset against a hand-made serving layer: deploy, chart numbers, the access matrix, screenshots.

Self-contained: creates `.venv-superset` when it is missing (several minutes, once; skipped with the reason if
it cannot be created), starts Superset on a free loopback port with a throwaway SQLite metadata DB, deploys the
bundle with the project's client and stops Superset at the end. Expected numbers are computed here with DuckDB
from the same serving catalog Superset reads.
"""

import importlib.util
import json
import math
import re
import socket
import subprocess
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from bi_serving_fixture import publish_serving_fixture
from dagster import DagsterInstance, materialize

from dagster_project.defs.bi.superset import superset_dashboards
from dagster_project.defs.resources import platform_resources
from dagster_project.lib import paths, semantic
from dagster_project.lib.serving import agencies_in_snapshot
from dagster_project.lib.superset_client import (
    ANALYST_ROLE,
    PUBLIC,
    READER_ROLE,
    WIDE_DATA_PERMISSIONS,
    SupersetClient,
    SupersetError,
    agency_role,
    dataset_access,
    deploy,
    load_bundle,
    region_role,
    serving_duckdb_uri,
)

pytestmark = pytest.mark.superset

spec = importlib.util.spec_from_file_location("superset_manage", paths.REPO_ROOT / "superset" / "manage.py")
manage = importlib.util.module_from_spec(spec)
spec.loader.exec_module(manage)

# What every chart must show, computed independently from the serving file (same column order as the chart).
ON_TIME = "sum(answered_on_time) * 1.0 / nullif(sum(answered) + sum(overdue_open), 0)"
EXPECTED_SQL = {
    "rating_score_kpi": """select month_start, avg(score) from agency_rating_monthly where is_ranked and not
        is_partial_month group by all""",
    "rating_score_change": """select month_start, round(cast(m - lag(m) over (order by month_start) as
        decimal(18, 6)), 1) from (select month_start,
        avg(score) as m from agency_rating_monthly where is_ranked and not is_partial_month group by all)""",
    "rating_table": """select report_month, region_name, agency_kind, agency_name, coalesce(cast(rating_rank as
        varchar), '—'), coalesce(case when rank_change > 0 then '+' || rank_change else cast(rank_change as varchar)
        end, '—'), score, quantity_score, speed_score, coalesce(replace(cast(cast(100 * quality_score as decimal(5, 1))
        as varchar), '.', ',') || '\u00a0%', 'мало оценок'), completeness_score, received, coalesce(not_ranked_reason,
        '—') from agency_rating_monthly where not is_partial_month""",
    "rating_trend": """select month_start, agency_kind, avg(score) from agency_rating_monthly where is_ranked and
        not is_partial_month group by all""",
    "rating_lowest": """select agency_name, avg(score) from agency_rating_monthly where is_ranked and not
        is_partial_month group by all order by 2 limit 10""",
    "sector_received_total": """select month_start, sum(received) from sector_kpis_monthly where not
        is_partial_month group by all""",
    "sector_on_time_kpi": f"""select month_start, {ON_TIME} from sector_kpis_monthly where not is_partial_month
        group by all""",
    "sector_on_time_change": f"""select month_start, round(cast(100 * (m - lag(m) over (order by month_start))
        as decimal(18, 6)), 1) from (select
        month_start, {ON_TIME} as m from sector_kpis_monthly where not is_partial_month group by all)""",
    "sector_satisfaction_kpi": """select month_start, sum(rated_4_5) * 1.0 / nullif(sum(rated), 0) from
        sector_kpis_monthly where not is_partial_month group by all""",
    "sector_satisfaction_change": """select month_start, round(cast(100 * (m - lag(m) over (order by
        month_start)) as decimal(18, 6)), 1) from (select
        month_start, sum(rated_4_5) * 1.0 / nullif(sum(rated), 0) as m from sector_kpis_monthly where not
        is_partial_month group by all)""",
    "sector_kpi_table": f"""select sector_name, sum(received), sum(answered), {ON_TIME}, sum(rated_4_5) * 1.0 /
        nullif(sum(rated), 0), sum(repeats) * 1.0 / sum(received), sum(overdue_open), sum(other_category) * 1.0 /
        sum(received) from sector_kpis_monthly where not is_partial_month group by all""",
    "sector_on_time_trend": f"""select month_start, sector_name, {ON_TIME} from sector_kpis_monthly where not
        is_partial_month group by all""",
    "category_priorities": """select quarter_start, region_name, sector_name, volume_rank, category_name, appeals,
        share_of_sector from category_priorities where is_priority""",
    "other_decomposition": """select quarter_start, region_name, sector_name, breakdown_kind_ru, item_rank,
        item_name, appeals from other_category_decomposition""",
    "heat_map": """select municipality_name, sector_name, avg(intensity_index) from problem_heat_map where
        has_min_volume group by all""",
    "heat_hotspots": """select report_month, region_name, municipality_name, sector_name, appeals, appeals_per_10k,
        intensity_index, overdue_share from problem_heat_map where is_hot and not is_partial_month""",
    # the dashboard's pivot puts the metrics in alphabetical order
    "pareto": """select pareto_label, max(cumulative_share), sum(appeals) from municipality_pareto where
        is_latest_year group by all""",
    "root_causes": """select window_start, region_name, municipality_name, coalesce(address, '— (по МО в целом)'),
        category_name, appeals,
        distinct_citizens, hotspot_windows, case when is_root_cause_candidate then 'да' else 'нет' end, case when
        is_fast_track_candidate then 'да' else 'нет' end from repeat_hotspots""",
    "indicator_status": "select status_ru, count(*) from indicator_tracking group by all",
    "indicator_table": """select region_name, year, indicator_kind_ru, function, indicator_code, indicator_name,
        owner_role, target_value, actual_value, target_date_ru, status_ru from indicator_tracking""",
    "roadmap_table": """select region_name, event_code, event_name, deadline_ru, responsible_roles, status_ru,
        coalesce(cast(days_overdue as varchar), '—'), coalesce(overdue_explanation, '—') from roadmap_status""",
    "spikes_open": """select detected_at, region_name, municipality_name, problem_name, onset_at, peak_appeals,
        peak_expected_appeals, peak_ratio, appeals, appeals_unanswered, agencies, sample_texts from problem_spikes
        where is_open""",
    "spikes_trend": """select date_trunc('week', detected_at), sector_name, count(*) from problem_spikes where
        category_code is not null group by all""",
    "spikes_table": """select detected_at, region_name, municipality_name, problem_name, case series_kind when
        'category' then 'категория' when 'sector' then 'отраслевой блок' end, spike_status,
        onset_at, peak_at, peak_appeals, peak_expected_appeals, peak_ratio, appeals, citizens, agencies from
        problem_spikes""",
    "workload_trend": """select iso_week_start, sector_name, sum(appeals) * 1.0 / sum(staff_count) from
        sector_workload_weekly where not is_partial_week group by all""",
    "workload_reinforcement": """select iso_week_start, region_name, sector_name, appeals, staff_count,
        appeals_per_staff, consecutive_weeks_above from sector_workload_weekly where needs_reinforcement""",
    "summary_received": """select month_start, sum(received) from governor_monthly_summary where not
        is_partial_month group by all""",
    "summary_trend": """select month_start, region_name, sum(received) from governor_monthly_summary where not
        is_partial_month group by all""",
    "summary_table": """select report_month, region_name, received, received_change, answered_share, on_time_share,
        satisfaction_share, overdue_open, coalesce(top_problem_1, '—'), coalesce(top_problem_2, '—'),
        coalesce(top_problem_3, '—'), coalesce(lowest_agency_1, '—'), coalesce(lowest_agency_2, '—'),
        coalesce(lowest_agency_3, '—') from governor_monthly_summary where not is_partial_month""",
    "region_map": """select iso_3166_2, avg(on_time_share) from governor_monthly_summary where not is_partial_month
        group by all""",
    "municipality_points": """select municipality_name, region_name, max(longitude), max(latitude), sum(appeals)
        from problem_heat_map where not is_partial_month group by all""",
}
# The table charts and the columns that may be empty, each explained in its chart's description: the change of the
# first month of the data (no month before it) and a sector's satisfaction in a period without ratings.
TABLES = {
    name.removeprefix("charts/").removesuffix(".yaml"): set()
    for name, config in load_bundle().items()
    if name.startswith("charts/") and config["viz_type"] == "table"
} | {"summary_table": {"received_change"}, "sector_kpi_table": {"share_satisfied"}}
RESTRICTED_AGENCY = "65-ROIV-fish"
RESTRICTED_REGION = "37"
# The matrix's users: (login, password, roles). What each may see is derived below from the datasets' declarations.
USERS = {
    "agency": ("fish_analyst", "fish-pass-1", [READER_ROLE, agency_role(RESTRICTED_AGENCY)]),
    "region": ("ivanovo_analyst", "ivanovo-pass-1", [READER_ROLE, region_role(RESTRICTED_REGION)]),
    "reader": ("plain_reader", "reader-pass-1", [READER_ROLE]),
    "analyst": ("cur_analyst_1", "analyst-pass-1", [ANALYST_ROLE]),
}
SQLLAB_REGION_USER = ("ivanovo_sql", "ivanovo-sql-1", [ANALYST_ROLE, region_role(RESTRICTED_REGION)])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _normalized(value):
    """Superset's JSON sends dates as epoch milliseconds and numbers as floats: bring DuckDB's values to that."""
    if isinstance(value, datetime):
        return int(value.replace(tzinfo=timezone.utc).timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp() * 1000)
    if isinstance(value, Decimal):  # DuckDB's DECIMAL (a rounded change metric)
        value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if isinstance(value, float) and math.isnan(value) else round(float(value), 6)
    return value


def _multiset(rows) -> list[tuple]:
    return sorted((tuple(_normalized(value) for value in row) for row in rows), key=repr)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    try:
        venv_seconds = manage.ensure_venv()
        manage.ensure_screenshot_tooling()
    except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
        pytest.skip(f"Superset's venv or the screenshot tooling could not be installed: {error}")
    print(f"\n.venv-superset: {'created in %.0f s' % venv_seconds if venv_seconds else 'already current'}")
    root = tmp_path_factory.mktemp("superset")
    serving = publish_serving_fixture(root)
    with manage.running_superset(root / "home", _free_port()) as url:
        with SupersetClient(url, *manage.admin_login()) as admin:
            result = deploy(admin, serving_duckdb_uri(serving), agencies_in_snapshot(serving), serving_catalog=serving)
            # Deploy again, this time through the Dagster asset: it must change nothing (same ids, same rules).
            with pytest.MonkeyPatch.context() as env:
                env.setenv("SUPERSET_URL", url)
                env.setenv("SERVING_PATH", str(serving))
                run = materialize(
                    [superset_dashboards], resources=platform_resources(), instance=DagsterInstance.ephemeral()
                )
            for login, password, roles in [*USERS.values(), SQLLAB_REGION_USER]:
                admin.ensure_user(login, password, roles)
            yield {"url": url, "admin": admin, "result": result, "run": run, "serving": serving, "root": root}


def _chart_ids(result) -> dict[str, int]:
    """Chart file name (e.g. `rating_table`) → Superset chart id."""
    return {
        name.removeprefix("charts/").removesuffix(".yaml"): result.charts[config["uuid"]]
        for name, config in load_bundle().items()
        if name.startswith("charts/")
    }


def test_deploy_and_redeploy_through_the_dagster_asset(deployed):
    first, admin = deployed["result"], deployed["admin"]
    assert (
        len(first.dashboards) == 7
        and len(first.charts) == len(EXPECTED_SQL)
        and len(first.datasets) == len(dataset_access(load_bundle()))
    )
    assert deployed["run"].success
    [event] = [
        event
        for event in deployed["run"].get_asset_materialization_events()
        if event.asset_key == superset_dashboards.key
    ]
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    assert metadata["charts_checked"] == len(first.charts) and metadata["rls_rules"] == first.rls_rules
    assert metadata["dashboards"] == sorted(first.dashboards)
    # The second deploy overwrote in place: the same objects under the same ids, no duplicate rules.
    assert {uuid: row["id"] for uuid, row in admin.by_uuid("chart", []).items()} == first.charts
    assert {row["slug"]: row["id"] for row in admin.by_uuid("dashboard", ["slug"]).values()} == first.dashboards
    assert len(admin._list("/api/v1/rowlevelsecurity/")) == first.rls_rules == 2 + 5  # two regions, five agencies


def test_every_chart_returns_the_expected_numbers(deployed):
    charts = _chart_ids(deployed["result"])
    assert set(charts) == set(EXPECTED_SQL)
    with duckdb.connect(str(deployed["serving"]), read_only=True) as con:
        for name, chart_id in charts.items():
            expected = _multiset(con.sql(EXPECTED_SQL[name]).fetchall())
            rows = deployed["admin"].chart_data(chart_id)
            actual = _multiset(tuple(row.values()) for row in rows)
            assert actual == expected, name
            if name in TABLES:  # a table draws a null as «N/A»
                nulls = {key for row in rows for key, value in row.items() if value is None}
                assert nulls <= TABLES[name], (name, nulls)


def test_pareto_bars_in_descending_volume_with_a_rising_cumulative_line(deployed):
    """The Pareto chart's rows as the dashboard draws them (its pivot orders the bars by their label): within a
    region the appeals fall and the cumulative share rises to 1, although the municipalities' names would sort
    otherwise."""
    rows = deployed["admin"].chart_data(_chart_ids(deployed["result"])["pareto"])
    with duckdb.connect(str(deployed["serving"]), read_only=True) as con:
        latest = "from municipality_pareto where is_latest_year"
        region_of = dict(con.sql(f"select pareto_label, region_code {latest}").fetchall())
        by_rank = con.sql(
            f"select list(municipality_name order by pareto_rank) {latest} group by region_code"
        ).fetchall()
    assert any(names != sorted(names) for (names,) in by_rank)  # alphabetical order would be wrong
    assert len(rows) == len(region_of)
    for region in set(region_of.values()):
        bars = [row for row in rows if region_of[row["pareto_label"]] == region]
        appeals = [row["sum_appeals"] for row in bars]
        cumulative = [row["max_cumulative_share"] for row in bars]
        assert appeals == sorted(appeals, reverse=True) and cumulative == sorted(cumulative), region
        assert cumulative[-1] == 1


def _rows_by_dimension(client: SupersetClient, dataset_id: int, dimensions: list[str]) -> dict | None:
    """Rows of a dataset as the user sees them, counted per (region_code, agency_id) where the dataset has them;
    None when Superset refuses the user the dataset."""
    body = {
        "datasource": {"id": dataset_id, "type": "table"},
        "force": True,
        "result_format": "json",
        "result_type": "full",
        "queries": [
            {
                "columns": dimensions,
                "metrics": [{"expressionType": "SQL", "sqlExpression": "COUNT(*)", "label": "rows"}],
                "filters": [],
                "extras": {"where": "", "having": ""},
                "orderby": [],
                "row_limit": 100_000,
                "time_range": "No filter",
            }
        ],
    }
    try:
        result = client._call("POST", "/api/v1/chart/data", json=body)
    except SupersetError as error:
        if " 403 " in str(error):
            return None
        raise
    return {tuple(row[d] for d in dimensions): row["rows"] for row in result["result"][0]["data"]}


def _expected_rows(con, table: str, dimensions: list[str], declared, role: str) -> dict | None:
    """What a role should see, from the declaration alone: the rows of its region or agency, all rows for the ЦУР-wide
    roles and public datasets, nothing (refused) where the role has no grant."""
    everything = declared == "public" or role in ("admin", "analyst")
    if everything:
        where = "true"
    elif role == "region" and "region" in declared:
        where = f"region_code = '{RESTRICTED_REGION}'"
    elif role == "agency" and "agency" in declared:
        where = f"agency_id = '{RESTRICTED_AGENCY}'"
    else:
        return None
    group = ", ".join(dimensions) if dimensions else "()"
    rows = con.execute(
        f"select {', '.join([*dimensions, 'count(*)'])} from main.{table} where {where} group by {group}"
    )
    return {tuple(row[:-1]): row[-1] for row in rows.fetchall()}


def test_rls_matrix_every_dataset_for_every_role(deployed):
    """Every dataset × agency, region, reader, analyst and admin: the rows Superset returns equal DuckDB's over the
    same catalog under the dataset's declared access; a refusal is expected exactly where the role has no grant."""
    access = dataset_access(load_bundle())
    datasets = deployed["result"].datasets
    clients = {"admin": deployed["admin"]} | {
        role: SupersetClient(deployed["url"], login, password) for role, (login, password, _) in USERS.items()
    }
    matrix, mismatches = [], []
    try:
        with duckdb.connect(str(deployed["serving"]), read_only=True) as con:
            for table, dataset_id in sorted(datasets.items()):
                columns = {c for (c,) in con.execute(f"select column_name from (describe main.{table})").fetchall()}
                dimensions = [c for c in ("region_code", "agency_id") if c in columns]
                for role, client in clients.items():
                    seen = _rows_by_dimension(client, dataset_id, dimensions)
                    expected = _expected_rows(con, table, dimensions, access[table], role)
                    matrix.append((table, role, _total(seen), _total(expected)))
                    if seen != expected:
                        mismatches.append((table, role, seen, expected))
    finally:
        for role, client in clients.items():
            if role != "admin":
                client.close()
    print("\nRLS matrix (dataset × role → rows seen / expected, «—» = access refused):")
    for table, role, seen, expected in matrix:
        print(f"  {table:<30} {role:<8} {seen:>6} / {expected:>6}")
    assert not mismatches, mismatches
    # the matrix is not trivial: each restricted role sees some rows and is refused or filtered somewhere
    by_role = {role: [(seen, expected) for _, r, seen, expected in matrix if r == role] for role in clients}
    assert any(seen not in ("—", 0) for seen, _ in by_role["agency"]) and any(
        seen == "—" for seen, _ in by_role["agency"]
    )
    # a plain reader sees the public reference datasets whole and nothing else
    public = {table for table, declared in access.items() if declared == PUBLIC}
    assert public and all((seen == "—") == (table not in public) for table, r, seen, _ in matrix if r == "reader")
    admin_rows = {table: seen for table, r, seen, _ in matrix if r == "admin"}
    region_rows = [(seen, admin_rows[table]) for table, r, seen, _ in matrix if r == "region"]
    assert all(seen != "—" and seen <= everything for seen, everything in region_rows)
    assert sum(0 < seen < everything for seen, everything in region_rows) >= 10


def _total(rows: dict | None):
    return "—" if rows is None else sum(rows.values())


def test_no_restricted_role_has_wide_data_access_or_sql_lab(deployed):
    admin = deployed["admin"]
    roles = admin.role_ids()
    sql_lab = admin.role_permissions(roles["sql_lab"])
    index = admin.permission_ids()
    names = {permission_id: key for key, permission_id in index.items()}
    restricted = [READER_ROLE, region_role(RESTRICTED_REGION), agency_role(RESTRICTED_AGENCY)]
    for role in restricted:
        granted = admin.role_permissions(roles[role])
        assert not granted & sql_lab, role
        assert not {names[p][0] for p in granted} & (WIDE_DATA_PERMISSIONS - {"datasource_access"}), role
    assert admin.role_permissions(roles[READER_ROLE])  # the UI's permissions
    assert sql_lab <= admin.role_permissions(roles[ANALYST_ROLE])


def test_sql_lab_only_for_analysts_and_with_row_level_security(deployed):
    serving, datasets = deployed["serving"], deployed["result"].datasets
    database_id = deployed["admin"].dataset(datasets["appeals_deidentified"])["database"]["id"]

    def count(login: str, password: str):
        body = {
            "database_id": database_id,
            "sql": "select count(*) as n from main.appeals_deidentified",
            "schema": "main",
            "runAsync": False,
            "client_id": login[:10],
            "queryLimit": 10,
            "tab": "rls",
            "sql_editor_id": "1",
        }
        with SupersetClient(deployed["url"], login, password) as client:
            try:
                return client._call("POST", "/api/v1/sqllab/execute/", json=body)["data"][0]["n"]
            except SupersetError as error:
                assert " 403 " in str(error), error
                return None

    with duckdb.connect(str(serving), read_only=True) as con:
        everything, region = con.execute(
            f"select count(*), count(*) filter (where region_code = '{RESTRICTED_REGION}') "
            "from main.appeals_deidentified"
        ).fetchone()
    assert count(*USERS["region"][:2]) is None and count(*USERS["agency"][:2]) is None
    assert count(*USERS["reader"][:2]) is None
    assert count(*USERS["analyst"][:2]) == everything
    assert count(*SQLLAB_REGION_USER[:2]) == region < everything  # RLS_IN_SQLLAB


def test_every_dashboard_renders_in_a_headless_browser(deployed):
    bundle = load_bundle()
    dashboards = {config["slug"]: config for name, config in bundle.items() if name.startswith("dashboards/")}
    # Kept where README says (data/screenshots/) for a person to look at after the run.
    reports = manage.take_screenshots(deployed["url"], manage.admin_login(), paths.data_dir() / "screenshots")
    assert sorted(report["slug"] for report in reports) == sorted(dashboards)
    for report in reports:
        position = dashboards[report["slug"]]["position"]
        expected_charts = sum(1 for node in position.values() if isinstance(node, dict) and node.get("type") == "CHART")
        assert report["charts"] == report["rendered"] == expected_charts, report
        assert report["errors"] == 0 and report["empty"] == 0, report
        # Not blank: the page is drawn in many colours, and inside every chart's box there is ink beyond its title.
        assert report["inkShare"] > 0.05 and report["colors"] > 50, report
        assert len(report["chartInk"]) == expected_charts and min(report["chartInk"]) > 0.015, report
        assert Path(report["png"]).stat().st_size > 20_000
    by_slug = {report["slug"]: report for report in reports}
    check_russian_presentation(by_slug, last_complete="2025-10", in_progress="2025-11")


RUSSIAN_NUMBER = re.compile(r"^−?\d{1,3}(\u00a0\d{3})*(,\d+)?(\u00a0%)?$")
CHANGE = re.compile(r"^[+−]\d+,\d$")


def check_russian_presentation(by_slug: dict, last_complete: str, in_progress: str) -> None:
    """What a reader sees: Russian number formats on the KPI tiles and in the tables, no true/false or N/A, the last
    complete month chosen by «Месяц отчёта» and the month in progress nowhere."""
    tiles = [number for report in by_slug.values() for number in report["bigNumbers"]]
    # the rating: score and its change; the summary: appeals; the sectors: appeals, two shares and their changes
    assert len(tiles) == 8, tiles
    changes = [number for number in tiles if number[:1] in "+−"]
    assert len(changes) == 3 and all(CHANGE.match(number) for number in changes), tiles  # «+3,2», «−0,4»
    assert all(RUSSIAN_NUMBER.match(number) for number in set(tiles) - set(changes)), tiles
    assert any(number.endswith("\u00a0%") and "," in number for number in tiles), tiles  # e.g. "62,3 %"
    # shares change in percentage points, the score in points; only counts show a relative change
    assert by_slug["cur-sectors"]["text"].count("п.п. к предыдущему месяцу") == 2
    assert "балла к предыдущему месяцу" in by_slug["cur-rating"]["text"]
    assert "%\u00a0к предыдущему месяцу" not in by_slug["cur-rating"]["text"]
    for slug, report in by_slug.items():
        if slug == "cur-operations":  # «Оперативная обстановка» (problem spikes) has its own checks
            continue
        words = set(re.findall(r"\w+", report["text"]))
        assert not {"true", "false", "N/A", "NaN", "null"} & words, slug
        assert not re.search(r"\d,\d{3}(?!\d)", report["text"]), slug  # no US thousands separator
        assert in_progress not in report["text"], slug  # the month in progress is never the report month
    for slug in ("cur-rating", "cur-sectors", "cur-heat-map", "cur-governor"):
        assert last_complete in by_slug[slug]["text"], slug  # «Месяц отчёта» starts on the last complete month
    # … and is applied when the dashboard opens: the monthly tables show that month only
    assert "2025-09" not in by_slug["cur-governor"]["text"] and "2025-09" not in by_slug["cur-rating"]["text"]
    # names, not codes: the regions by name in the tables
    assert "Сахалинская область" in by_slug["cur-governor"]["text"]


@pytest.fixture(scope="module")
def pipeline_serving(sandbox_run):
    """The serving catalog of a real pipeline run (conftest's sandbox_run: `python -m sandbox run`, small scale, also
    test_pipeline's)."""
    catalog = sandbox_run[0] / "serving" / "marts.duckdb"
    assert "rows per mart:" in sandbox_run[2].stdout and catalog.exists()
    return catalog


# Last in the module: it points the deployed Superset at the pipeline's marts.
def test_deploy_on_marts_built_by_the_pipeline(deployed, pipeline_serving):
    """The bundle on what the real pipeline builds: every chart answers, every dataset column Superset has is labelled
    and described in Russian, regions come by name, the month filter's months are complete ones, and the KPI tiles
    and monthly tables leave the month in progress out."""
    admin = deployed["admin"]
    # roles for a few agencies only: the access matrix is checked above; ~200 roles would only cost minutes here
    result = deploy(
        admin,
        serving_duckdb_uri(pipeline_serving),
        agencies_in_snapshot(pipeline_serving)[:3],
        serving_catalog=pipeline_serving,
    )
    assert len(result.charts) == len(EXPECTED_SQL)  # deploy() requested every chart's data: none failed
    for table, dataset_id in result.datasets.items():
        dataset = admin.dataset(dataset_id)
        unlabelled = [c["column_name"] for c in dataset["columns"] if not (c["verbose_name"] and c["description"])]
        assert not unlabelled, (table, unlabelled)
        # the saved metrics generated from dbt, labelled and described (Superset adds its own bare `count` beside them)
        described = {m["metric_name"] for m in dataset["metrics"] if m["verbose_name"] and m["description"]}
        assert {m["metric_name"] for m in semantic.dataset_metrics(table)} <= described, table
    charts = _chart_ids(result)
    with duckdb.connect(str(pipeline_serving), read_only=True) as con:
        [(partial,)] = con.sql(
            "select max(month_start) from governor_monthly_summary where is_partial_month"
        ).fetchall()
        [(last_complete,)] = con.sql(
            "select max(report_month) from governor_monthly_summary where not is_partial_month"
        ).fetchall()
        region_names = {name for (name,) in con.sql("select region_name from dim_region").fetchall()}
    assert partial is not None and last_complete < f"{partial:%Y-%m}"
    summary = admin.chart_data(charts["summary_table"])
    assert {row["region_name"] for row in summary} == region_names  # names, not codes
    assert max(row["report_month"] for row in summary) == last_complete  # the month in progress is left out
    dashboards = {row["slug"]: row["id"] for row in admin.by_uuid("dashboard", ["slug"]).values()}
    governor = json.loads(
        admin._call("GET", f"/api/v1/dashboard/{dashboards['cur-governor']}")["result"]["json_metadata"]
    )
    [month] = [f for f in governor["native_filter_configuration"] if f["name"] == "Месяц отчёта"]
    assert month["defaultDataMask"]["filterState"]["value"] == [last_complete]  # the dashboard opens on it
    tile = admin.chart_data(charts["summary_received"])
    partial_ms = _normalized(partial)
    assert tile and all(row["month_start"] != partial_ms for row in tile)
    for row in admin.chart_data(charts["rating_table"]):
        assert row["report_month"] <= last_complete and row["Почему не ранжирован"]  # «—», never null / N/A
