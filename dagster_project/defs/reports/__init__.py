"""The Governor's monthly report as a Dagster asset (month × region partitions), built by dagster_project/reports."""

from dagster import Definitions

from dagster_project.defs.reports.assets import governor_monthly_report

defs = Definitions(assets=[governor_monthly_report])
