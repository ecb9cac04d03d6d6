"""Extraction and landing: every source into the raw landing zone (data/lake/raw), see docs/data_engineer.md."""

from dagster import Definitions

from dagster_project.defs.extract.assets import API_ASSETS, FILE_ASSETS, JOBS, SCHEDULES, SENSORS
from dagster_project.defs.extract.resources import API_DEFAULTS, InboxResource, PiiResource, SourceApiResource

defs = Definitions(
    assets=[*API_ASSETS.values(), *FILE_ASSETS.values()],
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources={
        **{f"{api}_api": SourceApiResource(api=api) for api in API_DEFAULTS},
        "inbox": InboxResource(),
        "pii": PiiResource(),
    },
)
