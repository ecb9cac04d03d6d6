"""Extraction and landing without the sandbox server: PII, record mapping, HTTP retries, file checks, landing."""

import csv
import json
import random
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scans
from dagster import build_sensor_context, materialize

from dagster_project.defs.extract import conform, wire
from dagster_project.defs.extract import defs as extract_defs
from dagster_project.defs.extract.api import extract_api
from dagster_project.defs.extract.assets import API_ASSETS, FILE_ASSETS, SENSORS
from dagster_project.defs.extract.files import extract_files, pending_files, safe_name
from dagster_project.defs.extract.load_result import LoadResult
from dagster_project.defs.extract.resources import InboxResource, PiiResource
from dagster_project.defs.extract.specs import INCIDENTS, PORTAL_APPEALS, POS_MESSAGES, POS_POLLS, SED_APPEALS
from dagster_project.lib import paths, pii, warehouse
from dagster_project.lib.contracts import RAW_TABLES, arrow_schema
from dagster_project.lib.http_client import JsonApiClient, SourceUnavailable, json_page

KEY = b"test-key"


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "data" / "warehouse.duckdb"))
    monkeypatch.delenv("CUR_INBOX_DIR", raising=False)
    return tmp_path / "data"


# --- personal data ------------------------------------------------------------------------------


def test_citizen_hash_is_keyed_and_stable_across_phone_formats():
    formats = ["+7 912 345-67-89", "8 (912) 345 67 89", "79123456789", "9123456789"]
    hashes = {pii.citizen_hash(KEY, phone=p, email="x@y.ru") for p in formats}
    assert len(hashes) == 1
    assert pii.citizen_hash(b"other-key", phone=formats[0]) not in hashes
    assert pii.citizen_hash(KEY, email=" Ivan@Mail.RU ") == pii.citizen_hash(KEY, email="ivan@mail.ru")
    assert pii.citizen_hash(KEY, name=None, phone="", email=None) is None


def test_dev_key_warns(monkeypatch, caplog):
    monkeypatch.delenv("PII_HASH_KEY", raising=False)
    assert pii.hash_key() == pii.DEV_HASH_KEY.encode()
    assert "PII_HASH_KEY is not set" in caplog.text
    monkeypatch.setenv("PII_HASH_KEY", "from-env")
    assert pii.hash_key() == b"from-env"


def test_mask_text_hides_personal_data_and_keeps_codes():
    text = (
        "Звоните +7 (912) 345-67-89 или 89123456789, пишите ivan.petrov@mail.ru. Заявитель Иванов Иван Иванович, "
        "исполнитель Петрова А.С., ник @ivan_99. ОКТМО 63701000, код 0005.0005.0055.1122, срок 2025-01-31."
    )
    masked = pii.mask_text(text)
    assert scans.find_pii(masked) == []
    for kept in ("63701000", "0005.0005.0055.1122", "2025-01-31"):
        assert kept in masked
    assert "@ivan_99" not in masked
    assert pii.mask_text("пишет Анна Смирнова", ("Анна Смирнова",)) == "пишет [персональные данные]"


# --- API record mapping -------------------------------------------------------------------------

WIRE_PATHS = ["arrow", "json"]  # Arrow's JSON reader (typed pages), json.loads record by record (the others)


def land(spec, items: list, path: str = "json") -> conform.Conformed:
    """Items through the landing conversion: as a page body Arrow reads, or as decoded JSON records."""
    if path == "arrow":
        batch = wire.api_page(spec, json.dumps({"items": items, "next_cursor": None}).encode())
    else:
        batch = wire.api_records(spec, items)
    return conform.Converter(KEY).conform(spec, batch.table)


def landed_rows(spec, items: list, path: str = "json") -> tuple[list[dict], list[dict]]:
    result = land(spec, items, path)
    assert result.invalid == []
    child = result.rows[spec.child.table].to_pylist() if spec.child else []
    return result.rows[spec.name].to_pylist(), child


def pos_message(**overrides) -> dict:
    message = {
        "id": "POS-64-00000001",
        "regionCode": "64",
        "oktmo": "63701000",
        "opaId": "64-ROIV-zhkh",
        "is59FZ": False,
        "categoryCode": "housing.01",
        "subcategoryCode": None,
        "text": "Прошу перезвонить на 8 912 345 67 89, Сидоров Пётр",
        "address": "г. Саратов, ул. Мира, д. 1",
        "author": {"name": "Сидоров Пётр Ильич", "phone": "+7 912 345-67-89", "email": "p.sidorov@mail.ru"},
        "createdAt": "2025-01-10T08:00:00Z",
        "status": "answered",
        "statusHistory": [
            {"status": "registered", "at": "2025-01-10T08:00:00Z", "opaId": "64-ROIV-zhkh"},
            {"status": "answered", "at": "2025-01-11T09:30:00+03:00", "opaId": "64-ROIV-zhkh"},
        ],
        "answer": {"text": "Ответ направлен", "at": "2025-01-11T06:30:00Z"},
        "rating": None,
        "updatedAt": "2025-01-11T06:30:00Z",
    }
    return message | overrides


@pytest.mark.parametrize("path", WIRE_PATHS)
def test_pos_message_maps_to_rows_and_events(path):
    rows, events = landed_rows(POS_MESSAGES, [pos_message()], path)
    (row,) = rows
    updated_at = row["updated_at"]
    assert set(row) == {c.name for c in RAW_TABLES["pos_messages"]} | {"_extra"}
    assert row["citizen_hash"] == pii.citizen_hash(KEY, phone="89123456789")
    assert "912" not in row["text"] and "Сидоров" not in row["text"]
    assert row["rating"] is None and row["answer_text"] == "Ответ направлен" and row["_extra"] is None
    assert [e["event_seq"] for e in events] == [1, 2]
    assert events[1]["event_at"].isoformat() == "2025-01-11T06:30:00"  # +03:00 → UTC
    assert all(e["updated_at"] == updated_at for e in events)


@pytest.mark.parametrize("path", WIRE_PATHS)
def test_unknown_fields_go_to_extra_masked_and_optional_fields_may_be_missing(path):
    message = pos_message(channelHint="web", reporter={"phone": "+79990001122"})
    for optional in ("subcategoryCode", "address", "answer", "rating"):
        message.pop(optional)
    (row,), _ = landed_rows(POS_MESSAGES, [message], path)
    assert json.loads(row["_extra"]) == {"channelHint": "web", "reporter": {"phone": "[персональные данные]"}}
    assert row["address"] is None and row["answered_at"] is None


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"regionCode": 64}, "region_code: expected str"),
        ({"updatedAt": None}, "missing required field updated_at"),
        ({"createdAt": "вчера"}, "not an ISO-8601"),
        ({"status": "lost"}, "unknown status"),
        ({"rating": {"value": 9, "at": "2025-01-12T00:00:00Z"}}, "rating out of range"),
        ({"answer": "да"}, "expected an object"),
        ({"statusHistory": {"status": "x"}}, "expected a list"),
        ({"author": {}}, "no citizen identity"),
    ],
)
def test_malformed_records_are_rejected_with_a_reason(overrides, reason):
    # the broken record sits between two good ones; Arrow refuses the page when a type is wrong, so both paths
    good = [pos_message(id=f"POS-64-0000000{i}") for i in (1, 3)]
    for path in WIRE_PATHS:
        result = land(POS_MESSAGES, [good[0], pos_message(id="POS-64-00000002", **overrides), good[1]], path)
        ((position, found),) = result.invalid
        assert position == 1 and reason in found, (path, found)
        assert result.rows["pos_messages"]["message_id"].to_pylist() == ["POS-64-00000001", "POS-64-00000003"]


def incident(**overrides) -> dict:
    record = {
        "id": "INC-65-00000002",
        "regionCode": "65",
        "oktmo": "64701000",
        "platform": "telegram",
        "postUrl": "https://t.me/sakh_ivan88/1234",
        "author": {"handle": "sakh_ivan88", "name": "Иван Ким"},
        "text": "Опять нет света, @sakh_ivan88 пишет",
        "categoryCode": "energy.01",
        "publishedAt": "2025-01-01T01:00:00Z",
        "detectedAt": "2025-01-01T02:00:00Z",
        "reactionAt": None,
        "agencyId": "65-ROIV-energy",
        "status": "registered",
        "statusHistory": [{"status": "registered", "at": "2025-01-01T02:00:00Z", "agencyId": "65-ROIV-energy"}],
        "updatedAt": "2025-01-01T02:00:00Z",
    }
    return record | overrides


def test_poll_explodes_into_option_rows_and_incident_hides_the_author():
    poll = {
        "id": "POLL-64-00001",
        "regionCode": "64",
        "oktmo": None,
        "title": "Благоустройство",
        "question": "Что?",
        "startedAt": "2024-05-01T00:00:00Z",
        "endedAt": "2024-05-20T00:00:00Z",
        "updatedAt": "2024-05-20T00:00:00Z",
        "options": [{"id": "1", "text": "Парк", "votes": 10}, {"id": "2", "text": "Сквер", "votes": 5}],
    }
    for path in WIRE_PATHS:
        rows, events = landed_rows(POS_POLLS, [poll, poll | {"id": "POLL-64-00002", "options": []}], path)
        assert [(r["option_id"], r["votes"]) for r in rows] == [("1", 10), ("2", 5)] and events == []
    (row,), events = landed_rows(INCIDENTS, [incident()])
    assert row["author_hash"] == pii.citizen_hash(KEY, handle="sakh_ivan88")
    assert "sakh_ivan88" not in row["post_url"] + row["text"]
    assert events[0]["incident_id"] == "INC-65-00000002"


# --- HTTP retries -------------------------------------------------------------------------------


def scripted_client(responses: list, sleeps: list, **kwargs) -> JsonApiClient:
    calls = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer t"
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return JsonApiClient(
        "http://source/api", "t", transport=httpx.MockTransport(handler), sleep=sleeps.append, **kwargs
    )


def test_client_retries_transient_failures_and_honours_retry_after():
    ok = httpx.Response(200, json={"items": [{"id": "1"}], "next_cursor": None})
    sleeps: list[float] = []
    client = scripted_client(
        [
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(503),
            httpx.ReadError("connection reset"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, content=b'{"items": [{"id"'),  # body cut mid-way
            ok,
        ],
        sleeps,
        backoff_base_s=0.01,
    )
    assert client.get("/messages", {}, json_page)["items"] == [{"id": "1"}]
    assert sleeps[0] == 7 and client.retries == 5
    assert all(s <= 0.01 * 2**5 for s in sleeps[1:])


def test_client_gives_up_after_the_retry_budget_and_does_not_retry_auth_errors():
    with pytest.raises(SourceUnavailable, match="HTTP 500"):
        scripted_client([httpx.Response(500)] * 3, [], max_retries=2).get("/messages", {}, json_page)
    with pytest.raises(httpx.HTTPStatusError):
        scripted_client([httpx.Response(401)], []).get("/messages", {}, json_page)


def test_api_load_quarantines_a_persistently_bad_record_masked_and_commits_the_cursor():
    bad = incident(id="INC-65-00000003", updatedAt="2025-01-02T00:00:00Z", detectedAt=12345)
    pages = {None: [incident(), bad], "c1": [incident(id="INC-65-00000004", updatedAt="2025-01-03T00:00:00Z")]}
    requests = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(dict(request.url.params))
        cursor = request.url.params.get("cursor")
        return httpx.Response(200, json={"items": pages[cursor], "next_cursor": "c1" if cursor is None else None})

    client = JsonApiClient("http://source/im/v1", "t", transport=httpx.MockTransport(handler))
    result = LoadResult(INCIDENTS.name)
    extract_api(INCIDENTS, client, result, key=KEY, run_id="r1", page_size=2, commit_every_records=1)
    assert (result.fetched, result.landed, result.quarantined) == (3, 2, 1)
    # the bad page was fetched once more (the next page is fetched ahead, while a page is converted)
    assert Counter(r.get("cursor") for r in requests) == {None: 2, "c1": 1}
    with duckdb.connect(str(paths.warehouse_path())) as con:
        ((record_key, reason, payload),) = con.execute(
            "select record_key, reason, payload_masked from ops.quarantine"
        ).fetchall()
        assert con.execute("select cursor_value, page_cursor from ops.extract_cursor").fetchall() == [
            ("2025-01-03T00:00:00.000000Z", None)
        ]
    assert record_key == "INC-65-00000003" and "detected_at" in reason
    assert "sakh_ivan88" not in payload and "Ким" not in payload

    # The next incremental load starts from the cursor minus the lookback window.
    extract_api(
        INCIDENTS,
        client,
        LoadResult(INCIDENTS.name),
        key=KEY,
        run_id="r2",
        page_size=2,
        commit_every_records=1,
        lookback=timedelta(hours=1),
    )
    assert requests[-2]["updated_since"] == "2025-01-02T23:00:00.000000Z"


# --- file sources -------------------------------------------------------------------------------

SED_ROW = {
    "Рег. номер": "ОГ-64-00000001",
    "Дата регистрации": "10.01.2025 09:15",
    "Код классификатора": "0005.0005.0055.1122",
    "Код региона": "64",
    "ОКТМО": "63701000",
    "Код органа": "64-ROIV-zhkh",
    "Заявитель": "Сидоров Пётр Ильич",
    "Телефон": "+7 912 345-67-89",
    "Эл. почта": "",
    "Адрес": "г. Саратов, ул. Мира, д. 1",
    "Текст обращения": "Течёт крыша",
    "Статус": "дан ответ",
    "Дата продления": "",
    "Кол-во перенаправлений": "0",
    "Дата перенаправления": "",
    "Дата ответа": "20.01.2025 10:00",
    "Повторное": "нет",
    "Дата выгрузки": "20.01.2025 23:59",
}


def write_csv(path, rows, *, encoding="utf-8-sig", delimiter=";", header=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    header = header or list(rows[0])
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(h, "") for h in header])
    return path


def run_sed(file_name=None) -> LoadResult:
    result = LoadResult(SED_APPEALS.name)
    extract_files(SED_APPEALS, paths.inbox_dir("sed"), result, key=KEY, run_id="run-1", file_name=file_name)
    return result


def landed(table: str) -> list[dict]:
    files = sorted(paths.raw_dir(table).glob("*/*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_sed_file_lands_in_utc_with_statuses_mapped_and_is_processed_once():
    inbox = paths.inbox_dir("sed")
    bad = SED_ROW | {"Рег. номер": "ОГ-64-00000002", "Дата регистрации": "31.02.2024 10:00"}
    reversed_dates = SED_ROW | {"Рег. номер": "ОГ-64-00000003", "Дата ответа": "01.01.2025 10:00"}
    write_csv(inbox / "sed_64_20250120.csv", [SED_ROW, bad, reversed_dates, SED_ROW])  # the last: a repeat
    result = run_sed()
    assert (result.fetched, result.landed, result.quarantined, result.duplicates_skipped) == (3, 1, 2, 1)
    (row,) = landed("sed_appeals")
    assert row["registered_at"].isoformat() == "2025-01-10T05:15:00"  # Europe/Saratov is UTC+4
    assert row["status"] == "answered" and row["is_repeat"] is False and row["extended_at"] is None
    assert row["_source_file"].endswith(":sed_64_20250120.csv")
    assert (inbox / "processed" / "sed_64_20250120.csv").exists()
    with duckdb.connect(str(paths.warehouse_path())) as con:
        reasons = [r[0] for r in con.execute("select reason from ops.quarantine order by reason").fetchall()]
        payloads = " ".join(r[0] for r in con.execute("select payload_masked from ops.quarantine").fetchall())
    assert reasons[0].startswith("answered_at") and "not a date" in reasons[1]
    assert "Сидоров" not in payloads and "912" not in payloads

    # The same delivery again is only moved away; the same content under another name is not landed twice.
    write_csv(inbox / "sed_64_20250120.csv", [SED_ROW, bad, reversed_dates, SED_ROW])
    write_csv(inbox / "sed_64_20250121.csv", [SED_ROW, bad, reversed_dates, SED_ROW])
    again = run_sed()
    assert (again.fetched, again.files_processed) == (0, 1)
    assert len(landed("sed_appeals")) == 1
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == sorted(
        ["sed_64_20250120.csv", f"sed_64_20250120.{again.checksums[0][:12]}.csv", "sed_64_20250121.csv"]
    )


@pytest.mark.parametrize(
    "writer_kwargs, reason",
    [
        ({"encoding": "cp1251"}, "wrong encoding cp1251"),
        ({"delimiter": ","}, "wrong delimiter ','"),
        ({"header": [h for h in SED_ROW if h != "ОКТМО"]}, "missing ['ОКТМО']"),
        ({"encoding": "utf-16"}, "wrong encoding utf-16"),
    ],
)
def test_bad_files_are_detected_and_rejected_not_misparsed(writer_kwargs, reason):
    inbox = paths.inbox_dir("sed")
    write_csv(inbox / "sed_64_20250120.csv", [SED_ROW], **writer_kwargs)
    result = run_sed()
    assert result.files_rejected == 1 and result.landed == 0
    assert reason in (inbox / "rejected" / "sed_64_20250120.csv.reason.txt").read_text()
    assert landed("sed_appeals") == []  # only the empty schema part


def test_extra_columns_are_kept_and_cp1251_portal_files_are_read(tmp_path):
    portal_row = {
        "Номер": "P64-00000001",
        "Портал": "Наш город — Саратов",
        "Дата создания": "10.01.2025 09:15",
        "Категория": "roads.01",
        "Подкатегория": "roads.01.01",
        "ОКТМО": "63701000",
        "Исполнитель": "64-OMSU-x",
        "Заявитель": "Сидоров Пётр Ильич",
        "Телефон": "",
        "Эл. почта": "p.sidorov@mail.ru",
        "Адрес": "ул. Мира, 1",
        "Текст": "Яма",
        "Статус": "возвращено на доработку",
        "Дата ответа": "",
        "Возвратов на доработку": "1",
        "Оценка": "",
        "Дата изменения": "12.01.2025 10:00",
        "Комментарий оператора": "звонил 89991234567",
    }
    write_csv(paths.inbox_dir("portal") / "portal_64_20250112.csv", [portal_row], encoding="cp1251")
    result = LoadResult(PORTAL_APPEALS.name)
    extract_files(PORTAL_APPEALS, paths.inbox_dir("portal"), result, key=KEY, run_id="r")
    (row,) = landed("portal_appeals")
    assert row["region_code"] == "64" and row["status"] == "returned_for_rework" and row["rating"] is None
    assert json.loads(row["_extra"]) == {"Комментарий оператора": "звонил [телефон]"}


def test_file_names_are_never_used_as_paths(data_dir):
    inbox = paths.inbox_dir("sed")
    outside = write_csv(data_dir / "secret" / "sed_64_20250120.csv", [SED_ROW])
    for name in ("../secret/sed_64_20250120.csv", "/etc/passwd", ".."):
        assert run_sed(file_name=name).fetched == 0
    assert outside.exists()
    odd = write_csv(inbox / "sed_64_20250120.csv; rm -rf ~", [SED_ROW])
    result = run_sed(file_name=odd.name)
    assert result.files_rejected == 1
    assert "unexpected file name" in (inbox / "rejected" / f"{safe_name(odd.name)}.reason.txt").read_text()
    assert safe_name("../../x/..\x00y z") == "_.._x_..y_z"


def test_a_run_killed_after_landing_does_not_land_the_file_again_and_keeps_its_quarantine():
    inbox = paths.inbox_dir("sed")
    bad = SED_ROW | {"Рег. номер": "ОГ-64-00000002", "Дата регистрации": "31.02.2024 10:00"}
    path = write_csv(inbox / "sed_64_20250120.csv", [SED_ROW, bad])
    run_sed()
    # Simulate a kill between the Parquet rename and the warehouse record: forget the record, restore the file.
    (inbox / "processed" / path.name).rename(path)
    with duckdb.connect(str(paths.warehouse_path())) as con:
        con.execute("delete from ops.processed_files")
        con.execute("delete from ops.quarantine")
    again = run_sed()
    assert again.files_processed == 1 and (again.fetched, again.landed, again.quarantined) == (2, 1, 1)
    assert len(landed("sed_appeals")) == 1  # the part already there is not written again
    with duckdb.connect(str(paths.warehouse_path())) as con:
        assert con.execute("select count(*) from ops.quarantine").fetchone()[0] == 1  # … but its quarantine is back
        (note,) = con.execute("select reason from ops.processed_files").fetchone()
    assert "interrupted run" in note


# --- Dagster wiring -----------------------------------------------------------------------------


def test_file_asset_materializes_without_config_and_reports_reconciled_counts():
    write_csv(paths.inbox_dir("sed") / "sed_64_20250120.csv", [SED_ROW])
    result = materialize([FILE_ASSETS["sed_appeals"]], resources={"inbox": InboxResource(), "pii": PiiResource()})
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw_sed_appeals")
    assert materialization.metadata["landed"].value == 1 and materialization.metadata["records"].value == 1
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    with duckdb.connect(str(paths.warehouse_path())) as con:
        assert con.execute("select source, fetched, landed, quarantined, status from ops.load_log").fetchall() == [
            ("sed_appeals", 1, 1, 0, "success")
        ]


def test_sensor_requests_one_run_per_new_file_keyed_by_content(tmp_path):
    write_csv(paths.inbox_dir("sed") / "sed_64_20250120.csv", [SED_ROW])
    write_csv(paths.inbox_dir("sed") / "sed_64_20250121.csv", [SED_ROW | {"Рег. номер": "ОГ-64-2"}])
    sed_sensor = next(s for s in SENSORS if s.name == "sed_inbox_sensor")
    context = build_sensor_context(resources={"inbox": InboxResource(min_file_age_s=0)})
    result = sed_sensor(context)
    assert len(result.run_requests) == 2 and len({r.run_key for r in result.run_requests}) == 2
    request = result.run_requests[0]
    assert request.run_config == {"ops": {"raw_sed_appeals": {"config": {"file_name": "sed_64_20250120.csv"}}}}
    assert [r.partition_key for r in result.run_requests] == ["2025-01-20", "2025-01-21"]  # the export days
    assert extract_defs.resolve_job_def("extract_sed_appeals") is not None


def test_a_file_without_an_export_day_gets_an_unpartitioned_run_and_is_rejected_there():
    write_csv(paths.inbox_dir("sed") / "sed_64_2025-01-20.csv", [SED_ROW])
    sed_sensor = next(s for s in SENSORS if s.name == "sed_inbox_sensor")
    (request,) = sed_sensor(build_sensor_context(resources={"inbox": InboxResource(min_file_age_s=0)})).run_requests
    assert request.partition_key is None
    assert run_sed(file_name="sed_64_2025-01-20.csv").files_rejected == 1


def test_a_partitioned_file_run_loads_the_exports_of_its_days_only():
    inbox = paths.inbox_dir("sed")
    for day in ("20250119", "20250120", "20250121"):
        write_csv(inbox / f"sed_64_{day}.csv", [SED_ROW | {"Рег. номер": f"ОГ-64-{day}"}])
    resources = {"inbox": InboxResource(), "pii": PiiResource()}
    assert materialize([FILE_ASSETS["sed_appeals"]], resources=resources, partition_key="2025-01-20").success
    assert [r["appeal_id"] for r in landed("sed_appeals")] == ["ОГ-64-20250120"]
    assert sorted(p.name for p in pending_files(inbox)) == ["sed_64_20250119.csv", "sed_64_20250121.csv"]
    # the operational (unpartitioned) run takes every pending file
    assert materialize([FILE_ASSETS["sed_appeals"]], resources=resources).success
    assert sorted(r["appeal_id"] for r in landed("sed_appeals")) == [
        f"ОГ-64-{d}" for d in ("20250119", "20250120", "20250121")
    ]


def test_every_extraction_asset_is_daily_partitioned_and_backfills_in_one_run():
    from dagster_project.defs.extract.assets import DAILY

    for asset in [*API_ASSETS.values(), *FILE_ASSETS.values()]:
        assert asset.partitions_def == DAILY
        assert asset.backfill_policy.max_partitions_per_run is None  # a range is one run
    assert DAILY.get_first_partition_key() == "2023-01-01"


def test_empty_tables_still_read_through_the_dbt_glob():
    materialize([FILE_ASSETS["portal_appeals"]], resources={"inbox": InboxResource(), "pii": PiiResource()})
    glob = str(paths.raw_dir("portal_appeals") / "*" / "*.parquet")
    with duckdb.connect() as con:
        columns = [d[0] for d in con.execute(f"select * from read_parquet('{glob}', union_by_name=true)").description]
    assert set(arrow_schema("portal_appeals").names) <= set(columns)


def test_every_source_has_its_own_job_and_schedule_with_retries():
    from dagster_project.defs.extract.assets import SCHEDULES

    crons = {s.name: (s.cron_schedule, s.job_name) for s in SCHEDULES}
    assert crons == {
        "extract_pos_hourly": ("5 * * * *", "extract_pos"),
        "extract_incidents_hourly": ("10 * * * *", "extract_incidents"),
        "extract_sed_appeals_daily": ("0 6 * * *", "extract_sed_appeals"),
        "extract_portal_appeals_daily": ("30 6 * * *", "extract_portal_appeals"),
    }
    for _, job_name in crons.values():
        job = extract_defs.resolve_job_def(job_name)
        assert job.tags["dagster/max_retries"] == "2"
        assert all(node.retry_policy is not None for node in job.graph.node_defs)
    keys = extract_defs.resolve_implicit_global_asset_job_def().asset_layer.asset_graph.get_all_asset_keys()
    assert all(not extract_defs.resolve_assets_def(key).dependency_keys for key in keys)  # sources are independent


# --- the batch rules equal the per-record ones ------------------------------------------------------


def _identity_corpus(count: int) -> list[dict]:
    """Identities as citizens type them: phone formats (also with non-Latin digits), e-mails and names in any case,
    every kind of whitespace, «ё», handles with and without «@», and blanks."""
    rng = random.Random(3)
    spaces = [" ", "  ", "\t", "\u00a0", "\u2003", "\u3000", "\n", ""]
    phones = [
        "+7 912 345-67-89",
        "8 (912) 345 67 89",
        "79123456789",
        "9123456789",
        "12-34",
        "+7 ٩١٢ ٣٤٥ ٦٧ ٨٩",
        "",
        None,
    ]
    emails = ["Ivan@Mail.RU", " p.sidorov@mail.ru ", "", None, "\u00a0x@y.ru\t"]
    names = ["Сидоров Пётр Ильич", "  ЁЛКИН\tсемён ", "Ян Ли", "", None, "Anna-Maria O'Neil"]
    handles = ["@sakh_ivan88", "Sakh_Ivan88", " @@x ", "", None]
    corpus = []
    for _ in range(count):

        def pick(values):
            value = rng.choice(values)
            return value if value is None else rng.choice(spaces) + value + rng.choice(spaces)

        corpus.append({"phone": pick(phones), "email": pick(emails), "handle": pick(handles), "name": pick(names)})
    return corpus


def test_identity_and_hash_over_columns_equal_citizen_hash():
    corpus = _identity_corpus(2000)
    columns = {kind: pa.array([c[kind] for c in corpus], pa.string()) for kind in ("phone", "email", "handle", "name")}
    identity = pii.identity_array(**columns, length=len(corpus))
    assert identity.to_pylist() == [pii.normalize_identity(**c) for c in corpus]
    with duckdb.connect() as con:
        con.register("identities", pa.table({"identity": identity}))
        con.execute(
            "create table pads as select $hmac_ipad::blob as ipad, $hmac_opad::blob as opad", pii.hmac_pads(KEY)
        )
        hashes = [
            row[0] for row in con.execute(f"select {pii.sql_hmac('identity', 'pads')} from identities").fetchall()
        ]
    assert hashes == [pii.citizen_hash(KEY, **c) for c in corpus]


def test_the_mask_gate_opens_wherever_mask_text_changes_a_text():
    rng = random.Random(5)
    pieces = [
        "Звоните +7 (912) 345-67-89",
        "тел.89123456789",
        "٩١٢٣٤٥٦٧٨٩٠",
        "ivan.petrov@mail.ru",
        "@ivan_99",
        "Иванов Иван Иванович",
        "Петрова\u00a0А.С.",
        "Смирнова  Анна  Сергеевна",
        "д. 106, кв. 12",
        "ОКТМО 63701000",
        "Яма на дороге.",
        "Сидоров",
        "Пётр",
        "Ли",
        "\u2003",
        "\n",
        "0005.0005.0055.1122",
        "2025-01-31",
        "[ФИО]",
    ]
    identities = _identity_corpus(600)
    texts, known = [], []
    for identity in identities:
        parts = rng.sample(pieces, rng.randint(0, 4)) + [v for v in identity.values() if v and rng.random() < 0.3]
        rng.shuffle(parts)
        texts.append(rng.choice([" ", ", ", ""]).join(parts))
        known.append(tuple(v for v in (identity["phone"], identity["email"], identity["name"]) if v and v.strip()))
    table = pa.table(
        {
            "text": pa.array(texts, pa.string()),
            "_known": pii.known_patterns_array(
                [pa.array([i[k] for i in identities], pa.string()) for k in ("phone", "email", "name")]
            ),
        }
    )
    with duckdb.connect() as con:
        con.register("texts", table)
        gates = [row[0] for row in con.execute(f"select {pii.sql_mask_gate(['text'], '_known')} from texts").fetchall()]
    changed = [pii.mask_text(t, k) != t for t, k in zip(texts, known)]
    assert sum(changed) > 100 and sum(not g for g in gates) > 50  # both kinds of text occur
    assert [i for i, (c, g) in enumerate(zip(changed, gates)) if c and not g] == []


def test_a_large_batch_lands_in_record_order():
    items = [pos_message(id=f"POS-64-{i:08d}", updatedAt=f"2025-01-{1 + i % 28:02d}T00:00:00Z") for i in range(60_000)]
    body = json.dumps({"items": items, "next_cursor": None}).encode()
    result = conform.Converter(KEY).conform(POS_MESSAGES, wire.api_page(POS_MESSAGES, body).table)
    assert result.rows["pos_messages"]["message_id"].to_pylist() == [i["id"] for i in items]
    events = result.rows["pos_message_events"]
    assert events["message_id"].to_pylist()[::2] == [i["id"] for i in items]


def test_every_status_wording_maps_onto_the_seeded_codes():
    """The warehouse codes are listed once (seeds/statuses.csv); each export's wording and the sandbox's API statuses
    map onto them, and the sandbox's APIs send every code of the seed."""
    from dagster_project.lib.contracts import STATUS_CODES
    from dagster_project.lib.paths import SEEDS_DIR
    from sandbox.model import SLOT_STATUS

    with (SEEDS_DIR / "statuses.csv").open(encoding="utf-8") as seed:
        seeded = {row["status_code"] for row in csv.DictReader(seed)}
    assert STATUS_CODES == seeded and "registered" in seeded
    for spec in (SED_APPEALS, PORTAL_APPEALS):
        assert set(spec.status_map.values()) <= seeded, spec.name
    assert set(SLOT_STATUS) == seeded  # the sandbox's APIs send every warehouse code and nothing else


LOCK_HOLDER = """
import time
from dagster_project.lib import warehouse
with warehouse.lock("test holder", run_id="other-run"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_batch_whose_commit_cannot_get_the_lock_lands_nothing_and_its_retry_lands_it_once(monkeypatch):
    """A step retried after a lock timeout at a batch's commit must not land that batch twice (found at 1M under load:
    20 000 raw rows twice, caught by the raw check unique_version)."""
    pages = {
        None: [incident(), incident(id="INC-65-00000003", updatedAt="2025-01-02T00:00:00Z")],
        "c1": [incident(id="INC-65-00000004", updatedAt="2025-01-03T00:00:00Z")],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        return httpx.Response(200, json={"items": pages[cursor], "next_cursor": "c1" if cursor is None else None})

    client = JsonApiClient("http://source/im/v1", "t", transport=httpx.MockTransport(handler))
    real_connect, connects, holders = warehouse.connect, [], []

    def connect_while_another_run_holds_the_lock_at_the_second_commit():
        connects.append(1)
        if len(connects) == 3:  # 1: the cursor read, 2: the first batch's commit, 3: the second batch's commit
            holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER], stdout=subprocess.PIPE, text=True)
            holders.append(holder)
            assert holder.stdout.readline().strip() == "locked"
        return real_connect()

    monkeypatch.setenv("CUR_WAREHOUSE_LOCK_TIMEOUT_S", "0.5")
    monkeypatch.setattr(warehouse, "connect", connect_while_another_run_holds_the_lock_at_the_second_commit)
    try:
        with pytest.raises(warehouse.WarehouseLocked):
            extract_api(
                INCIDENTS, client, LoadResult(INCIDENTS.name), key=KEY, run_id="r1", page_size=2, commit_every_records=1
            )
        assert sorted(row["incident_id"] for row in landed("incidents")) == ["INC-65-00000002", "INC-65-00000003"]
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
    monkeypatch.setattr(warehouse, "connect", real_connect)
    # The step's retry: the same run resumes from the first batch's committed cursor.
    extract_api(
        INCIDENTS, client, LoadResult(INCIDENTS.name), key=KEY, run_id="r1", page_size=2, commit_every_records=1
    )
    versions = Counter((row["incident_id"], row["updated_at"]) for row in landed("incidents"))
    assert sorted(incident_id for incident_id, _ in versions) == [
        "INC-65-00000002",
        "INC-65-00000003",
        "INC-65-00000004",
    ]
    assert set(versions.values()) == {1}
