"""Sensors that tell people (lib/alerts.py): failed runs and the blocking checks that failed them, stale sources.

All are on by default: a deployed instance alerts without anyone switching them on. Quarantine spikes are alerted by
the extraction itself (kind `quarantine_spike`).
"""

import json
from datetime import UTC, datetime

from dagster import (
    AssetCheckSeverity,
    DagsterEventType,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from dagster_project.defs.extract.specs import API_SPECS, FILE_SPECS
from dagster_project.lib import alerts, landing, settings

STALE_CHECK_INTERVAL_S = 600


def failed_blocking_checks(instance, run_id: str) -> list:
    """The blocking checks that failed at ERROR in a run (the evaluations that stopped what sits downstream)."""
    evaluations = [entry.dagster_event.event_specific_data
                   for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)]
    return [e for e in evaluations
            if not e.passed and e.blocking and e.severity == AssetCheckSeverity.ERROR]


@run_failure_sensor(
    name="alert_on_run_failure",
    default_status=DefaultSensorStatus.RUNNING,
    description="Сбой любого запуска → оповещение; заблокировавшая проверка качества → отдельное оповещение",
)
def alert_on_run_failure(context: RunFailureSensorContext) -> None:
    run = context.dagster_run
    for evaluation in failed_blocking_checks(context.instance, run.run_id):
        asset = evaluation.asset_key.to_user_string()
        failures = evaluation.metadata.get("failed_expectations")
        alerts.send(
            "check_failure", f"check_failure:{asset}:{evaluation.check_name}",
            f"Блокирующая проверка не пройдена: {asset} · {evaluation.check_name}",
            f"Запуск {run.run_id} ({run.job_name}) остановлен до витрин, зависящих от {asset}."
            + (f"\n{failures.value}" if failures else "")
            + (f"\n{evaluation.description}" if evaluation.description else ""),
        )
    steps = ", ".join(event.step_key for event in context.get_step_failure_events() if event.step_key) or "—"
    alerts.send(
        "run_failure", f"run_failure:{run.job_name}",
        f"Сбой запуска {run.job_name}",
        f"Запуск {run.run_id} завершился ошибкой; шаги: {steps}.\n{context.failure_event.message or ''}".strip(),
    )


def stale_sources(now: datetime, watching_since: datetime) -> list[tuple[str, float, int]]:
    """(source, hours without new data, allowed hours) of every source over its limit; a source that never landed
    counts from `watching_since` (when the sensor first looked)."""
    stale = []
    for spec in [*API_SPECS, *FILE_SPECS]:
        landed = landing.last_landed_at(spec.tables[0]) or watching_since
        hours, limit = (now - landed).total_seconds() / 3600, settings.stale_source_hours(spec.name)
        if hours > limit:
            stale.append((spec.name, hours, limit))
    return stale


@sensor(
    name="alert_on_stale_sources",
    minimum_interval_seconds=STALE_CHECK_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Источник не давал новых данных дольше CUR_STALE_HOURS[_<ИСТОЧНИК>] часов → оповещение",
)
def alert_on_stale_sources(context: SensorEvaluationContext):
    now = datetime.now(UTC)
    watching_since = datetime.fromisoformat(json.loads(context.cursor)["since"]) if context.cursor else now
    context.update_cursor(json.dumps({"since": watching_since.isoformat()}))
    stale = stale_sources(now, watching_since)
    for source, hours, limit in stale:
        alerts.send("stale_source", f"stale_source:{source}", f"Нет новых данных: {source}",
                    f"Источник {source} не давал новых записей {hours:.1f} ч (допустимо {limit} ч).")
    return SkipReason(f"stale: {', '.join(s for s, _, _ in stale)}" if stale else "every source is fresh")


SENSORS = [alert_on_run_failure, alert_on_stale_sources]
