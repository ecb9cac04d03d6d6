"""Monitoring: alerts on failed runs, blocking check failures, stale sources and new spikes of problems
(lib/alerts.py)."""

from dagster import Definitions

from dagster_project.defs.monitoring.sensors import SENSORS

defs = Definitions(sensors=SENSORS)
