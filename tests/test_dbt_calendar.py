"""The production calendar seed: generated from `holidays`, committed, and right about Russia's moved days."""

import csv

from dagster_project.lib import calendar, paths


def test_committed_seed_is_what_the_generator_writes():
    with (paths.SEEDS_DIR / "production_calendar.csv").open(encoding="utf-8") as seed:
        assert list(csv.DictReader(seed)) == calendar.calendar_rows()


def test_working_saturdays_and_new_year_holidays():
    days = {row["date_day"]: row for row in calendar.calendar_rows(2024, 2024)}
    for saturday in ("2024-04-27", "2024-11-02", "2024-12-28"):
        assert days[saturday]["is_working_day"] == "true"
        assert days[saturday]["is_transferred_workday"] == "true"
    for day in range(1, 9):
        assert days[f"2024-01-0{day}"]["is_working_day"] == "false"
        assert days[f"2024-01-0{day}"]["is_holiday"] == "true"
    # days off moved onto weekdays (перенесённые выходные)
    for moved in ("2024-04-29", "2024-04-30", "2024-12-30", "2024-12-31"):
        assert days[moved]["is_working_day"] == "false"
        assert days[moved]["holiday_name"].startswith("Выходной (перенесено")
    assert days["2024-01-09"]["is_working_day"] == "true"
    assert sum(row["is_working_day"] == "true" for row in days.values()) == 248  # 2024: 248 working days
