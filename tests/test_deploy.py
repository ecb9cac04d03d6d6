"""`make up`'s instance: the shared dagster.yaml, plus PostgreSQL storage and run monitoring when a URL is set."""

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
