"""Shared pytest fixtures. Sandbox fixtures are named sandbox_*."""

import contextlib
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from sandbox import generate
from sandbox.server import running_server

SANDBOX_SCALE = 20_000
# `make run` of sandbox_run: its scale, and the PostgreSQL database it also publishes the serving copy to.
PIPELINE_SCALE = 3000
SERVING_POSTGRES_URL = os.environ.get("TEST_SERVING_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SANDBOX_SEED = 7
# The business marts (and the manual inputs' staging) that `sandbox_marts` builds; test_marts tests them.
MART_FOLDERS = ["common", "ratings", "sectors", "problems", "indicators", "governor"]
MART_SELECTION = [f"path:models/marts/{folder}" for folder in MART_FOLDERS] + ["path:models/staging/manual"]


def dbt(root: Path, *args: str) -> str:
    """One dbt CLI run in a subprocess (dbt-duckdb keeps the warehouse file open in-process), cwd = dbt/, its target
    and logs under `root`; the environment points at the data root."""
    from dagster_project.lib import paths

    command = [
        str(Path(sys.executable).parent / "dbt"),
        *args,
        "--profiles-dir",
        ".",
        "--target-path",
        str(root / "target"),
        "--log-path",
        str(root / "logs"),
    ]
    # its own session: on a timeout dbt and what it started (the Spark driver JVM of the spark target) are stopped
    with subprocess.Popen(
        command,
        cwd=paths.DBT_PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, _ = process.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            stop_process_group(process)
            raise
    assert process.returncode == 0, f"dbt {' '.join(args)} failed:\n{stdout[-6000:]}"
    return stdout


def stop_process_group(process: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM to the process's group, SIGKILL to whatever of it still runs after `grace_s` (a JVM under load may
    not stop on SIGTERM in time)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


@pytest.fixture(scope="session")
def sandbox_generated(tmp_path_factory):
    """A small generated sandbox: (out_dir, inbox_dir, summary). Read-only for tests."""
    root = tmp_path_factory.mktemp("sandbox")
    out_dir, inbox_dir = root / "sandbox", root / "inbox"
    summary = generate(
        out_dir,
        inbox_dir,
        SANDBOX_SCALE,
        seed=SANDBOX_SEED,
        start=date(2023, 1, 1),
        end=date(2025, 12, 31),
        bad_rate=0.02,
    )
    return out_dir, inbox_dir, summary


@pytest.fixture(scope="session")
def sandbox_server(sandbox_generated):
    """Base URL of a real sandbox server process over `sandbox_generated` (faults off, default clock)."""
    with running_server(sandbox_generated[0]) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def sandbox_marts(sandbox_generated, sandbox_server, tmp_path_factory):
    """The shared sandbox landed through the real extraction into a private data root, its manual inputs written and
    every mart of MART_SELECTION (with all upstream: the core layer) built by dbt without tests: (data root, dbt
    root). Built once per session for test_marts (its tests) and test_bench (the floor); read-only for tests."""
    from sandbox_landing import land_sandbox

    from sandbox.manual_inputs import write_manual_inputs

    root = tmp_path_factory.mktemp("sandbox_marts")
    data = root / "data"
    with pytest.MonkeyPatch.context() as mp:
        land_sandbox(mp, data, sandbox_generated[1], sandbox_server)
        write_manual_inputs(data, seed=SANDBOX_SEED)
        dbt(
            root,
            "build",
            "--select",
            *[f"+{s}" for s in MART_SELECTION],
            "--exclude-resource-type",
            "test",
            "unit_test",
        )
    return data, root


def run_sandbox_cli(env: dict) -> subprocess.CompletedProcess:
    """`python -m sandbox run --scale PIPELINE_SCALE` (`make run`) in the environment `env`."""
    from dagster_project.lib import paths

    return subprocess.run(
        [sys.executable, "-m", "sandbox", "run", "--scale", str(PIPELINE_SCALE)],
        env=env,
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )


@pytest.fixture(scope="session")
def sandbox_run(tmp_path_factory):
    """One `make run` on a private data root, the serving copy published to PostgreSQL too (a schema of its own: other
    runs may publish meanwhile): (data root, environment, the completed run). Once per session for test_pipeline,
    which runs it a second time in the same root, and test_superset_integration, which deploys Superset on its marts."""
    import psycopg2

    data = tmp_path_factory.mktemp("pipeline")
    inherited = ("POS_BASE_URL", "INCIDENT_BASE_URL", "CUR_INBOX_DIR", "SERVING_PATH", "SUPERSET_URL")
    env = {name: value for name, value in os.environ.items() if name not in inherited}
    schema = f"serving_test_pipeline_{os.getpid()}"
    env |= {
        "CUR_DATA_DIR": str(data),
        "WAREHOUSE_PATH": str(data / "warehouse.duckdb"),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "SERVING_POSTGRES_URL": SERVING_POSTGRES_URL,
        "SERVING_POSTGRES_SCHEMA": schema,
    }
    first = run_sandbox_cli(env)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-5000:]
    yield data, env, first
    with psycopg2.connect(SERVING_POSTGRES_URL) as pg, pg.cursor() as cursor:
        cursor.execute(f"drop schema if exists {schema} cascade")
