"""The one cached dbt project and the translator that places dbt nodes in the asset graph."""

import json
import os
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject

from dagster_project.lib import paths


@cache
def dbt_project() -> DbtProject:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("WAREHOUSE_PATH", str(paths.warehouse_path()))
    # dbt is installed beside this interpreter; the venv need not be activated.
    interpreter_bin = str(Path(sys.executable).parent)
    if interpreter_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = interpreter_bin + os.pathsep + os.environ.get("PATH", "")
    project = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)
    project.prepare_if_dev()
    # Outside `dagster dev` (make run, tests, CI) the manifest is parsed when missing or older than the sources.
    if _manifest_is_stale(project.manifest_path):
        project.preparer.prepare(project)
    return project


def _manifest_is_stale(manifest: Path) -> bool:
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [paths.DBT_PROJECT_DIR / "dbt_project.yml", *paths.SEEDS_DIR.glob("*.yml")]
    for folder in ("models", "macros", "tests"):
        sources.extend((paths.DBT_PROJECT_DIR / folder).rglob("*.*"))
    return any(source.stat().st_mtime > built for source in sources)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project(), profiles_dir=str(paths.DBT_PROJECT_DIR))


class CurDbtTranslator(DagsterDbtTranslator):
    """dbt sources `raw.<table>` keep the default key `raw/<table>`, which is the extraction asset's key. Models are
    grouped in the UI by layer, marts by domain (their folder): `staging`, `intermediate`, `marts_core`, …; seeds
    and the generated calendar are `reference`."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_group_name(dbt_resource_props["resource_type"], dbt_resource_props["fqn"])


def dbt_group_name(resource_type: str, fqn: list[str]) -> str:
    """`fqn` is [project, folder, …, name]: a model's first folder is its layer, a mart's second folder its domain."""
    if resource_type != "model":
        return "reference"
    folders = fqn[1:-1]
    if folders[:1] == ["marts"] and len(folders) > 1:
        return f"marts_{folders[1]}"
    return folders[0] if folders else "default"


translator = CurDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@cache
def mart_models() -> tuple[str, ...]:
    """Names of the dbt models under models/marts: what BI reads and the summary counts."""
    manifest = json.loads(dbt_project().manifest_path.read_text())
    return tuple(
        sorted(
            node["name"]
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and "marts" in node["fqn"]
        )
    )
