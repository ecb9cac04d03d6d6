"""The dashboards-as-code bundle is consistent and matches the marts; the client's pure parts (no Superset)."""

import io
import json
import re
import shutil
import zipfile

import pytest
import yaml
from bi_serving_fixture import publish_serving_fixture

from dagster_project.lib import paths, semantic
from dagster_project.lib.superset_client import (
    BUNDLE_DIR,
    BundleError,
    _rison,
    check_access_columns,
    check_documented,
    dataset_access,
    first_values,
    load_bundle,
    render_bundle,
    rls_rules,
)

BUNDLE = load_bundle()
DATASETS = {config["uuid"]: config for name, config in BUNDLE.items() if name.startswith("datasets/")}
CHARTS = {config["uuid"]: config for name, config in BUNDLE.items() if name.startswith("charts/")}
DASHBOARDS = {config["slug"]: config for name, config in BUNDLE.items() if name.startswith("dashboards/")}
FILTER_NAMES = {"Регион", "Период", "Отрасль", "Вид органа"}
MONTH_FILTER = "Месяц отчёта"


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


def _saved_metrics(chart: dict) -> dict[str, str]:
    """The saved metrics of the chart's dataset (generated from the dbt YAML): name → SQL expression."""
    table = DATASETS[chart["dataset_uuid"]]["table_name"]
    return {metric["metric_name"]: metric["expression"] for metric in semantic.dataset_metrics(table)}


def _expression(item, saved: dict[str, str]) -> str:
    """SQL of a column, metric or order item: an adhoc one's own SQL, a saved metric's definition, or the column
    name."""
    if isinstance(item, dict):
        return item["sqlExpression"]
    return saved.get(item, item)


def _chart_columns(chart: dict) -> set[str]:
    """Plain column names a chart reads: selected, grouped, ordered, filtered, on the x axis, inside SQL metrics
    (saved metrics by their definition)."""
    query = chart["query_context"]["queries"][0]
    saved = _saved_metrics(chart)
    names = {flt["col"] for flt in query["filters"]}
    expressions = [_expression(item, saved) for item in query["columns"] + query.get("metrics", [])]
    expressions += [_expression(order[0], saved) for order in query["orderby"]]
    expressions.append(query["extras"]["where"])
    sql_words = {
        "SUM",
        "AVG",
        "COUNT",
        "NULLIF",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "IS",
        "NOT",
        "NULL",
        "AND",
        "OR",
        "COALESCE",
        "CAST",
        "AS",
        "VARCHAR",
        "IN",
        "MAX",
        "MIN",
        "LAG",
        "OVER",
        "ORDER",
        "BY",
        "DECIMAL",
        "ROUND",
        "REPLACE",
    }
    for expression in expressions:
        code = re.sub(r"'[^']*'", "''", expression)  # words inside SQL string literals are values, not columns
        names |= {word for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code) if word.upper() not in sql_words}
    return names


def test_every_chart_reads_existing_mart_columns():
    marts = _mart_columns()
    for chart in CHARTS.values():
        table = DATASETS[chart["dataset_uuid"]]["table_name"]
        assert table in marts, f"{table} is not documented in dbt/models/marts"
        missing = _chart_columns(chart) - marts[table]
        assert not missing, f"{chart['slice_name']}: {sorted(missing)} not in {table}"


def test_every_metric_a_chart_names_is_a_saved_metric_of_its_dataset():
    for chart in CHARTS.values():
        query = chart["query_context"]["queries"][0]
        named = [
            item
            for item in query.get("metrics", []) + [order[0] for order in query["orderby"]]
            if isinstance(item, str)
        ]
        selected = {c if isinstance(c, str) else c["label"] for c in query["columns"]}
        # a raw table may order by a column it shows through an expression (e.g. rating_rank as «—» when empty)
        columns = set(semantic.mart_columns(DATASETS[chart["dataset_uuid"]]["table_name"]))
        named = [item for item in named if item not in selected | columns]
        assert set(named) <= set(_saved_metrics(chart)), chart["slice_name"]


def test_bundle_references_resolve():
    database_uuids = {config["uuid"] for name, config in BUNDLE.items() if name.startswith("databases/")}
    assert len(database_uuids) == 1
    assert all(dataset["database_uuid"] in database_uuids for dataset in DATASETS.values())
    assert all(chart["dataset_uuid"] in DATASETS for chart in CHARTS.values())
    placed = []
    for dashboard in DASHBOARDS.values():
        nodes = [
            node for node in dashboard["position"].values() if isinstance(node, dict) and node.get("type") == "CHART"
        ]
        assert nodes, dashboard["dashboard_title"]
        # Superset links a layout node to its chart by meta.uuid.
        assert all(node["meta"]["uuid"] in CHARTS for node in nodes)
        placed += [node["meta"]["uuid"] for node in nodes]
    assert sorted(placed) == sorted(CHARTS), "every chart sits on exactly one dashboard"


def test_dashboards_titles_and_native_filters():
    assert {dashboard["dashboard_title"] for dashboard in DASHBOARDS.values()} == {
        "Рейтинг органов власти",
        "Отраслевые показатели",
        "Тепловая карта проблем",
        "Показатели и дорожная карта ЦУР",
        "Нагрузка отраслевых блоков",
        "Ежемесячная сводка",
        "Оперативная обстановка",
    }
    for dashboard in DASHBOARDS.values():
        filters = dashboard["metadata"]["native_filter_configuration"]
        assert {native["name"] for native in filters} - {MONTH_FILTER} == FILTER_NAMES
        assert len({native["name"] for native in filters}) == len({native["id"] for native in filters}) == len(filters)
        for native in filters:
            for target in native["targets"]:
                assert not target or target["datasetUuid"] in DATASETS
        [region] = [native for native in filters if native["name"] == "Регион"]
        table = DATASETS[region["targets"][0]["datasetUuid"]]["table_name"]
        if "region_name" in semantic.mart_columns(table):  # names, not codes, wherever the mart has them
            assert region["targets"][0]["column"]["name"] == "region_name", dashboard["slug"]


def test_month_filter_defaults_to_the_last_complete_month():
    """Dashboards of monthly marts get «Месяц отчёта»: the latest month first, the month in progress not offered,
    the KPI tiles and trends (which show months themselves) outside its scope."""
    with_month = {"cur-rating", "cur-sectors", "cur-heat-map", "cur-governor"}
    for slug, dashboard in DASHBOARDS.items():
        filters = {native["name"]: native for native in dashboard["metadata"]["native_filter_configuration"]}
        assert (MONTH_FILTER in filters) == (slug in with_month), slug
        if slug not in with_month:
            continue
        month = filters[MONTH_FILTER]
        assert month["targets"][0]["column"]["name"] == "report_month"
        wanted = {"defaultToFirstItem": True, "sortAscending": False, "multiSelect": False}
        assert {key: month["controlValues"][key] for key in wanted} == wanted
        assert [f["sqlExpression"] for f in month["adhoc_filters"]] == ["NOT is_partial_month"]
        chart_ids = {
            node["meta"]["chartId"]: node["meta"]["uuid"]
            for node in dashboard["position"].values()
            if isinstance(node, dict) and node.get("type") == "CHART"
        }
        assert len(chart_ids) == len(set(chart_ids.values())), (
            "chartIds in a layout are unique (filter scopes refer to them)"
        )
        for chart_id in month["scope"]["excluded"]:
            chart = CHARTS[chart_ids[chart_id]]
            assert chart["viz_type"] in ("big_number", "echarts_timeseries_line", "echarts_timeseries_bar"), chart[
                "slice_name"
            ]


def test_monthly_charts_leave_out_the_month_in_progress():
    """A chart over a monthly mart that draws months (KPI tiles, trends) filters the month in progress out."""
    for chart in CHARTS.values():
        table = DATASETS[chart["dataset_uuid"]]["table_name"]
        if "is_partial_month" in semantic.mart_columns(table) and chart["params"].get("x_axis") == "month_start":
            assert "NOT is_partial_month" in chart["query_context"]["queries"][0]["extras"]["where"], chart[
                "slice_name"
            ]


def test_every_chart_has_a_query_context_and_a_period_column():
    for chart in CHARTS.values():
        query_context = chart["query_context"]
        assert query_context["queries"], chart["slice_name"]
        dttm = DATASETS[chart["dataset_uuid"]]["main_dttm_col"]
        if dttm:  # the native «Период» filter applies through the chart's temporal range filter
            assert {"subject": dttm, "operator": "TEMPORAL_RANGE"}.items() <= chart["params"]["adhoc_filters"][
                0
            ].items()


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
                # the semantic layer from the dbt YAML: every documented column labelled and described
                assert [c["column_name"] for c in config["columns"]] == semantic.mart_columns(config["table_name"])
                assert all(c["verbose_name"] and c["description"] for c in config["columns"]), config["table_name"]
            if name.startswith("cur_bundle/charts/"):
                assert json.loads(config["query_context"])["queries"]


def test_rls_rules_per_region_and_agency_on_the_declared_datasets():
    access = {
        "agency_rating_monthly": ("agency", "region"),
        "sector_kpis_monthly": ("region",),
        "roadmap_status": "public",
        "internal": (),
    }
    rules = rls_rules(access, [("65-ROIV-fish", "65"), ("65-OMSU-01", "65"), ("37-ROIV-edu", "37")])
    by_name = {rule.name: rule for rule in rules}
    assert sorted(by_name) == [
        "agency 37-ROIV-edu",
        "agency 65-OMSU-01",
        "agency 65-ROIV-fish",
        "region 37",
        "region 65",
    ]
    fish = by_name["agency 65-ROIV-fish"]
    assert (fish.role, fish.clause, fish.table_names) == (
        "agency_65-ROIV-fish",
        "agency_id = '65-ROIV-fish'",
        ("agency_rating_monthly",),
    )
    region = by_name["region 37"]
    assert (region.role, region.clause, region.table_names) == (
        "region_37",
        "region_code = '37'",
        ("agency_rating_monthly", "sector_kpis_monthly"),
    )
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


def test_labels_and_descriptions_come_from_the_dbt_yaml():
    docs = semantic.mart_docs()
    assert docs["sector_kpis_monthly"]["columns"]["on_time_share"] == {
        "label": "Доля ответов в срок",
        "description": "Доля ответов в срок = answered_on_time / (answered + overdue_open)",
    }
    # an explicit label in `config.meta.label` wins over the description's head
    assert semantic.column_doc("indicator_tracking", "status")["label"] == "Статус (код)"
    # the numbered columns of the summary take their `_1` column's documentation
    assert semantic.column_doc("governor_monthly_summary", "lowest_agency_3_score") == {
        "label": "Балл рейтинга органа № 3",
        "description": "Балл рейтинга органа (№ 3)",
    }
    assert semantic.column_label("Медианное время ответа, часов (для справки)") == "Медианное время ответа, часов"
    assert semantic.column_label("индекс: от 1,5 — очаг") == "Индекс"


def test_every_served_column_is_labelled_and_described():
    for config in DATASETS.values():
        table = config["table_name"]
        assert not semantic.undocumented(table, semantic.mart_columns(table)), table
    check_documented({"sector_kpis_monthly": {"region_name", "on_time_share"}})
    with pytest.raises(BundleError, match="sector_kpis_monthly.secret_column"):
        check_documented({"sector_kpis_monthly": {"region_name", "secret_column"}})


def test_saved_metrics_one_definition_each():
    """Every weighted share and score of a dataset is one saved metric; a chart never re-types its formula."""
    for config in DATASETS.values():
        metrics = semantic.dataset_metrics(config["table_name"])
        assert metrics or config["table_name"].startswith("dim_"), f"{config['table_name']} has no saved metrics"
        names = [metric["metric_name"] for metric in metrics]
        assert len(names) == len(set(names))
        assert all(metric["verbose_name"] and metric["description"] and metric["d3format"] for metric in metrics)
        assert not set(names) & set(semantic.mart_columns(config["table_name"])), "a metric shadows a column"
    kpis = {metric["metric_name"]: metric["expression"] for metric in semantic.dataset_metrics("sector_kpis_monthly")}
    assert kpis["share_on_time"] == "SUM(answered_on_time) * 1.0 / NULLIF(SUM(answered) + SUM(overdue_open), 0)"
    for chart in CHARTS.values():
        query = chart["query_context"]["queries"][0]
        adhoc = [metric["sqlExpression"] for metric in query.get("metrics", []) if isinstance(metric, dict)]
        assert not adhoc, f"{chart['slice_name']}: ad-hoc metric {adhoc} instead of a saved one"


def test_dbt_exposures_list_every_dashboard_and_its_marts():
    exposures = yaml.safe_load(
        (paths.DBT_PROJECT_DIR / "models" / "marts" / "_bi__exposures.yml").read_text(encoding="utf-8")
    )
    by_slug = {exposure["name"].replace("_", "-"): exposure for exposure in exposures["exposures"]}
    assert set(by_slug) == set(DASHBOARDS)
    for slug, dashboard in DASHBOARDS.items():
        uuids = {
            node["meta"]["uuid"]
            for node in dashboard["position"].values()
            if isinstance(node, dict) and node.get("type") == "CHART"
        }
        tables = {DATASETS[CHARTS[uuid]["dataset_uuid"]]["table_name"] for uuid in uuids}
        assert sorted(by_slug[slug]["depends_on"]) == sorted(f"ref('{table}')" for table in tables), slug
        assert by_slug[slug]["label"] == dashboard["dashboard_title"] and by_slug[slug]["type"] == "dashboard"


def test_filters_that_start_on_their_first_item_get_it_as_their_default(tmp_path):
    """«Месяц отчёта» opens on the last complete month of the data (the fixture's November is in progress), the heat
    map's «Регион» on the first region by name — written as the filters' defaults, which Superset applies on load."""
    catalog = publish_serving_fixture(tmp_path)
    values = first_values(BUNDLE, catalog)
    months = {filter_id: value for filter_id, value in values.items() if filter_id.startswith("NATIVE_FILTER-month-")}
    assert sorted(months) == sorted(
        f"NATIVE_FILTER-month-{stem}" for stem in ("rating", "sectors", "heat-map", "governor")
    )
    assert set(months.values()) == {"2025-10"}
    assert set(values.values()) - {"2025-10"} == {"Ивановская область"}
    with zipfile.ZipFile(io.BytesIO(render_bundle("duckdb:///x", filter_defaults=values))) as bundle:
        governor = yaml.safe_load(bundle.read("cur_bundle/dashboards/governor.yaml"))
    [month] = [f for f in governor["metadata"]["native_filter_configuration"] if f["name"] == MONTH_FILTER]
    assert month["defaultDataMask"]["filterState"]["value"] == ["2025-10"]
    assert month["defaultDataMask"]["extraFormData"]["filters"] == [
        {"col": "report_month", "op": "IN", "val": ["2025-10"]}
    ]
    assert month["controlValues"]["defaultToFirstItem"] is False


def test_kpi_tiles_change_shares_in_points_and_counts_relatively():
    """Superset's big number shows the relative change of its series («+5,4 %»): right for counts, misleading for a
    share or a score. Those tiles show no comparison; the tile beside each shows `<metric>_change`, the difference in
    percentage points (a share) or points (a score)."""
    tiles = {chart["params"]["metric"]: chart for chart in CHARTS.values() if chart["viz_type"] == "big_number"}
    for metric, chart in tiles.items():
        saved = {m["metric_name"]: m for m in semantic.dataset_metrics(DATASETS[chart["dataset_uuid"]]["table_name"])}
        if metric.endswith("_change"):
            assert metric.removesuffix("_change") in tiles, chart["slice_name"]  # beside the tile of its metric
            assert chart["params"]["y_axis_format"] == saved[metric]["d3format"] == "+,.1f"
            assert not chart["params"].get("compare_lag") and chart["params"]["subheader"].startswith(("п.п.", "балл"))
        elif metric.startswith("sum_"):  # a count: «+3,2 % к предыдущему месяцу»
            assert chart["params"]["compare_lag"] == 1, chart["slice_name"]
        else:  # a share or a score
            assert not chart["params"].get("compare_lag"), chart["slice_name"]
            assert f"{metric}_change" in tiles, chart["slice_name"]
    assert {"share_on_time_change", "share_satisfied_change", "avg_score_change"} <= set(tiles)


def test_change_metric_is_the_difference_of_the_metric_in_percentage_points():
    """The generated change metric, run on hand-made months: 0.5 → 0.6 → 0.55 on-time is +10 then −5 p.p.; a change
    of −0,01 p.p. is 0, not −0 (which the tile would show as «−0,0»)."""
    import duckdb

    metrics = semantic.dataset_metrics("sector_kpis_monthly")
    [metric] = [m for m in metrics if m["metric_name"] == "share_on_time_change"]
    with duckdb.connect() as con:
        con.execute("""create table t as select * from (values
            (date '2025-01-01', 3, 5, 6, 0), (date '2025-01-01', 2, 5, 4, 0),
            (date '2025-02-01', 6, 10, 9, 1), (date '2025-03-01', 11, 20, 18, 2),
            (date '2025-04-01', 5499, 10000, 9998, 2))
            as v(month_start, answered_on_time, received, answered, overdue_open)""")
        rows = con.sql(f"select month_start, {metric['expression']} from t group by month_start order by 1").fetchall()
    changes = [float(change) if change is not None else None for _, change in rows]
    assert changes == [None, 10.0, -5.0, 0.0] and str(changes[-1]) == "0.0"


def test_pareto_bars_are_ordered_by_volume():
    """Superset's mixed chart orders its categories by the axis label (its pivot sorts them): the axis is the mart's
    `pareto_label`, «01. …», «02. …», so alphabetical order is the order of volume."""
    [pareto] = [chart for chart in CHARTS.values() if chart["slice_name"].startswith("Парето")]
    assert pareto["viz_type"] == "mixed_timeseries" and pareto["params"]["x_axis"] == "pareto_label"
    query = pareto["query_context"]["queries"][0]
    assert [column["sqlExpression"] for column in query["columns"]] == ["pareto_label"]
    assert query["post_processing"][0]["options"]["index"] == ["pareto_label"]  # as the dashboard does
    # the dashboard runs the bars and the line as two queries: both on the latest year, or the line would add the
    # other years' places to the axis
    params = pareto["params"]
    assert params["adhoc_filters_b"] == params["adhoc_filters"] and params["row_limit_b"] == params["row_limit"]


def test_no_paged_legends():
    """A legend a reader must page through hides series: every chart with a legend has a plain one (top-N series)."""
    for chart in CHARTS.values():
        if chart["params"].get("show_legend"):
            assert chart["params"].get("legendType") == "plain", chart["slice_name"]
