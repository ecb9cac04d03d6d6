"""After every landed load, the warehouse builds itself: a sensor on the raw assets' materializations."""

import json

from dagster import (
    AssetRecordsFilter,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from dagster_project.defs.automation.jobs import WAREHOUSE_BUILD
from dagster_project.defs.extract.assets import raw_key
from dagster_project.defs.extract.specs import API_SPECS, FILE_SPECS
from dagster_project.lib import settings

RAW_KEYS = [raw_key(table) for spec in [*API_SPECS, *FILE_SPECS] for table in spec.tables]
WAITING = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.QUEUED]


def landed_rows(record) -> int:
    value = record.asset_materialization.metadata.get("records")
    return value.value if value is not None else 0


@sensor(
    name="warehouse_after_load",
    job=WAREHOUSE_BUILD,
    minimum_interval_seconds=settings.sensor_interval_s(),
    default_status=DefaultSensorStatus.RUNNING,
    description="Загрузка принесла новые строки в raw → инкрементальная сборка dbt, проверки, публикация",
)
def warehouse_after_load(context: SensorEvaluationContext):
    # Cursor: the last materialization seen per raw asset (event storage ids).
    seen = json.loads(context.cursor) if context.cursor else {}
    landed: dict[str, int] = {}
    for key in RAW_KEYS:
        name = key.to_user_string()
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, after_storage_id=seen.get(name)), limit=1000, ascending=True
        ).records
        for record in records:
            seen[name] = record.storage_id
            landed[name] = landed.get(name, 0) + landed_rows(record)
    landed = {name: rows for name, rows in landed.items() if rows}
    if not landed:
        return SensorResult(skip_reason=SkipReason("no new rows landed"), cursor=json.dumps(seen))
    waiting = context.instance.get_runs(RunsFilter(job_name=WAREHOUSE_BUILD.name, statuses=WAITING), limit=1)
    if waiting:  # a build that has not started yet will read these rows too
        return SensorResult(
            skip_reason=SkipReason(f"build {waiting[0].run_id} is waiting and will read {landed}"),
            cursor=json.dumps(seen),
        )
    summary = ", ".join(f"{name}={rows}" for name, rows in sorted(landed.items()))
    return SensorResult(run_requests=[RunRequest(tags={"cur/landed": summary[:200]})], cursor=json.dumps(seen))
