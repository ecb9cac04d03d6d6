"""Onboarding an export with its own vocabulary (issue 14): mapping files, the unknown-status NULL trap, the dry run
`cli check-file`, and a real-source installation that never generates nor deletes sandbox files.

The foreign files here are written by hand (not by the sandbox generator), in the worked example's vocabulary
(docs/examples/mapping_portal_elektronnaya_priemnaya.yaml).
"""

import csv
import io
import json
import shutil
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dagster_project import cli
from dagster_project.defs.extract import conform, mapping, wire
from dagster_project.defs.extract.check_file import check_file
from dagster_project.defs.extract.files import extract_files
from dagster_project.defs.extract.load_result import LoadResult
from dagster_project.defs.extract.specs import PORTAL_APPEALS, POS_MESSAGES
from dagster_project.lib import paths
from sandbox import generate
from sandbox import pipeline as sandbox_pipeline

KEY = b"test-key"
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


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "data" / "warehouse.duckdb"))
    monkeypatch.setenv("CUR_SOURCE_MAPPINGS_DIR", str(tmp_path / "mappings"))
    for name in cli.REAL_SOURCE_ENV:
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def foreign_row(number: str, **cells) -> dict:
    row = {
        "ID обращения": number,
        "Поступило": "2013-06-15 00:30",
        "Рубрика": "Ямы на дорогах",
        "Район": "г. Иваново",
        "Ответственный": "Администрация города Иваново",
        "ФИО": "Кузнецова Анна Петровна",
        "Телефон для связи": "8 (910) 111-22-33",
        "E-mail": "",
        "Место": "ул. Лежневская, 120",
        "Суть обращения": "Яма во дворе",
        "Состояние": "Отвечено",
        "Ответ дан": "2013-06-20 17:00",
        "Оценка заявителя": "5",
        "Изменено": "2013-06-20 17:00",
    }
    return row | cells


def write_foreign(path: Path, rows: list[dict], encoding: str = "cp1251") -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FOREIGN_HEADER, delimiter=",", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_mapping(directory: Path, text: str, name: str = "m.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return directory / name


def landed(table: str) -> list[dict]:
    return [row for f in sorted(paths.raw_dir(table).glob("*/*.parquet")) for row in pq.read_table(f).to_pylist()]


def run_portal() -> LoadResult:
    result = LoadResult(PORTAL_APPEALS.name)
    extract_files(PORTAL_APPEALS, paths.inbox_dir("portal"), result, key=KEY, run_id="run-1")
    return result


# --- the mapping file -----------------------------------------------------------------------------------------


def test_the_worked_example_is_a_valid_mapping():
    spec = mapping.load_mapping(EXAMPLE)
    assert spec.name == "portal_appeals" and spec.mapping == EXAMPLE.name
    assert spec.headers["Поступило"] == "created_at" and spec.identity_headers == ("ФИО", "Телефон для связи", "E-mail")
    assert spec.constants == {"Портал": "Электронная приёмная", "Подкатегория": None, "Возвратов на доработку": "0"}
    assert (
        spec.status_map["отвечено"] == "answered" and spec.value_maps["category_code"]["ямы на дорогах"] == "roads.01"
    )


def _without(raw: dict, column: str) -> dict:
    return {k: v for k, v in raw["columns"].items() if k != column}


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda raw: {"source": "pos_messages"}, "'pos_messages' is not a file source"),
        (lambda raw: {"statuses": {"Решено": "solved"}}, "'решено' → 'solved' is not a warehouse status"),
        (
            lambda raw: {"statuses": {"Решено": "answered", "РЕШЕНО": "closed"}},
            "is listed twice (case-insensitively) with different targets",
        ),
        (lambda raw: {"categories": {"Дороги": "roads.77"}}, "'дороги' → 'roads.77' is not in seeds/categories.csv"),
        (lambda raw: {"agencies": {"Мэрия": "37-MERIA"}}, "'мэрия' → '37-MERIA' is not in seeds/agencies.csv"),
        (
            lambda raw: {"columns": _without(raw, "Поступило")},
            "required contract columns neither mapped nor given as constants: ['Дата создания']",
        ),
        (
            lambda raw: {"columns": _without(raw, "ID обращения") | {"ID обращения": "Номер заявки"}},
            "'ID обращения' → 'Номер заявки': not a header of the portal_appeals contract",
        ),
        (
            lambda raw: {"columns": _without(raw, "Изменено") | {"Изменено": "Дата создания"}},
            "more than one export column fills 'Дата создания'",
        ),
        (
            lambda raw: {"columns": _without(raw, "ФИО"), "constants": raw["constants"] | {"Заявитель": "аноним"}},
            "'Заявитель' is the applicant's personal data",
        ),
        (
            lambda raw: {
                "columns": {k: v for k, v in raw["columns"].items() if k not in ("ФИО", "Телефон для связи", "E-mail")}
            },
            "no column is the applicant",
        ),
        (lambda raw: {"file_name": "priemnaya_(?P<date>\\d{8}).csv"}, "file_name has no `region` group"),
        (lambda raw: {"file_name": "priemnaya_(.csv"}, "file_name: not a regular expression"),
        (lambda raw: {"region": "99", "file_name": "p.csv"}, "region: '99' is not a region of seeds/regions.csv"),
        (lambda raw: {"encodings": ["cp1252x"]}, "'cp1252x' is not an encoding"),
        (lambda raw: {"date_formats": ["%Y-%m"]}, "does not read back the date"),
        (lambda raw: {"delimiter": ";;"}, "must be one character"),
        (lambda raw: {"colums": {}}, "unknown keys ['colums']"),
    ],
)
def test_an_invalid_mapping_is_refused_with_a_clear_error(tmp_path, change, problem):
    import yaml

    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    path = write_mapping(tmp_path, yaml.safe_dump(raw | change(raw), allow_unicode=True))
    with pytest.raises(mapping.MappingError) as error:
        mapping.load_mapping(path)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_a_mapped_export_lands_in_the_warehouse_codes(tmp_path):
    shutil.copy(EXAMPLE, write_mapping(tmp_path / "mappings", "", "placeholder.yaml"))
    (tmp_path / "mappings" / "placeholder.yaml").unlink()
    shutil.copy(EXAMPLE, tmp_path / "mappings" / EXAMPLE.name)
    inbox = paths.inbox_dir("portal")
    write_foreign(
        inbox / "priemnaya_37_20141231.csv",
        [
            foreign_row("E-1"),
            foreign_row(
                "E-2", **{"Рубрика": "Парковки", "Состояние": "перенаправлено", "Ответ дан": "", "Оценка заявителя": ""}
            ),
            foreign_row(
                "E-3",
                **{
                    "Рубрика": "Парковки",
                    "Ответственный": "Неизвестный орган",
                    "Состояние": "Принято",
                    "Ответ дан": "",
                    "Оценка заявителя": "",
                    "Изменено": "2013-06-15 00:30",
                },
            ),
            foreign_row("E-4", **{"Ответ дан": "2013-06-14 10:00"}),  # answered before it was registered
        ],
    )
    result = run_portal()
    assert (result.fetched, result.landed, result.quarantined, result.files_rejected) == (4, 2, 2, 0)
    rows = {r["appeal_id"]: r for r in landed("portal_appeals")}
    first = rows["E-1"]
    assert first["region_code"] == "37" and first["portal"] == "Электронная приёмная" and first["rework_count"] == 0
    assert (first["category_code"], first["oktmo"], first["agency_id"]) == ("roads.01", "24701000", "37-OMSU-24701000")
    assert first["status"] == "answered" and first["rating"] == 5 and first["subcategory_code"] is None
    assert first["created_at"].isoformat() == "2013-06-14T20:30:00"  # Europe/Moscow was UTC+4 in 2013
    # values the mapping does not list pass unchanged: unknown codes for the warehouse («не определено», counted)
    assert (rows["E-3"]["category_code"], rows["E-3"]["agency_id"]) == ("Парковки", "Неизвестный орган")
    import duckdb

    with duckdb.connect(str(paths.warehouse_path())) as con:
        reasons = dict(con.execute("select record_key, reason from ops.quarantine").fetchall())
    assert reasons["priemnaya_37_20141231.csv:3:E-2"] == "unknown status 'перенаправлено'"
    assert reasons["priemnaya_37_20141231.csv:5:E-4"] == (
        "answered_at (2013-06-14 10:00 local) is before created_at (2013-06-15 00:30 local)"
    )
    assert (inbox / "processed" / "priemnaya_37_20141231.csv").exists()


def test_a_broken_mapping_stops_the_source_before_any_file_is_touched(tmp_path):
    write_mapping(tmp_path / "mappings", "source: portal_appeals\nfile_name: 'x_(?P<region>\\d{2}).csv'\n")
    path = write_foreign(paths.inbox_dir("portal") / "priemnaya_37_20141231.csv", [foreign_row("E-1")])
    with pytest.raises(mapping.MappingError, match="columns: missing"):
        run_portal()
    assert path.exists()


def test_a_file_no_mapping_claims_is_rejected_naming_the_patterns(tmp_path):
    shutil.copy(EXAMPLE, write_mapping(tmp_path / "mappings", "", EXAMPLE.name))
    write_foreign(paths.inbox_dir("portal") / "obrasheniya.csv", [foreign_row("E-1")])
    assert run_portal().files_rejected == 1
    reason = (paths.inbox_dir("portal") / "rejected" / "obrasheniya.csv.reason.txt").read_text()
    assert "unexpected file name" in reason and "priemnaya_" in reason and "portal_" in reason


# --- the NULL trap: every status rule fires for a word never seen and for null --------------------------------


PORTAL_ROW = {
    "Номер": "P64-1",
    "Портал": "Наш город — Саратов",
    "Дата создания": "10.01.2025 09:15",
    "Категория": "roads.01",
    "Подкатегория": "",
    "ОКТМО": "63701000",
    "Исполнитель": "64-OMSU-63701000",
    "Заявитель": "Сидоров Пётр Ильич",
    "Телефон": "",
    "Эл. почта": "p@mail.ru",
    "Адрес": "ул. Мира, 1",
    "Текст": "Яма",
    "Статус": "в работе",
    "Дата ответа": "",
    "Возвратов на доработку": "0",
    "Оценка": "",
    "Дата изменения": "12.01.2025 10:00",
}


@pytest.mark.parametrize(
    "status, reason",
    [
        ("перенаправлено", "unknown status 'перенаправлено'"),  # a СЭД word, not a portal one: unknown to the portal
        ("", "missing required field status"),
        ("в работе", None),
    ],
)
def test_an_export_status_is_mapped_or_quarantined_never_null(status, reason):
    table = wire.csv_rows  # the real reader over a hand-written file
    path = paths.inbox_dir("portal") / "portal_64_20250112.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(PORTAL_ROW), delimiter=";")
    writer.writeheader()
    writer.writerow(PORTAL_ROW | {"Статус": status})
    path.write_text(buffer.getvalue(), encoding="utf-8")
    batch = table(PORTAL_APPEALS, path, "utf-8-sig", path.name)
    conformed = conform.Converter(KEY).conform(PORTAL_APPEALS, batch.table, file_region="64")
    assert [r for _, r in conformed.invalid] == ([reason] if reason else [])
    assert conformed.rows["portal_appeals"]["status"].to_pylist() == ([] if reason else ["in_work"])


@pytest.mark.parametrize(
    "status, reason",
    [("forwarded", "unknown status 'forwarded'"), (None, "missing required field status"), ("in_work", None)],
)
def test_an_api_status_is_a_warehouse_code_or_quarantined(status, reason):
    record = {
        "id": "POS-64-1",
        "regionCode": "64",
        "oktmo": "63701000",
        "opaId": "64-OMSU-63701000",
        "is59FZ": False,
        "categoryCode": "roads.01",
        "text": "Яма",
        "createdAt": "2025-01-10T05:15:00Z",
        "status": status,
        "updatedAt": "2025-01-10T05:15:00Z",
        "author": {"name": "Сидоров Пётр"},
        "statusHistory": [{"status": status, "at": "2025-01-10T05:15:00Z", "opaId": "64-OMSU-63701000"}],
    }
    batch = wire.api_records(POS_MESSAGES, [record])
    conformed = conform.Converter(KEY).conform(POS_MESSAGES, batch.table)
    assert [r for _, r in conformed.invalid] == ([reason] if reason else [])


# --- check-file -----------------------------------------------------------------------------------------------


def test_check_file_prints_what_would_land_and_why_not_and_lands_nothing(tmp_path, capsys):
    path = write_foreign(
        tmp_path / "priemnaya_65_20141231.csv",
        [
            foreign_row(
                "S-1",
                **{
                    "Поступило": "2014-10-26 00:30",
                    "Район": "г. Южно-Сахалинск",
                    "Ответственный": "Министерство ЖКХ Сахалинской области",
                    "Ответ дан": "",
                    "Состояние": "На исполнении",
                    "Оценка заявителя": "",
                    "Изменено": "2014-10-26 00:30",
                },
            ),
            foreign_row("S-2", **{"Поступило": "2014-10-26 01:30", "Состояние": "на контроле", "Район": "Корсаков"}),
            foreign_row("S-3", **{"Поступило": "26.10.2014", "Рубрика": "Парковки", "Район": "Корсаков"}),
            foreign_row("S-4", **{"Рубрика": "Парковки", "Район": "Корсаков", "Ответственный": "Мэрия"}),
        ],
    )
    before = path.read_bytes()
    assert check_file(path, EXAMPLE) == 0
    out = capsys.readouterr().out
    assert "mapping mapping_portal_elektronnaya_priemnaya.yaml, region 65 (Asia/Sakhalin" in out
    assert "would land: 2" in out and "would be quarantined: 2" in out
    assert "line 3: unknown status 'на контроле'  [Поступило 2014-10-26 01:30; Ответ дан 2013-06-20 17:00;" in out
    assert "line 4: created_at: not a date in %Y-%m-%d %H:%M / %Y-%m-%d %H:%M:%S: '26.10.2014'" in out
    assert "category_code: 'Парковки' ×1" in out and "oktmo: 'Корсаков' ×1" in out and "'Мэрия' ×1" in out
    assert path.read_bytes() == before and not paths.lake_dir().exists() and not paths.warehouse_path().exists()


def test_check_file_names_a_rejection_and_a_broken_mapping(tmp_path, capsys):
    path = write_foreign(tmp_path / "priemnaya_37_20141231.csv", [foreign_row("E-1")], encoding="utf-16")
    assert check_file(path, EXAMPLE) == 2
    assert "would be REJECTED" in capsys.readouterr().out
    broken = write_mapping(tmp_path, "source: portal_appeals\n", "broken.yaml")
    assert check_file(path, broken) == 3
    assert "broken.yaml: invalid mapping" in capsys.readouterr().out


# --- a real installation: no sandbox, nothing deleted ---------------------------------------------------------


def test_real_source_mode_generates_nothing_and_needs_every_source(tmp_path, monkeypatch, capsys):
    inbox = tmp_path / "real_inbox"
    real = write_foreign(inbox / "portal" / "portal_37_20250101.csv", [foreign_row("E-1")])
    monkeypatch.setenv("CUR_INBOX_DIR", str(inbox))
    assert cli.real_sources() == {"CUR_INBOX_DIR": str(inbox)}
    assert sandbox_pipeline.run(scale=100, seed=1) == 2  # `make run` with a real source: the product's `run`
    assert "set POS_BASE_URL, INCIDENT_BASE_URL too" in capsys.readouterr().err
    assert not paths.sandbox_dir().exists() and sorted(p.name for p in inbox.rglob("*") if p.is_file()) == [real.name]


def test_the_generator_deletes_and_overwrites_only_its_own_files(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "sandbox"
    kept = write_foreign(inbox / "portal" / "portal_37_20240101.csv", [foreign_row("E-1")])
    content = kept.read_bytes()
    args = dict(n_appeals=300, seed=3, start=date(2025, 10, 1), end=date(2025, 12, 31), bad_rate=0)
    generate(out, inbox, **args)
    first = json.loads((out / "exports.json").read_text())
    assert first and "portal/portal_37_20240101.csv" not in first
    changed = inbox / next(iter(first))  # a generated file that someone edited since is not the generator's any more
    changed.write_bytes(changed.read_bytes() + b"\n")
    with pytest.raises(FileExistsError, match="were not written by the sandbox generator"):
        generate(out, inbox, **args)
    assert changed.exists() and kept.read_bytes() == content
    assert sorted(p.name for p in inbox.rglob("*") if p.is_file()) == sorted([kept.name, changed.name])
    changed.unlink()
    generate(out, inbox, **args)
    assert kept.read_bytes() == content
    assert json.loads((out / "exports.json").read_text()).keys() == first.keys()  # the same files, written afresh
