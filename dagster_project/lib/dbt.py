"""The one cached dbt project and the translator that places dbt nodes in the asset graph."""

import json
import os
import shutil
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject

from dagster_project.lib import paths

# dbt is installed beside this interpreter: the venv need not be activated, and nothing edits PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)
    # The manifest is parsed when missing or older than the sources (in `dagster dev`, make run, tests and CI alike).
    if _manifest_is_stale(project.manifest_path):
        dbt_resource().cli(["parse"], target_path=project.target_path).wait()
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
    return DbtCliResource(
        project_dir=str(paths.DBT_PROJECT_DIR), profiles_dir=str(paths.DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE
    )


def parse_state_args() -> list[str]:
    """Arguments that let a build start from the previous build's parse: dagster-dbt gives every invocation its own
    target folder, where dbt would find no saved state and parse the whole project again (seconds every hour).
    dbt re-parses what changed since, and everything when the profile, vars or dbt's version changed."""
    state = paths.dbt_parse_state()
    return ["--partial-parse-file-path", str(state)] if state.exists() else []


def keep_parse_state(target_path: Path) -> None:
    """The parse state a build wrote (none when nothing needed parsing) becomes the next build's starting point."""
    written = Path(target_path) / "partial_parse.msgpack"
    if not written.exists():
        return
    state = paths.dbt_parse_state()
    state.parent.mkdir(parents=True, exist_ok=True)
    temporary = state.with_name(f".{state.name}.{os.getpid()}.tmp")
    shutil.copyfile(written, temporary)
    os.replace(temporary, state)


def parse_summary(target_path: Path) -> str:
    """Whether the build parsed the project fully or started from the saved state, from its dbt.log (JSON lines
    under Dagster, text otherwise), for the run's log."""
    log = Path(target_path) / "dbt.log"
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        try:
            message = json.loads(line)["info"]["msg"]
        except (ValueError, KeyError, TypeError):
            message = line.split("]: ", 1)[-1]
        if message.startswith(("Unable to do partial parsing", "Partial parsing enabled:")):
            return "dbt parse: " + message.strip()
    return "dbt parse: not reported"


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
