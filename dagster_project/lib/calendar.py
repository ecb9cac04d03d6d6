"""Russian production calendar (производственный календарь) for the span of the data, made at build time.

The `holidays` package knows the public holidays, the days off moved onto weekdays («Выходной (перенесено с …)»)
and the weekend days made working by the Government's transfer decrees (`weekend_workdays`). The calendar covers
every year from the first one present in the lake (its earliest timestamp; not before EARLIEST_YEAR, the floor of
plausible dates) to next year, so a lake that starts in 2010 gets 2010 and deadlines of this December's appeals fall
inside it. dbt reads it as the source `reference.production_calendar`:
- DuckDB: this module is a dbt-duckdb source plugin (`Plugin`, declared in dbt/profiles.yml): every dbt invocation
  that builds dim_date computes the calendar from the lake it reads, by hand too;
- PostgreSQL: `lib/postgres.py` loads the same table into `raw.production_calendar` with the lake.
`python -m dagster_project.lib.calendar` prints the span and the working days per year of the current lake.
"""

import datetime as dt
from pathlib import Path

import duckdb
import holidays
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin

from dagster_project.lib import contracts, paths

EARLIEST_YEAR = 2000  # the plausibility floor of landed timestamps: nothing earlier is a real registration
COLUMNS = ("date_day", "is_working_day", "is_holiday", "is_transferred_workday", "holiday_name")
SCHEMA = pa.schema(
    [
        ("date_day", pa.date32()),
        ("is_working_day", pa.bool_()),
        ("is_holiday", pa.bool_()),
        ("is_transferred_workday", pa.bool_()),
        ("holiday_name", pa.string()),
    ]
)


def calendar_rows(first_year: int, last_year: int) -> list[dict]:
    russia = holidays.Russia(years=range(first_year, last_year + 1), language="ru")
    rows = []
    day = dt.date(first_year, 1, 1)
    while day.year <= last_year:
        is_weekend = day.isoweekday() >= 6
        rows.append(
            {
                "date_day": day,
                "is_working_day": russia.is_working_day(day),
                "is_holiday": day in russia,
                "is_transferred_workday": is_weekend and day in russia.weekend_workdays,
                "holiday_name": russia.get(day, ""),
            }
        )
        day += dt.timedelta(days=1)
    return rows


def lake_first_year(lake_dir: Path) -> int | None:
    """The year of the earliest timestamp landed in any raw table (None for an empty lake), from the Parquet
    row-group statistics; a file whose statistics are missing is read."""
    earliest = []
    with duckdb.connect() as con:
        for table, columns in contracts.RAW_TABLES.items():
            files = [str(part) for part in sorted((lake_dir / "raw" / table).glob("*/*.parquet"))]
            if not files:
                continue
            timestamps = [column.name for column in columns if column.kind == contracts.TS]
            from_statistics, unread = con.execute(
                """select min(try_cast(stats_min as timestamp)),
                          list(distinct file_name) filter (where stats_min is null
                                                           and coalesce(stats_null_count, -1) < num_values)
                   from parquet_metadata($files)
                   where path_in_schema in (select unnest($columns)) and row_group_num_rows > 0""",
                {"files": files, "columns": timestamps},
            ).fetchone()
            earliest.append(from_statistics)
            for file in unread or []:
                present = {
                    name for (name,) in con.execute("select name from parquet_schema($f)", {"f": file}).fetchall()
                }
                mins = [f"min({name})" for name in timestamps if name in present]
                earliest.append(
                    con.execute(f"select least({', '.join(mins)}) from read_parquet($f)", {"f": file}).fetchone()[0]
                )
    years = [moment.year for moment in earliest if moment is not None]
    return min(years) if years else None


def calendar_years(lake_dir: Path | None = None, today: dt.date | None = None) -> tuple[int, int]:
    """(first, last) year of the calendar: the lake's first year (not before EARLIEST_YEAR) to next year."""
    this_year = (today or dt.date.today()).year
    first = lake_first_year(lake_dir or paths.lake_dir())
    return max(EARLIEST_YEAR, min(first or this_year, this_year)), this_year + 1


def calendar_table(lake_dir: Path | None = None, today: dt.date | None = None) -> pa.Table:
    return pa.Table.from_pylist(calendar_rows(*calendar_years(lake_dir, today)), schema=SCHEMA)


class Plugin(BasePlugin):
    """dbt-duckdb source plugin: dbt's `source('reference', 'production_calendar')` loads calendar_table() of the
    lake under CUR_DATA_DIR into a table of the warehouse when a model reads it."""

    def load(self, source_config):
        return calendar_table()


if __name__ == "__main__":
    first, last = calendar_years()
    table = calendar_table()
    print(f"production calendar {first}–{last} for the lake {paths.lake_dir()}:")
    for year in range(first, last + 1):
        working = sum(
            1
            for day, is_working in zip(table["date_day"].to_pylist(), table["is_working_day"].to_pylist())
            if day.year == year and is_working
        )
        print(f"  {year}: {working} working days")
