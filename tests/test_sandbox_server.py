"""The sandbox HTTP server, started as a real process: auth, paging, filters, the clock, every fault."""

import json
from datetime import datetime, timedelta

import httpx
import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.lib import paths
from sandbox.server import running_server
from sandbox.snapshot import INCIDENT_FIELDS, MESSAGE_FIELDS, EventSourced, json_string

AUTH = {"Authorization": "Bearer sandbox-token"}
ENDPOINTS = {"/pos/v1/messages": "pos_message", "/pos/v1/polls": "pos_poll", "/im/v1/incidents": "incident"}


@pytest.fixture
def api(sandbox_server):
    """A client of the shared server; clock and faults are reset after each test."""
    default_now = httpx.get(f"{sandbox_server}/admin/clock").json()["now"]
    with httpx.Client(base_url=sandbox_server, headers=AUTH, timeout=30) as client:
        yield client
        client.post("/admin/faults", json={})
        if client.get("/admin/clock").json()["now"] != default_now:
            client.post("/admin/clock", json={"now": default_now})


def schema_validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((paths.REPO_ROOT / "docs" / "schemas" / f"{name}.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def fetch_all(client: httpx.Client, path: str, limit: int = 500, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = client.get(path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        page.raise_for_status()
        body = page.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_requests_without_a_valid_token_get_401(sandbox_server):
    for path in ENDPOINTS:
        assert httpx.get(f"{sandbox_server}{path}").status_code == 401
        wrong = httpx.get(f"{sandbox_server}{path}", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    assert httpx.get(f"{sandbox_server}/health").json()["status"] == "ok"


def test_paging_covers_every_visible_record_exactly_once_in_order(api, sandbox_generated):
    messages = fetch_all(api, "/pos/v1/messages", limit=777)
    keys = [(m["updatedAt"], m["id"]) for m in messages]
    assert keys == sorted(keys)
    assert len({m["id"] for m in messages}) == len(messages)
    now = datetime.fromisoformat(api.get("/admin/clock").json()["now"].rstrip("Z"))
    created = pq.read_table(sandbox_generated[0] / "api" / "pos_messages.parquet", columns=["id", "created_at"])
    visible = {i for i, c in zip(created["id"].to_pylist(), created["created_at"].to_pylist()) if c <= now}
    assert {m["id"] for m in messages} == visible
    incidents = fetch_all(api, "/im/v1/incidents", limit=5000)
    assert len(incidents) == len({i["id"] for i in incidents}) > 0
    assert api.get("/pos/v1/messages", params={"limit": 5001}).status_code == 400
    assert api.get("/pos/v1/messages", params={"cursor": "%%%"}).status_code == 400


def test_records_match_the_json_schemas(api):
    for path, schema_name in ENDPOINTS.items():
        validator = schema_validator(schema_name)
        items = api.get(path, params={"limit": 300}).json()["items"]
        assert items
        for item in items:
            validator.validate(item)
    spec = api.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1") and set(ENDPOINTS) <= set(spec["paths"])
    assert set(spec["components"]["schemas"]) == set(ENDPOINTS.values())


def test_updated_since_and_until_filter_by_update_time(api):
    everything = fetch_all(api, "/pos/v1/messages", limit=5000)
    since, until = "2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z"
    window = fetch_all(api, "/pos/v1/messages", limit=300, updated_since=since, updated_until=until)
    expected = [m["id"] for m in everything if since <= m["updatedAt"] < until]
    assert [m["id"] for m in window] == expected and expected
    tail = fetch_all(api, "/pos/v1/messages", limit=5000, updated_since="2025-12-01T03:00:00+03:00")
    assert [m["id"] for m in tail] == [m["id"] for m in everything if m["updatedAt"] >= "2025-12-01T00:00:00Z"]


def test_moving_the_clock_forward_publishes_late_updates(api):
    default_now = api.get("/admin/clock").json()["now"]
    earlier = (datetime.fromisoformat(default_now.rstrip("Z")) - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    api.post("/admin/clock", json={"now": earlier})
    before = {m["id"]: m for m in fetch_all(api, "/pos/v1/messages", limit=5000)}
    assert all(m["updatedAt"] <= earlier for m in before.values())
    polls_before = {p["id"]: p for p in fetch_all(api, "/pos/v1/polls")}

    api.post("/admin/clock", json={"now": default_now})
    changed = fetch_all(api, "/pos/v1/messages", limit=5000, updated_since=earlier)
    late = [m for m in changed if m["id"] in before]
    assert any(m["id"] not in before for m in changed), "new records appear"
    assert late, "records published earlier change later"
    assert any(before[m["id"]]["status"] != m["status"] for m in late)
    assert any(before[m["id"]]["rating"] is None and m["rating"] is not None for m in late)
    for m in late:
        assert len(m["statusHistory"]) >= len(before[m["id"]]["statusHistory"])
    polls_after = {p["id"]: p for p in fetch_all(api, "/pos/v1/polls")}
    votes = lambda p: sum(o["votes"] for o in p["options"])  # noqa: E731
    assert all(votes(polls_after[i]) >= votes(p) for i, p in polls_before.items())


def test_nothing_is_visible_before_the_period(api):
    api.post("/admin/clock", json={"now": "2020-01-01T00:00:00Z"})
    for path in ENDPOINTS:
        assert api.get(path).json() == {"items": [], "next_cursor": None}


def test_json_encoding_of_free_text():
    values = pa.array(['цитата "в кавычках"', "обратный \\ слэш\nи перевод строки", None])
    assert [json.loads(v) for v in json_string(values).to_pylist()] == values.to_pylist()


def compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_pages_are_the_compact_json_of_their_records(api):
    """The vectorised rendering writes exactly what json.dumps would: valid JSON, escaped, fields in order."""
    for clock in ("2024-03-01T00:00:00Z", "2025-12-20T12:00:00Z"):
        api.post("/admin/clock", json={"now": clock})
        for path in ("/pos/v1/messages", "/im/v1/incidents"):
            for limit in (1, 333, 5000):
                response = api.get(path, params={"limit": limit, "updated_since": "2023-06-01T00:00:00Z"})
                assert response.json()["items"] and response.content == compact(response.json()).encode()


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def write_tiny_store(api_dir) -> None:
    """Four messages and two incidents by hand: escapes, nulls, ties in updatedAt, events stored out of order."""
    api_dir.mkdir()
    pq.write_table(
        pa.table(
            {
                "id": ["POS-64-00000002", "POS-64-00000001", "POS-64-00000003", "POS-03-00000009"],
                "region_code": ["64", "64", "64", "03"],
                "oktmo": ["63701000", "63701000", "63701000", "81701000"],
                "is_59fz": [True, False, False, False],
                "category_code": ["housing.04", "roads.01", "gkh.17", "waste.02"],
                "subcategory_code": [None, "roads.01.01", None, None],
                "text": ['Течёт крыша, "срочно"\\ помогите\nвторая строка\tтаб', "Яма.", "Свет.", "Мусор."],
                "address": [None, "г. Саратов, ул. Мира, д. 1", None, None],
                "author_name": ["Иванов Иван Иванович", "Петрова Анна Сергеевна", "Орлов Олег Олегович", "Белов Борис"],
                "author_phone": ["+7 900 000-00-01", "+7 900 000-00-02", "+7 900 000-00-03", "+7 900 000-00-04"],
                "author_email": ["ivanov@mail.ru", None, "orlov@ya.ru", "belov@bk.ru"],
                "created_at": [
                    ts("2025-01-10T09:00:00"),
                    ts("2025-01-12T08:00:00"),
                    ts("2025-02-01T00:00:00"),
                    ts("2025-01-14T08:00:00"),
                ],
                "answer_text": ['Ответ: "выполнено"', "Ответ.", "Ответ.", "Ответ."],
                "rating_value": pa.array([5, None, None, None], pa.int8()),
                "rated_at": [ts("2025-01-20T12:00:00"), None, None, None],
            }
        ),
        api_dir / "pos_messages.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "message_id": [
                    "POS-64-00000001",
                    "POS-64-00000002",
                    "POS-64-00000002",
                    "POS-64-00000001",
                    "POS-64-00000002",
                    "POS-03-00000009",
                    "POS-64-00000002",
                    "POS-64-00000003",
                    "POS-64-00000001",
                ],
                "seq": pa.array([3, 4, 1, 1, 3, 1, 2, 1, 2], pa.int32()),
                "status": [
                    "in_work",
                    "closed",
                    "registered",
                    "registered",
                    "answered",
                    "registered",
                    "in_work",
                    "registered",
                    "redirected",
                ],
                "at": [
                    ts("2025-01-14T08:00:00"),
                    ts("2025-01-19T10:00:00"),
                    ts("2025-01-10T09:00:00"),
                    ts("2025-01-12T08:00:00"),
                    ts("2025-01-15T10:00:00"),
                    ts("2025-01-14T08:00:00"),
                    ts("2025-01-10T12:00:00"),
                    ts("2025-02-01T00:00:00"),
                    ts("2025-01-13T08:00:00"),
                ],
                "agency_id": [
                    "64-ROIV-gji",
                    "64-ROIV-gji",
                    "64-OMSU-saratov",
                    "64-OMSU-saratov",
                    "64-ROIV-gji",
                    "03-OMSU-ulanude",
                    "64-ROIV-gji",
                    "64-OMSU-saratov",
                    "64-ROIV-gji",
                ],
            }
        ),
        api_dir / "pos_message_events.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "id": ["INC-37-00000007", "INC-37-00000005"],
                "region_code": ["37", "37"],
                "oktmo": ["24701000", "24701000"],
                "platform": ["telegram", "vk"],
                "post_url": ["https://t.me/fox/1001", "https://vk.com/wall-1_2"],
                "author_handle": ["fox_ivan85", "kot_anna90"],
                "author_name": ["Иван Лисин", "Анна Котова"],
                "text": ["Репост! Нет воды.", "Нет света"],
                "category_code": ["energy.03", "energy.03"],
                "published_at": [ts("2025-03-01T09:00:00"), ts("2025-03-01T10:30:00")],
                "detected_at": [ts("2025-03-01T10:00:00"), ts("2025-03-01T11:00:00")],
            }
        ),
        api_dir / "incidents.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "incident_id": ["INC-37-00000007", "INC-37-00000005", "INC-37-00000007", "INC-37-00000007"],
                "seq": pa.array([2, 1, 1, 3], pa.int32()),
                "status": ["in_work", "registered", "registered", "answered"],
                "at": [
                    ts("2025-03-01T12:00:00"),
                    ts("2025-03-01T11:00:00"),
                    ts("2025-03-01T10:00:00"),
                    ts("2025-03-02T09:00:00"),
                ],
                "agency_id": ["37-ROIV-denergy", "37-ROIV-denergy", "37-ROIV-denergy", "37-ROIV-denergy"],
            }
        ),
        api_dir / "incident_events.parquet",
    )


def test_a_hand_built_store_renders_exactly(tmp_path):
    """Every byte of the records as of «now»: static fields with nulls and escapes, history, answer, rating or
    reaction, updatedAt, (updatedAt, id) order — as json.dumps writes the expected records."""
    write_tiny_store(tmp_path / "api")
    messages = EventSourced(
        tmp_path / "api" / "pos_messages.parquet",
        MESSAGE_FIELDS,
        tmp_path / "api" / "pos_message_events.parquet",
        "message_id",
        "opaId",
        answers=True,
    )
    incidents = EventSourced(
        tmp_path / "api" / "incidents.parquet",
        INCIDENT_FIELDS,
        tmp_path / "api" / "incident_events.parquet",
        "incident_id",
        "agencyId",
    )

    def message(number, status, history, answer=None, rating=None, updated=None):
        static = {
            1: {
                "regionCode": "64",
                "oktmo": "63701000",
                "is59FZ": False,
                "categoryCode": "roads.01",
                "subcategoryCode": "roads.01.01",
                "text": "Яма.",
                "address": "г. Саратов, ул. Мира, д. 1",
                "author": {"name": "Петрова Анна Сергеевна", "phone": "+7 900 000-00-02", "email": None},
                "createdAt": "2025-01-12T08:00:00Z",
            },
            2: {
                "regionCode": "64",
                "oktmo": "63701000",
                "is59FZ": True,
                "categoryCode": "housing.04",
                "subcategoryCode": None,
                "text": 'Течёт крыша, "срочно"\\ помогите\nвторая строка\tтаб',
                "address": None,
                "author": {"name": "Иванов Иван Иванович", "phone": "+7 900 000-00-01", "email": "ivanov@mail.ru"},
                "createdAt": "2025-01-10T09:00:00Z",
            },
            3: {
                "regionCode": "64",
                "oktmo": "63701000",
                "is59FZ": False,
                "categoryCode": "gkh.17",
                "subcategoryCode": None,
                "text": "Свет.",
                "address": None,
                "author": {"name": "Орлов Олег Олегович", "phone": "+7 900 000-00-03", "email": "orlov@ya.ru"},
                "createdAt": "2025-02-01T00:00:00Z",
            },
            9: {
                "regionCode": "03",
                "oktmo": "81701000",
                "is59FZ": False,
                "categoryCode": "waste.02",
                "subcategoryCode": None,
                "text": "Мусор.",
                "address": None,
                "author": {"name": "Белов Борис", "phone": "+7 900 000-00-04", "email": "belov@bk.ru"},
                "createdAt": "2025-01-14T08:00:00Z",
            },
        }[number]
        events = [{"status": s, "at": f"{at}Z", "opaId": agency} for s, at, agency in history]
        return {
            "id": f"POS-{static['regionCode']}-0000000{number}",
            **static,
            "opaId": events[-1]["opaId"],
            "status": status,
            "statusHistory": events,
            "answer": answer,
            "rating": rating,
            "updatedAt": updated or events[-1]["at"],
        }

    history_2 = [
        ("registered", "2025-01-10T09:00:00", "64-OMSU-saratov"),
        ("in_work", "2025-01-10T12:00:00", "64-ROIV-gji"),
        ("answered", "2025-01-15T10:00:00", "64-ROIV-gji"),
    ]
    history_1 = [
        ("registered", "2025-01-12T08:00:00", "64-OMSU-saratov"),
        ("redirected", "2025-01-13T08:00:00", "64-ROIV-gji"),
        ("in_work", "2025-01-14T08:00:00", "64-ROIV-gji"),
    ]
    history_9 = [("registered", "2025-01-14T08:00:00", "03-OMSU-ulanude")]
    answer_2 = {"text": 'Ответ: "выполнено"', "at": "2025-01-15T10:00:00Z"}
    expected = {
        datetime(2025, 1, 18): [  # 9 and 1 share updatedAt: ordered by id
            message(9, "registered", history_9),
            message(1, "in_work", history_1),
            message(2, "answered", history_2, answer=answer_2),
        ],
        datetime(2025, 2, 2): [
            message(9, "registered", history_9),
            message(1, "in_work", history_1),
            message(
                2,
                "closed",
                [*history_2, ("closed", "2025-01-19T10:00:00", "64-ROIV-gji")],
                answer=answer_2,
                rating={"value": 5, "at": "2025-01-20T12:00:00Z"},
                updated="2025-01-20T12:00:00Z",
            ),
            message(3, "registered", [("registered", "2025-02-01T00:00:00", "64-OMSU-saratov")]),
        ],
    }
    for now, records in expected.items():
        snapshot = messages.snapshot(now)
        assert snapshot.json_items(0, len(snapshot)).to_pylist() == [compact(r) for r in records]
        assert snapshot.record_id(1) == "POS-64-00000001"
        assert snapshot.start_after(int(snapshot.upd[0]), "POS-03-00000009") == 1

    def incident(number, status, history, reaction):
        static = {
            7: {
                "platform": "telegram",
                "postUrl": "https://t.me/fox/1001",
                "author": {"handle": "fox_ivan85", "name": "Иван Лисин"},
                "text": "Репост! Нет воды.",
                "categoryCode": "energy.03",
                "publishedAt": "2025-03-01T09:00:00Z",
                "detectedAt": "2025-03-01T10:00:00Z",
            },
            5: {
                "platform": "vk",
                "postUrl": "https://vk.com/wall-1_2",
                "author": {"handle": "kot_anna90", "name": "Анна Котова"},
                "text": "Нет света",
                "categoryCode": "energy.03",
                "publishedAt": "2025-03-01T10:30:00Z",
                "detectedAt": "2025-03-01T11:00:00Z",
            },
        }[number]
        events = [{"status": s, "at": f"{at}Z", "agencyId": "37-ROIV-denergy"} for s, at in history]
        return {
            "id": f"INC-37-0000000{number}",
            "regionCode": "37",
            "oktmo": "24701000",
            **static,
            "agencyId": "37-ROIV-denergy",
            "status": status,
            "statusHistory": events,
            "reactionAt": reaction,
            "updatedAt": events[-1]["at"],
        }

    registered_5 = [("registered", "2025-03-01T11:00:00")]
    expected = {
        datetime(2025, 3, 1, 11, 30): [
            incident(7, "registered", [("registered", "2025-03-01T10:00:00")], None),
            incident(5, "registered", registered_5, None),
        ],
        datetime(2025, 4, 1): [
            incident(5, "registered", registered_5, None),
            incident(
                7,
                "answered",
                [
                    ("registered", "2025-03-01T10:00:00"),
                    ("in_work", "2025-03-01T12:00:00"),
                    ("answered", "2025-03-02T09:00:00"),
                ],
                "2025-03-01T12:00:00Z",
            ),
        ],
    }
    for now, records in expected.items():
        snapshot = incidents.snapshot(now)
        assert snapshot.json_items(0, len(snapshot)).to_pylist() == [compact(r) for r in records]
    assert len(messages.snapshot(datetime(2024, 1, 1))) == 0


def test_429_with_retry_after(api):
    api.post("/admin/faults", json={"rate_429": 1.0, "retry_after_s": 2})
    response = api.get("/pos/v1/messages")
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"


def test_5xx(api):
    api.post("/admin/faults", json={"rate_5xx": 1.0})
    statuses = {api.get("/im/v1/incidents").status_code for _ in range(12)}
    assert statuses <= {500, 502, 503} and len(statuses) >= 2


def test_slow_response_exceeds_the_client_timeout(api):
    api.post("/admin/faults", json={"slow_rate": 1.0, "slow_s": 1.5})
    with pytest.raises(httpx.ReadTimeout):
        api.get("/pos/v1/polls", timeout=0.5)


def test_connection_reset_mid_body(api):
    api.post("/admin/faults", json={"reset_rate": 1.0})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.get("/pos/v1/messages", params={"limit": 200})


def test_duplicates_repeat_records_of_the_previous_page(api):
    first = api.get("/pos/v1/messages", params={"limit": 50}).json()
    api.post("/admin/faults", json={"duplicate_rate": 1.0})
    second = api.get("/pos/v1/messages", params={"limit": 50, "cursor": first["next_cursor"]}).json()
    first_ids = [m["id"] for m in first["items"]]
    second_ids = [m["id"] for m in second["items"]]
    assert second_ids[:3] == first_ids[-3:] and len(second_ids) == 53


def test_malformed_record(api):
    api.post("/admin/faults", json={"malformed_rate": 1.0, "seed": 3})
    validator = schema_validator("pos_message")
    for _ in range(4):
        items = api.get("/pos/v1/messages", params={"limit": 20}).json()["items"]
        broken = [m for m in items if not validator.is_valid(m)]
        assert len(broken) == 1
        assert "id" not in broken[0] or isinstance(broken[0]["updatedAt"], int)


def test_faults_are_deterministic_from_their_seed(api):
    settings = {"seed": 11, "rate_429": 0.3, "rate_5xx": 0.3}
    runs = []
    for _ in range(2):
        api.post("/admin/faults", json=settings)
        runs.append([api.get("/pos/v1/polls").status_code for _ in range(15)])
    assert runs[0] == runs[1] and len(set(runs[0])) > 1
    assert api.post("/admin/faults", json={"rate_42": 1}).status_code == 400


def test_cli_faults_and_clock_options(sandbox_generated):
    faults = {"rate_429": 1.0, "retry_after_s": 3}
    with running_server(sandbox_generated[0], faults=faults, now=datetime(2024, 1, 1)) as base_url:
        assert httpx.get(f"{base_url}/admin/clock").json()["now"] == "2024-01-01T00:00:00Z"
        response = httpx.get(f"{base_url}/pos/v1/messages", headers=AUTH)
        assert response.status_code == 429 and response.headers["Retry-After"] == "3"
