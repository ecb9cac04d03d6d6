"""The PostgreSQL serving copy: every served mart with its values; later loads copy only the marts whose fingerprint
changed, drop the ones no longer served, and swap in one transaction."""

import os
from datetime import date

import duckdb
import psycopg2
import pytest
from bi_serving_fixture import build_serving_fixture, publish_marts

from dagster_project.lib import postgres as postgres_lib
from dagster_project.lib import serving

pytestmark = pytest.mark.integration

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def schema():
    name = f"serving_test_{os.getpid()}"
    yield name
    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        cursor.execute(f"drop schema if exists {name} cascade")
    connection.close()


def _pg(query: str):
    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        rows = cursor.fetchall()
    connection.close()
    return rows


def test_load_copies_every_served_mart_with_its_values(tmp_path, schema, monkeypatch):
    warehouse = build_serving_fixture(tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(warehouse)) as con:
        # Values that CSV transport gets wrong easily: empty string vs NULL, quotes, separators, new lines, lists.
        con.execute("""create table edge_cases as select * from (values
            (1, '', null::varchar, 'a "quoted", text', e'two\\nlines', [1, 2], date '2025-11-01', true),
            (2, 'x', 'y', ';', '', []::integer[], null::date, null::boolean))
            as t(id, empty, missing, quoted, multiline, list, day, flag)""")
        marts = [*serving.served_mart_names(), "edge_cases"]
        expected = {name: con.execute(f"select count(*) from {name}").fetchone()[0] for name in marts}
        score_sum = con.execute("select sum(score) from agency_rating_monthly").fetchone()[0]
    catalog = publish_marts(warehouse, marts, tmp_path / "serving" / "marts.duckdb")
    monkeypatch.setattr(postgres_lib, "COPY_BATCH_ROWS", 7)  # several batches per table
    assert serving.load_postgres(catalog, POSTGRES_URL, schema) == expected
    assert _pg(f"select sum(score) from {schema}.agency_rating_monthly")[0][0] == pytest.approx(score_sum)
    assert _pg(
        f"select id, empty, missing, quoted, multiline, list, day, flag from {schema}.edge_cases order by id"
    ) == [
        (1, "", None, 'a "quoted", text', "two\nlines", "[1, 2]", date(2025, 11, 1), True),
        (2, "x", "y", ";", "", "[]", None, None),
    ]
    assert _pg(
        f"select data_type from information_schema.columns where table_schema = '{schema}' "
        "and table_name = 'agency_rating_monthly' and column_name = 'month_start'"
    ) == [("date",)]
    # exactly the served marts: nothing else of the warehouse reaches PostgreSQL
    assert {
        name for (name,) in _pg(f"select table_name from information_schema.tables where table_schema = '{schema}'")
    } == set(marts)


def test_a_reload_copies_only_what_changed_and_drops_what_is_no_longer_served(tmp_path, schema):
    warehouse = build_serving_fixture(tmp_path / "warehouse.duckdb")
    catalog = tmp_path / "serving" / "marts.duckdb"
    marts = list(serving.served_mart_names())
    publish_marts(warehouse, marts, catalog)
    assert set(serving.load_postgres(catalog, POSTGRES_URL, schema)) == set(marts)
    assert serving.load_postgres(catalog, POSTGRES_URL, schema) == {}  # nothing changed, nothing copied
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update roadmap_status set days_overdue = days_overdue + 1 where days_overdue is not null")
    publish_marts(warehouse, [name for name in marts if name != "municipality_pareto"], catalog)
    assert serving.load_postgres(catalog, POSTGRES_URL, schema) == {"roadmap_status": 3}
    tables = {
        name for (name,) in _pg(f"select table_name from information_schema.tables where table_schema = '{schema}'")
    }
    assert tables == set(marts) - {"municipality_pareto"}
    assert _pg(f"select sum(days_overdue) from {schema}.roadmap_status") == [(1601,)]
