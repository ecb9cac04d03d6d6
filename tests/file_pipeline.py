"""One real run of the file sources for tests that drop hand-made exports into an inbox: the file extraction assets,
the raw GE checks of СЭД and the portals, and the dbt build, on a data root of the test's own. Not product code."""

from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import AssetKey, materialize

from dagster_project.defs.extract.assets import FILE_ASSETS
from dagster_project.defs.extract.resources import InboxResource, PiiResource
from dagster_project.defs.quality.checks import quality_checks
from dagster_project.defs.resources import platform_resources
from dagster_project.defs.transform.assets import cur_dbt_models
from dagster_project.lib import contracts, landing
from dagster_project.lib.dbt import dbt_resource
from sandbox.manual_inputs import write_manual_inputs


@contextmanager
def file_sources_run(data: Path, inbox: Path, mappings: Path, pii_hash_key: str):
    """Run the file sources and dbt once; yields the Dagster result with the data root still configured, so the
    caller reads the warehouse and the lake before the environment is restored."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DO_NOT_TRACK", "1")
        mp.setenv("CUR_DATA_DIR", str(data))
        mp.setenv("CUR_INBOX_DIR", str(inbox))
        mp.setenv("CUR_SOURCE_MAPPINGS_DIR", str(mappings))
        mp.setenv("WAREHOUSE_PATH", str(data / "warehouse.duckdb"))
        mp.setenv("PII_HASH_KEY", pii_hash_key)
        mp.delenv("DBT_TARGET", raising=False)
        write_manual_inputs(data, seed=7)
        for table in contracts.RAW_TABLES:  # the API sources have landed nothing: dbt reads their empty parts
            landing.ensure_table(table)
        yield materialize(
            [
                *FILE_ASSETS.values(),
                cur_dbt_models,
                quality_checks(AssetKey(["raw", "portal_appeals"]), AssetKey(["raw", "sed_appeals"])),
            ],
            resources={"inbox": InboxResource(), "pii": PiiResource(), "dbt": dbt_resource(), **platform_resources()},
            raise_on_error=False,
        )
