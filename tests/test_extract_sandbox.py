"""Extraction against the real sandbox: a generated data set, the HTTP server as a subprocess, file exports.

Covers every fault mode switched on (exact recovery), kill -9 mid-load and resume, incremental loads with
late updates, the backfill CLI, exactly-once files with bad files rejected, reconciliation and the PII scan.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import httpx
import openpyxl
import pyarrow.parquet as pq
import pytest
import scans
from dagster import materialize

from dagster_project.defs.extract.assets import API_ASSETS, FILE_ASSETS
from dagster_project.defs.extract.resources import InboxResource, PiiResource, SourceApiResource
from dagster_project.lib import paths, pii
from sandbox import generate
from sandbox.server import running_server

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
TOKEN = "sandbox-token"
SCALE = 2500
# The module's clean server shows the data as of this «now»; the incremental test moves it forward.
EARLY_NOW = "2025-09-01T00:00:00Z"
ALL_FAULTS = {
    "seed": 7,
    "rate_429": 0.08,
    "retry_after_s": 1,
    "rate_5xx": 0.08,
    "slow_rate": 0.04,
    "slow_s": 1.5,
    "reset_rate": 0.06,
    "duplicate_rate": 0.12,
    "malformed_rate": 0.12,
}
API_TABLES = {  # table → (API path, id column, child table, child id column)
    "pos_messages": ("/pos/v1/messages", "message_id", "pos_message_events"),
    "pos_polls": ("/pos/v1/polls", "poll_id", None),
    "incidents": ("/im/v1/incidents", "incident_id", "incident_events"),
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("sandbox")
    summary = generate(root / "sandbox", root / "inbox", SCALE, seed=11)
    return {"root": root, "store": root / "sandbox", "inbox": root / "inbox", "summary": summary}


@pytest.fixture(scope="module")
def clean_server(sandbox):
    with running_server(sandbox["store"], now=datetime.fromisoformat(EARLY_NOW.replace("Z", ""))) as url:
        yield url


def use_data_dir(monkeypatch, data: Path) -> None:
    monkeypatch.setenv("CUR_DATA_DIR", str(data))
    monkeypatch.setenv("WAREHOUSE_PATH", str(data / "warehouse.duckdb"))
    monkeypatch.setenv("CUR_INBOX_DIR", str(data / "inbox"))
    monkeypatch.setenv("PII_HASH_KEY", "test-pii-key")


def resources(url: str, **api_settings) -> dict:
    settings = {"backoff_base_s": 0.05, "timeout_s": 1.0, "page_size": 100, "commit_every_records": 300}
    settings.update(api_settings)
    return {
        "pos_api": SourceApiResource(api="pos", base_url=f"{url}/pos/v1", **settings),
        "incident_api": SourceApiResource(api="incident", base_url=f"{url}/im/v1", **settings),
        "inbox": InboxResource(),
        "pii": PiiResource(),
    }


def server_records(url: str, path: str, **params) -> list[dict]:
    """Everything the server shows, read plainly (no faults), as the ground truth."""
    items, cursor = [], None
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        while True:
            query = {"limit": 5000, **params} | ({"cursor": cursor} if cursor else {})
            body = client.get(path, params=query).raise_for_status().json()
            items += body["items"]
            cursor = body["next_cursor"]
            if not cursor:
                return items


def server_versions(url: str, table: str, **params) -> set[tuple[str, str]]:
    return {(r["id"], r["updatedAt"]) for r in server_records(url, API_TABLES[table][0], **params)}


def lake(table: str, columns: str = "*", tail: str = "") -> list[tuple]:
    """A query over a raw table exactly as dbt reads it (the glob of docs/architecture.md)."""
    glob = paths.raw_dir(table) / "*" / "*.parquet"
    with duckdb.connect() as con:
        return con.execute(f"select {columns} from read_parquet('{glob}', union_by_name=true) {tail}").fetchall()


def landed_versions(table: str) -> list[tuple[str, str]]:
    id_column = API_TABLES[table][1]
    rows = lake(table, f"{id_column}, strftime(updated_at, '%Y-%m-%dT%H:%M:%SZ')")
    if table == "pos_polls":  # one row per option: a poll version is the distinct pair
        return sorted(set(rows))
    return rows


def warehouse_rows(sql: str) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path())) as con:
        return con.execute(sql).fetchall()


def assert_reconciled() -> None:
    for source, fetched, landed, quarantined in warehouse_rows(
        "select source, fetched, landed, quarantined from ops.load_log"
    ):
        assert fetched == landed + quarantined, source


# --- every fault mode on: a full load of every source ------------------------------------------


@pytest.fixture(scope="module")
def faulty_load(sandbox, tmp_path_factory):
    """All assets in one run against a server with every fault switched on; also collects the citizens'
    personal data from the sources before they are loaded, for the PII scan."""
    data = tmp_path_factory.mktemp("faulty")
    shutil.copytree(sandbox["inbox"], data / "inbox")
    personal = source_personal_data(sandbox["store"], data / "inbox")
    with pytest.MonkeyPatch.context() as monkeypatch, running_server(sandbox["store"], faults=ALL_FAULTS) as url:
        use_data_dir(monkeypatch, data)
        started = time.monotonic()
        result = materialize([*API_ASSETS.values(), *FILE_ASSETS.values()], resources=resources(url))
        elapsed = time.monotonic() - started
        httpx.post(f"{url}/admin/faults", json={}).raise_for_status()
        truth = {table: server_versions(url, table) for table in API_TABLES}
        truth_events = {
            table: {(r["id"], len(r["statusHistory"])) for r in server_records(url, API_TABLES[table][0])}
            for table in ("pos_messages", "incidents")
        }
        yield {
            "data": data,
            "result": result,
            "truth": truth,
            "truth_events": truth_events,
            "personal": personal,
            "elapsed": elapsed,
        }


def metadata(result, table: str) -> dict:
    (materialization,) = [
        m
        for node in {a.op.name for a in [*API_ASSETS.values(), *FILE_ASSETS.values()]}
        for m in result.asset_materializations_for_node(node)
        if m.asset_key.path == ["raw", table]
    ]
    return {k: v.value for k, v in materialization.metadata.items()}


def test_every_fault_mode_is_recovered_exactly(faulty_load):
    result = faulty_load["result"]
    assert result.success
    retries = duplicates = 0
    for table, (_, id_column, child) in API_TABLES.items():
        landed = landed_versions(table)
        assert len(landed) == len(set(landed)), f"{table}: a version landed twice"
        assert set(landed) == faulty_load["truth"][table], table
        meta = metadata(result, table)
        assert meta["quarantined"] == 0 and meta["fetched"] == meta["landed"] == len(landed)
        retries += meta["http_retries"]
        duplicates += meta["duplicates_skipped"]
        if child:
            events = set(lake(child, f"{id_column}, count(*)", "group by 1"))
            assert events == faulty_load["truth_events"][table], child
    assert retries >= 5 and duplicates > 0  # the faults did happen
    assert all(c.passed for c in result.get_asset_check_evaluations())
    assert_reconciled()


def test_files_are_loaded_once_and_bad_files_rejected_with_a_reason(faulty_load, sandbox):
    inbox = paths.inbox_dir("")
    bad_files = sandbox["summary"]["bad_files"]
    for source in ("sed", "portal"):
        assert [p.name for p in (inbox / source).iterdir() if p.is_file()] == []  # nothing left behind
        rejected = {p.name for p in (inbox / source / "rejected").glob(f"{source}_*") if p.suffix != ".txt"}
        expected = {name for name, kind in bad_files.items() if name.startswith(source) and kind != "extra_column"}
        assert rejected == expected
        for name in rejected:
            reason = (inbox / source / "rejected" / f"{name}.reason.txt").read_text()
            assert reason.startswith(("wrong encoding", "wrong delimiter", "columns do not match")), reason
    extra = [n for n, kind in bad_files.items() if kind == "extra_column"]
    assert all((inbox / n.split("_")[0] / "processed" / n).exists() for n in extra)
    quarantined = 0
    for table in ("sed_appeals", "portal_appeals"):
        meta = metadata(faulty_load["result"], table)
        assert meta["fetched"] == meta["landed"] + meta["quarantined"]
        quarantined += meta["quarantined"]
        versions = lake(table, "appeal_id, updated_at" if table == "portal_appeals" else "appeal_id, exported_at")
        assert len(versions) == len(set(versions)) == meta["landed"]  # a row repeated in an export lands once
    assert quarantined > 0  # the generator's spoiled rows (bad dates, missing ids, …)

    # A processed file dropped again, as is and under another name: nothing new lands.
    parts_before = sorted(paths.raw_dir("sed_appeals").rglob("*.parquet"))
    processed = sorted((inbox / "sed" / "processed").glob("sed_*.csv"))[-1]
    shutil.copy(processed, inbox / "sed" / processed.name)
    shutil.copy(processed, inbox / "sed" / "sed_64_20991231.csv")
    again = materialize([FILE_ASSETS["sed_appeals"]], resources={"inbox": InboxResource(), "pii": PiiResource()})
    assert metadata(again, "sed_appeals")["landed"] == 0
    assert sorted(paths.raw_dir("sed_appeals").rglob("*.parquet")) == parts_before


def source_personal_data(store: Path, inbox: Path) -> dict[str, set[str]]:
    """Names, phones (as digits), e-mails and handles of the citizens, read from the sources themselves."""
    found = {"name": set(), "phone": set(), "email": set(), "handle": set()}
    for file, columns in (
        ("pos_messages", {"author_name": "name", "author_phone": "phone", "author_email": "email"}),
        ("incidents", {"author_handle": "handle", "author_name": "name"}),
    ):
        table = pq.read_table(store / "api" / f"{file}.parquet", columns=list(columns))
        for column, kind in columns.items():
            found[kind].update(v for v in table[column].to_pylist() if v)
    headers = {"Заявитель": "name", "Телефон": "phone", "Эл. почта": "email"}
    for path in sorted(inbox.rglob("*_*.*")):
        rows = []
        if path.suffix == ".xlsx":
            sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
            values = list(sheet.iter_rows(values_only=True))
            rows = [dict(zip(values[0], r)) for r in values[1:]]
        else:
            for encoding in ("utf-8-sig", "cp1251", "utf-16"):
                try:
                    text = path.read_bytes().decode(encoding)
                    break
                except UnicodeError:
                    continue
            lines = text.splitlines()
            delimiter = ";" if ";" in lines[0] else ","
            header = lines[0].split(delimiter)
            rows = [dict(zip(header, line.split(delimiter))) for line in lines[1:]]
        for row in rows:
            for header, kind in headers.items():
                if row.get(header):
                    found[kind].add(str(row[header]).strip('"'))
    found["phone"] = {pii.normalize_identity(phone=p).removeprefix("phone:") for p in found["phone"]}
    return found


def stored_text(data: Path) -> str:
    """Every string value on disk after the load: the lake, the quarantine and every warehouse table."""
    chunks = []
    for part in sorted((data / "lake").rglob("*.parquet")):
        table = pq.read_table(part)
        for field in table.schema:
            if str(field.type) == "string":
                chunks.extend(v for v in table[field.name].to_pylist() if v)
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns where data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in columns:
            chunks.extend(v for (v,) in con.execute(f'select "{column}" from "{schema}"."{table}"').fetchall() if v)
    return "\n".join(chunks)


def test_no_personal_data_reaches_disk(faulty_load):
    personal = faulty_load["personal"]
    assert all(len(values) > 50 for values in personal.values())  # the sources really carry personal data
    text = stored_text(faulty_load["data"])
    assert warehouse_rows("select count(*) from ops.quarantine")[0][0] > 0  # the quarantine is scanned too
    assert scans.find_pii(text) == []
    digits = "".join(c if c.isdigit() else " " for c in text).split()
    assert not personal["phone"] & {d[-11:] for d in digits if len(d) >= 10}
    for kind in ("name", "email", "handle"):
        leaked = [value for value in personal[kind] if value in text]
        assert leaked == [], f"{kind} in clear: {leaked[:3]}"
    # Repeat appeals stay countable: one citizen, one hash, across appeals.
    hashes = [h for (h,) in lake("pos_messages", "citizen_hash")]
    assert len(set(hashes)) < len(hashes)


# --- kill -9 mid-load, then resume ---------------------------------------------------------------

KILLED_LOAD = """
from dagster import materialize
from dagster_project.defs.extract.assets import API_ASSETS
from dagster_project.defs.extract.resources import PiiResource, SourceApiResource

materialize(
    [API_ASSETS["pos_messages"]],
    resources={"pos_api": SourceApiResource(api="pos", page_size=20, commit_every_records=20), "pii": PiiResource()},
)
"""


def test_a_load_killed_with_sigkill_resumes_without_duplicates_or_gaps(clean_server, tmp_path, monkeypatch):
    use_data_dir(monkeypatch, tmp_path / "data")
    env = {**os.environ, "POS_BASE_URL": f"{clean_server}/pos/v1", "DAGSTER_HOME": str(tmp_path / "dagster")}
    process = subprocess.Popen([sys.executable, "-c", KILLED_LOAD], env=env, cwd=REPO)
    parts = paths.raw_dir("pos_messages")
    deadline = time.monotonic() + 90
    while len([p for p in parts.rglob("*.parquet") if "1970" not in p.parent.name]) < 4:
        assert process.poll() is None, "the load ended before it could be killed"
        assert time.monotonic() < deadline, "the load landed nothing in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    ((page_cursor,),) = warehouse_rows("select page_cursor from ops.extract_cursor where source = 'pos_messages'")
    assert page_cursor is not None  # killed mid-load: a resume point is stored

    result = materialize([API_ASSETS["pos_messages"]], resources=resources(clean_server))
    assert metadata(result, "pos_messages")["resumed"] is True
    truth = server_versions(clean_server, "pos_messages")
    landed = landed_versions("pos_messages")
    assert set(landed) == truth  # nothing missing after dedup by (id, updated_at) …
    assert len(landed) - len(set(landed)) <= 20  # … and at most the one uncommitted batch landed twice
    assert warehouse_rows("select page_cursor from ops.extract_cursor")[0][0] is None
    assert_reconciled()


# --- incremental loads with late updates, and the backfill CLI -----------------------------------


def test_incremental_loads_pick_up_new_and_updated_records(clean_server, tmp_path, monkeypatch):
    use_data_dir(monkeypatch, tmp_path / "data")
    assets = [API_ASSETS["pos_messages"], API_ASSETS["incidents"]]
    materialize(assets, resources=resources(clean_server))
    first = {t: set(landed_versions(t)) for t in ("pos_messages", "incidents")}
    later = "2025-12-01T00:00:00Z"
    try:
        httpx.post(f"{clean_server}/admin/clock", json={"now": later}).raise_for_status()
        second = materialize(assets, resources=resources(clean_server))
        truth = {t: server_versions(clean_server, t) for t in first}
    finally:
        httpx.post(f"{clean_server}/admin/clock", json={"now": EARLY_NOW}).raise_for_status()
    for table in first:
        latest = {}
        for record_id, updated_at in landed_versions(table):
            latest[record_id] = max(latest.get(record_id, ""), updated_at)
        assert set(latest.items()) == truth[table], table  # the newest version of every record is landed
        meta = metadata(second, table)
        assert 0 < meta["fetched"] < len(truth[table])  # the second load read only what changed (+ lookback)
        assert meta["cursor_from"] < EARLY_NOW and meta["cursor_to"] <= later
        assert first[table] <= set(landed_versions(table))


def test_backfill_of_a_date_range_from_the_cli(clean_server, tmp_path, monkeypatch):
    use_data_dir(monkeypatch, tmp_path / "data")
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "dagster_project.defs.extract",
        "--select",
        "raw/pos_messages,raw/pos_message_events",
        "--partition-range",
        "2025-03-01...2025-03-31",
    ]
    env = {**os.environ, "POS_BASE_URL": f"{clean_server}/pos/v1", "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    completed = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    expected = server_versions(
        clean_server, "pos_messages", updated_since="2025-03-01T00:00:00Z", updated_until="2025-04-01T00:00:00Z"
    )
    landed = landed_versions("pos_messages")
    assert len(expected) > 10 and sorted(landed) == sorted(expected)
    assert all("2025-03-01" <= updated_at < "2025-04-01" for _, updated_at in landed)
    assert warehouse_rows("select count(*) from ops.extract_cursor") == [(0,)]  # the cursor is untouched
    assert warehouse_rows("select cursor_from, status from ops.load_log") == [
        ("2025-03-01T00:00:00.000000Z", "success")
    ]
