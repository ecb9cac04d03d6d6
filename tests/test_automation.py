"""What makes every asset run: the automation map, the after-load build sensor, the monthly report schedule."""

from datetime import datetime
from zoneinfo import ZoneInfo

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DagsterRunStatus,
    MultiPartitionKey,
    RunRequest,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from dagster_project.definitions import defs
from dagster_project.defs.automation.schedules import governor_report_monthly
from dagster_project.defs.automation.sensors import warehouse_after_load

REGIONS = ["03", "37", "56", "64", "65"]


def automation_map() -> dict[AssetKey, set[str]]:
    """asset → the schedules and sensors whose job materializes it."""
    triggers: dict[AssetKey, set[str]] = {}
    for definition in [*defs.schedules, *defs.sensors]:
        if not (definition.has_job if hasattr(definition, "has_job") else definition.has_jobs):
            continue  # the alert sensors watch runs, they start none
        job = defs.resolve_job_def(definition.job_name)
        for key in job.asset_layer.selected_asset_keys:
            triggers.setdefault(key, set()).add(definition.name)
    return triggers


def test_every_asset_has_something_that_runs_it():
    graph = defs.resolve_asset_graph()
    triggers = automation_map()
    orphans = [key.to_user_string() for key in graph.materializable_asset_keys if not triggers.get(key)]
    assert orphans == []
    assert triggers[AssetKey(["raw", "pos_messages"])] == {"extract_pos_hourly"}
    assert triggers[AssetKey(["raw", "sed_appeals"])] == {"extract_sed_appeals_daily", "sed_inbox_sensor"}
    for key in (
        ["fct_appeals"],
        ["agency_rating_monthly"],
        ["serving", "marts"],
        ["serving", "superset_dashboards"],
        ["reference", "regions"],
    ):
        assert triggers[AssetKey(key)] == {"warehouse_after_load", "warehouse_full_refresh_nightly"}, key
    assert triggers[AssetKey(["reports", "governor_monthly"])] == {"governor_report_monthly"}
    assert triggers[AssetKey(["privacy", "raw_export_retention"])] == {"privacy_retention_daily"}


def _landed(instance: DagsterInstance, table: str, records: int) -> None:
    instance.report_runless_asset_event(AssetMaterialization(AssetKey(["raw", table]), metadata={"records": records}))


def test_a_load_with_new_rows_starts_one_build():
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance)
        assert not warehouse_after_load(context).run_requests  # nothing landed yet
        _landed(instance, "pos_messages", 0)  # an hourly load that found nothing new
        result = warehouse_after_load(build_sensor_context(instance=instance, cursor=context.cursor))
        assert not result.run_requests
        _landed(instance, "sed_appeals", 120)
        _landed(instance, "portal_appeals", 7)
        _landed(instance, "sed_appeals", 3)
        result = warehouse_after_load(build_sensor_context(instance=instance, cursor=result.cursor))
        assert len(result.run_requests) == 1
        assert result.run_requests[0].tags["cur/landed"] == "raw/portal_appeals=7, raw/sed_appeals=123"
        again = warehouse_after_load(build_sensor_context(instance=instance, cursor=result.cursor))
        assert not again.run_requests  # each materialization triggers once

        # A build still waiting in the queue will read the next load as well: no second build.
        job = defs.resolve_job_def("warehouse_build")
        instance.create_run_for_job(job, status=DagsterRunStatus.NOT_STARTED)  # QUEUED needs a code location
        _landed(instance, "incidents", 40)
        waiting = warehouse_after_load(build_sensor_context(instance=instance, cursor=again.cursor))
        assert not waiting.run_requests and "is waiting" in waiting.skip_reason.skip_message


def test_the_report_runs_for_the_month_that_just_closed_in_every_region():
    moscow = ZoneInfo("Europe/Moscow")
    context = build_schedule_context(scheduled_execution_time=datetime(2026, 12, 1, 7, 0, tzinfo=moscow))
    requests = governor_report_monthly(context)
    assert [r.partition_key for r in requests] == [
        MultiPartitionKey({"month": "2026-11-01", "region": region}) for region in REGIONS
    ]
    january = build_schedule_context(scheduled_execution_time=datetime(2026, 1, 1, 7, 0, tzinfo=moscow))
    assert {r.partition_key.keys_by_dimension["month"] for r in governor_report_monthly(january)} == {"2025-12-01"}


def test_a_schedule_tick_waits_while_the_previous_load_is_still_queued_or_running():
    from dagster_project.defs.extract.assets import SCHEDULES

    hourly = next(s for s in SCHEDULES if s.name == "extract_pos_hourly")
    with instance_for_test() as instance:  # a schedule's context needs a persistent instance
        assert isinstance(hourly(build_schedule_context(instance=instance)), RunRequest)
        run = instance.create_run_for_job(defs.resolve_job_def("extract_pos"), status=DagsterRunStatus.NOT_STARTED)
        skipped = hourly(build_schedule_context(instance=instance))
        assert isinstance(skipped, SkipReason) and run.run_id in skipped.skip_message
        instance.report_run_canceled(run)
        assert isinstance(hourly(build_schedule_context(instance=instance)), RunRequest)
