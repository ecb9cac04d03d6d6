"""The production calendar made at build time: its span follows the lake (first year, floor 2000, next year), and its
days are right about Russia's moved days."""

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.lib import calendar, contracts

TODAY = dt.date(2026, 5, 15)


def land(lake, table: str, rows: list[dict], name: str, **write_options) -> None:
    folder = lake / "raw" / table / "load_date=2026-05-15"
    folder.mkdir(parents=True, exist_ok=True)
    schema = contracts.arrow_schema(table)
    full = [{field.name: row.get(field.name) for field in schema} for row in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=schema), folder / f"{name}.parquet", **write_options)


def test_span_is_the_lakes_first_year_to_next_year(tmp_path):
    lake = tmp_path / "lake"
    assert calendar.calendar_years(lake, TODAY) == (2026, 2027)  # nothing landed yet
    land(lake, "portal_appeals", [{"appeal_id": "1", "created_at": dt.datetime(2019, 3, 1, 9)}], "a")
    assert calendar.calendar_years(lake, TODAY) == (2019, 2027)
    # any timestamp of any raw table counts: an answer column, another table
    land(
        lake,
        "sed_appeals",
        [{"appeal_id": "2", "registered_at": dt.datetime(2015, 1, 2), "answered_at": dt.datetime(2015, 1, 3)}],
        "b",
    )
    land(lake, "pos_polls", [{"poll_id": "p", "started_at": dt.datetime(2010, 12, 31, 23)}], "c")
    assert calendar.calendar_years(lake, TODAY) == (2010, 2027)


def test_a_file_without_statistics_is_read(tmp_path):
    lake = tmp_path / "lake"
    land(
        lake,
        "incidents",
        [{"incident_id": "i", "detected_at": dt.datetime(2012, 6, 1)}],
        "no-stats",
        write_statistics=False,
    )
    land(lake, "incidents", [{"incident_id": "j", "detected_at": dt.datetime(2020, 6, 1)}], "stats")
    assert calendar.lake_first_year(lake) == 2012


def test_implausible_dates_do_not_stretch_the_calendar(tmp_path):
    """A 1900 or 2031 timestamp is no real registration: the calendar stays within 2000 … next year, and such an
    appeal is excluded with a clear error (dbt test within_production_calendar)."""
    lake = tmp_path / "lake"
    land(
        lake,
        "pos_messages",
        [{"message_id": "m", "created_at": dt.datetime(1900, 1, 1), "updated_at": dt.datetime(2031, 12, 1)}],
        "bad",
    )
    assert calendar.calendar_years(lake, TODAY) == (calendar.EARLIEST_YEAR, 2027)


def test_calendar_table_covers_whole_years(tmp_path):
    lake = tmp_path / "lake"
    land(lake, "portal_appeals", [{"appeal_id": "1", "created_at": dt.datetime(2013, 7, 1)}], "a")
    table = calendar.calendar_table(lake, TODAY)
    days = table["date_day"].to_pylist()
    assert (days[0], days[-1], len(days)) == (dt.date(2013, 1, 1), dt.date(2027, 12, 31), len(set(days)))
    assert table.schema == calendar.SCHEMA


def test_working_saturdays_and_new_year_holidays():
    days = {row["date_day"].isoformat(): row for row in calendar.calendar_rows(2024, 2024)}
    for saturday in ("2024-04-27", "2024-11-02", "2024-12-28"):
        assert days[saturday]["is_working_day"]
        assert days[saturday]["is_transferred_workday"]
    for day in range(1, 9):
        assert not days[f"2024-01-0{day}"]["is_working_day"]
        assert days[f"2024-01-0{day}"]["is_holiday"]
    # days off moved onto weekdays (перенесённые выходные)
    for moved in ("2024-04-29", "2024-04-30", "2024-12-30", "2024-12-31"):
        assert not days[moved]["is_working_day"]
        assert days[moved]["holiday_name"].startswith("Выходной (перенесено")
    assert days["2024-01-09"]["is_working_day"]
    assert sum(row["is_working_day"] for row in days.values()) == 248  # 2024: 248 working days


def test_older_years_of_a_historical_lake():
    """2013 (the year of the issue's real export): 247 working days by the official calendar; 2010's working
    Saturday 27.02 (перенос с 22.02)."""
    rows = calendar.calendar_rows(2010, 2013)
    working = {
        year: sum(row["is_working_day"] for row in rows if row["date_day"].year == year) for year in (2010, 2013)
    }
    assert working[2013] == 247
    saturday = next(row for row in rows if row["date_day"] == dt.date(2010, 2, 27))
    assert saturday["is_working_day"] and saturday["is_transferred_workday"]
