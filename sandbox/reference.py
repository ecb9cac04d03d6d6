"""Reference data of the sandbox: the seeds/*.csv written for dbt, read into small pandas frames."""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dagster_project.lib import paths

SEED_FILES = (
    "regions",
    "municipalities",
    "sectors",
    "region_sectors",
    "categories",
    "subcategories",
    "classifier_codes",
    "agencies",
    "agency_names",
    "agency_sectors",
)


@dataclass(frozen=True)
class Reference:
    regions: pd.DataFrame
    municipalities: pd.DataFrame
    sectors: pd.DataFrame
    region_sectors: pd.DataFrame
    categories: pd.DataFrame
    subcategories: pd.DataFrame
    classifier_codes: pd.DataFrame
    agencies: pd.DataFrame
    agency_names: pd.DataFrame
    agency_sectors: pd.DataFrame


def _as_bool(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.lower().isin(["true", "1", "yes", "да"])


def load_reference(seeds_dir: Path | None = None) -> Reference:
    """Read the seeds; codes stay strings, flags become bools, rows are sorted so that sampling is deterministic."""
    seeds_dir = Path(seeds_dir or paths.SEEDS_DIR)
    frames = {name: pd.read_csv(seeds_dir / f"{name}.csv", dtype=str, keep_default_na=False) for name in SEED_FILES}
    regions = frames["regions"].sort_values("region_code").reset_index(drop=True)
    regions["utc_offset_hours"] = regions["utc_offset_hours"].astype(float).astype(int)

    municipalities = frames["municipalities"].sort_values(["region_code", "oktmo"]).reset_index(drop=True)
    municipalities["population"] = pd.to_numeric(municipalities["population"]).astype("int64")
    municipalities["is_capital"] = _as_bool(municipalities["is_capital"])

    sectors = frames["sectors"].copy()
    sectors["is_core"] = _as_bool(sectors["is_core"])

    region_sectors = frames["region_sectors"].copy()
    region_sectors["valid_from"] = pd.to_datetime(region_sectors["valid_from"].replace("", "1900-01-01"))

    categories = frames["categories"].sort_values("category_code").reset_index(drop=True)
    categories["deadline_working_days"] = pd.to_numeric(categories["deadline_working_days"]).astype("int64")
    categories["is_other"] = _as_bool(categories["is_other"])

    agency_names = frames["agency_names"].copy()
    for column in ("valid_from", "valid_to"):
        agency_names[column] = pd.to_datetime(agency_names[column].replace("", None))

    return Reference(
        regions=regions,
        municipalities=municipalities,
        sectors=sectors,
        region_sectors=region_sectors,
        categories=categories,
        subcategories=frames["subcategories"].sort_values("subcategory_code").reset_index(drop=True),
        classifier_codes=frames["classifier_codes"].sort_values("classifier_code").reset_index(drop=True),
        agencies=frames["agencies"].sort_values("agency_id").reset_index(drop=True),
        agency_names=agency_names,
        agency_sectors=frames["agency_sectors"].sort_values(["agency_id", "sector_code"]).reset_index(drop=True),
    )
