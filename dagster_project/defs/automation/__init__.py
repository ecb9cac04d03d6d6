"""Automation of every layer (docs/data_engineer.md, "What runs when"): the warehouse build after every landed load,
the nightly full refresh, the Governor's report after each month closes."""

from dagster import Definitions

from dagster_project.defs.automation.jobs import WAREHOUSE_BUILD
from dagster_project.defs.automation.schedules import JOBS, SCHEDULES
from dagster_project.defs.automation.sensors import warehouse_after_load

defs = Definitions(jobs=[WAREHOUSE_BUILD, *JOBS], schedules=SCHEDULES, sensors=[warehouse_after_load])
