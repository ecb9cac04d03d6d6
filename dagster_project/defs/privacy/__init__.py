"""Personal data housekeeping (152-ФЗ): retention of raw exports and private file modes, see docs/privacy.md."""

from dagster import Definitions

from dagster_project.defs.privacy.assets import raw_export_retention
from dagster_project.defs.privacy.schedules import RETENTION_JOB, RETENTION_SCHEDULE

defs = Definitions(assets=[raw_export_retention], jobs=[RETENTION_JOB], schedules=[RETENTION_SCHEDULE])
