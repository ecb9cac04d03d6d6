"""Integrity of the reference data in seeds/*.csv (keys, references, domain rules of the seeds)."""

import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
PROPERTIES = SEEDS / "_seeds__properties.yml"

CORE_SECTORS = {"housing", "waste", "energy", "education", "health", "roads", "transport", "social"}
STATUSES = {"registered", "in_work", "answered", "closed", "redirected", "extended", "returned_for_rework", "reopened"}
COMPUTED_METRICS = {"on_time_share", "satisfaction_share", "incident_reaction_share", "answered_share", "repeat_share"}
FUNCTIONS = {
    "обратная связь",
    "мониторинг, аналитика и реагирование",
    "обучение",
    "региональные компетенции",
    "социология",
    "информирование",
    "процессы и методология",
}


def load(name: str) -> pd.DataFrame:
    # codes are strings: never let pandas turn '03' into 3
    return pd.read_csv(SEEDS / f"{name}.csv", dtype=str, keep_default_na=False)


def properties() -> dict:
    return {s["name"]: s for s in yaml.safe_load(PROPERTIES.read_text(encoding="utf-8"))["seeds"]}


def as_bool(col: pd.Series) -> pd.Series:
    assert set(col) <= {"true", "false"}, set(col)
    return col == "true"


def assert_unique(df: pd.DataFrame, cols: list[str]) -> None:
    dup = df[df.duplicated(cols, keep=False)]
    assert dup.empty, dup


def assert_fk(child: pd.DataFrame, col: str, parent: pd.DataFrame, parent_col: str) -> None:
    values = child.loc[child[col] != "", col]
    missing = set(values) - set(parent[parent_col])
    assert not missing, f"{col}: {sorted(missing)[:10]}"


def test_properties_describe_every_seed_column():
    props = properties()
    for name, seed in props.items():
        header = list(load(name).columns)
        described = [c["name"] for c in seed["columns"]]
        assert header == described, name
        assert set(seed["config"]["column_types"]) == set(header), name
        assert all(c.get("description") for c in seed["columns"]), name
    own = {p.stem for p in SEEDS.glob("*.csv")}
    assert own == set(props)


def test_regions_and_municipalities():
    regions, munis = load("regions"), load("municipalities")
    assert set(regions.region_code) == {"64", "37", "56", "65", "03"}
    assert_unique(regions, ["region_code"])
    assert_unique(munis, ["oktmo"])
    assert_fk(munis, "region_code", regions, "region_code")
    assert munis.oktmo.str.fullmatch(r"\d{8}").all()
    assert set(munis.municipality_kind) <= {"городской округ", "муниципальный район", "муниципальный округ"}
    assert (munis.population.astype(int) > 0).all()
    capitals = munis[as_bool(munis.is_capital)]
    assert sorted(capitals.region_code) == sorted(regions.region_code), "one capital per region"
    assert {"63701000", "24701000", "53701000", "64701000", "81701000"} == set(capitals.oktmo)
    # every region has its full set of top-level municipalities, not a sample
    counts = munis.groupby("region_code").size()
    assert counts["64"] >= 40 and counts["37"] >= 27 and counts["56"] >= 40
    assert counts["65"] >= 18 and counts["03"] >= 23


# The regions' extents (lat, lon), from their borders on a map of Russia, a little generous: a mistyped or swapped
# coordinate of an administrative centre falls outside its region.
REGION_BOXES = {
    "64": (49.8, 53.2, 42.4, 51.0),
    "37": (56.3, 57.8, 39.3, 43.4),
    "56": (50.5, 54.4, 50.7, 61.7),
    "65": (43.3, 54.5, 141.0, 156.8),
    "03": (49.9, 57.3, 98.6, 117.0),
}


def test_municipal_centres_lie_in_their_region():
    munis = load("municipalities")
    assert (munis.admin_centre.str.len() > 0).all()
    for row in munis.itertuples():
        south, north, west, east = REGION_BOXES[row.region_code]
        assert south <= float(row.latitude) <= north and west <= float(row.longitude) <= east, row.municipality_name
    # a city okrug is its own centre: the capitals sit on their region's capital city
    capitals = munis[as_bool(munis.is_capital)].set_index("region_code")
    centre = capitals[["latitude", "longitude"]].astype(float).round(1)
    assert centre.loc["64"].tolist() == [51.5, 46.0]  # Саратов
    assert centre.loc["65"].tolist() == [47.0, 142.7]  # Южно-Сахалинск


def test_sectors_and_region_sectors():
    sectors, region_sectors = load("sectors"), load("region_sectors")
    assert_unique(sectors, ["sector_code"])
    assert set(sectors[as_bool(sectors.is_core)].sector_code) == CORE_SECTORS
    assert_unique(region_sectors, ["region_code", "sector_code"])
    assert_fk(region_sectors, "sector_code", sectors, "sector_code")
    assert_fk(region_sectors, "region_code", load("regions"), "region_code")
    by_region = region_sectors.groupby("region_code").sector_code.apply(set)
    for region, codes in by_region.items():
        assert CORE_SECTORS <= codes, region
    assert len(by_region["65"]) == 18, "Sakhalin has 18 topics (003 §3.4)"
    assert all(len(by_region[r]) == 8 for r in ("64", "37", "56", "03"))
    local = region_sectors.set_index(["region_code", "sector_code"]).sector_name_local
    assert local["03", "social"] == "Социальная политика"


def test_categories_and_subcategories():
    sectors, cats, subs = load("sectors"), load("categories"), load("subcategories")
    assert_unique(cats, ["category_code"])
    assert_fk(cats, "sector_code", sectors, "sector_code")
    assert (cats.category_code.str.split(".").str[0] == cats.sector_code).all()
    is_other = as_bool(cats.is_other)
    assert (cats.category_code.str.endswith(".99") == is_other).all()
    for sector in sectors.sector_code:
        mine = cats[cats.sector_code == sector]
        assert (~as_bool(mine.is_other)).sum() >= 3, sector
        assert as_bool(mine.is_other).sum() == 1, sector
    days = cats.deadline_working_days.astype(int)
    assert days.between(1, 30).all()
    by_name = cats.set_index("category_name").deadline_working_days.astype(int)
    assert by_name["Отопление"] < by_name["Капитальный ремонт многоквартирных домов"]
    # categories the sandbox needs for its seasons
    names = set(cats.category_name)
    assert {"Отопление", "Уборка снега и наледи", "Ямы на дорогах", "Вывоз твердых коммунальных отходов"} <= names

    assert_unique(subs, ["subcategory_code"])
    assert_fk(subs, "category_code", cats, "category_code")
    assert (subs.subcategory_code.str.rsplit(".", n=1).str[0] == subs.category_code).all()
    per_cat = subs.groupby("category_code").size().reindex(cats.category_code, fill_value=0)
    assert per_cat.between(2, 4).all(), per_cat[~per_cat.between(2, 4)]


def test_classifier_codes():
    codes = load("classifier_codes")
    assert len(codes) >= 40
    assert_unique(codes, ["classifier_code"])
    assert codes.classifier_code.str.fullmatch(r"000[1-5]\.\d{4}\.\d{4}\.\d{4}").all()
    assert set(codes.classifier_code.str[:4]) == {"0001", "0002", "0003", "0004", "0005"}
    assert_fk(codes, "category_code", load("categories"), "category_code")


def test_agencies():
    regions, munis, agencies = load("regions"), load("municipalities"), load("agencies")
    assert_unique(agencies, ["agency_id"])
    assert_fk(agencies, "region_code", regions, "region_code")
    assert set(agencies.agency_kind) == {"РОИВ", "ОМСУ", "подведомственная"}
    pattern = {"РОИВ": r"ROIV-[a-z0-9-]+", "ОМСУ": r"OMSU-\d{8}", "подведомственная": r"SUB-[a-z0-9-]+"}
    for row in agencies.itertuples():
        assert re.fullmatch(rf"{row.region_code}-{pattern[row.agency_kind]}", row.agency_id), row.agency_id

    omsu = agencies[agencies.agency_kind == "ОМСУ"]
    assert (omsu.agency_id == omsu.region_code + "-OMSU-" + omsu.oktmo).all()
    assert_fk(omsu, "oktmo", munis, "oktmo")
    joined = omsu.merge(munis, on="oktmo", suffixes=("", "_m"))
    assert (joined.region_code == joined.region_code_m).all()
    assert set(omsu.oktmo) == set(munis.oktmo), "one administration per municipality"
    assert (agencies[agencies.agency_kind != "ОМСУ"].oktmo == "").all()

    sub = agencies[agencies.agency_kind == "подведомственная"]
    assert (sub.parent_agency_id != "").all()
    roiv = agencies[agencies.agency_kind == "РОИВ"]
    assert_fk(sub, "parent_agency_id", roiv, "agency_id")
    assert (agencies[agencies.agency_kind != "подведомственная"].parent_agency_id == "").all()


def test_agency_sectors_cover_every_region_sector():
    agencies, agency_sectors = load("agencies"), load("agency_sectors")
    assert_unique(agency_sectors, ["agency_id", "sector_code"])
    assert_fk(agency_sectors, "agency_id", agencies, "agency_id")
    assert_fk(agency_sectors, "sector_code", load("sectors"), "sector_code")
    assert set(agencies.agency_id) == set(agency_sectors.agency_id), "every agency answers for some sector"
    full = agency_sectors.merge(agencies, on="agency_id")
    region_sectors = load("region_sectors")
    # an agency only answers for sectors its region's ЦУР has
    allowed = set(zip(region_sectors.region_code, region_sectors.sector_code))
    assert set(zip(full.region_code, full.sector_code)) <= allowed
    roiv_cover = set(zip(full[full.agency_kind == "РОИВ"].region_code, full[full.agency_kind == "РОИВ"].sector_code))
    assert allowed <= roiv_cover, sorted(allowed - roiv_cover)


def test_agency_names_history():
    agencies, names = load("agencies"), load("agency_names")
    assert_fk(names, "agency_id", agencies, "agency_id")
    assert set(names.agency_id) == set(agencies.agency_id)
    assert_unique(names, ["agency_id", "valid_from"])
    start = pd.to_datetime(names.valid_from, format="%Y-%m-%d")
    end = pd.to_datetime(names.valid_to.replace("", "9999-12-31"), format="%Y-%m-%d")
    assert (start < end).all()
    for agency_id, rows in names.assign(start=start, end=end).sort_values("start").groupby("agency_id"):
        # intervals are [valid_from, valid_to): consecutive, no overlap; only the latest may be open (current)
        assert (rows.start.iloc[1:].values == rows.end.iloc[:-1].values).all(), agency_id
        assert (rows.valid_to.iloc[:-1] != "").all(), agency_id

    renamed = names[names.agency_id.isin(["65-ROIV-fish", "65-ROIV-tourism"])].sort_values(["agency_id", "valid_from"])
    assert renamed[["agency_id", "agency_name", "valid_from", "valid_to"]].values.tolist() == [
        ["65-ROIV-fish", "Агентство по рыболовству Сахалинской области", "2000-01-01", "2023-09-08"],
        ["65-ROIV-fish", "Министерство по рыболовству Сахалинской области", "2023-09-08", ""],
        ["65-ROIV-tourism", "Агентство по туризму Сахалинской области", "2000-01-01", "2023-09-08"],
        ["65-ROIV-tourism", "Министерство туризма Сахалинской области", "2023-09-08", ""],
    ]
    assert names.groupby("agency_id").size().max() == 2 and (names.groupby("agency_id").size() == 2).sum() == 2


def test_staff_channels_statuses():
    staff = load("sector_staff")
    assert_unique(staff, ["region_code", "sector_code"])
    region_sectors = load("region_sectors")
    assert set(zip(staff.region_code, staff.sector_code)) == set(
        zip(region_sectors.region_code, region_sectors.sector_code)
    )
    assert staff.staff_count.astype(int).between(1, 6).all()

    channels = load("channels")
    assert dict(zip(channels.channel_code, channels.appeal_kind_default)) == {
        "pos": "сообщение",
        "incident": "инцидент из соцсетей",
        "sed": "обращение 59-ФЗ",
        "portal": "сообщение",
    }

    statuses = load("statuses")
    assert set(statuses.status_code) == STATUSES
    terminal = set(statuses[as_bool(statuses.is_terminal)].status_code)
    answered = set(statuses[as_bool(statuses.is_answered)].status_code)
    assert terminal == {"closed"} and answered == {"answered", "closed"}


def test_indicators_and_targets():
    ind, targets = load("indicators"), load("indicator_targets")
    assert_unique(ind, ["indicator_code"])
    assert set(ind.indicator_kind) == {"mandatory", "additional"}
    assert set(ind[ind.indicator_kind == "mandatory"].function) == FUNCTIONS, "a mandatory indicator per function"
    assert set(ind.function) <= FUNCTIONS
    assert set(ind.direction) <= {"higher_is_better", "lower_is_better"}
    assert set(ind.source) == {"computed", "manual"}
    computed = ind[ind.source == "computed"]
    assert set(computed.computed_metric) == COMPUTED_METRICS
    assert (ind[ind.source == "manual"].computed_metric == "").all()
    additional = ind[ind.indicator_kind == "additional"]
    for col in ("federal_project_result", "qualitative_characteristic", "quantitative_characteristic"):
        assert (additional[col] != "").all(), col
        assert (ind[ind.indicator_kind == "mandatory"][col] == "").all(), col
    assert (ind.owner_role != "").all()

    assert_unique(targets, ["indicator_code", "region_code", "year"])
    assert_fk(targets, "indicator_code", ind, "indicator_code")
    assert_fk(targets, "region_code", load("regions"), "region_code")
    assert targets.year.astype(int).between(2020, 2026).all()
    assert targets.target_date.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert (pd.to_datetime(targets.target_date).dt.year == targets.year.astype(int)).all()
    percent = targets.merge(ind, on="indicator_code").query("unit == '%'")
    assert percent.target_value.astype(float).between(0, 100).all()
    # additional indicators are planned for 2020–2024 only (001 §4.8, 002 §21)
    add_years = targets[targets.indicator_code.isin(additional.indicator_code)].year.astype(int)
    assert add_years.between(2020, 2024).all()


def test_roadmap_events():
    events = load("roadmap_events")
    assert events.event_code.tolist() == ["1.1", "1.2", "1.3"] + [f"2.{i}" for i in range(1, 9)] + [
        f"3.{i}" for i in range(1, 5)
    ]
    assert set(events.stage) == {"Этап создания", "Этап функционирования", "Этап развития"}
    deadlines = dict(zip(events.event_code, events.deadline.map(date.fromisoformat)))
    assert deadlines["1.1"] == date(2020, 10, 31) and deadlines["1.3"] == date(2020, 11, 30)
    assert deadlines["2.7"] == date(2022, 12, 31) and deadlines["3.4"] == date(2024, 12, 31)
    assert "не менее 50 процентов" in events.set_index("event_code").event_name["2.7"]
    assert (events[["event_name", "responsible_roles", "expected_result"]] != "").all().all()


@pytest.mark.skipif(shutil.which("dbt", path=str(Path(sys.executable).parent)) is None, reason="dbt not installed")
def test_dbt_seed_loads_with_declared_types(tmp_path):
    """dbt seed on DuckDB keeps codes as text and dates as dates (isolated project in tmp_path)."""
    seeds_dir = tmp_path / "seeds"
    seeds_dir.mkdir()
    shutil.copy(PROPERTIES, seeds_dir)
    for name in properties():
        shutil.copy(SEEDS / f"{name}.csv", seeds_dir)
    (tmp_path / "dbt_project.yml").write_text(
        "name: seedcheck\nversion: '1.0'\nconfig-version: 2\nprofile: seedcheck\n"
        "seed-paths: ['seeds']\nseeds:\n  seedcheck:\n    +quote_columns: false\n",
        encoding="utf-8",
    )
    warehouse = tmp_path / "w.duckdb"
    (tmp_path / "profiles.yml").write_text(
        f"seedcheck:\n  target: d\n  outputs:\n    d:\n      type: duckdb\n      path: '{warehouse}'\n"
        "      threads: 1\n",
        encoding="utf-8",
    )
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [str(dbt), "seed", "--profiles-dir", str(tmp_path), "--project-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"DO_NOT_TRACK": "1", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select region_name from regions where region_code = '03'").fetchone() == ("Республика Бурятия",)
    types = dict(
        con.execute("select table_name || '.' || column_name, data_type from information_schema.columns").fetchall()
    )
    assert types["municipalities.oktmo"] == "VARCHAR"
    assert types["agency_names.valid_to"] == "DATE"
    assert types["municipalities.is_capital"] == "BOOLEAN"
    assert types["indicator_targets.target_date"] == "DATE"
    assert (
        con.execute("select count(*) from agency_names where valid_to is null").fetchone()[0]
        == con.execute("select count(*) from agencies").fetchone()[0]
    )
