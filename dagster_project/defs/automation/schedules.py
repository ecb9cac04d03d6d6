"""The nightly full refresh (every model rebuilt, every test) and the Governor's report after each month closes."""

from dagster import (
    DefaultScheduleStatus,
    MultiPartitionKey,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from dagster_project.defs.automation.jobs import WAREHOUSE_FULL_REFRESH
from dagster_project.defs.reports.assets import GOVERNOR_REPORT_KEY, REPORT_PARTITIONS
from dagster_project.lib import settings


def _default_status() -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if settings.schedules_on_by_default() else DefaultScheduleStatus.STOPPED


WAREHOUSE_FULL_REFRESH_NIGHTLY = ScheduleDefinition(
    name="warehouse_full_refresh_nightly",
    job=WAREHOUSE_FULL_REFRESH,
    cron_schedule=settings.cron("warehouse_full_refresh_nightly", "0 2 * * *"),
    execution_timezone="Europe/Moscow",
    default_status=_default_status(),
    description="Ночью: полная пересборка хранилища, все тесты dbt (unit и data) и Great Expectations",
)

GOVERNOR_REPORT_JOB = define_asset_job(
    "governor_report",
    selection=[GOVERNOR_REPORT_KEY],
    description="Отчёт Губернатору за месяц по региону",
)


@schedule(
    name="governor_report_monthly",
    job=GOVERNOR_REPORT_JOB,
    cron_schedule=settings.cron("governor_report_monthly", "0 7 1 * *"),
    execution_timezone="Europe/Moscow",
    default_status=_default_status(),
    description="1-го числа (после ночной полной пересборки): отчёт за закрывшийся месяц по каждому региону",
)
def governor_report_monthly(context: ScheduleEvaluationContext):
    months = REPORT_PARTITIONS.get_partitions_def_for_dimension("month")
    closed = months.get_partition_keys(current_time=context.scheduled_execution_time)[-1]
    return [
        RunRequest(run_key=f"{closed}|{region}", partition_key=MultiPartitionKey({"month": closed, "region": region}))
        for region in REPORT_PARTITIONS.get_partitions_def_for_dimension("region").get_partition_keys()
    ]


SCHEDULES = [WAREHOUSE_FULL_REFRESH_NIGHTLY, governor_report_monthly]
JOBS = [WAREHOUSE_FULL_REFRESH, GOVERNOR_REPORT_JOB]
