"""The serving snapshot: a copy of the warehouse with only the marts, swapped in while readers keep the old one."""

import duckdb
from dagster import materialize

from dagster_project.defs.bi import assets as bi_assets
from dagster_project.lib import paths


def test_publish_serves_the_marts_only_and_swaps_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("SERVING_PATH", raising=False)
    monkeypatch.delenv("SERVING_POSTGRES_URL", raising=False)
    monkeypatch.setattr(bi_assets, "mart_models", lambda: ("agency_rating_monthly", "fct_appeals"))
    with duckdb.connect(str(paths.warehouse_path())) as con:
        con.execute("create table main.agency_rating_monthly as select range as rank from range(5)")
        con.execute("create table main.fct_appeals as select range as n, 'текст' as text from range(1000)")
        con.execute("create table main.fct_appeals__dbt_tmp as select 1 as leftover")
        con.execute("create schema staging; create view staging.stg as select * from main.fct_appeals")
        con.execute("create schema ops; create table ops.quarantine as select 'masked' as payload")
        con.execute("create view main.helper as select 1 as x")

    assert materialize([bi_assets.publish]).success
    with duckdb.connect(str(paths.serving_path()), read_only=True) as old_reader:
        tables = old_reader.sql("select schema_name, table_name from duckdb_tables() order by 2").fetchall()
        assert tables == [("main", "agency_rating_monthly"), ("main", "fct_appeals")]
        assert old_reader.sql("select count(*) from duckdb_views() where not internal").fetchall() == [(0,)]
        assert old_reader.sql("select count(*), min(text) from main.fct_appeals").fetchall() == [(1000, "текст")]
        with duckdb.connect(str(paths.warehouse_path())) as con:
            con.execute("insert into main.agency_rating_monthly values (5)")
        assert materialize([bi_assets.publish]).success  # a reader of the old file does not block the swap
        assert old_reader.sql("select count(*) from main.agency_rating_monthly").fetchall() == [(5,)]
    with duckdb.connect(str(paths.serving_path()), read_only=True) as new_reader:
        assert new_reader.sql("select count(*) from main.agency_rating_monthly").fetchall() == [(6,)]
    assert sorted(p.name for p in paths.serving_path().parent.iterdir()) == ["marts.duckdb"]
