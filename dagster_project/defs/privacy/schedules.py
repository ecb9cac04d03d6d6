"""The retention job, daily at night (Moscow time). Running by default: deleting expired personal data does not wait
for an operator to switch it on."""

from dagster import AssetKey, DefaultScheduleStatus, ScheduleDefinition, define_asset_job

RETENTION_JOB = define_asset_job(
    "privacy_retention",
    selection=[AssetKey(["privacy", "raw_export_retention"])],
    description="Срок хранения выгрузок с персональными данными",
)
RETENTION_SCHEDULE = ScheduleDefinition(
    name="privacy_retention_daily",
    job=RETENTION_JOB,
    cron_schedule="30 3 * * *",
    execution_timezone="Europe/Moscow",
    default_status=DefaultScheduleStatus.RUNNING,
)
