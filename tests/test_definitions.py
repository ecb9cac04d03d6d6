"""The code location loads, and the asset graph wires sources → dbt → checks → serving."""

from dagster import AssetKey

from dagster_project.definitions import defs
from dagster_project.lib.dbt import mart_models
from dagster_project.lib.serving import served_mart_names

RAW_TABLES = ["pos_messages", "pos_message_events", "pos_polls", "incidents", "incident_events", "sed_appeals", "portal_appeals"]


def test_definitions_load_with_every_domain():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    for table in RAW_TABLES:
        assert AssetKey(["raw", table]) in keys, f"extraction asset raw/{table} missing"
    assert AssetKey(["fct_appeals"]) in keys
    assert AssetKey(["serving", "marts_snapshot"]) in keys
    assert defs.resolve_implicit_global_asset_job_def() is not None


def test_dbt_models_sit_downstream_of_extraction():
    graph = defs.resolve_asset_graph()
    upstream = graph.get(AssetKey(["fct_appeals"])).parent_keys
    ancestors = set()
    frontier = set(upstream)
    while frontier:
        key = frontier.pop()
        if key not in ancestors:
            ancestors.add(key)
            frontier |= set(graph.get(key).parent_keys)
    for table in ["pos_messages", "incidents", "sed_appeals", "portal_appeals"]:
        assert AssetKey(["raw", table]) in ancestors


def test_publish_depends_on_the_served_marts_only():
    graph = defs.resolve_asset_graph()
    parents = graph.get(AssetKey(["serving", "marts_snapshot"])).parent_keys
    assert {AssetKey([name]) for name in served_mart_names()} == set(parents)
    assert set(served_mart_names()) <= set(mart_models())
    assert {"agency_rating_monthly", "appeals_deidentified", "governor_monthly_summary"} <= set(served_mart_names())
    assert not {"fct_appeals", "fct_appeal_status_events", "appeal_outcomes"} & set(served_mart_names())


def test_dbt_tests_are_asset_checks():
    check_keys = defs.resolve_asset_graph().asset_check_keys
    assert any(key.asset_key == AssetKey(["fct_appeals"]) for key in check_keys)


def test_schedules_and_sensors_are_registered():
    assert list(defs.schedules or []), "extraction schedules missing"
    assert list(defs.sensors or []), "file-inbox sensors missing"
