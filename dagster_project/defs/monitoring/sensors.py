"""Sensors that tell people (lib/alerts.py): failed runs and the blocking checks that failed them, stale sources,
new spikes of problems.

All are on by default: a deployed instance alerts without anyone switching them on. Quarantine spikes are alerted by
the extraction itself (kind `quarantine_spike`).
"""

import json
from datetime import UTC, datetime

import duckdb
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
from dagster_project.defs.resources import ServingResource
from dagster_project.lib import alerts, landing, settings

STALE_CHECK_INTERVAL_S = 600


def failed_blocking_checks(instance, run_id: str) -> list:
    """The blocking checks that failed at ERROR in a run (the evaluations that stopped what sits downstream)."""
    evaluations = [
        entry.dagster_event.event_specific_data
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    return [e for e in evaluations if not e.passed and e.blocking and e.severity == AssetCheckSeverity.ERROR]


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
            "check_failure",
            f"check_failure:{asset}:{evaluation.check_name}",
            f"Блокирующая проверка не пройдена: {asset} · {evaluation.check_name}",
            f"Запуск {run.run_id} ({run.job_name}) остановлен до витрин, зависящих от {asset}."
            + (f"\n{failures.value}" if failures else "")
            + (f"\n{evaluation.description}" if evaluation.description else ""),
        )
    steps = ", ".join(event.step_key for event in context.get_step_failure_events() if event.step_key) or "—"
    alerts.send(
        "run_failure",
        f"run_failure:{run.job_name}",
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
        alerts.send(
            "stale_source",
            f"stale_source:{source}",
            f"Нет новых данных: {source}",
            f"Источник {source} не давал новых записей {hours:.1f} ч (допустимо {limit} ч).",
        )
    return SkipReason(f"stale: {', '.join(s for s, _, _ in stale)}" if stale else "every source is fresh")


# Оперативная обстановка: a new open spike of problems (mart problem_spikes, docs/kpi_methodology.md §12). The sensor
# reads the published serving snapshot, never the warehouse a build may be writing, so it sees a spike once the build
# and the `serving/marts` run that found it are done. Its cursor holds the ids of the open spikes already alerted: a
# spike is alerted once (a closed spike's id never comes back; a new spike of the same series has a new id). A sector
# spike is alerted only when no open category spike of the same municipality and sector already explains it.
SPIKE_CHECK_INTERVAL_S = 300

OPEN_SPIKES_SQL = """
    select s.spike_id, s.region_code, s.municipality_name, s.problem_name, s.series_kind, s.onset_at, s.detected_at,
           s.peak_appeals, s.peak_window_hours, s.peak_expected_appeals, s.appeals, s.appeals_unanswered, s.agencies
    from problem_spikes as s
    where s.is_open
      and (s.series_kind = 'category' or not exists (
          select 1 from problem_spikes as c
          where c.is_open and c.series_kind = 'category' and c.oktmo = s.oktmo and c.sector_code = s.sector_code))
    order by s.detected_at, s.spike_id
"""


def open_spikes(catalog) -> list[dict]:
    """The open spikes to alert about, from the serving catalog; none before the first publish of the mart."""
    if not catalog.exists():
        return []
    with duckdb.connect(str(catalog), read_only=True) as con:
        if not con.execute(
            "select table_name from information_schema.tables where table_name = 'problem_spikes'"
        ).fetchall():
            return []
        rows = con.execute(OPEN_SPIKES_SQL).fetchall()
        columns = [column[0] for column in con.description]
        return [dict(zip(columns, row)) for row in rows]


def spike_message(spike: dict) -> tuple[str, str]:
    """(title, text) of a spike's alert, in the words of the dashboard «Оперативная обстановка»."""
    title = f"Всплеск: {spike['problem_name']} — {spike['municipality_name']}"
    text = (
        f"Регион {spike['region_code']}. Начало {spike['onset_at']:%d.%m.%Y %H:%M} UTC, "
        f"обнаружен {spike['detected_at']:%d.%m.%Y %H:%M} UTC.\n"
        f"Пик: {spike['peak_appeals']} обращений за {spike['peak_window_hours']} ч при обычных "
        f"{spike['peak_expected_appeals']:.1f}. Всего {spike['appeals']}, без ответа {spike['appeals_unanswered']}.\n"
        f"Органы: {spike['agencies'] or '—'}.\nПодробнее: дашборд «Оперативная обстановка»."
    )
    return title, text


@sensor(
    name="alert_on_problem_spikes",
    minimum_interval_seconds=SPIKE_CHECK_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Новый открытый всплеск проблем (problem_spikes) → оповещение, один раз на всплеск",
)
def alert_on_problem_spikes(context: SensorEvaluationContext, serving_layer: ServingResource):
    alerted = set(json.loads(context.cursor)) if context.cursor else set()
    spikes = open_spikes(serving_layer.catalog())
    failures = []
    for spike in spikes:
        if spike["spike_id"] in alerted:
            continue
        try:
            alerts.send("problem_spike", f"problem_spike:{spike['spike_id']}", *spike_message(spike))
        except alerts.AlertDeliveryError as error:  # retried at the next tick; delivered channels are de-duplicated
            failures.append(str(error))
            continue
        alerted.add(spike["spike_id"])
    # only the still-open spikes are remembered: a closed spike's id never comes back
    context.update_cursor(json.dumps(sorted(alerted & {spike["spike_id"] for spike in spikes})))
    if failures:
        raise alerts.AlertDeliveryError("; ".join(failures))
    return SkipReason(f"{len(spikes)} open spikes, all alerted" if spikes else "no open spike")


SENSORS = [alert_on_run_failure, alert_on_stale_sources, alert_on_problem_spikes]
