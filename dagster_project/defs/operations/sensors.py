"""Sensors that keep the Dagster instance itself true."""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from dagster_project.lib import runs


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Помечает сбойными запуски, процесс которых завершился без них (kill -9, сбой питания): "
    "запуски `cli run` с тегом cur/process (lib/runs.py).",
)
def fail_runs_of_dead_processes(context: SensorEvaluationContext) -> SkipReason:
    failed = runs.fail_runs_of_dead_processes(context.instance)
    if failed:
        context.log.warning(f"marked failed, their process is gone: {', '.join(failed)}")
    return SkipReason(
        f"{len(failed)} run(s) of ended processes marked failed" if failed else "no run of an ended process"
    )
