"""Every filesystem location the platform uses, resolved from settings (env) with repo-relative defaults."""

from pathlib import Path

from dagster_project.lib import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
SEEDS_DIR = REPO_ROOT / "seeds"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"


def _absolute_setting(name: str, default: Path) -> Path:
    """dbt's profile reads CUR_DATA_DIR and WAREHOUSE_PATH itself, from the dbt project's folder: a relative value
    would name another file there, so it is refused rather than resolved differently by each process."""
    value = settings.env(name)
    if value and not Path(value).is_absolute():
        raise ValueError(f"{name}={value!r} is a relative path: give an absolute one")
    return Path(value or default).resolve()


def data_dir() -> Path:
    return _absolute_setting("CUR_DATA_DIR", REPO_ROOT / "data")


def warehouse_path() -> Path:
    return _absolute_setting("WAREHOUSE_PATH", data_dir() / "warehouse.duckdb")


def dagster_home() -> Path:
    """The Dagster instance's folder: DAGSTER_HOME (`make` sets it to data/dagster_home), else <data>/dagster_home."""
    return _absolute_setting("DAGSTER_HOME", data_dir() / "dagster_home")


def sandbox_dir() -> Path:
    return data_dir() / "sandbox"


def inbox_dir(source: str) -> Path:
    return Path(settings.env("CUR_INBOX_DIR", data_dir() / "inbox")).resolve() / source


def source_mappings_dir() -> Path:
    """Mapping files of exports with their own vocabulary (docs/sources.md)."""
    return Path(settings.env("CUR_SOURCE_MAPPINGS_DIR", data_dir() / "mappings")).resolve()


def lake_dir() -> Path:
    return data_dir() / "lake"


def raw_dir(table: str) -> Path:
    return lake_dir() / "raw" / table


def dbt_parse_state() -> Path:
    """dbt's partial-parse state of the latest build on this data root (lib/dbt.py::keep_parse_state)."""
    return data_dir() / "dbt_state" / "partial_parse.msgpack"


def serving_path() -> Path:
    return Path(settings.env("SERVING_PATH", data_dir() / "serving" / "marts.duckdb")).resolve()


def alerts_state_path() -> Path:
    """The alerts' de-duplication memory: beside the Dagster instance that sends them (DAGSTER_HOME), else data/."""
    home = settings.env("DAGSTER_HOME")
    return (Path(home).resolve() if home else data_dir()) / "alerts_sent.sqlite"
