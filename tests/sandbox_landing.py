"""Lands the shared test sandbox into a private data root through the real extraction assets (for tests that
need a realistic lake and warehouse: the marts, the benchmark's floor; conftest's `sandbox_marts` does it once)."""

import shutil
from pathlib import Path

import pytest
from dagster import materialize

from dagster_project.defs.extract.assets import API_ASSETS, FILE_ASSETS
from dagster_project.defs.extract.resources import InboxResource, PiiResource, SourceApiResource


def use_data_root(mp: pytest.MonkeyPatch, data: Path) -> None:
    """Point the environment (the platform's settings, and dbt's) at the private data root `data`."""
    mp.setenv("DO_NOT_TRACK", "1")
    mp.setenv("CUR_DATA_DIR", str(data))
    mp.setenv("CUR_INBOX_DIR", str(data / "inbox"))
    mp.setenv("WAREHOUSE_PATH", str(data / "warehouse.duckdb"))
    mp.setenv("PII_HASH_KEY", "test-pii-key")
    mp.delenv("DBT_TARGET", raising=False)


def land_sandbox(mp: pytest.MonkeyPatch, data: Path, inbox: Path, base_url: str) -> None:
    """Point the environment at `data` and extract every source of the sandbox at `base_url` / `inbox` into it."""
    shutil.copytree(inbox, data / "inbox")  # extraction moves the files it processed
    use_data_root(mp, data)
    settings = {"page_size": 5000, "commit_every_records": 50_000}
    extracted = materialize(
        [*API_ASSETS.values(), *FILE_ASSETS.values()],
        resources={
            "pos_api": SourceApiResource(api="pos", base_url=f"{base_url}/pos/v1", **settings),
            "incident_api": SourceApiResource(api="incident", base_url=f"{base_url}/im/v1", **settings),
            "inbox": InboxResource(),
            "pii": PiiResource(),
        },
    )
    assert extracted.success
