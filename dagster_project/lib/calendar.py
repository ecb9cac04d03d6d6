"""Russian production calendar (производственный календарь) → seeds/production_calendar.csv.

The `holidays` package knows the public holidays, the days off moved onto weekdays («Выходной (перенесено с …)»)
and the weekend days made working by the Government's transfer decrees (`weekend_workdays`).
Run `python -m dagster_project.lib.calendar` after upgrading `holidays`; the CSV is committed as a lookup table.
"""

import csv
import datetime as dt
from pathlib import Path

import holidays

from dagster_project.lib import paths

FIRST_YEAR = 2019
LAST_YEAR = 2027
COLUMNS = ("date_day", "is_working_day", "is_holiday", "is_transferred_workday", "holiday_name")


def calendar_rows(first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR) -> list[dict[str, str]]:
    russia = holidays.Russia(years=range(first_year, last_year + 1), language="ru")
    rows = []
    day = dt.date(first_year, 1, 1)
    while day.year <= last_year:
        is_weekend = day.isoweekday() >= 6
        is_transferred_workday = day in russia.weekend_workdays
        is_holiday = day in russia
        rows.append(
            {
                "date_day": day.isoformat(),
                "is_working_day": _flag(russia.is_working_day(day)),
                "is_holiday": _flag(is_holiday),
                "is_transferred_workday": _flag(is_weekend and is_transferred_workday),
                "holiday_name": russia.get(day, ""),
            }
        )
        day += dt.timedelta(days=1)
    return rows


def _flag(value: bool) -> str:
    return "true" if value else "false"


def write_calendar(path: Path = paths.SEEDS_DIR / "production_calendar.csv") -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(calendar_rows())
    return path


if __name__ == "__main__":
    print(write_calendar())
