"""The business marts (issue 6) on a generated sandbox: extraction of the shared sandbox into a private lake, the
sandbox's manual inputs, `dbt build` of the marts with their data tests, then the hand-computed dbt unit tests of every
formula and the non-triviality of the marts on realistic data (ratings spread, the sandbox's slow agency ranks at
the bottom, the heat map has hot cells, …).
"""

import re
from decimal import Decimal

import duckdb
import pandas as pd
import pytest
from conftest import MART_FOLDERS, MART_SELECTION, dbt
from sandbox_landing import use_data_root

from dagster_project.lib import paths, spark
from sandbox import slow_agency_ids
from sandbox.reference import load_reference

pytestmark = pytest.mark.integration

# Every formula of the marts has a hand-computed dbt unit test; both builds must run and pass each of them.
MART_UNIT_TESTS = [
    "appeal_outcomes_flags",
    "agency_rating_sub_scores_rank_and_flags",
    "agency_rating_custom_weights",
    "sector_kpis_shares",
    "sector_workload_reinforcement_after_four_weeks",
    "heat_map_intensity_against_region_median",
    "pareto_cut_at_exactly_half",
    "priorities_and_other_decomposition",
    "category_priorities_top_three",
    "indicator_statuses_all_four",
    "indicator_status_changes_over_time",
    "roadmap_latest_status_and_overdue",
    "governor_summary_changes_and_tops",
    "repeat_hotspots_clusters",
    "spike_alarm_hours_burst_found_weekly_and_seasonal_peaks_not",
]


@pytest.fixture(scope="module")
def marts(sandbox_marts):
    """The marts of the shared sandbox (conftest's sandbox_marts), their unit and data tests run, the marts read."""
    data, root = sandbox_marts
    with pytest.MonkeyPatch.context() as mp:
        use_data_root(mp, data)
        unit_log = dbt(root, "test", "--select", *MART_SELECTION)
        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
            frames = {
                name: con.sql(f"select * from main.{name}").df()
                for name in [
                    "agency_rating_monthly",
                    "sector_kpis_monthly",
                    "category_priorities",
                    "other_category_decomposition",
                    "problem_heat_map",
                    "municipality_pareto",
                    "indicator_tracking",
                    "roadmap_status",
                    "sector_workload_weekly",
                    "repeat_hotspots",
                    "governor_monthly_summary",
                    "reporting_as_of",
                ]
            }
        yield {"frames": frames, "unit_log": unit_log, "data": data, "root": root}


def test_unit_and_data_tests_of_the_marts_pass(marts):
    log = marts["unit_log"]
    # every formula has a hand-computed unit test; the run above failed on any failing test
    for unit_test in MART_UNIT_TESTS:
        assert re.search(rf"PASS \w+::{unit_test} ", log), unit_test


def test_ratings_spread(marts):
    rating = marts["frames"]["agency_rating_monthly"]
    ranked = rating[rating.is_ranked]
    assert len(ranked) > 100
    assert ranked.score.between(0, 100).all()
    assert ranked.score.max() - ranked.score.min() > 30
    # within a typical region × month × kind the scores differ too
    groups = ranked.groupby(["region_code", "month_start", "agency_kind"]).score
    spread = groups.agg(lambda s: s.max() - s.min())[groups.size() >= 3]
    assert len(spread) > 20 and spread.median() > 10
    # the small ones are flagged, not ranked
    unranked = rating[~rating.is_ranked]
    assert (unranked.received < 10).all() and unranked.not_ranked_reason.notna().all()


def test_slow_agency_ranks_last_or_near_last(marts):
    rating = marts["frames"]["agency_rating_monthly"]
    ranked = rating[rating.is_ranked & ~rating.is_partial_month].copy()
    ranked["worst_rank"] = ranked.groupby(["region_code", "month_start", "agency_kind"]).rating_rank.transform("max")
    slow = ranked[ranked.agency_id.isin(slow_agency_ids(load_reference()))]
    assert slow.agency_id.nunique() >= 3
    near_last = slow.rating_rank >= slow.worst_rank - 1
    assert near_last.mean() >= 0.8, slow[["agency_id", "month_start", "rating_rank", "worst_rank"]].head(20)


def test_heat_map_has_hot_cells(marts):
    heat = marts["frames"]["problem_heat_map"]
    assert heat.intensity_index.max() > 1.5
    # the index is per-10k relative to the region's median for the sector and month (both shown rounded)
    per_10k = 10000 * heat.appeals / heat.population
    assert ((per_10k / heat.region_median_per_10k) / heat.intensity_index - 1).abs().max() < 0.05


def test_pareto_flags_the_minimal_half(marts):
    pareto = marts["frames"]["municipality_pareto"].sort_values(["region_code", "year", "pareto_rank"])
    for _, group in pareto.groupby(["region_code", "year"]):
        candidates = group[group.is_pilot_candidate]
        total = group.appeals.sum()
        assert candidates.appeals.sum() * 2 >= total
        assert (candidates.appeals.sum() - candidates.appeals.iloc[-1]) * 2 < total  # minimal
        assert candidates.pareto_rank.tolist() == list(range(1, len(candidates) + 1))


def test_priorities_and_decomposition(marts):
    priorities = marts["frames"]["category_priorities"]
    per_sector = priorities[priorities.is_priority].groupby(["region_code", "sector_code", "quarter_start"]).size()
    sectors_with_enough = priorities.groupby(["region_code", "sector_code", "quarter_start"]).size() >= 3
    assert (per_sector[sectors_with_enough[sectors_with_enough].index] >= 3).all()
    # «прочие» are decomposed exactly where they are a priority
    decomposition = marts["frames"]["other_category_decomposition"]
    keys = ["region_code", "sector_code", "quarter_start"]
    priority_other = priorities[priorities.is_priority & priorities.is_other][keys].drop_duplicates()
    assert len(priority_other) > 0
    assert set(map(tuple, decomposition[keys].drop_duplicates().values)) == set(map(tuple, priority_other.values))
    terms = decomposition[decomposition.breakdown_kind == "term"]
    assert (terms.item_name.str.len() >= 4).all() and not terms.item_name.isin(["прошу", "пожалуйста", "дома"]).any()
    subcategories = decomposition[decomposition.breakdown_kind == "subcategory"]
    # a subcategory of the sector's «прочие», or the bucket of appeals without one (СЭД, инциденты)
    in_other = subcategories.apply(lambda r: r.item_code.startswith(f"{r.sector_code}.99."), axis=1)
    assert (in_other | (subcategories.item_code == "unknown")).all() and in_other.any()


def test_indicators_and_roadmap(marts):
    tracking = marts["frames"]["indicator_tracking"]
    assert set(tracking.indicator_kind) == {"mandatory", "additional"}
    assert set(tracking.source) == {"computed", "manual"}
    assert tracking.status.nunique() >= 3
    assert tracking.owner_role.notna().all()
    assert tracking.target_date_ru.str.fullmatch(r"\d{2}\.\d{2}\.\d{4}").all()
    roadmap = marts["frames"]["roadmap_status"]
    assert roadmap.groupby("region_code").event_code.nunique().min() == 15
    assert roadmap.is_overdue.any() and (roadmap.status == "done").any()


def test_workload_hotspots_and_governor_summary(marts):
    frames = marts["frames"]
    workload = frames["sector_workload_weekly"].sort_values(["region_code", "sector_code", "iso_week_start"])
    assert ((workload.appeals / workload.staff_count).round(2) == workload.appeals_per_staff).all()
    # a streak grows by one per week above the threshold and restarts at zero
    previous = workload.groupby(["region_code", "sector_code"]).consecutive_weeks_above.shift(fill_value=0)
    expected_streak = (previous + 1).where(workload.is_above_threshold, 0)
    assert (workload.consecutive_weeks_above == expected_streak).all()
    assert (workload.needs_reinforcement == (workload.consecutive_weeks_above >= 4)).all()
    hotspots = frames["repeat_hotspots"]
    assert (hotspots.distinct_citizens >= 3).all() and set(hotspots.hotspot_kind) == {
        "address",
        "municipality_category",
    }
    summary = frames["governor_monthly_summary"]
    sector = frames["sector_kpis_monthly"].groupby(["region_code", "month_start"]).received.sum()
    merged = summary.set_index(["region_code", "month_start"]).received
    pd.testing.assert_series_equal(merged.sort_index(), sector.sort_index(), check_names=False, check_dtype=False)
    assert summary.top_problem_1.notna().all()
    # the lowest-rated agency is the ranked agency with the minimum score of the region-month, where there is one
    rating = frames["agency_rating_monthly"]
    lowest = rating[rating.is_ranked].groupby(["region_code", "month_start"]).score.min()
    shown = summary.set_index(["region_code", "month_start"]).lowest_agency_1_score.dropna()
    pd.testing.assert_series_equal(shown.sort_index(), lowest.sort_index(), check_names=False)
    as_of = frames["reporting_as_of"].as_of_date.iloc[0]
    assert summary.month_start.max() == pd.Timestamp(as_of).to_period("M").to_timestamp()


@pytest.fixture(scope="module")
def spark_cluster(marts):
    """The standalone cluster of `make spark-up` (master and two workers, pid files and logs in the marts' data
    dir), started for this test and stopped after it; a cluster already running at the configured port is used."""
    from dagster_project import spark_cluster as cluster

    started = cluster.alive_workers() < cluster.WORKERS
    if started:
        cluster.up()
    yield
    if started:
        cluster.down()


@pytest.mark.spark
def test_marts_on_spark_equal_the_duckdb_build(marts, spark_cluster):
    """The same selection built on Spark from the same lake, in one `dbt build` with its data tests and unit tests
    (every unit test of the marts passes on Spark too), gives every mart the DuckDB build gave: the same rows, every
    measure equal (floats to 1e-9 relative). Spark's tables are read as the Parquet files they are (no second Spark
    session); `processed_at` is the build's own time. Tests of upstream models that also read models outside the
    selection (`relationships` to a dimension no mart needs) are left out: `--indirect-selection buildable`."""
    spark.prepare_sources()
    log = dbt(
        marts["root"],
        "build",
        "--target",
        "spark",
        "--select",
        *[f"+{s}" for s in MART_SELECTION],
        "--indirect-selection",
        "buildable",
    )
    for unit_test in MART_UNIT_TESTS:
        assert re.search(rf"PASS \w+::{unit_test} ", log), unit_test
    built = [name for name in spark.spark_tables() if name in mart_names()]
    assert len(built) >= 15, built
    with duckdb.connect(str(marts["data"] / "warehouse.duckdb"), read_only=True) as con:
        for name in built:
            on_duckdb = (
                con.sql(f"select * exclude (processed_at) from main.{name}").df()
                if "processed_at" in con.sql(f"select * from main.{name} limit 0").columns
                else con.sql(f"select * from main.{name}").df()
            )
            on_spark = con.sql(
                f"select {', '.join(on_duckdb.columns)} from read_parquet('{spark.table_files(name)}')"
            ).df()
            assert len(on_spark) == len(on_duckdb), name
            pd.testing.assert_frame_equal(
                _comparable(on_spark), _comparable(on_duckdb), check_dtype=False, rtol=1e-9, obj=name
            )


def mart_names() -> set[str]:
    return {
        path.stem
        for folder in MART_FOLDERS
        for path in (paths.DBT_PROJECT_DIR / "models" / "marts" / folder).glob("*.sql")
    }


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as floats (Spark's decimals and ints, DuckDB's), rows in one order: by every other column first, then
    by the floats (which may differ in the last bits)."""
    frame = frame.copy()
    floats = [
        column
        for column in frame.columns
        if pd.api.types.is_numeric_dtype(frame[column])
        and not pd.api.types.is_bool_dtype(frame[column])
        or frame[column].map(type).eq(Decimal).any()
    ]
    for column in floats:
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    others = [column for column in frame.columns if column not in floats]
    return frame.sort_values(others + floats, na_position="first", kind="stable").reset_index(drop=True)
