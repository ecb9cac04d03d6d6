"""Extraction assets built from the source specs, plus the inbox sensors, jobs and schedules.

Each source is its own asset (and its own job for schedules and sensors) and no asset depends on another
source, so one failing source never blocks the others.

Every extraction asset is partitioned by day (DAILY): a partition of a file source is the exports of that date
(the date in the file name), a partition of an API source is the records whose `updatedAt` falls on that UTC day.
A run for a partition or a range of them (one run: single-run backfill policy) loads exactly those days — a
backfill, which leaves the API cursor alone. A run without a partition is the operational load: incremental from
the cursor for the APIs, every pending file for the exports; that is what the schedules and `make run` do.
"""

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    BackfillPolicy,
    Backoff,
    Config,
    DagsterRunStatus,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Jitter,
    MaterializeResult,
    RetryPolicy,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TableColumn,
    TableSchema,
    define_asset_job,
    multi_asset,
    schedule,
    sensor,
)
from pydantic import Field

from dagster_project.defs.extract.api import extract_api
from dagster_project.defs.extract.files import export_date, extract_files, file_sha256, pending_files, safe_name
from dagster_project.defs.extract.load_result import LoadResult
from dagster_project.defs.extract.resources import InboxResource
from dagster_project.defs.extract.specs import API_SPECS, FILE_SPECS, ApiSpec, FileSpec
from dagster_project.lib import settings, warehouse
from dagster_project.lib.contracts import META_COLUMNS, RAW_TABLES

# Step retries: a transient outage outlasting the HTTP retries is tried again, resuming from the last
# committed page. Run retries (tag dagster/max_retries) cover a crashed run process.
STEP_RETRY = RetryPolicy(max_retries=2, delay=30, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
RUN_RETRY_TAGS = {"dagster/max_retries": "2", "dagster/retry_strategy": "FROM_FAILURE"}


# The first day of the sources' history (the sandbox starts on 2023-01-01); env CUR_PARTITIONS_START moves it.
DAILY = DailyPartitionsDefinition(start_date=settings.env("CUR_PARTITIONS_START", "2023-01-01"), end_offset=1)


class ApiExtractConfig(Config):
    lookback_minutes: int = Field(default=120, description="Incremental loads re-read this much before the cursor")


class FileExtractConfig(Config):
    file_name: str | None = Field(
        default=None, description="One inbox file (what the sensor asks for); unset: every pending file"
    )


def raw_key(table: str) -> AssetKey:
    return AssetKey(["raw", table])


def _column_schema(table: str) -> TableSchema:
    return TableSchema(columns=[TableColumn(c.name, c.kind) for c in RAW_TABLES[table] + META_COLUMNS])


def _outs(spec: ApiSpec | FileSpec) -> dict[str, AssetOut]:
    return {
        table: AssetOut(
            key=raw_key(table),
            description=spec.description,
            group_name="raw",
            kinds={"parquet"},
            metadata={"dagster/column_schema": _column_schema(table)},
        )
        for table in spec.tables
    }


def _run_load(context: AssetExecutionContext, spec: ApiSpec | FileSpec, load: Callable[[LoadResult], None]):
    """Runs a load, writes its ops.load_log row (also when it fails) and reports it on every output."""
    result = LoadResult(spec.name)
    try:
        load(result)
    except BaseException:
        try:
            _log(context, result, "failed")
        except Exception as log_error:  # never hide the load's own error behind this one
            context.log.warning(f"could not write the failed run to ops.load_log: {log_error}")
        raise
    _log(context, result, "success")
    context.log.info(
        f"{spec.name}: fetched {result.fetched} = landed {result.landed} + quarantined {result.quarantined}; "
        f"{result.duplicates_skipped} repeats skipped, {result.retries} HTTP retries, {result.duration_s:.1f} s"
    )
    for table in spec.tables:
        metadata = {
            "records": result.rows(table),  # rows landed in this table
            "bytes": result.bytes(table),
            "parts": len([p for t, p in result.parts if t == table]),
            "fetched": result.fetched,
            "landed": result.landed,
            "quarantined": result.quarantined,
            "duplicates_skipped": result.duplicates_skipped,
            "http_retries": result.retries,
            "cursor_from": result.cursor_from or "",
            "cursor_to": result.cursor_to or "",
            "resumed": result.resumed,
            "files_processed": result.files_processed,
            "files_rejected": result.files_rejected,
            "duration_s": round(result.duration_s, 3),
            "checksum": result.checksum,
        }
        yield MaterializeResult(asset_key=raw_key(table), metadata=metadata)
    yield AssetCheckResult(
        asset_key=raw_key(spec.name),
        check_name="reconciled",
        passed=result.reconciled,
        metadata={"fetched": result.fetched, "landed": result.landed, "quarantined": result.quarantined},
    )


def _log(context: AssetExecutionContext, result: LoadResult, status: str) -> None:
    warehouse.log_load(
        run_id=context.run.run_id,
        source=result.source,
        cursor_from=result.cursor_from,
        cursor_to=result.cursor_to,
        fetched=result.fetched,
        landed=result.landed,
        quarantined=result.quarantined,
        checksum=result.checksum,
        started_at=result.started_at,
        status=status,
    )


def _reconciled_check(spec: ApiSpec | FileSpec) -> AssetCheckSpec:
    return AssetCheckSpec(
        "reconciled", asset=raw_key(spec.name), description="fetched = landed + quarantined for this load"
    )


def _pool(spec: ApiSpec | FileSpec) -> str:
    """One concurrency pool per source: with a limit of 1 in the instance, two loads of a source (a schedule
    and a manual run) never interleave their cursor updates."""
    return f"extract_{spec.name}"


def partition_window(context: AssetExecutionContext) -> tuple[datetime, datetime] | None:
    """[start, end) of the run's partitions as naive UTC, or None for an unpartitioned (operational) run."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return window.start.astimezone(UTC).replace(tzinfo=None), window.end.astimezone(UTC).replace(tzinfo=None)


def build_api_asset(spec: ApiSpec) -> AssetsDefinition:
    @multi_asset(
        name=f"raw_{spec.name}",
        outs=_outs(spec),
        check_specs=[_reconciled_check(spec)],
        required_resource_keys={f"{spec.api}_api", "pii"},
        retry_policy=STEP_RETRY,
        pool=_pool(spec),
        partitions_def=DAILY,
        backfill_policy=BackfillPolicy.single_run(),
        description=spec.description,
    )
    def _asset(context: AssetExecutionContext, config: ApiExtractConfig):
        since, until = partition_window(context) or (None, None)
        api = getattr(context.resources, f"{spec.api}_api")

        def load(result: LoadResult) -> None:
            with api.client() as client:
                extract_api(
                    spec,
                    client,
                    result,
                    key=context.resources.pii.key(),
                    run_id=context.run.run_id,
                    page_size=api.page_size,
                    commit_every_records=api.commit_every_records,
                    updated_since=since,
                    updated_until=until,
                    lookback=timedelta(minutes=config.lookback_minutes),
                )

        yield from _run_load(context, spec, load)

    return _asset


def build_file_asset(spec: FileSpec) -> AssetsDefinition:
    @multi_asset(
        name=f"raw_{spec.name}",
        outs=_outs(spec),
        check_specs=[_reconciled_check(spec)],
        required_resource_keys={"inbox", "pii"},
        retry_policy=STEP_RETRY,
        pool=_pool(spec),
        partitions_def=DAILY,
        backfill_policy=BackfillPolicy.single_run(),
        description=spec.description,
    )
    def _asset(context: AssetExecutionContext, config: FileExtractConfig):
        window = partition_window(context)
        export_days = (window[0].date(), window[1].date()) if window else None

        def load(result: LoadResult) -> None:
            extract_files(
                spec,
                context.resources.inbox.folder(spec.inbox),
                result,
                key=context.resources.pii.key(),
                run_id=context.run.run_id,
                file_name=config.file_name,
                export_days=export_days,
            )

        yield from _run_load(context, spec, load)

    return _asset


API_ASSETS = {spec.name: build_api_asset(spec) for spec in API_SPECS}
FILE_ASSETS = {spec.name: build_file_asset(spec) for spec in FILE_SPECS}


def _job(name: str, specs: list[ApiSpec | FileSpec], description: str):
    keys = [raw_key(table) for spec in specs for table in spec.tables]
    # cur/source: the instance's run queue lets one run per source at a time (tag_concurrency_limits, dagster.yaml)
    return define_asset_job(name, selection=keys, tags={**RUN_RETRY_TAGS, "cur/source": name}, description=description)


POS_JOB = _job("extract_pos", [s for s in API_SPECS if s.api == "pos"], "ПОС: сообщения, опросы")
INCIDENT_JOB = _job("extract_incidents", [s for s in API_SPECS if s.api == "incident"], "Инцидент Менеджмент")
FILE_JOBS = {spec.name: _job(f"extract_{spec.name}", [spec], spec.description) for spec in FILE_SPECS}


BUSY = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def _schedule(name: str, job, cron: str, description: str) -> ScheduleDefinition:
    """Running by default in production (settings.schedules_on_by_default); the cron is settable per schedule. A tick
    while the job's previous run is still queued or running is skipped: that run reads up to the latest data anyway,
    and runs piling up behind a slow source would hold the queue."""

    @schedule(
        name=name,
        job=job,
        cron_schedule=settings.cron(name, cron),
        execution_timezone="Europe/Moscow",
        description=description,
        default_status=DefaultScheduleStatus.RUNNING
        if settings.schedules_on_by_default()
        else DefaultScheduleStatus.STOPPED,
    )
    def _tick(context: ScheduleEvaluationContext):
        if busy := context.instance.get_runs(RunsFilter(job_name=job.name, statuses=BUSY), limit=1):
            return SkipReason(f"run {busy[0].run_id} of {job.name} is still {busy[0].status.value.lower()}")
        return RunRequest()

    return _tick


SCHEDULES = [
    _schedule("extract_pos_hourly", POS_JOB, "5 * * * *", "ПОС: инкрементальная загрузка каждый час"),
    _schedule("extract_incidents_hourly", INCIDENT_JOB, "10 * * * *", "Инцидент Менеджмент: каждый час"),
    # The daily exports: a backstop for the sensors (every pending file), after the night's drops.
    _schedule(
        "extract_sed_appeals_daily",
        FILE_JOBS["sed_appeals"],
        "0 6 * * *",
        "СЭД: все ожидающие файлы (страховка к датчику папки)",
    ),
    _schedule(
        "extract_portal_appeals_daily",
        FILE_JOBS["portal_appeals"],
        "30 6 * * *",
        "Порталы: все ожидающие файлы (страховка к датчику папки)",
    ),
]


def build_inbox_sensor(spec: FileSpec):
    op_name = f"raw_{spec.name}"

    @sensor(
        name=f"{spec.inbox}_inbox_sensor",
        job=FILE_JOBS[spec.name],
        minimum_interval_seconds=settings.sensor_interval_s(),
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Новый файл в data/inbox/{spec.inbox}/ → отдельный запуск загрузки этого файла",
    )
    def _sensor(context: SensorEvaluationContext, inbox: InboxResource) -> SensorResult:
        # One run per file (name and content); the cursor caches hashes by (size, mtime) so files are not
        # re-read on every tick.
        seen = json.loads(context.cursor) if context.cursor else {}
        current, requests = {}, []
        for path in pending_files(inbox.folder(spec.inbox)):
            stat = path.stat()
            if time.time() - stat.st_mtime < inbox.min_file_age_s:
                continue  # may still be being copied
            signature = [stat.st_size, stat.st_mtime_ns]
            cached = seen.get(path.name)
            digest = cached[2] if cached and cached[:2] == signature else file_sha256(path)
            current[path.name] = signature + [digest]
            day = export_date(spec, path.name)
            requests.append(
                RunRequest(
                    run_key=f"{spec.name}:{digest}:{safe_name(path.name)}",
                    run_config={"ops": {op_name: {"config": {"file_name": path.name}}}},
                    tags={"cur/source_file": safe_name(path.name)},
                    # the file's export day; a name without a valid day is still loaded (and rejected) unpartitioned
                    partition_key=day.isoformat() if day and DAILY.has_partition_key(day.isoformat()) else None,
                )
            )
        return SensorResult(run_requests=requests, cursor=json.dumps(current))

    return _sensor


SENSORS = [build_inbox_sensor(spec) for spec in FILE_SPECS]
JOBS = [POS_JOB, INCIDENT_JOB, *FILE_JOBS.values()]
