"""Runs whose process is gone (kill -9, power loss) are marked failed in the Dagster instance.

A run of `python -m dagster_project.cli run` executes in that process (`execute_in_process`, no run launcher and no
run monitoring), so a killed one would stay STARTED forever. Such runs carry the tag `cur/process` (host, pid and
the process's start time, which tells a reused pid apart); every `cli run` sweeps before it starts, and the sensor
`fail_runs_of_dead_processes` (defs/operations/sensors.py) sweeps in the deployed daemon. A run without the tag
(launched by the daemon or the UI) is left to Dagster's run monitoring.
"""

import os
import socket

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

PROCESS_TAG = "cur/process"
UNFINISHED = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def _start_time(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (/proc/<pid>/stat, field 22), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def process_tags() -> dict[str, str]:
    """The tags of a run executed in this process."""
    return {PROCESS_TAG: f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"}


def process_is_gone(tag: str) -> bool:
    """Whether the process a `cur/process` tag names has ended (False when it runs on another host: unknown here)."""
    host, pid, started = tag.rsplit(":", 2)
    return host == socket.gethostname() and _start_time(int(pid)) != started


def fail_runs_of_dead_processes(instance: DagsterInstance) -> list[str]:
    """Marks failed every unfinished run whose process is gone; returns their run ids."""
    failed = []
    for run in instance.get_runs(filters=RunsFilter(statuses=UNFINISHED)):
        tag = run.tags.get(PROCESS_TAG)
        if tag is None or not process_is_gone(tag):
            continue
        host, pid, _ = tag.rsplit(":", 2)
        instance.report_run_failed(
            run,
            message=f"The process that ran this run (pid {pid} on {host}) ended without finishing it "
            "(killed or crashed): marked failed by the sweep of lib/runs.py.",
        )
        failed.append(run.run_id)
    return failed
