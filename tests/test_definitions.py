"""The code location loads, and the asset graph wires sources → dbt → checks → serving."""

import json

from dagster import AssetKey

from dagster_project.definitions import defs
from dagster_project.lib.contracts import RAW_TABLES
from dagster_project.lib.dbt import dbt_project, mart_models
from dagster_project.lib.serving import served_mart_names


def test_definitions_load_with_every_domain():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    for table in RAW_TABLES:
        assert AssetKey(["raw", table]) in keys, f"extraction asset raw/{table} missing"
    assert AssetKey(["fct_appeals"]) in keys
    assert AssetKey(["serving", "marts"]) in keys
    # every asset in a named group of its layer or domain: nothing left in Dagster's `default`
    groups = {graph.get(key).group_name for key in keys if graph.get(key).is_materializable}
    assert "default" not in groups
    assert {"raw", "staging", "intermediate", "marts_core", "reference", "serving"} <= groups


def test_dbt_reads_every_raw_table_of_the_registry():
    """The raw tables are listed once (lib/contracts.py); dbt's raw sources, and the parts ledger that reads them all
    (macro landed_tables), must be exactly those."""
    manifest = json.loads(dbt_project().manifest_path.read_text())
    raw_sources = {key: node["name"] for key, node in manifest["sources"].items() if node["source_name"] == "raw"}
    assert set(raw_sources.values()) == set(RAW_TABLES)
    ledger = next(node for node in manifest["nodes"].values() if node["name"] == "stg_lake__landed_parts")
    assert {raw_sources[key] for key in ledger["depends_on"]["nodes"] if key in raw_sources} == set(RAW_TABLES)


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
    parents = graph.get(AssetKey(["serving", "marts"])).parent_keys
    assert {AssetKey([name]) for name in served_mart_names()} == set(parents)
    assert set(served_mart_names()) <= set(mart_models())
    assert {"agency_rating_monthly", "appeals_deidentified", "governor_monthly_summary"} <= set(served_mart_names())
    assert not {"fct_appeals", "fct_appeal_status_events", "appeal_outcomes"} & set(served_mart_names())


def test_schedules_and_sensors_are_registered():
    assert list(defs.schedules or []), "extraction schedules missing"
    assert list(defs.sensors or []), "file-inbox sensors missing"


def test_a_run_points_the_api_resources_at_other_urls():
    """`make run` serves the sandbox on a free port and passes its URLs as run config, not through os.environ."""
    from dagster import validate_run_config

    from dagster_project.defs.extract.resources import api_resources_run_config

    urls = {"POS_BASE_URL": "http://127.0.0.1:1/pos/v1", "INCIDENT_BASE_URL": "http://127.0.0.1:1/im/v1"}
    job = defs.resolve_implicit_global_asset_job_def()
    config = validate_run_config(job, {"resources": api_resources_run_config(urls)})["resources"]
    assert config["pos_api"]["config"]["base_url"] == urls["POS_BASE_URL"]
    assert config["incident_api"]["config"]["base_url"] == urls["INCIDENT_BASE_URL"]


def test_the_platform_resources_are_wired_once_for_every_asset_that_asks():
    """definitions.py wires the warehouse, serving and Superset resources (defs/resources.py); loading validates that
    every asset, check and sensor asking for one gets it (a missing key fails here, not in a run)."""
    from dagster import Definitions

    from dagster_project.defs.resources import ServingResource, SupersetResource, WarehouseResource

    Definitions.validate_loadable(defs)
    resources = defs.resources or {}
    assert isinstance(resources["warehouse"], WarehouseResource)
    assert isinstance(resources["serving_layer"], ServingResource)
    assert isinstance(resources["superset"], SupersetResource)
    graph = defs.resolve_asset_graph()
    needs = {key: graph.get(key).assets_def.required_resource_keys for key in graph.get_all_asset_keys()}
    assert (
        "warehouse" in needs[AssetKey(["serving", "marts"])]
        and "serving_layer" in needs[AssetKey(["serving", "marts"])]
    )
    assert {"serving_layer", "superset"} <= needs[AssetKey(["serving", "superset_dashboards"])]
    assert "warehouse" in needs[AssetKey(["fct_appeals"])]
