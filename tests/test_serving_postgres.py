"""The PostgreSQL serving load: every table of the snapshot, same rows and values, swapped in whole."""

import os
from datetime import date

import duckdb
import psycopg2
import pytest
from bi_serving_fixture import build_serving_fixture

from dagster_project.lib import postgres as postgres_lib
from dagster_project.lib.serving import load_postgres

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


def test_load_copies_every_table_with_its_values(tmp_path, schema, monkeypatch):
    snapshot = build_serving_fixture(tmp_path / "marts.duckdb")
    with duckdb.connect(str(snapshot)) as con:
        # Values that CSV transport gets wrong easily: empty string vs NULL, quotes, separators, new lines, lists.
        con.execute("""create table edge_cases as select * from (values
            (1, '', null::varchar, 'a "quoted", text', e'two\\nlines', [1, 2], date '2025-11-01', true),
            (2, 'x', 'y', ';', '', []::integer[], null::date, null::boolean)) as t(id, empty, missing, quoted, multiline, list, day, flag)""")
        expected = {name: con.execute(f"select count(*) from {name}").fetchone()[0]
                    for (name,) in con.execute("select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
        score_sum = con.execute("select sum(score) from agency_rating_monthly").fetchone()[0]
    monkeypatch.setattr(postgres_lib, "COPY_BATCH_ROWS", 7)  # several batches per table
    assert load_postgres(snapshot, POSTGRES_URL, schema) == expected
    assert _pg(f"select sum(score) from {schema}.agency_rating_monthly")[0][0] == pytest.approx(score_sum)
    assert _pg(f"select id, empty, missing, quoted, multiline, list, day, flag from {schema}.edge_cases order by id") == [
        (1, "", None, 'a "quoted", text', "two\nlines", "[1, 2]", date(2025, 11, 1), True),
        (2, "x", "y", ";", "", "[]", None, None),
    ]
    assert _pg(f"select data_type from information_schema.columns where table_schema = '{schema}' "
               "and table_name = 'agency_rating_monthly' and column_name = 'month_start'") == [("date",)]


def test_reload_replaces_the_served_schema(tmp_path, schema):
    first = build_serving_fixture(tmp_path / "first.duckdb")
    load_postgres(first, POSTGRES_URL, schema)
    second = tmp_path / "second.duckdb"
    with duckdb.connect(str(second)) as con:
        con.execute("create table only_table as select 42 as answer")
    assert load_postgres(second, POSTGRES_URL, schema) == {"only_table": 1}
    assert _pg(f"select table_name from information_schema.tables where table_schema = '{schema}'") == [("only_table",)]
    assert _pg(f"select count(*) from information_schema.schemata where schema_name = '{schema}__loading'") == [(0,)]
