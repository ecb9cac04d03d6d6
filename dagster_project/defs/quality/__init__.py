"""Data quality: Great Expectations suites on raw data and marts as Dagster asset checks."""

from dagster import Definitions

from dagster_project.defs.quality.checks import QUALITY_CHECKS

defs = Definitions(asset_checks=QUALITY_CHECKS)
