"""A real Apache Superset against a hand-made serving snapshot: deploy, chart numbers, RLS, screenshots.

Self-contained: creates `.venv-superset` when it is missing (several minutes, once; skipped with the reason if
it cannot be created), starts Superset on a free loopback port with a throwaway SQLite metadata DB, deploys the
bundle with the project's client and stops Superset at the end. Expected numbers are computed here with DuckDB
from the same serving file Superset reads.
"""

import importlib.util
import math
import socket
import subprocess
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pytest
from bi_serving_fixture import build_serving_fixture
from dagster import DagsterInstance, materialize

from dagster_project.defs.bi.superset import superset_dashboards
from dagster_project.lib import paths
from dagster_project.lib.serving import agencies_in_snapshot
from dagster_project.lib.superset_client import (
    READER_ROLE,
    SupersetClient,
    agency_role,
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
EXPECTED_SQL = {
    "rating_table": """select month_start, region_code, agency_kind, agency_id, agency_name, rating_rank, rank_change, score,
        quantity_score, speed_score, quality_score, completeness_score, median_response_hours, received, not_ranked_reason
        from agency_rating_monthly""",
    "rating_trend": "select month_start, agency_kind, avg(score) from agency_rating_monthly group by all",
    "rating_lowest": "select agency_kind, agency_name, avg(score), sum(received) from agency_rating_monthly where is_ranked group by all",
    "sector_received_total": "select sum(received) from sector_kpis_monthly",
    "sector_kpi_table": """select sector_name, sum(received), sum(answered),
        sum(answered_on_time) / (sum(answered) + sum(overdue_open)),
        sum(satisfaction_share * rated) / sum(rated) filter (where satisfaction_share is not null),
        sum(repeats) / sum(received), sum(overdue_open), sum(other_category) / sum(received)
        from sector_kpis_monthly group by all""",
    "sector_on_time_trend": """select month_start, sector_name, sum(answered_on_time) / (sum(answered) + sum(overdue_open))
        from sector_kpis_monthly group by all""",
    "category_priorities": """select quarter_start, region_code, sector_name, volume_rank, category_name, appeals,
        share_of_sector, is_other from category_priorities where is_priority""",
    "other_decomposition": """select quarter_start, region_code, sector_code, breakdown_kind, item_rank, item_name, appeals
        from other_category_decomposition""",
    "heat_map": "select municipality_name, sector_name, avg(intensity_index) from problem_heat_map group by all",
    "heat_hotspots": """select month_start, region_code, municipality_name, sector_name, appeals, appeals_per_10k, intensity_index,
        overdue_share from problem_heat_map where intensity_index >= 1.5""",
    "pareto": """select year, region_code, pareto_rank, municipality_name, appeals, share, cumulative_share, is_pilot_candidate
        from municipality_pareto""",
    "root_causes": """select window_start, region_code, municipality_name, address, category_name, appeals, distinct_citizens,
        hotspot_windows, is_root_cause_candidate, is_fast_track_candidate from repeat_hotspots""",
    "indicator_status": "select status_ru, count(*) from indicator_tracking group by all",
    "indicator_table": """select region_code, year, indicator_kind, function, indicator_code, indicator_name, owner_role,
        target_value, actual_value, target_date_ru, status_ru from indicator_tracking""",
    "roadmap_table": """select region_code, event_code, event_name, deadline_ru, responsible_roles, status_ru, is_overdue,
        days_overdue from roadmap_status""",
    "workload_trend": "select iso_week_start, sector_name, sum(appeals) / sum(staff_count) from sector_workload_weekly group by all",
    "workload_reinforcement": """select iso_week_start, region_code, sector_name, appeals, staff_count, appeals_per_staff,
        consecutive_weeks_above from sector_workload_weekly where needs_reinforcement""",
    "summary_received": "select sum(received) from governor_monthly_summary",
    "summary_trend": "select month_start, region_name, sum(received) from governor_monthly_summary group by all",
    "summary_table": """select month_start, region_name, received, received_change, answered_share, on_time_share,
        satisfaction_share, overdue_open, top_problem_1, top_problem_2, top_problem_3, lowest_agency_1, lowest_agency_2,
        lowest_agency_3 from governor_monthly_summary""",
}
RESTRICTED_AGENCY = "65-ROIV-fish"
RESTRICTED_REGION = "37"


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
    serving = build_serving_fixture(root / "serving" / "marts.duckdb")
    with manage.running_superset(root / "home", _free_port()) as url:
        with SupersetClient(url, *manage.DEFAULT_ADMIN) as admin:
            result = deploy(admin, serving_duckdb_uri(serving), agencies_in_snapshot(serving))
            # Deploy again, this time through the Dagster asset: it must change nothing (same ids, same rules).
            with pytest.MonkeyPatch.context() as env:
                env.setenv("SUPERSET_URL", url)
                env.setenv("SERVING_PATH", str(serving))
                run = materialize([superset_dashboards], instance=DagsterInstance.ephemeral())
            admin.ensure_user("fish_analyst", "fish-pass-1", [READER_ROLE, agency_role(RESTRICTED_AGENCY)])
            admin.ensure_user("ivanovo_analyst", "ivanovo-pass-1", [READER_ROLE, region_role(RESTRICTED_REGION)])
            yield {"url": url, "admin": admin, "result": result, "run": run, "serving": serving, "root": root}


def _chart_ids(result) -> dict[str, int]:
    """Chart file name (e.g. `rating_table`) → Superset chart id."""
    return {name.removeprefix("charts/").removesuffix(".yaml"): result.charts[config["uuid"]]
            for name, config in load_bundle().items() if name.startswith("charts/")}


def test_deploy_and_redeploy_through_the_dagster_asset(deployed):
    first, admin = deployed["result"], deployed["admin"]
    assert len(first.dashboards) == 6 and len(first.charts) == len(EXPECTED_SQL) and len(first.datasets) == 11
    assert deployed["run"].success
    [event] = [event for event in deployed["run"].get_asset_materialization_events() if event.asset_key == superset_dashboards.key]
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
            actual = _multiset(tuple(row.values()) for row in deployed["admin"].chart_data(chart_id))
            assert actual == expected, name


def test_rls_agency_user_sees_only_its_agency(deployed):
    charts = _chart_ids(deployed["result"])
    with SupersetClient(deployed["url"], "fish_analyst", "fish-pass-1") as fish:
        rows = fish.chart_data(charts["rating_table"])
    with duckdb.connect(str(deployed["serving"]), read_only=True) as con:
        expected_rows, all_rows = con.execute(
            f"select count(*) filter (where agency_id = '{RESTRICTED_AGENCY}'), count(*) from agency_rating_monthly").fetchone()
    assert {row["agency_id"] for row in rows} == {RESTRICTED_AGENCY}
    assert len(rows) == expected_rows < all_rows


def test_rls_region_user_sees_only_its_region(deployed):
    charts = _chart_ids(deployed["result"])
    with SupersetClient(deployed["url"], "ivanovo_analyst", "ivanovo-pass-1") as ivanovo:
        total = ivanovo.chart_data(charts["sector_received_total"])[0]["Поступило"]
        rating_regions = {row["region_code"] for row in ivanovo.chart_data(charts["rating_table"])}
    with duckdb.connect(str(deployed["serving"]), read_only=True) as con:
        expected, everything = con.execute(
            f"select sum(received) filter (where region_code = '{RESTRICTED_REGION}'), sum(received) from sector_kpis_monthly").fetchone()
    assert total == expected < everything
    assert rating_regions == {RESTRICTED_REGION}


def test_every_dashboard_renders_in_a_headless_browser(deployed):
    bundle = load_bundle()
    dashboards = {config["slug"]: config for name, config in bundle.items() if name.startswith("dashboards/")}
    # Kept where README says (data/screenshots/) for a person to look at after the run.
    reports = manage.take_screenshots(deployed["url"], manage.DEFAULT_ADMIN, paths.data_dir() / "screenshots")
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
