"""A hand-made lake with real history, built by dbt on DuckDB and on PostgreSQL (issue 14, the warehouse parts):

- one time-zone rule both ways: local registration dates and deadlines follow the regions' IANA zones with their
  historical offsets (Moscow UTC+4 from 27.03.2011 to 26.10.2014, Sakhalin UTC+10 from 26.10.2014 to 27.03.2016) —
  expected values are computed here with Python's zoneinfo and the `holidays` package, not with the code under test;
- the production calendar spans the lake from its first year (2011 here) to next year;
- loading one region's long history (Иваново back to 2011) leaves every other region's mart rows unchanged;
- a held load (ops.held_loads) is not read — incrementally or by a full refresh — and is read once released;
- unknown codes land as «не определено» and are counted in unknown_codes_monthly;
- an appeal dated outside the calendar is excluded, and the build names it.

No sandbox: the rows are written here, with their own codes and dates.
"""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import holidays
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scans
from test_dbt_warehouse import RUN_COLUMNS, differences, model_relations

from dagster_project.lib import contracts, held_loads, paths
from sandbox.manual_inputs import write_manual_inputs

pytestmark = pytest.mark.integration

ZONES = {
    "64": "Europe/Saratov",
    "37": "Europe/Moscow",
    "56": "Asia/Yekaterinburg",
    "65": "Asia/Sakhalin",
    "03": "Asia/Irkutsk",
}
PLACES = {
    "64": ("63701000", "64-ROIV-minstroy"),
    "37": ("24701000", "37-ROIV-dgkh"),
    "56": ("53701000", "56-ROIV-minstroy"),
    "65": ("64701000", "65-ROIV-mingkh"),
    "03": ("81701000", "03-ROIV-minstroy"),
}
WORKING_DAYS = {"housing.01": 3, "roads.01": 10}  # seeds/categories.csv
DEFAULT_WORKING_DAYS = 10  # dbt var default_deadline_working_days: the «не определено» category
HISTORY_REGION = "37"
HELD_REGION = "64"


def utc(region: str, local: str) -> dt.datetime:
    """A local wall-clock time of the region → naive UTC, as extraction lands it (zoneinfo, not the code under test)."""
    moment = dt.datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(ZONES[region]))
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def portal(appeal_id, region, local, category="housing.01", answered_local=None, status=None, citizen=None, **codes):
    oktmo, agency = PLACES[region]
    registered = utc(region, local)
    answered = utc(region, answered_local) if answered_local else None
    return {
        "appeal_id": appeal_id,
        "portal": "Городской портал",
        "region_code": region,
        "oktmo": codes.get("oktmo", oktmo),
        "agency_id": codes.get("agency_id", agency),
        "category_code": category,
        "subcategory_code": None,
        "citizen_hash": citizen or f"c-{appeal_id}",
        "address": "ул. Ленина, 1",
        "text": "обращение",
        "created_at": registered,
        "status": status or ("answered" if answered else "registered"),
        "answered_at": answered,
        "rework_count": 0,
        "rating": None,
        "updated_at": answered or registered,
    }


def sed(appeal_id, region, local, answered_local=None):
    oktmo, agency = PLACES[region]
    registered = utc(region, local)
    answered = utc(region, answered_local) if answered_local else None
    return {
        "appeal_id": appeal_id,
        "region_code": region,
        "oktmo": oktmo,
        "agency_id": agency,
        "classifier_code": "0005.0005.0054.1111",
        "citizen_hash": f"c-{appeal_id}",
        "address": "ул. Мира, 2",
        "text": "обращение",
        "registered_at": registered,
        "status": "answered" if answered else "registered",
        "extended_at": None,
        "redirect_count": 0,
        "redirected_at": None,
        "answered_at": answered,
        "is_repeat": False,
        "exported_at": answered or registered,
    }


def pos(message_id, region, local, answered_local=None, is_59fz=False):
    oktmo, agency = PLACES[region]
    registered = utc(region, local)
    answered = utc(region, answered_local) if answered_local else None
    return {
        "message_id": message_id,
        "region_code": region,
        "oktmo": oktmo,
        "opa_id": agency,
        "is_59fz": is_59fz,
        "category_code": "roads.01",
        "subcategory_code": None,
        "text": "сообщение",
        "address": None,
        "citizen_hash": f"c-{message_id}",
        "created_at": registered,
        "status": "answered" if answered else "registered",
        "answer_text": None,
        "answered_at": answered,
        "rating": None,
        "rated_at": None,
        "updated_at": answered or registered,
    }


def recent(region: str) -> list[dict]:
    """Every region's own recent appeals, around a month boundary in local time."""
    return [
        portal(f"{region}-1", region, "2025-03-03 10:00", answered_local="2025-03-04 10:00", citizen=f"c-{region}"),
        portal(f"{region}-2", region, "2025-03-31 23:30", category="roads.01", citizen=f"c-{region}"),
        portal(f"{region}-3", region, "2025-04-01 00:30", answered_local="2025-04-08 18:00"),
        portal(f"{region}-4", region, "2025-04-10 12:00", answered_local="2025-04-11 09:00"),
    ]


BATCH_RECENT = {  # every region's recent data, Sakhalin's history across its 2014 and 2016 changes, unknown codes
    "portal_appeals": [
        *(row for region in ZONES for row in recent(region)),
        # Оренбург: codes the reference data does not know → «не определено», counted
        portal("56-U1", "56", "2025-04-15 10:00", category="ЖКХ-17", answered_local="2025-04-16 10:00"),
        portal("56-U2", "56", "2025-04-15 11:00", agency_id="Минстрой области"),
        portal("56-U3", "56", "2025-04-15 12:00", oktmo=None),
        portal("56-U4", "56", "2025-04-15 13:00", status="на контроле"),
    ],
    "pos_messages": [
        pos("S1", "65", "2014-10-26 00:30"),  # UTC+11 until 02:00 that night
        pos("S2", "65", "2015-06-30 23:30", answered_local="2015-07-20 23:30"),  # UTC+10: still 30 June
        pos("S3", "65", "2016-03-26 23:30", is_59fz=True, answered_local="2016-04-25 23:59"),  # UTC+10
        pos("S4", "65", "2016-03-27 03:30"),  # UTC+11 again
    ],
}

BATCH_HISTORY = {  # Иваново's long history (Europe/Moscow, UTC+4 from 27.03.2011 to 26.10.2014)
    "portal_appeals": [
        portal("H1", "37", "2013-06-15 00:30", answered_local="2013-06-18 23:59"),
        portal("H2", "37", "2013-03-01 00:30", category="roads.01"),  # a month boundary
        portal("H3", "37", "2011-03-28 00:30", answered_local="2011-03-31 00:30"),  # just after the change
        portal("H4", "37", "2014-10-26 00:30", answered_local="2014-10-29 00:30"),  # before the change back
        portal("H5", "37", "2014-10-27 00:30"),  # after it (UTC+3)
    ],
    "sed_appeals": [
        # 59-ФЗ: 30 days → 01.03.2013, expires 02.03 00:00 local = 01.03 20:00 UTC; the answer at 00:30 local is late
        sed("H6", "37", "2013-01-30 12:00", answered_local="2013-03-02 00:30"),
    ],
}

BATCH_HELD = {  # a load of another region that a raw check held (its rows must not reach the warehouse until released)
    "portal_appeals": [
        portal("64-H1", HELD_REGION, "2025-05-05 10:00", answered_local="2025-05-06 10:00"),
        portal("64-H2", HELD_REGION, "2025-05-06 10:00"),
    ],
}

BATCH_OUTSIDE = {"portal_appeals": [portal("03-X1", "03", "1999-12-31 12:00")]}


def land(data_dir: Path, batch: dict, load_date: str) -> list[Path]:
    """One part per table of the batch (an empty one for a table the lake does not have yet: dbt reads them all)."""
    parts = []
    for table in contracts.RAW_TABLES:
        rows = batch.get(table, [])
        if not rows and (data_dir / "lake" / "raw" / table).exists():
            continue
        schema = contracts.arrow_schema(table)
        landed = [
            {
                **row,
                "_run_id": f"run-{load_date}",
                "_landed_at": dt.datetime.fromisoformat(load_date),
                "_source_file": None,
                "_extra": None,
            }
            for row in rows
        ]
        part = data_dir / "lake" / "raw" / table / f"load_date={load_date}" / f"{uuid.uuid4().hex}.parquet"
        part.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(landed, schema=schema), part)
        if rows:
            parts.append(part)
    return parts


def expected_deadline(region: str, registered: dt.date, working_days: int | None) -> tuple[dt.date, dt.datetime]:
    """(deadline date, UTC moment it expires) worked out with `holidays` and zoneinfo: 30 calendar days (59-ФЗ,
    working_days None) or that many working days after the local registration date."""
    if working_days is None:
        deadline = registered + dt.timedelta(days=30)
    else:
        russia, deadline, left = holidays.Russia(years=range(2010, 2030)), registered, working_days
        while left:
            deadline += dt.timedelta(days=1)
            left -= russia.is_working_day(deadline)
    midnight = dt.datetime.combine(deadline + dt.timedelta(days=1), dt.time()).replace(tzinfo=ZoneInfo(ZONES[region]))
    return deadline, midnight.astimezone(dt.UTC).replace(tzinfo=None)


def expected_facts() -> pd.DataFrame:
    """registered_date, deadline_date, deadline_at and is_on_time of every appeal landed before the held load."""
    rows = []
    for batch in (BATCH_RECENT, BATCH_HISTORY):
        for table, records in batch.items():
            for r in records:
                channel, key = {
                    "portal_appeals": ("portal", "appeal_id"),
                    "sed_appeals": ("sed", "appeal_id"),
                    "pos_messages": ("pos", "message_id"),
                }[table]
                registered = r.get("created_at") or r.get("registered_at")
                zone = ZoneInfo(ZONES[r["region_code"]])
                local = registered.replace(tzinfo=dt.UTC).astimezone(zone).replace(tzinfo=None)
                is_59fz = channel == "sed" or r.get("is_59fz", False)
                working_days = None if is_59fz else WORKING_DAYS.get(r["category_code"], DEFAULT_WORKING_DAYS)
                deadline_date, deadline_at = expected_deadline(r["region_code"], local.date(), working_days)
                answered = r["answered_at"]
                rows.append(
                    (
                        f"{channel}:{r[key]}",
                        local.date(),
                        deadline_date,
                        deadline_at,
                        None if answered is None else answered <= deadline_at,
                    )
                )
    return pd.DataFrame(rows, columns=["appeal_key", "registered_date", "deadline_date", "deadline_at", "is_on_time"])


def run_dbt(*args: str, warehouse: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).parent / "dbt"),
        *args,
        "--profiles-dir",
        ".",
        "--target-path",
        os.environ["DBT_TARGET_PATH"],
        "--log-path",
        os.environ["DBT_LOG_PATH"],
    ]
    env = dict(os.environ, WAREHOUSE_PATH=str(warehouse)) if warehouse else None
    result = subprocess.run(command, cwd=paths.DBT_PROJECT_DIR, capture_output=True, text=True, timeout=900, env=env)
    if check:
        assert result.returncode == 0, f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}"
    return result


def query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).df()


def region_marts(warehouse: Path) -> dict[str, pd.DataFrame]:
    """Every mart with a region_code column, without the run columns."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            name
            for (name,) in con.execute(
                "select distinct table_name from information_schema.columns where table_schema = 'main' "
                "and column_name = 'region_code' and table_name not like 'dim_%'"
            ).fetchall()
        ]
        marts = {}
        for name in tables:
            frame = con.sql(f'select * from main."{name}"').df()
            marts[name] = frame.drop(columns=[c for c in frame.columns if c in RUN_COLUMNS])
        return marts


def rows_of(frame: pd.DataFrame, keep) -> list[tuple]:
    kept = frame[keep(frame.region_code)]
    return sorted(map(tuple, kept.astype(object).where(kept.notna(), None).astype(str).values.tolist()))


def full_refresh_copy(warehouse: Path, copy: Path) -> Path:
    shutil.copy(warehouse, copy)
    run_dbt("build", "--full-refresh", "--exclude-resource-type", "unit_test", "test", warehouse=copy)
    return copy


def differences_from_full_refresh(warehouse: Path, copy: Path) -> dict[str, tuple[int, int]]:
    """Every model of the project: rows only in the hourly build / only in a full refresh of the same lake."""
    full = full_refresh_copy(warehouse, copy)
    manifest = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    return differences(warehouse, full, model_relations(manifest))


@pytest.fixture(scope="module")
def history_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DO_NOT_TRACK", "1")
        mp.setenv("CUR_DATA_DIR", str(root / "data"))
        mp.setenv("WAREHOUSE_PATH", str(root / "warehouse.duckdb"))
        mp.setenv("DBT_TARGET_PATH", str(root / "target"))
        mp.setenv("DBT_LOG_PATH", str(root / "logs"))
        mp.delenv("DBT_TARGET", raising=False)
        yield root


@pytest.fixture(scope="module")
def builds(history_env):
    """1. every region's recent data → full build with data tests; 2. Иваново's history and a held load of Саратов →
    hourly build, compared with a full refresh; 3. the held load released → hourly build, compared again (the data
    tests run in the first build and in the last test's)."""
    root, data = history_env, history_env / "data"
    warehouse = root / "warehouse.duckdb"
    write_manual_inputs(data, seed=7)
    land(data, BATCH_RECENT, "2025-06-01")
    run_dbt("build", "--exclude-resource-type", "unit_test")
    state = {
        "recent": region_marts(warehouse),
        "calendar_recent": query(warehouse, "select min(date_day) as first, max(date_day) as last from dim_date"),
    }

    land(data, BATCH_HISTORY, "2025-06-10")
    (held_part,) = land(data, BATCH_HELD, "2025-06-11")
    held_loads.hold("portal_appeals", "run-2025-06-11", [str(held_part)], "test: rating_range")
    run_dbt("build", "--exclude-resource-type", "unit_test", "test")
    state["history"] = region_marts(warehouse)
    state["facts_history"] = query(warehouse, "select * from main.fct_appeals")
    state["differences_history"] = differences_from_full_refresh(warehouse, root / "full_history.duckdb")

    assert held_loads.release("run-2025-06-11") == 1
    run_dbt("build", "--exclude-resource-type", "unit_test", "test")
    state["facts_released"] = query(warehouse, "select * from main.fct_appeals")
    state["differences_released"] = differences_from_full_refresh(warehouse, root / "full_released.duckdb")
    state["calendar"] = query(warehouse, "select min(date_day) as first, max(date_day) as last from dim_date")
    state["unknown_codes"] = query(warehouse, "select * from main.unknown_codes_monthly")
    shutil.copytree(data, root / "lake_released")
    return state


def fact_values(facts: pd.DataFrame) -> pd.DataFrame:
    values = facts[["appeal_key", "registered_date", "deadline_date", "deadline_at", "is_on_time"]].copy()
    for column in ("registered_date", "deadline_date"):
        values[column] = pd.to_datetime(values[column]).dt.date
    values["deadline_at"] = pd.to_datetime(values["deadline_at"]).dt.to_pydatetime()
    values["is_on_time"] = values["is_on_time"].astype(object).where(values["is_on_time"].notna(), None)
    return values.sort_values("appeal_key").reset_index(drop=True)


def test_local_dates_and_deadlines_follow_the_zones_history(builds):
    expected = expected_facts().sort_values("appeal_key").reset_index(drop=True)
    actual = fact_values(builds["facts_history"])
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)
    # the cases a fixed offset got wrong
    by_key = actual.set_index("appeal_key")
    assert by_key.loc["portal:H1", "registered_date"] == dt.date(2013, 6, 15)
    assert by_key.loc["portal:H2", "registered_date"] == dt.date(2013, 3, 1)
    assert by_key.loc["pos:S2", "registered_date"] == dt.date(2015, 6, 30)
    assert by_key.loc["sed:H6", "deadline_at"] == dt.datetime(2013, 3, 1, 20, 0)
    assert by_key.loc["sed:H6", "is_on_time"] is False


def test_the_calendar_spans_the_lake(builds):
    next_year = dt.date.today().year + 1
    assert builds["calendar_recent"].values.tolist()[0] == [pd.Timestamp(2014, 1, 1), pd.Timestamp(next_year, 12, 31)]
    assert builds["calendar"].values.tolist()[0] == [pd.Timestamp(2011, 1, 1), pd.Timestamp(next_year, 12, 31)]


def test_one_regions_history_leaves_the_other_regions_marts_unchanged(builds):
    before, after = builds["recent"], builds["history"]
    assert set(before) == set(after) and {"indicator_tracking", "sector_workload_weekly"} <= set(before)
    others = lambda regions: regions != HISTORY_REGION  # noqa: E731 — every region but the one whose history came
    for name in before:
        assert rows_of(after[name], others) == rows_of(before[name], others), name
    # the history reached its own region's marts
    weeks = after["sector_workload_weekly"]
    assert weeks[weeks.region_code == HISTORY_REGION].iso_week_start.min() == pd.Timestamp(2011, 3, 28)
    assert weeks[weeks.region_code == "56"].iso_week_start.min() == pd.Timestamp(2025, 3, 3)
    tracked = after["indicator_tracking"]
    targets = pd.read_csv(paths.SEEDS_DIR / "indicator_targets.csv", dtype=str)
    targets = targets[(targets.region_code == HISTORY_REGION) & (targets.target_date >= "2011-03-28")]
    assert tracked[tracked.region_code == HISTORY_REGION].year.min() == int(targets.year.min())
    assert tracked[tracked.region_code == "56"].year.min() == 2025


def test_a_held_load_is_read_only_once_released(builds):
    held_keys = {"portal:64-H1", "portal:64-H2"}
    assert not held_keys & set(builds["facts_history"].appeal_key)
    assert builds["differences_history"] == {}  # a full refresh does not read the held part either
    assert held_keys <= set(builds["facts_released"].appeal_key)
    assert builds["differences_released"] == {}


def test_unknown_codes_are_counted(builds):
    codes = builds["unknown_codes"]
    oren = codes[codes.region_code == "56"]
    # Оренбург's portal appeals registered in April 2025, local time (UTC+5): the share's denominator
    april = sum(
        1
        for r in BATCH_RECENT["portal_appeals"]
        if r["region_code"] == "56" and (r["created_at"] + dt.timedelta(hours=5)).strftime("%Y-%m") == "2025-04"
    )
    found = {(r.code_kind, r.source_code, r.appeals, r.received, r.month_start) for r in oren.itertuples()}
    assert found == {
        (kind, code, 1, april, pd.Timestamp(2025, 4, 1))
        for kind, code in [
            ("category", "ЖКХ-17"),
            ("agency", "Минстрой области"),
            ("oktmo", "(не указан)"),
            ("status", "на контроле"),
        ]
    }
    assert set(codes.region_code) == {"56"}  # nobody else sent an unknown code


def test_postgres_builds_the_same_dates_and_deadlines(builds, history_env):
    from dagster_project.lib import postgres

    try:
        postgres.connect().close()
    except Exception as error:  # noqa: BLE001 — only "is the server there"
        pytest.skip(f"PostgreSQL is not reachable: {error}")
    schema = f"cur_hist_{uuid.uuid4().hex[:8]}"
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PGSCHEMA", schema)
            mp.setenv("CUR_RAW_SCHEMA", f"{schema}_raw")
            postgres.load_lake(history_env / "lake_released")
            run_dbt(
                "build",
                "--select",
                "+fct_appeals",
                "dim_date",
                "--exclude-resource-type",
                "unit_test",
                "test",
                "--target",
                "postgres",
            )
            with postgres.connect() as pg, pg.cursor() as cursor:
                cursor.execute(f'select * from "{schema}".fct_appeals')
                facts = pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])
                cursor.execute(f'select min(date_day), max(date_day) from "{schema}".dim_date')
                span = cursor.fetchone()
    finally:
        scans.drop_schemas(schema)
    pd.testing.assert_frame_equal(fact_values(facts), fact_values(builds["facts_released"]), check_dtype=False)
    assert span == (dt.date(2011, 1, 1), dt.date(dt.date.today().year + 1, 12, 31))


def test_an_appeal_outside_the_calendar_is_excluded_and_named(builds, history_env):
    """Last: it lands a 1999 appeal. The build fails with a message naming it; every model is still built."""
    land(history_env / "data", BATCH_OUTSIDE, "2025-06-20")
    result = run_dbt("build", "--exclude-resource-type", "unit_test", check=False)
    assert result.returncode != 0
    assert "portal:03-X1 (region 03) registered 1999-12-31 local" in result.stdout
    # the 1999 timestamp pulls the calendar back to its floor, 2000, not further
    assert "outside the production calendar 2000-01-01 … " in result.stdout
    run_results = json.loads((history_env / "target" / "run_results.json").read_text())
    failing = [
        r["unique_id"].split(".")[2]
        for r in run_results["results"]
        if r["status"] not in ("success", "pass") and r["unique_id"].split(".")[0] != "exposure"
    ]
    assert len(failing) == 1 and failing[0].startswith("within_production_calendar_int_appeals_excluded")
    warehouse = history_env / "warehouse.duckdb"
    excluded = query(
        warehouse, "select exclusion_reason from intermediate.int_appeals_excluded where appeal_key = 'portal:03-X1'"
    )
    assert excluded.exclusion_reason.tolist() == ["outside_production_calendar"]
    assert query(warehouse, "select count(*) as n from main.fct_appeals where appeal_key = 'portal:03-X1'").n[0] == 0
