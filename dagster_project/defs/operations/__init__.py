"""Operations: the platform keeping its own run history true (runs of killed processes marked failed)."""

from dagster import Definitions

from dagster_project.defs.operations.sensors import fail_runs_of_dead_processes

defs = Definitions(sensors=[fail_runs_of_dead_processes])
