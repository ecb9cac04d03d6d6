"""`make up`'s instance: the shared dagster.yaml, plus PostgreSQL storage and run monitoring when a URL is set."""

import os
import sys
import time
from pathlib import Path

import pytest
import yaml

from dagster_project import deploy
from dagster_project.lib import settings


def test_development_instance_keeps_sqlite_and_the_run_queue_limits(tmp_path, monkeypatch):
    monkeypatch.delenv("CUR_DAGSTER_PG_URL", raising=False)
    monkeypatch.delenv("CUR_ENV", raising=False)
    assert deploy.write_instance(tmp_path) == {}
    config = yaml.safe_load((tmp_path / "dagster.yaml").read_text())
    assert "storage" not in config and "run_monitoring" not in config
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "cur/source", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    assert {"key": "cur/warehouse", "limit": 1} in limits
    # loads together take fewer slots than the queue has: a warehouse build never waits behind them for a slot
    (loads_limit,) = [limit["limit"] for limit in limits if limit == {"key": "cur/source", "limit": limit["limit"]}]
    assert loads_limit < config["concurrency"]["runs"]["max_concurrent_runs"]


def test_production_instance_is_postgres_with_run_monitoring_and_no_secret_in_the_file(tmp_path, monkeypatch):
    secret_file = tmp_path / "pg_url"
    secret_file.write_text("postgresql://dagster:s3cr3t-pass@db:5432/dagster\n")
    monkeypatch.delenv("CUR_DAGSTER_PG_URL", raising=False)
    monkeypatch.setenv("CUR_DAGSTER_PG_URL_FILE", str(secret_file))
    env = deploy.write_instance(tmp_path / "home")
    assert env == {"CUR_DAGSTER_PG_URL": "postgresql+psycopg2://dagster:s3cr3t-pass@db:5432/dagster"}
    text = (tmp_path / "home" / "dagster.yaml").read_text()
    assert "s3cr3t" not in text
    config = yaml.safe_load(text)
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "CUR_DAGSTER_PG_URL"}}}
    assert config["run_monitoring"]["enabled"] is True
    assert config["concurrency"]["pools"] == {"default_limit": 1}
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 3  # the shared part is kept
    workspace = yaml.safe_load((tmp_path / "home" / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["grpc_server"]["port"] == settings.deploy_ports()["code_server"]


def test_production_without_the_instance_database_refuses(monkeypatch):
    monkeypatch.setenv("CUR_ENV", "production")
    monkeypatch.delenv("CUR_DAGSTER_PG_URL", raising=False)
    monkeypatch.delenv("CUR_DAGSTER_PG_URL_FILE", raising=False)
    with pytest.raises(settings.ProductionConfigError, match="CUR_DAGSTER_PG_URL"):
        settings.dagster_postgres_url()


def test_a_process_that_ended_is_not_running_although_nobody_waited_for_it(tmp_path, monkeypatch):
    """`up` inside a longer-lived process (the hands-off test): its processes stay its unwaited children when they
    end; `stop` must not wait CUR_STOP_TIMEOUT_S for them."""
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CUR_STOP_TIMEOUT_S", "30")
    deploy.run_dir().mkdir()
    deploy.logs_dir().mkdir()
    pid = deploy.start("short", [sys.executable, "-c", "pass"], dict(os.environ), tmp_path)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":  # ended, not yet waited for
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert deploy.running_pid("short") is None
    started = time.monotonic()
    deploy.stop("short")
    assert time.monotonic() - started < 5 and not deploy.pid_file("short").exists()
    sleeper = deploy.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ), tmp_path)
    assert deploy.running_pid("sleeper") == sleeper  # a live child still counts
    deploy.stop("sleeper")
    assert deploy.running_pid("sleeper") is None
