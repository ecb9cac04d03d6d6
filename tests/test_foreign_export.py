"""Acceptance of issue 14: a foreign regional export, onboarded with a mapping file, through the real pipeline.

The export is written here by hand (not by the sandbox generator) in the vocabulary of the worked example
`docs/examples/mapping_portal_elektronnaya_priemnaya.yaml`: its own file names, cp1251 and commas, ISO-like local times,
its own headers, status words, rubric, agency and district names. It holds registrations from 2012 to 2014 in Иваново
(Europe/Moscow: UTC+4 until 26.10.2014, then UTC+3) and Южно-Сахалинск (Asia/Sakhalin: UTC+11 until 26.10.2014, then
UTC+10), about 10 % rubrics nobody mapped, a status word nobody mapped (`Перенаправлено`), and citizens with several
appeals, some registered at the same moment. In the same batch: other regions' exports in the contract's format (a
portal in Саратов, СЭД in Оренбург) and one broken file.

The real extraction asset, the raw quality checks and the dbt build run in one Dagster materialization. The test
asserts that nothing of the other sources and regions is blocked, and that received, answered, answered on time and
complete per region × month (appeal_outcomes, governor_monthly_summary) equal a pandas computation from this file's own
rows, with zoneinfo for the local times, `holidays` for the working days and docs/kpi_methodology.md's rules.
"""

import csv
import datetime as dt
import io
import random
import shutil
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pytest
from file_pipeline import file_sources_run
from test_dbt_history import ZONES, expected_deadline

from dagster_project.lib import held_loads, paths

pytestmark = pytest.mark.integration

EXAMPLE = paths.REPO_ROOT / "docs" / "examples" / "mapping_portal_elektronnaya_priemnaya.yaml"
FOREIGN_HEADER = [
    "ID обращения",
    "Поступило",
    "Рубрика",
    "Район",
    "Ответственный",
    "ФИО",
    "Телефон для связи",
    "E-mail",
    "Место",
    "Суть обращения",
    "Состояние",
    "Ответ дан",
    "Оценка заявителя",
    "Изменено",
]
RUBRICS = {
    "Отопление": 3,
    "Вода и канализация": 3,
    "Управляющие компании": 10,
    "Ямы на дорогах": 10,
    "Уборка снега": 3,
    "Вывоз мусора": 3,
}  # → seeds/categories.csv deadline_working_days
UNMAPPED_RUBRICS = ("Парковки", "Шум во дворе")  # land as the «не определено» category: 10 working days
DEFAULT_WORKING_DAYS = 10
PLACES = {
    "37": ("г. Иваново", "Администрация города Иваново"),
    "65": ("г. Южно-Сахалинск", "Министерство ЖКХ Сахалинской области"),
}
FOREIGN_FORMAT = "%Y-%m-%d %H:%M"
CONTRACT_FORMAT = "%d.%m.%Y %H:%M"
WINDOW_DAYS = 30  # dbt var repeat_window_days


def local_to_utc(region: str, local: dt.datetime) -> dt.datetime:
    return local.replace(tzinfo=ZoneInfo(ZONES[region])).astimezone(dt.UTC).replace(tzinfo=None)


def foreign_appeals(rng: random.Random) -> list[dict]:
    """The export's appeals as the test knows them (local times, the citizen, the rubric, the answer)."""
    appeals = []
    citizens = [(f"Заявитель {i} Иванович", f"8 (9{i:02d}) 555-{i:02d}-{i % 7:02d}") for i in range(40)]

    def add(region, registered, rubric, citizen, answered=None, status=None):
        appeals.append(
            {
                "id": f"E{region}-{len(appeals) + 1:04d}",
                "region": region,
                "registered": registered,
                "rubric": rubric,
                "citizen": citizens[citizen],
                "answered": answered,
                "status": status or ("Отвечено" if answered else rng.choice(["Принято", "На исполнении"])),
            }
        )

    start = dt.datetime(2012, 1, 1)
    for _ in range(300):
        region = rng.choice(["37", "65"])
        day = start + dt.timedelta(days=rng.randrange(3 * 366))
        hour = 0 if rng.random() < 0.2 else rng.randrange(24)  # many in the first local hour: the date moves in UTC
        registered = day.replace(hour=hour, minute=rng.randrange(60))
        if registered.date() == dt.date(2014, 10, 26) and registered.hour in (0, 1):
            registered = registered.replace(hour=3)  # the repeated hour of that night is ambiguous in the file too
        rubric = rng.choice(UNMAPPED_RUBRICS) if rng.random() < 0.1 else rng.choice(list(RUBRICS))
        answered = registered + dt.timedelta(hours=rng.uniform(2, 24 * 25)) if rng.random() < 0.85 else None
        add(region, registered, rubric, rng.randrange(len(citizens)), answered)
    # the zone changes, midnight and month boundaries, by hand
    for region in ("37", "65"):
        for local in (
            "2014-10-26 00:30",
            "2014-10-26 03:30",
            "2014-10-25 23:30",
            "2012-12-31 23:30",
            "2013-01-01 00:30",
            "2014-02-28 23:59",
            "2014-03-01 00:00",
        ):
            registered = dt.datetime.fromisoformat(local)
            add(region, registered, "Отопление", 0, registered + dt.timedelta(days=2, hours=3))
    # simultaneous appeals of one citizen in one rubric, one answered: neither is a reaction to the other's answer
    moment = dt.datetime(2013, 11, 5, 9, 0)
    add("37", moment, "Ямы на дорогах", 1, moment + dt.timedelta(days=3))
    add("37", moment, "Ямы на дорогах", 1, moment + dt.timedelta(days=4))
    # the next appeal exactly 30 days after the answer (incomplete), 30 days and a minute after (complete),
    # before the answer (does not count)
    answer = dt.datetime(2013, 3, 10, 12, 0)
    add("65", answer - dt.timedelta(days=2), "Уборка снега", 2, answer)
    add("65", answer + dt.timedelta(days=30), "Уборка снега", 2)
    add("65", answer - dt.timedelta(days=1), "Уборка снега", 2)
    answer2 = dt.datetime(2014, 5, 10, 12, 0)
    add("37", answer2 - dt.timedelta(days=2), "Вывоз мусора", 3, answer2)
    add("37", answer2 + dt.timedelta(days=30, minutes=1), "Вывоз мусора", 3)
    # an unmapped rubric never makes another answer incomplete
    add("37", answer2 - dt.timedelta(days=2), "Парковки", 4, answer2)
    add("37", answer2 + dt.timedelta(days=1), "Парковки", 4)
    # a status word the mapping does not know: quarantined
    for i in range(6):
        add(rng.choice(["37", "65"]), dt.datetime(2013, 4, 1 + i, 10, 0), "Отопление", 5 + i, status="Перенаправлено")
    return appeals


def foreign_csv(appeals: list[dict], encoding: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=",", lineterminator="\r\n")
    writer.writerow(FOREIGN_HEADER)
    for a in appeals:
        district, agency = PLACES[a["region"]]
        answered = a["answered"].strftime(FOREIGN_FORMAT) if a["answered"] else ""
        writer.writerow(
            [
                a["id"],
                a["registered"].strftime(FOREIGN_FORMAT),
                a["rubric"],
                district,
                agency,
                a["citizen"][0],
                a["citizen"][1],
                "",
                "ул. Советская, 10",
                "Просьба разобраться",
                a["status"],
                answered,
                "",
                answered or a["registered"].strftime(FOREIGN_FORMAT),
            ]
        )
    return buffer.getvalue().encode(encoding)


def contract_appeals() -> dict[str, list[dict]]:
    """Other regions' appeals in the contract's own format (2025, so the as-of moment is theirs)."""
    portal, sed = [], []
    for i in range(12):  # their latest versions near the СЭД export's day: no source looks silent (freshness)
        registered = dt.datetime(2025, 3, 20, 8, 0) + dt.timedelta(days=i, hours=i)
        answered = registered + dt.timedelta(days=i % 5, hours=5) if i % 4 else None
        portal.append(
            {
                "Номер": f"P64-{i:04d}",
                "Портал": "Наш город — Саратов",
                "Дата создания": registered.strftime(CONTRACT_FORMAT),
                "Категория": "roads.01",
                "Подкатегория": "",
                "ОКТМО": "63701000",
                "Исполнитель": "64-ROIV-minstroy",
                "Заявитель": f"Петров {i}",
                "Телефон": f"+7 912 000-00-{i:02d}",
                "Эл. почта": "",
                "Адрес": "ул. Мира, 1",
                "Текст": "Яма",
                "Статус": "ответ дан" if answered else "в работе",
                "Дата ответа": answered.strftime(CONTRACT_FORMAT) if answered else "",
                "Возвратов на доработку": "0",
                "Оценка": "",
                "Дата изменения": (answered or registered).strftime(CONTRACT_FORMAT),
            }
        )
    for i in range(8):
        registered = dt.datetime(2025, 2, 25, 10, 0) + dt.timedelta(days=i)
        answered = registered + dt.timedelta(days=10 + 3 * i) if i % 3 else None
        sed.append(
            {
                "Рег. номер": f"ОГ-56-{i:04d}",
                "Дата регистрации": registered.strftime(CONTRACT_FORMAT),
                "Код классификатора": "0005.0005.0055.1122",
                "Код региона": "56",
                "ОКТМО": "53701000",
                "Код органа": "56-ROIV-minstroy",
                "Заявитель": f"Сидоров {i}",
                "Телефон": f"+7 922 000-00-{i:02d}",
                "Эл. почта": "",
                "Адрес": "ул. Мира, 2",
                "Текст обращения": "Течёт крыша",
                "Статус": "дан ответ" if answered else "на рассмотрении",
                "Дата продления": "",
                "Кол-во перенаправлений": "0",
                "Дата перенаправления": "",
                "Дата ответа": answered.strftime(CONTRACT_FORMAT) if answered else "",
                "Повторное": "нет",
                "Дата выгрузки": "05.04.2025 23:59",
            }
        )
    return {"portal": portal, "sed": sed}


def contract_csv(rows: list[dict], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def expected_appeals(foreign: list[dict], contract: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per appeal that must land: region, local month, UTC registration, answer, deadline, citizen, category."""
    rows = []
    for a in foreign:
        if a["status"] == "Перенаправлено":
            continue
        region = a["region"]
        working_days = RUBRICS.get(a["rubric"], DEFAULT_WORKING_DAYS)
        _, deadline_at = expected_deadline(region, a["registered"].date(), working_days)
        rows.append(
            (
                region,
                a["registered"].date().replace(day=1),
                local_to_utc(region, a["registered"]),
                local_to_utc(region, a["answered"]) if a["answered"] else None,
                deadline_at,
                a["citizen"],
                a["rubric"] if a["rubric"] in RUBRICS else None,
                local_to_utc(region, a["answered"] or a["registered"]),
            )
        )
    for r in contract["portal"]:
        registered = dt.datetime.strptime(r["Дата создания"], CONTRACT_FORMAT)
        answered = dt.datetime.strptime(r["Дата ответа"], CONTRACT_FORMAT) if r["Дата ответа"] else None
        _, deadline_at = expected_deadline("64", registered.date(), 10)  # roads.01
        rows.append(
            (
                "64",
                registered.date().replace(day=1),
                local_to_utc("64", registered),
                local_to_utc("64", answered) if answered else None,
                deadline_at,
                r["Заявитель"],
                "roads.01",
                local_to_utc("64", dt.datetime.strptime(r["Дата изменения"], CONTRACT_FORMAT)),
            )
        )
    for r in contract["sed"]:
        registered = dt.datetime.strptime(r["Дата регистрации"], CONTRACT_FORMAT)
        answered = dt.datetime.strptime(r["Дата ответа"], CONTRACT_FORMAT) if r["Дата ответа"] else None
        _, deadline_at = expected_deadline("56", registered.date(), None)  # 59-ФЗ: 30 calendar days
        rows.append(
            (
                "56",
                registered.date().replace(day=1),
                local_to_utc("56", registered),
                local_to_utc("56", answered) if answered else None,
                deadline_at,
                r["Заявитель"],
                "housing.03",
                local_to_utc("56", dt.datetime.strptime(r["Дата выгрузки"], CONTRACT_FORMAT)),
            )
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "region_code",
            "month_start",
            "registered_at",
            "answered_at",
            "deadline_at",
            "citizen",
            "category",
            "updated_at",
        ],
    )
    frame["is_answered"] = frame.answered_at.notna()
    frame["is_answered_on_time"] = frame.is_answered & (frame.answered_at <= frame.deadline_at)
    # полнота: answered, and no appeal of the same citizen in the same known category registered strictly after the
    # answer and at most 30 days after it
    complete = []
    for row in frame.itertuples():
        later = (
            frame[
                (frame.citizen == row.citizen)
                & (frame.category == row.category)
                & frame.category.notna()
                & (frame.registered_at > row.answered_at)
                & (frame.registered_at <= row.answered_at + dt.timedelta(days=WINDOW_DAYS))
            ]
            if row.is_answered and row.category is not None
            else frame.iloc[0:0]
        )
        complete.append(bool(row.is_answered) and later.empty)
    frame["is_complete"] = complete
    as_of = frame.updated_at.max()
    frame["is_open_overdue"] = ~frame.is_answered & (frame.deadline_at < as_of)
    return frame


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("foreign")
    data, inbox, mappings = root / "data", root / "inbox", root / "mappings"
    rng = random.Random(14)
    foreign = foreign_appeals(rng)
    contract = contract_appeals()
    files = {
        inbox / "portal" / "priemnaya_37_20141231.csv": foreign_csv(
            [a for a in foreign if a["region"] == "37"], "cp1251"
        ),
        inbox / "portal" / "priemnaya_65_20141231.csv": foreign_csv(
            [a for a in foreign if a["region"] == "65"], "utf-8-sig"
        ),
        inbox / "portal" / "portal_64_20250310.csv": contract_csv(contract["portal"]),
        inbox / "sed" / "sed_56_20250405.csv": contract_csv(contract["sed"]),
        inbox / "portal" / "portal_03_20250310.csv": contract_csv(contract["portal"][:2], "utf-16"),  # rejected
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    mappings.mkdir()
    shutil.copy(EXAMPLE, mappings / EXAMPLE.name)
    with file_sources_run(data, inbox, mappings, "test-pii-key-foreign-export-0123456789") as result:
        warehouse = data / "warehouse.duckdb"
        with duckdb.connect(str(warehouse), read_only=True) as con:
            state = {
                "outcomes": con.sql(
                    "select region_code, month_start, is_answered, is_answered_on_time, is_complete, "
                    "is_open_overdue, category_code from main.appeal_outcomes"
                ).df(),
                "governor": con.sql(
                    "select region_code, month_start, received, answered, on_time_share "
                    "from main.governor_monthly_summary"
                ).df(),
                "quarantine": con.sql("select source, record_key, reason from ops.quarantine").df(),
                "files": con.sql("select original_name, outcome, reason from ops.processed_files").df(),
                "load_log": con.sql("select source, fetched, landed, quarantined from ops.load_log").df(),
                "unknown": con.sql(
                    "select region_code, code_kind, source_code, sum(appeals) as appeals "
                    "from main.unknown_codes_monthly group by all"
                ).df(),
            }
        state["held"] = held_loads.held_parts()
    return result, state, foreign, expected_appeals(foreign, contract), inbox


def test_the_batch_lands_with_exact_counts_and_nothing_is_blocked(pipeline):
    result, state, foreign, expected, inbox = pipeline
    assert result.success
    failed = [
        (e.asset_key.to_user_string(), e.check_name)
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity.value == "ERROR"
    ]
    assert failed == [] and state["held"] == []
    files = state["files"].set_index("original_name")
    assert files.outcome.to_dict() == {
        "priemnaya_37_20141231.csv": "processed",
        "priemnaya_65_20141231.csv": "processed",
        "portal_64_20250310.csv": "processed",
        "sed_56_20250405.csv": "processed",
        "portal_03_20250310.csv": "rejected",
    }
    assert "wrong encoding utf-16" in files.reason["portal_03_20250310.csv"]
    unknown_status = [a for a in foreign if a["status"] == "Перенаправлено"]
    quarantine = state["quarantine"]
    assert len(quarantine) == len(unknown_status) == 6
    assert set(quarantine.reason) == {"unknown status 'перенаправлено'"}
    log = state["load_log"].set_index("source")
    assert log.loc["portal_appeals"].tolist() == [len(foreign) + 12, len(foreign) + 12 - 6, 6]
    assert log.loc["sed_appeals"].tolist() == [8, 8, 0]
    # every appeal that landed reached the marts, each region's and source's
    assert sorted(state["outcomes"].region_code.value_counts().items()) == sorted(
        expected.region_code.value_counts().items()
    )


def test_unmapped_rubrics_are_counted_as_unknown(pipeline):
    _, state, foreign, expected, _ = pipeline
    landed_unmapped = expected[expected.category.isna()]
    assert 0.05 < len(landed_unmapped) / len(expected[expected.region_code.isin(["37", "65"])]) < 0.15
    outcomes = state["outcomes"]
    assert (outcomes.category_code == "unknown").sum() == len(landed_unmapped)
    unknown = state["unknown"]
    categories = unknown[unknown.code_kind == "category"].groupby("source_code").appeals.sum().to_dict()
    assert categories == {
        rubric: sum(1 for a in foreign if a["rubric"] == rubric and a["status"] != "Перенаправлено")
        for rubric in UNMAPPED_RUBRICS
    }
    assert set(unknown.code_kind) == {"category"}  # the mapping translated every agency and district


def test_numbers_per_region_and_month_equal_an_independent_computation(pipeline):
    _, state, _, expected, _ = pipeline
    measures = ["is_answered", "is_answered_on_time", "is_complete", "is_open_overdue"]

    def per_month(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.assign(month_start=pd.to_datetime(frame.month_start).dt.strftime("%Y-%m"), received=1)
        return frame.groupby(["region_code", "month_start"])[["received", *measures]].sum().astype(int).sort_index()

    actual, wanted = per_month(state["outcomes"]), per_month(expected)
    pd.testing.assert_frame_equal(actual, wanted)
    assert wanted.is_complete.sum() < wanted.is_answered.sum()  # the citizens' later appeals made some incomplete
    governor = state["governor"].assign(month_start=lambda f: pd.to_datetime(f.month_start).dt.strftime("%Y-%m"))
    governor = governor.set_index(["region_code", "month_start"]).sort_index()
    assert governor.received.to_dict() == wanted.received.to_dict()
    assert governor.answered.to_dict() == wanted.is_answered.to_dict()
    denominator = wanted.is_answered + wanted.is_open_overdue
    share = (wanted.is_answered_on_time / denominator).where(denominator > 0).round(4)  # the mart rounds to 4
    pd.testing.assert_series_equal(
        governor.on_time_share.astype(float), share.astype(float), check_names=False, atol=1e-9
    )


def test_local_dates_across_the_zone_changes(pipeline):
    """The hand-placed registrations land in the local month of their region (2014-02-28 23:59 stays in February,
    2014-03-01 00:00 is March, 2013-01-01 00:30 is January whatever the UTC date)."""
    _, state, foreign, expected, _ = pipeline
    for region in ("37", "65"):
        months = expected[expected.region_code == region].month_start.value_counts()
        assert (
            months[dt.date(2014, 2, 1)] >= 1 and months[dt.date(2014, 3, 1)] >= 1 and months[dt.date(2013, 1, 1)] >= 1
        )
    utc_months = {
        local_to_utc(a["region"], a["registered"]).date().replace(day=1) != a["registered"].date().replace(day=1)
        for a in foreign
    }
    assert utc_months == {True, False}  # some registrations are in another month in UTC than locally
