"""The СЭД and portal file exports parse with the documented headers, encodings and formats; bad data is there."""

import csv
import io
from datetime import datetime

import openpyxl
import pytest

# The documented contract (docs/architecture.md, docs/sources.md), spelled out independently of the code.
SED_HEADER = (
    "Рег. номер;Дата регистрации;Код классификатора;Код региона;ОКТМО;Код органа;Заявитель;Телефон;"
    "Эл. почта;Адрес;Текст обращения;Статус;Дата продления;Кол-во перенаправлений;Дата перенаправления;"
    "Дата ответа;Повторное;Дата выгрузки"
).split(";")
PORTAL_HEADER = (
    "Номер;Портал;Дата создания;Категория;Подкатегория;ОКТМО;Исполнитель;Заявитель;Телефон;Эл. почта;"
    "Адрес;Текст;Статус;Дата ответа;Возвратов на доработку;Оценка;Дата изменения"
).split(";")
SED_STATUSES = {"зарегистрировано", "на рассмотрении", "продлено", "перенаправлено", "дан ответ", "закрыто"}
PORTAL_STATUSES = {"новое", "в работе", "ответ дан", "возвращено на доработку", "закрыто", "переоткрыто"}
REGIONS = {"64", "37", "56", "65", "03"}


def read_export(path) -> list[list[str]]:
    """Read an export the way docs/sources.md says: `;` CSV in UTF-8 (BOM optional) or cp1251, or XLSX."""
    if path.suffix == ".xlsx":
        sheet = openpyxl.load_workbook(path, read_only=True).active
        return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    return list(csv.reader(io.StringIO(read_text(path.read_bytes()), newline=""), delimiter=";"))


def read_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1251")


def parse_date(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%d.%m.%Y %H:%M")
    except ValueError:
        return None


@pytest.fixture(scope="module")
def exports(sandbox_generated):
    _, inbox, summary = sandbox_generated
    good = {}
    for source in ("sed", "portal"):
        for path in sorted((inbox / source).iterdir()):
            if path.name not in summary["bad_files"]:
                good[path] = read_export(path)
    return inbox, summary, good


def test_one_bulk_and_thirty_daily_files_per_region(exports):
    inbox, summary, _ = exports
    for source in ("sed", "portal"):
        names = sorted(p.name for p in (inbox / source).iterdir())
        assert len(names) == 5 * 31 == summary[f"{source}_files"]
        assert {n.split("_")[1] for n in names} == REGIONS
        days = sorted({n.split("_")[2].split(".")[0] for n in names})
        assert days[0] == "20251201" and days[-1] == "20251231" and len(days) == 31
    suffixes = {p.name.split("_")[1]: p.suffix for p in (inbox / "portal").iterdir()}
    assert suffixes["65"] == ".xlsx" and suffixes["64"] == ".csv"


def test_encodings_as_documented(exports):
    inbox, summary, _ = exports
    for path in (inbox / "sed").iterdir():
        if path.name not in summary["bad_files"]:
            assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    cp1251 = inbox / "portal" / "portal_37_20251231.csv"
    with pytest.raises(UnicodeDecodeError):
        cp1251.read_bytes().decode("utf-8")
    assert "Номер" in cp1251.read_bytes().decode("cp1251")


def test_headers_statuses_and_dates(exports):
    _, _, good = exports
    for path, rows in good.items():
        sed = path.name.startswith("sed_")
        assert rows[0] == (SED_HEADER if sed else PORTAL_HEADER), path.name
        status = rows[0].index("Статус")
        assert {r[status] for r in rows[1:]} <= (SED_STATUSES if sed else PORTAL_STATUSES), path.name
    sed_bulk = good[next(p for p in good if p.name == "sed_64_20251201.csv")]
    registered = [parse_date(r[1]) for r in sed_bulk[1:]]
    assert sum(d is None for d in registered) < 0.05 * len(registered)
    assert {r[16] for r in sed_bulk[1:]} == {"да", "нет"}
    assert {r[11] for r in sed_bulk[1:]} >= {"закрыто", "дан ответ"}


def test_daily_files_hold_the_state_at_the_end_of_their_day(exports):
    _, _, good = exports
    for path, rows in good.items():
        if not path.name.startswith("sed_") or path.name.endswith("20251201.csv"):
            continue
        day = datetime.strptime(path.stem.split("_")[2], "%Y%m%d").date()
        assert {parse_date(r[17]).date() for r in rows[1:]} <= {day}
        for row in rows[1:]:
            registered, answered = parse_date(row[1]), parse_date(row[15])
            if registered and registered.year < 2030 and answered and answered >= registered:
                assert registered.date() <= day and answered.date() <= day


def test_bad_rows_of_every_kind(exports):
    _, summary, good = exports
    assert all(count > 0 for count in summary["bad_rows"].values()), summary["bad_rows"]
    found = {
        "bad_date": 0,
        "unknown_category": 0,
        "missing_id": 0,
        "answer_before_registration": 0,
        "future_date": 0,
        "duplicate": 0,
    }
    for path, rows in good.items():
        sed = path.name.startswith("sed_")
        header = rows[0]
        reg, code, answer = (
            header.index(c)
            for c in (
                ("Дата регистрации", "Код классификатора", "Дата ответа")
                if sed
                else ("Дата создания", "Категория", "Дата ответа")
            )
        )
        seen = set()
        for row in rows[1:]:
            registered, answered = parse_date(row[reg]), parse_date(row[answer])
            found["bad_date"] += registered is None
            found["unknown_category"] += row[code] in ("9999.0000.0000.0000", "unknown.42")
            found["missing_id"] += row[0] == ""
            found["future_date"] += bool(registered and registered.year >= 2030)
            found["answer_before_registration"] += bool(registered and answered and answered < registered)
            found["duplicate"] += tuple(row) in seen
            seen.add(tuple(row))
    assert all(found.values()), found


def test_whole_file_faults(exports):
    inbox, summary, _ = exports
    kinds = {}
    for name, kind in summary["bad_files"].items():
        kinds.setdefault(name.split("_")[0], set()).add(kind)
        raw = (inbox / name.split("_")[0] / name).read_bytes()
        if kind == "wrong_encoding":
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
            assert name.startswith("sed_") or b"\x00" in raw  # portals: UTF-16, neither UTF-8 nor cp1251 text
            continue
        header = read_text(raw).splitlines()[0]
        if kind == "wrong_delimiter":
            assert ";" not in header and "," in header
        elif kind == "extra_column":
            assert header.split(";")[-1].strip('"') == "Комментарий оператора"
        elif kind == "missing_column":
            assert '"ОКТМО"' not in header.split(";")
    assert kinds == {
        "sed": {"wrong_encoding", "extra_column", "missing_column", "wrong_delimiter"},
        "portal": {"wrong_encoding", "extra_column", "missing_column", "wrong_delimiter"},
    }
