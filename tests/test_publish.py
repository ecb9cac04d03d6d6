"""The serving layer: only what BI needs, one immutable Parquet file per mart version, written fresh (no byte of any
other warehouse table), only the changed marts rewritten, the catalog swapped while readers keep reading."""

import os
import stat
from pathlib import Path

import duckdb
import pytest
import scans
from dagster import DagsterInstance, materialize

from dagster_project.defs.bi import assets as bi_assets
from dagster_project.defs.resources import ServingResource, WarehouseResource, platform_resources
from dagster_project.lib import paths, serving
from dagster_project.lib import warehouse as warehouse_lib

SERVED = ("agency_rating_monthly", "appeals_deidentified", "dim_agency")
# Content of warehouse tables BI must never receive, each unique enough to be found by grep.
NOT_SERVED = {
    "quarantine payload": "QUARANTINE-PAYLOAD-7f3a",
    "staging text": "STAGING-TEXT-9c1e",
    "processed file reason": "PROCESSED-REASON-2b8d",
    "appeal text": "ТЕКСТ-ОБРАЩЕНИЯ-5e6f",
    "citizen hash": "c0ffee5eed1234567890abcdef0123456789abcdef0123456789abcdef012345",
    "dropped table": "DROPPED-TABLE-4a4a",
}
APARTMENT_MARKERS = ("кв.", "кв ", "квартир", "под.", "подъезд", "эт.", "комн.", "офис")


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("SERVING_PATH", raising=False)
    monkeypatch.delenv("SERVING_POSTGRES_URL", raising=False)
    monkeypatch.setattr(serving, "served_mart_names", lambda: SERVED)
    with duckdb.connect(str(paths.warehouse_path())) as con:
        con.execute(f"""create table main.fct_appeals as select 'pos:' || range as appeal_key, '64' as region_code,
            '64-ROIV-zhkh' as agency_id, '{NOT_SERVED["appeal text"]} ' || range as text,
            'г. Саратов, ул. Мира, д. 1, кв. ' || range as address, '{NOT_SERVED["citizen hash"]}' as citizen_hash
            from range(500)""")
        con.execute("""create table main.appeal_outcomes as select appeal_key, region_code, agency_id,
            range % 2 = 0 as is_answered from (select *, row_number() over () as range from main.fct_appeals)""")
        con.execute("create view main.appeals_deidentified as select * from main.appeal_outcomes")
        con.execute("""create table main.agency_rating_monthly as
            select '64' as region_code, '64-ROIV-zhkh' as agency_id, 'Министерство ЖКХ' as agency_name,
                range as score
            from range(5)""")
        con.execute("""create table main.dim_agency as select '64-ROIV-zhkh' as agency_id, '64' as region_code,
            'Министерство ЖКХ' as agency_name""")
        con.execute(
            f"create schema staging; create table staging.stg_sed as select '{NOT_SERVED['staging text']}' as t"
        )
        con.execute(
            f"create schema ops; create table ops.quarantine as select '{NOT_SERVED['quarantine payload']}' as p"
        )
        con.execute(f"create table ops.processed_files as select '{NOT_SERVED['processed file reason']}' as reason")
        con.execute(
            f"create table main.dropped as select '{NOT_SERVED['dropped table']}' || range as x from range(1000)"
        )
        con.execute("drop table main.dropped")
    return paths.warehouse_path()


def publish():
    result = materialize(
        [bi_assets.serving_marts], resources=platform_resources(), instance=DagsterInstance.ephemeral()
    )
    assert result.success
    (event,) = result.asset_materializations_for_node("serving__marts")
    return {key: value.value for key, value in event.metadata.items()}


def serving_files() -> list:
    return [path for path in paths.serving_path().parent.rglob("*") if path.is_file()]


def test_publish_serves_the_marts_bi_needs_and_nothing_else(warehouse):
    metadata = publish()
    assert metadata["written"] == list(SERVED) and metadata["marts"] == 3
    with duckdb.connect(str(paths.serving_path()), read_only=True) as reader:
        relations = reader.sql(
            "select table_schema, table_name, table_type from information_schema.tables order by 1, 2"
        ).fetchall()
        assert relations == [("main", name, "VIEW") for name in SERVED] + [("serving_meta", "marts", "BASE TABLE")]
        assert reader.sql("select count(*), sum(score) from main.agency_rating_monthly").fetchall() == [(5, 10)]
        assert reader.sql("select count(*) from main.appeals_deidentified").fetchall() == [(500,)]
    assert {path.relative_to(paths.serving_path().parent).parts[0] for path in serving_files()} == {
        "marts.duckdb",
        ".marts.duckdb.lock",
        "marts",
    }


def served_text() -> str:
    return "\n".join(value for values in scans.served_values(paths.serving_path().parent).values() for value in values)


def assert_nothing_unserved(text: str) -> None:
    for what, marker in NOT_SERVED.items():
        assert marker not in text, what
    for marker in APARTMENT_MARKERS:
        assert marker not in text.lower(), marker


def test_the_serving_files_hold_no_value_of_other_tables_and_no_apartment(warehouse):
    publish()
    files = scans.served_values(paths.serving_path().parent)
    assert sum(path.suffix == ".parquet" for path in files) == len(SERVED)
    text = served_text()
    # What a served mart holds is found in the decoded values (the scan sees the rows) …
    assert "Министерство ЖКХ" in text and "pos:499" in text
    assert_nothing_unserved(text)


def test_the_scan_finds_personal_data_in_a_compressed_serving_file(warehouse):
    """Positive control: a served mart that does carry an apartment and a citizen hash fails the scan."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"""create or replace table main.agency_rating_monthly as select '64' as region_code,
            '64-ROIV-zhkh' as agency_id, 'ул. Мира, д. 1, кв. ' || range as agency_name,
            '{NOT_SERVED["citizen hash"]}' || range as note, range as score from range(2000)""")
    publish()
    with pytest.raises(AssertionError, match="citizen hash"):
        assert_nothing_unserved(served_text())
    with pytest.raises(AssertionError, match="кв."):
        assert_nothing_unserved(served_text().replace(NOT_SERVED["citizen hash"], ""))


def test_only_changed_marts_are_rewritten_and_readers_keep_working_during_the_swap(warehouse):
    first = publish()
    before = serving.served_marts(paths.serving_path())
    with duckdb.connect(str(paths.serving_path()), read_only=True) as old_reader:
        with duckdb.connect(str(warehouse)) as con:
            con.execute("update main.agency_rating_monthly set score = score + 1 where score = 4")  # same row count
        second = publish()
        assert second["written"] == ["agency_rating_monthly"] and first["removed_files"] == 0
        # the reader that opened the previous catalog still reads its files
        assert old_reader.sql("select sum(score) from main.agency_rating_monthly").fetchall() == [(10,)]
    after = serving.served_marts(paths.serving_path())
    assert after["appeals_deidentified"] == before["appeals_deidentified"]  # the very same file
    assert after["agency_rating_monthly"].file != before["agency_rating_monthly"].file
    with duckdb.connect(str(paths.serving_path()), read_only=True) as new_reader:
        assert new_reader.sql("select sum(score) from main.agency_rating_monthly").fetchall() == [(11,)]
    assert before["agency_rating_monthly"].file.exists()  # kept for readers of the previous catalog …
    third = publish()
    assert third["written"] == [] and third["removed_files"] == 1
    assert not before["agency_rating_monthly"].file.exists()  # … until the publish after next
    assert sorted(p.name for p in paths.serving_path().parent.iterdir()) == [
        ".marts.duckdb.lock",
        "marts",
        "marts.duckdb",
    ]


def test_the_fingerprint_follows_values_not_row_order(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table main.a as select * from (values (1, 'x'), (2, 'y')) t(n, s)")
        con.execute("create table main.b as select * from (values (2, 'y'), (1, 'x')) t(n, s)")
        con.execute("create table main.c as select * from (values (1, 'y'), (2, 'x')) t(n, s)")
        con.execute("create table main.d as select * from (values (1, 'x'), (2, 'y'), (2, 'y')) t(n, s)")
        con.execute("create table main.e as select n, s::varchar(10) as t from main.a")
        prints = {name: serving.fingerprint(con, name)[0] for name in "abcde"}
    assert prints["a"] == prints["b"]
    assert len({prints["a"], prints["c"], prints["d"], prints["e"]}) == 4


def test_serving_files_are_private_under_the_entry_points_umask(warehouse):
    previous = os.umask(0o077)  # what definitions.py, the CLI and the report set
    try:
        publish()
    finally:
        os.umask(previous)
    for path in [paths.serving_path().parent, *paths.serving_path().parent.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_a_relative_catalog_path_keeps_its_files(warehouse, monkeypatch):
    monkeypatch.chdir(warehouse.parent)
    for _ in range(2):
        with duckdb.connect(str(warehouse), read_only=True) as con:
            result = serving.publish(con, SERVED, Path("serving/marts.duckdb"))
        assert result.removed_files == [] and all(mart.file.exists() for mart in result.marts.values())
    with duckdb.connect("serving/marts.duckdb", read_only=True) as reader:
        assert reader.sql("select count(*) from main.appeals_deidentified").fetchall() == [(500,)]


def test_publish_refuses_while_the_warehouse_has_unaudited_rows(warehouse):
    """Write-audit-publish: while the dbt ledger ops.unaudited_models (dbt/macros/incremental/audit_ledger.sql) lists a
    model, publish fails saying which and since when, and BI keeps the marts it had."""
    publish()
    before = serving.served_marts(paths.serving_path())
    with duckdb.connect(str(paths.warehouse_path())) as con:
        con.execute("""create table ops.unaudited_models as select 'fct_appeals' as model,
            timestamp '2026-12-01 10:00:00' as unaudited_since, 'inv-1' as invocation_id,
            'relationships_fct_appeals_registered_date: fail' as reason""")
        con.execute("update main.agency_rating_monthly set score = score + 100")
    refused = materialize(
        [bi_assets.serving_marts],
        resources=platform_resources(),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not refused.success
    (failure,) = [event for event in refused.all_events if event.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "not published: 1 model(s)" in message
    assert "fct_appeals since 2026-12-01 10:00:00 (relationships_fct_appeals_registered_date: fail)" in message
    assert serving.served_marts(paths.serving_path()) == before
    with duckdb.connect(str(paths.serving_path()), read_only=True) as reader:
        assert reader.sql("select sum(score) from main.agency_rating_monthly").fetchall() == [(10,)]
    # a build whose tests pass empties the ledger: the changed mart is published
    with duckdb.connect(str(paths.warehouse_path())) as con:
        con.execute("delete from ops.unaudited_models")
    assert publish()["written"] == ["agency_rating_monthly"]


def test_publish_reads_and_writes_where_its_resources_point(warehouse, tmp_path, monkeypatch):
    """The warehouse and serving resources (defs/resources.py), not the environment, say what `serving/marts` reads
    and where it writes: with the environment pointing at other, empty places the run reads the resource's warehouse
    and publishes to the resource's catalog, taking the lock beside that warehouse."""
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("CUR_DATA_DIR", str(elsewhere))
    monkeypatch.setenv("WAREHOUSE_PATH", str(elsewhere / "warehouse.duckdb"))
    catalog = tmp_path / "bi" / "catalog.duckdb"
    result = materialize(
        [bi_assets.serving_marts],
        resources={
            **platform_resources(),
            "warehouse": WarehouseResource(path=str(warehouse), threads=1, memory_limit="500MB"),
            "serving_layer": ServingResource(path=str(catalog)),
        },
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    (event,) = result.asset_materializations_for_node("serving__marts")
    assert event.metadata["catalog"].value == str(catalog) and event.metadata["marts"].value == 3
    with duckdb.connect(str(catalog), read_only=True) as reader:
        assert reader.sql("select count(*), sum(score) from main.agency_rating_monthly").fetchall() == [(5, 10)]
    assert (warehouse.parent / f".{warehouse.name}.lock").exists() and not elsewhere.exists()
    assert WarehouseResource(threads=1, memory_limit="500MB").duckdb_config() == {
        **warehouse_lib.duckdb_settings(),
        "threads": 1,
        "memory_limit": "500MB",
    }
