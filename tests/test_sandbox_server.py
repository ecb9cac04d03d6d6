"""The sandbox HTTP server, started as a real process: auth, paging, filters, the clock, every fault."""

import json
from datetime import datetime, timedelta

import httpx
import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.lib import paths
from dagster_project.sandbox.server import running_server
from dagster_project.sandbox.snapshot import json_string

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
