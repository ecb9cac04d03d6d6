"""The bad-input corpus of issue 15: broken files and rows, written here by hand, dropped into the inbox together with
good exports and run once through the real extraction assets, the raw quality checks and the dbt build.

For each kind the expected outcome: the file rejected (moved to rejected/ with a reason naming what and where), or
processed with the row quarantined (reason) or landed (as what). The rest of the batch lands and reaches the marts,
the run succeeds, and the counts are exact: fetched = landed + quarantined for every source, every row of every
processed file is accounted for exactly once, and a rejected file lands nothing.
"""

import csv
import io
import os
from dataclasses import dataclass, field

import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest
from file_pipeline import file_sources_run

from dagster_project.defs.extract.files import HIDDEN_MIN_AGE_S, safe_name
from dagster_project.lib import held_loads, paths

pytestmark = pytest.mark.integration

SED = {
    "Рег. номер": "ОГ-64-0001",
    "Дата регистрации": "10.03.2025 09:15",
    "Код классификатора": "0005.0005.0055.1122",
    "Код региона": "64",
    "ОКТМО": "63701000",
    "Код органа": "64-ROIV-minstroy",
    "Заявитель": "Сидоров Пётр Ильич",
    "Телефон": "+7 912 345-67-89",
    "Эл. почта": "",
    "Адрес": "г. Саратов, ул. Мира, д. 1",
    "Текст обращения": "Течёт крыша",
    "Статус": "дан ответ",
    "Дата продления": "",
    "Кол-во перенаправлений": "0",
    "Дата перенаправления": "",
    "Дата ответа": "20.03.2025 10:00",
    "Повторное": "нет",
    "Дата выгрузки": "31.03.2025 23:59",
}
PORTAL = {
    "Номер": "P64-0001",
    "Портал": "Наш город — Саратов",
    "Дата создания": "10.03.2025 09:15",
    "Категория": "roads.01",
    "Подкатегория": "",
    "ОКТМО": "63701000",
    "Исполнитель": "64-OMSU-63701000",
    "Заявитель": "Петрова Анна Сергеевна",
    "Телефон": "+7 927 111-22-33",
    "Эл. почта": "",
    "Адрес": "ул. Мира, 1",
    "Текст": "Яма у подъезда",
    "Статус": "ответ дан",
    "Дата ответа": "12.03.2025 10:00",
    "Возвратов на доработку": "0",
    "Оценка": "5",
    "Дата изменения": "31.03.2025 20:00",
}


def csv_bytes(rows: list[dict], encoding: str = "utf-8-sig", delimiter: str = ";", header=None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    header = header or list(rows[0])
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return buffer.getvalue().encode(encoding)


def good_sed(n: int, prefix: str) -> list[dict]:
    return [
        SED
        | {
            "Рег. номер": f"ОГ-64-{prefix}{i:03d}",
            "Заявитель": f"Заявитель {prefix}{i}",
            "Телефон": f"+7 912 000-{i:02d}-{len(prefix):02d}",
        }
        for i in range(n)
    ]


def good_portal(n: int, prefix: str) -> list[dict]:
    return [
        PORTAL
        | {
            "Номер": f"P64-{prefix}{i:03d}",
            "Заявитель": f"Житель {prefix}{i}",
            "Телефон": f"+7 927 000-{i:02d}-{len(prefix):02d}",
        }
        for i in range(n)
    ]


def xlsx_bytes(rows: list[dict]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@dataclass
class FileCase:
    kind: str
    inbox: str  # sed or portal
    name: str
    content: bytes | None  # None: made by `make` (links, pipes)
    outcome: str  # rejected or processed
    reason: str = ""  # substring of the rejection reason or of the processed note
    landed_ids: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)  # record key substring → reason substring


@dataclass
class RowCase:
    kind: str
    inbox: str
    row: dict
    outcome: str  # quarantined or landed
    reason: str = ""  # substring of the quarantine reason
    landed: tuple = ()  # (column, value) the landed row has
    appeal_id: str = ""  # given by rows_file


ROW_CASES = [
    RowCase(
        "registered in 2031",
        "sed",
        {
            "Дата регистрации": "10.03.2031 09:15",
            "Дата ответа": "",
            "Статус": "на рассмотрении",
            "Дата выгрузки": "31.03.2031 23:59",
        },
        "quarantined",
        "registered_at: 10.03.2031 09:15 local is later than",
    ),
    RowCase(
        "registered in 1900",
        "portal",
        {"Дата создания": "10.03.1900 09:15"},
        "quarantined",
        "created_at: 10.03.1900 09:15 local is before 2000-01-01",
    ),
    RowCase(
        "answered in 2031",
        "portal",
        {"Дата ответа": "12.03.2031 10:00"},
        "quarantined",
        "answered_at: 12.03.2031 10:00 local is later than",
    ),
    RowCase(
        "impossible date",
        "sed",
        {"Дата регистрации": "31.02.2025 10:00"},
        "quarantined",
        "registered_at: not a date in",
    ),
    RowCase(
        "answer before registration",
        "portal",
        {"Дата ответа": "01.03.2025 10:00"},
        "quarantined",
        "answered_at (01.03.2025 10:00 local) is before created_at (10.03.2025 09:15 local)",
    ),
    RowCase("missing id", "sed", {"Рег. номер": ""}, "quarantined", "missing required field appeal_id"),
    RowCase(
        "unknown status word", "portal", {"Статус": "перенаправлено"}, "quarantined", "unknown status 'перенаправлено'"
    ),
    RowCase(
        "no citizen identity",
        "sed",
        {"Заявитель": "", "Телефон": "", "Эл. почта": ""},
        "quarantined",
        "no citizen identity",
    ),
    RowCase("rating out of range", "portal", {"Оценка": "9"}, "quarantined", "rating out of range: 9"),
    RowCase(
        "count is not a number",
        "portal",
        {"Возвратов на доработку": "два"},
        "quarantined",
        "rework_count: not a number: 'два'",
    ),
    RowCase("yes/no word unknown", "sed", {"Повторное": "может быть"}, "quarantined", "is_repeat: expected one of"),
    RowCase(
        "formula =HYPERLINK",
        "portal",
        {"Текст": '=HYPERLINK("http://example.com/x","жми")'},
        "landed",
        landed=("text", '\'=HYPERLINK("http://example.com/x","жми")'),
    ),
    RowCase(
        "formula +cmd|",
        "sed",
        {"Текст обращения": "+cmd|' /C calc'!A0"},
        "landed",
        landed=("text", "'+cmd|' /C calc'!A0"),
    ),
    # «@SUM» also looks like a social-network handle: masked as one, and neutralised
    RowCase("formula @SUM", "portal", {"Текст": "@SUM(1+1)"}, "landed", landed=("text", "'@[ник](1+1)")),
    RowCase(
        "formula -2+3",
        "sed",
        {"Текст обращения": "-2+3+cmd|' /C calc'!A0"},
        "landed",
        landed=("text", "'-2+3+cmd|' /C calc'!A0"),
    ),
    RowCase("unknown category code", "portal", {"Категория": "gkh.17"}, "landed", landed=("category_code", "gkh.17")),
]


def rows_file(inbox: str) -> tuple[list[dict], list[dict]]:
    """(every row of the source's rows file, the good ones): good rows around every row case of this source, and a
    row repeated (lands once)."""
    good = good_sed(6, "G") if inbox == "sed" else good_portal(6, "G")
    key, prefix = ("Рег. номер", "ОГ-64") if inbox == "sed" else ("Номер", "P64")
    rows = list(good)
    for number, case in enumerate(c for c in ROW_CASES if c.inbox == inbox):
        case_id = f"{prefix}-C{number:02d}" if case.row.get(key, "x") else ""
        rows.append(
            good[0]
            | {key: case_id, "Заявитель": f"Случай {number}", "Телефон": f"+7 900 100-{number:02d}-00"}
            | case.row
        )
        case.appeal_id = case_id
    rows.append(good[1])  # repeated in the same export: lands once
    return rows, good


def five_mb_field() -> bytes:
    rows = good_portal(3, "B")
    rows[1]["Текст"] = "Я" * 2_600_000  # 5.2 MB of UTF-8 in one quoted cell
    return csv_bytes(rows)


def stray_quote() -> bytes:
    """A 948 KB export with one value opened by a quote that is never closed."""
    rows = good_portal(3000, "Q")
    for row in rows:
        row["Текст"] = "Яма во дворе, " + "глубокая " * 15
    lines = csv_bytes(rows).decode("utf-8-sig").split("\n")
    cells = lines[1500].split(";")
    cells[11] = '"' + cells[11]
    lines[1500] = ";".join(cells)
    return ("\ufeff" + "\n".join(lines)).encode("utf-8")[: 948 * 1024]


def truncated_mid_character() -> bytes:
    """An export cut off inside the two bytes of a Cyrillic letter."""
    return csv_bytes(good_sed(3, "T")) + "ОГ-64-T999;Теч".encode()[:-1]


def truncated_after_delimiter() -> bytes:
    """An export whose last row (line 4) is cut off right after its second delimiter."""
    data = csv_bytes(good_sed(3, "D"))
    head, last = data.rstrip(b"\n").rsplit(b"\n", 1)
    return head + b"\n" + b";".join(last.split(b";")[:2]) + b";"


FILE_CASES = [
    FileCase(
        "5 MB quoted field",
        "portal",
        "portal_64_20250301.csv",
        five_mb_field(),
        "processed",
        landed_ids=["P64-B000", "P64-B002"],
        quarantined={"portal_64_20250301.csv:3": "cell «Текст» has 2600000 characters, more than a spreadsheet"},
    ),
    FileCase(
        "stray quote in a 948 KB file",
        "portal",
        "portal_64_20250302.csv",
        stray_quote(),
        "rejected",
        "unbalanced quotes: an odd number of quote characters (1); the quoted value opened at line 1501",
    ),
    FileCase(
        "СЭД in cp1251",
        "sed",
        "sed_64_20250301.csv",
        csv_bytes(good_sed(2, "E"), "cp1251"),
        "rejected",
        "wrong encoding cp1251, expected utf-8-sig",
    ),
    FileCase(
        "cp1251 without ОКТМО",
        "portal",
        "portal_37_20250301.csv",
        csv_bytes(good_portal(2, "O"), "cp1251", header=[h for h in PORTAL if h != "ОКТМО"]),
        "rejected",
        "columns do not match the contract: missing ['ОКТМО'], duplicated [] (header read as cp1251",
    ),
    FileCase(
        "СЭД in cp1251 without ОКТМО",
        "sed",
        "sed_64_20250302.csv",
        csv_bytes(good_sed(2, "W"), "cp1251", header=[h for h in SED if h != "ОКТМО"]),
        "rejected",
        "wrong encoding cp1251, expected utf-8-sig and columns do not match the contract: missing ['ОКТМО']",
    ),
    FileCase(
        "truncated mid-character",
        "sed",
        "sed_64_20250303.csv",
        truncated_mid_character(),
        "rejected",
        "truncated file: it ends in the middle of a character",
    ),
    FileCase(
        "truncated after a delimiter",
        "sed",
        "sed_64_20250304.csv",
        truncated_after_delimiter(),
        "processed",
        "the file does not end with a line break: its last line 4 may be cut off",
        landed_ids=["ОГ-64-D000", "ОГ-64-D001"],
        quarantined={"sed_64_20250304.csv:4": "the file ends in this line without a line break: truncated"},
    ),
    FileCase(
        "wrong delimiter",
        "portal",
        "portal_64_20250303.csv",
        csv_bytes(good_portal(2, "L"), delimiter=","),
        "rejected",
        "wrong delimiter ','",
    ),
    FileCase(
        "duplicated column",
        "sed",
        "sed_64_20250305.csv",
        csv_bytes(good_sed(2, "U"), header=[*SED, "Текст обращения"]),
        "rejected",
        "duplicated ['Текст обращения']",
    ),
    FileCase(
        "UTF-16 portal",
        "portal",
        "portal_64_20250304.csv",
        csv_bytes(good_portal(2, "S"), "utf-16"),
        "rejected",
        "wrong encoding utf-16",
    ),
    FileCase(
        "binary garbage",
        "sed",
        "sed_64_20250306.csv",
        bytes(range(256)) * 40,
        "rejected",
        "wrong encoding: the file is not utf-8-sig text (not valid utf-8-sig at byte 128)",
    ),
    FileCase(
        "mixed encodings",
        "sed",
        "sed_64_20250307.csv",
        csv_bytes(good_sed(2, "M")) + "ОГ-64-M9;сломано".encode("cp1251") + b"\n",
        "rejected",
        "wrong encoding: not valid utf-8-sig at byte 918 (line 4)",
    ),
    FileCase(
        "not an export at all",
        "portal",
        "portal_64_20250305.csv",
        "Добрый день!\nВысылаем выгрузку.\n".encode(),
        "rejected",
        "no contract header in the first line",
    ),
    FileCase("empty file", "sed", "sed_64_20250308.csv", b"", "rejected", "empty file (0 bytes)"),
    FileCase("blank lines only", "portal", "portal_64_20250306.csv", b"\n\n  \n", "rejected", "only blank lines"),
    FileCase(
        "header only",
        "portal",
        "portal_64_20250307.csv",
        csv_bytes([PORTAL])[: csv_bytes([PORTAL]).index(b"\n") + 1],
        "processed",
    ),
    FileCase(
        "XLSX that is not a workbook",
        "portal",
        "portal_65_20250301.xlsx",
        b"PK\x03\x04 not really",
        "rejected",
        "not a readable XLSX workbook",
    ),
    FileCase(
        "truncated XLSX",
        "portal",
        "portal_65_20250302.xlsx",
        xlsx_bytes(good_portal(50, "X"))[:2000],
        "rejected",
        "not a readable XLSX workbook",
    ),
    FileCase(
        "unexpected file name", "sed", "sed_64.csv", csv_bytes(good_sed(1, "N")), "rejected", "unexpected file name"
    ),
    FileCase(
        "unknown region in the name",
        "portal",
        "portal_99_20250301.csv",
        csv_bytes(good_portal(1, "R")),
        "rejected",
        "unknown region code '99'",
    ),
    FileCase(
        "extra column",
        "portal",
        "portal_64_20250308.csv",
        csv_bytes([r | {"Комментарий": "звонил"} for r in good_portal(2, "K")]),
        "processed",
        landed_ids=["P64-K000", "P64-K001"],
    ),
    FileCase("hidden file", "sed", ".sed_64_20250309.csv", csv_bytes(good_sed(1, "H")), "rejected", "a hidden file"),
    FileCase(
        "symbolic link", "portal", "portal_64_20250309.csv", None, "rejected", "outside.csv'): links are never followed"
    ),
    FileCase("named pipe", "sed", "sed_64_20250310.csv", None, "rejected", "not a regular file (a named pipe)"),
    FileCase(
        "unreadable file",
        "portal",
        "portal_64_20250310.csv",
        csv_bytes(good_portal(1, "P")),
        "rejected",
        "cannot be read: Permission denied",
    ),
]


def make_inbox(inbox_root) -> dict:
    """Writes every case into the inbox; returns the rows files' rows per source."""
    written = {}
    for source in ("sed", "portal"):
        rows, good = rows_file(source)
        name = "sed_64_20250331.csv" if source == "sed" else "portal_64_20250331.csv"
        path = inbox_root / source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(csv_bytes(rows))
        # the same content again under another name (read after it): processed, not landed twice
        (inbox_root / source / name.replace("0331", "0401")).write_bytes(csv_bytes(rows))
        written[source] = (rows, good)
    outside = inbox_root.parent / "outside.csv"  # a valid export outside the inbox: never read through a link
    outside.write_bytes(csv_bytes(good_portal(1, "Z")))
    for case in FILE_CASES:
        path = inbox_root / case.inbox / case.name
        if case.kind == "unreadable file" and os.geteuid() == 0:
            continue  # root reads a file whatever its mode
        if case.kind == "symbolic link":
            os.symlink(outside, path)
        elif case.kind == "named pipe":
            os.mkfifo(path)
        else:
            path.write_bytes(case.content)
        if case.kind == "hidden file":
            old = path.stat().st_mtime - HIDDEN_MIN_AGE_S - 1
            os.utime(path, (old, old))
        if case.kind == "unreadable file":
            path.chmod(0)
    return written


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    data, inbox = root / "data", root / "inbox"
    written = make_inbox(inbox)
    with file_sources_run(data, inbox, root / "mappings", "test-pii-key-bad-inputs-0123456789abcdef") as result:
        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
            state = {
                "files": {
                    name: (outcome, reason)
                    for name, outcome, reason in con.execute(
                        "select original_name, outcome, reason from ops.processed_files"
                    ).fetchall()
                },
                "quarantine": con.execute("select source, record_key, reason from ops.quarantine").fetchall(),
                "load_log": {
                    source: (fetched, landed, quarantined)
                    for source, fetched, landed, quarantined in con.execute(
                        "select source, fetched, landed, quarantined from ops.load_log"
                    ).fetchall()
                },
                "facts": {key for (key,) in con.execute("select appeal_key from main.fct_appeals").fetchall()},
            }
        state["held"] = held_loads.held_parts()
        state["lake"] = {
            table: [
                row
                for part in sorted(paths.raw_dir(table).rglob("*.parquet"))
                for row in pq.read_table(part).to_pylist()
            ]
            for table in ("sed_appeals", "portal_appeals")
        }
    return result, state, written, inbox


def _rejected_reason(inbox, case: FileCase) -> str:
    folder = inbox / case.inbox / "rejected"
    notes = [p for p in folder.glob("*.reason.txt") if p.name.startswith(case.name.lstrip("."))]
    assert len(notes) == 1, (case.name, sorted(p.name for p in folder.iterdir()))
    return notes[0].read_text()


def test_the_run_goes_on_and_builds_the_marts(corpus):
    result, state, _, inbox = corpus
    assert result.success
    assert state["held"] == []
    for source in ("sed", "portal"):
        assert [p.name for p in (inbox / source).iterdir() if p.name not in ("processed", "rejected")] == []


@pytest.mark.parametrize("case", FILE_CASES, ids=[c.kind for c in FILE_CASES])
def test_each_broken_file(corpus, case):
    if case.kind == "unreadable file" and os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode")
    _, state, _, inbox = corpus
    lake_ids = {row["appeal_id"] for table in state["lake"].values() for row in table}
    if case.outcome == "rejected":
        assert case.reason in _rejected_reason(inbox, case)
        assert not any(
            (row["_source_file"] or "").endswith(f":{safe_name(case.name)}")
            for rows in state["lake"].values()
            for row in rows
        ), "a rejected file landed rows"
    else:
        outcome, note = state["files"][case.name]
        assert outcome == "processed" and (case.reason in (note or "")), note
        assert (inbox / case.inbox / "processed" / case.name).exists()
        assert set(case.landed_ids) <= lake_ids
        for key, reason in case.quarantined.items():
            assert any(key in record_key and reason in found for _, record_key, found in state["quarantine"]), key
    if case.kind == "symbolic link":  # the link's target is never read nor moved
        assert (inbox.parent / "outside.csv").exists() and "P64-Z000" not in lake_ids


@pytest.mark.parametrize("case", ROW_CASES, ids=[c.kind for c in ROW_CASES])
def test_each_broken_row(corpus, case):
    _, state, written, _ = corpus
    table = "sed_appeals" if case.inbox == "sed" else "portal_appeals"
    landed = [row for row in state["lake"][table] if row["appeal_id"] == case.appeal_id and case.appeal_id]
    reasons = [
        reason
        for _, key, reason in state["quarantine"]
        if key.startswith(f"{case.inbox}_64_20250331.csv:")
        and (not case.appeal_id or key.endswith(case.appeal_id) or case.reason in reason)
    ]
    if case.outcome == "quarantined":
        assert landed == []
        assert any(case.reason in reason for reason in reasons), reasons
    else:
        (row,) = landed
        column, value = case.landed
        assert row[column] == value
        channel = "sed" if case.inbox == "sed" else "portal"
        assert f"{channel}:{case.appeal_id}" in state["facts"]  # and it reached the warehouse


def test_counts_are_exact(corpus):
    """fetched = landed + quarantined per source; the rows files are accounted for row by row; the copy under another
    name and the repeated row land nothing; rejected files land nothing."""
    _, state, written, _ = corpus
    for source, table in (("sed", "sed_appeals"), ("portal", "portal_appeals")):
        rows, good = written[source]
        cases = [c for c in ROW_CASES if c.inbox == source]
        processed = [c for c in FILE_CASES if c.inbox == source and c.outcome == "processed"]
        expected_landed = (
            len(good) + sum(c.outcome == "landed" for c in cases) + sum(len(c.landed_ids) for c in processed)
        )
        expected_quarantined = sum(c.outcome == "quarantined" for c in cases) + sum(
            len(c.quarantined) for c in processed
        )
        fetched, landed, quarantined = state["load_log"][table]
        assert (fetched, landed, quarantined) == (
            expected_landed + expected_quarantined,
            expected_landed,
            expected_quarantined,
        )
        assert len(state["lake"][table]) == expected_landed  # nothing lost, nothing twice
        assert len(rows) == len(good) + len(cases) + 1  # the rows file: good rows, the cases, one repeat
        assert sum(1 for s, _, _ in state["quarantine"] if s == table) == expected_quarantined
        copy = f"{source}_64_20250401.csv"
        assert state["files"][copy] == ("processed", "content already landed by an earlier run; not landed again")
