"""The dashboards-as-code bundle is consistent and matches the marts; the client's pure parts (no Superset)."""

import io
import json
import re
import shutil
import zipfile

import pytest
import yaml

from dagster_project.lib import paths
from dagster_project.lib.superset_client import (
    BUNDLE_DIR,
    BundleError,
    _rison,
    check_access_columns,
    dataset_access,
    load_bundle,
    render_bundle,
    rls_rules,
)

BUNDLE = load_bundle()
DATASETS = {config["uuid"]: config for name, config in BUNDLE.items() if name.startswith("datasets/")}
CHARTS = {config["uuid"]: config for name, config in BUNDLE.items() if name.startswith("charts/")}
DASHBOARDS = {config["slug"]: config for name, config in BUNDLE.items() if name.startswith("dashboards/")}
FILTER_NAMES = {"Регион", "Период", "Отрасль", "Вид органа"}


def _mart_columns() -> dict[str, set[str]]:
    """Columns of every mart as documented in dbt/models/marts/**/*.yml (the marts' contract with BI)."""
    columns: dict[str, set[str]] = {}
    for file in (paths.DBT_PROJECT_DIR / "models" / "marts").rglob("*.yml"):
        for model in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("models", []):
            names = {column["name"] for column in model.get("columns", [])}
            # governor_monthly_summary documents top_problem_1 / lowest_agency_1… for the N of var governor_top_n (3)
            names |= {name.replace("_1", f"_{n}", 1) for name in names if re.search(r"_1(_|$)", name) for n in (2, 3)}
            columns.setdefault(model["name"], set()).update(names)
    return columns


def _chart_columns(chart: dict) -> set[str]:
    """Plain column names a chart reads: selected, grouped, ordered, filtered, on the x axis, inside SQL metrics."""
    query = chart["query_context"]["queries"][0]
    names = {column if isinstance(column, str) else column["sqlExpression"] for column in query["columns"]}
    names |= {order[0] for order in query["orderby"] if isinstance(order[0], str)}
    names |= {flt["col"] for flt in query["filters"]}
    expressions = [metric["sqlExpression"] for metric in query.get("metrics", [])]
    expressions += [order[0]["sqlExpression"] for order in query["orderby"] if isinstance(order[0], dict)]
    expressions.append(query["extras"]["where"])
    sql_words = {"SUM", "AVG", "COUNT", "NULLIF", "CASE", "WHEN", "THEN", "END", "IS", "NOT", "NULL", "AND", "OR"}
    for expression in expressions:
        names |= {word for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression) if word.upper() not in sql_words}
    return names


def test_every_chart_reads_existing_mart_columns():
    marts = _mart_columns()
    for chart in CHARTS.values():
        table = DATASETS[chart["dataset_uuid"]]["table_name"]
        assert table in marts, f"{table} is not documented in dbt/models/marts"
        missing = _chart_columns(chart) - marts[table]
        assert not missing, f"{chart['slice_name']}: {sorted(missing)} not in {table}"


def test_bundle_references_resolve():
    database_uuids = {config["uuid"] for name, config in BUNDLE.items() if name.startswith("databases/")}
    assert len(database_uuids) == 1
    assert all(dataset["database_uuid"] in database_uuids for dataset in DATASETS.values())
    assert all(chart["dataset_uuid"] in DATASETS for chart in CHARTS.values())
    placed = []
    for dashboard in DASHBOARDS.values():
        nodes = [node for node in dashboard["position"].values() if isinstance(node, dict) and node.get("type") == "CHART"]
        assert nodes, dashboard["dashboard_title"]
        # Superset links a layout node to its chart by meta.uuid.
        assert all(node["meta"]["uuid"] in CHARTS for node in nodes)
        placed += [node["meta"]["uuid"] for node in nodes]
    assert sorted(placed) == sorted(CHARTS), "every chart sits on exactly one dashboard"


def test_dashboards_titles_and_native_filters():
    assert {dashboard["dashboard_title"] for dashboard in DASHBOARDS.values()} == {
        "Рейтинг органов власти", "Отраслевые показатели", "Тепловая карта проблем",
        "Показатели и дорожная карта ЦУР", "Нагрузка отраслевых блоков", "Ежемесячная сводка",
        "Оперативная обстановка",
    }
    for dashboard in DASHBOARDS.values():
        filters = dashboard["metadata"]["native_filter_configuration"]
        assert {native["name"] for native in filters} == FILTER_NAMES
        for native in filters:
            for target in native["targets"]:
                assert not target or target["datasetUuid"] in DATASETS


def test_every_chart_has_a_query_context_and_a_period_column():
    for chart in CHARTS.values():
        query_context = chart["query_context"]
        assert query_context["queries"], chart["slice_name"]
        dttm = DATASETS[chart["dataset_uuid"]]["main_dttm_col"]
        if dttm:  # the native «Период» filter applies through the chart's temporal range filter
            assert {"subject": dttm, "operator": "TEMPORAL_RANGE"}.items() <= chart["params"]["adhoc_filters"][0].items()


def test_render_bundle_fills_the_serving_uri_and_schema():
    uri = "duckdb:////srv/marts.duckdb?access_mode=read_only"
    with zipfile.ZipFile(io.BytesIO(render_bundle(uri, "serving"))) as bundle:
        names = bundle.namelist()
        assert "cur_bundle/metadata.yaml" in names
        assert len(names) == len(BUNDLE) + 1
        database = yaml.safe_load(bundle.read("cur_bundle/databases/cur_serving.yaml"))
        assert database["sqlalchemy_uri"] == uri
        for name in names:
            config = yaml.safe_load(bundle.read(name))
            if name.startswith("cur_bundle/datasets/"):
                assert config["schema"] == "serving"
                assert "access" not in config  # the platform's declaration, not Superset's
            if name.startswith("cur_bundle/charts/"):
                assert json.loads(config["query_context"])["queries"]


def test_rls_rules_per_region_and_agency_on_the_declared_datasets():
    access = {"agency_rating_monthly": ("agency", "region"), "sector_kpis_monthly": ("region",),
              "roadmap_status": "public", "internal": ()}
    rules = rls_rules(access, [("65-ROIV-fish", "65"), ("65-OMSU-01", "65"), ("37-ROIV-edu", "37")])
    by_name = {rule.name: rule for rule in rules}
    assert sorted(by_name) == ["agency 37-ROIV-edu", "agency 65-OMSU-01", "agency 65-ROIV-fish", "region 37", "region 65"]
    fish = by_name["agency 65-ROIV-fish"]
    assert (fish.role, fish.clause, fish.table_names) == ("agency_65-ROIV-fish", "agency_id = '65-ROIV-fish'", ("agency_rating_monthly",))
    region = by_name["region 37"]
    assert (region.role, region.clause, region.table_names) == ("region_37", "region_code = '37'", ("agency_rating_monthly", "sector_kpis_monthly"))
    assert {rule.group_key for rule in rules} == {"agency", "region"}


def test_every_dataset_declares_its_access_and_the_declaration_matches_its_columns():
    access = dataset_access(BUNDLE)
    assert set(access) == {config["table_name"] for config in DATASETS.values()}
    assert access["agency_rating_monthly"] == access["appeals_deidentified"] == ("agency", "region")
    marts = _mart_columns()
    # the columns each mart documents in dbt: a region_code or agency_id there must be declared
    check_access_columns(access, {table: marts[table] for table in access})


def test_deploy_stops_for_a_dataset_without_a_declaration(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE_DIR, bundle)
    dataset = bundle / "datasets" / "sector_kpis_monthly.yaml"
    dataset.write_text(re.sub(r"(?m)^access:.*\n", "", dataset.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(BundleError, match="datasets/sector_kpis_monthly.yaml: access must be"):
        render_bundle("duckdb:///x", bundle_dir=bundle)
    dataset.write_text(dataset.read_text(encoding="utf-8") + "access: [region, everyone]\n", encoding="utf-8")
    with pytest.raises(BundleError, match="everyone"):
        render_bundle("duckdb:///x", bundle_dir=bundle)


def test_a_declaration_that_does_not_match_the_columns_stops_the_deploy():
    columns = {"rating": {"region_code", "agency_id"}, "kpis": {"region_code"}, "open": {"region_code"}}
    check_access_columns({"rating": ("agency", "region"), "kpis": ("region",), "open": "public"}, columns)
    with pytest.raises(BundleError, match="rating has agency_id but does not declare agency"):
        check_access_columns({"rating": ("region",), "kpis": ("region",), "open": "public"}, columns)
    with pytest.raises(BundleError, match="kpis declares agency but has no column agency_id"):
        check_access_columns({"rating": ("agency", "region"), "kpis": ("agency", "region"), "open": "public"}, columns)
    with pytest.raises(BundleError, match="kpis has region_code but does not declare region"):
        check_access_columns({"rating": ("agency", "region"), "kpis": (), "open": "public"}, columns)


def test_rison_encoding():
    assert _rison({"page": 0, "filters": [{"col": "name", "opr": "eq", "value": "it's!"}], "flag": True}) == (
        "(page:0,filters:!((col:'name',opr:'eq',value:'it!'s!!')),flag:!t)"
    )
