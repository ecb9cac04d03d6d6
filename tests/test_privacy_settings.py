"""Fail closed in production: the pipeline, the Superset deploy and the report refuse weak or missing secrets; the
development defaults stay (labelled) outside production; secrets never travel on a command line or in run config."""

import importlib
import importlib.util
import logging
import os

import pytest
from dagster import DagsterInvalidConfigError, asset, materialize

from dagster_project.defs.extract.resources import PiiResource
from dagster_project.lib import paths, pii, settings
from dagster_project.lib.settings import ProductionConfigError

STRONG = {
    "PII_HASH_KEY": "k3Y-7f9Q2x1LmZ8vT0pW4rS6uN5bH3jD",  # 32 characters, many distinct
    "SUPERSET_SECRET_KEY": "Zq8!rT2mV5xN1pL7wK4cB9hG6jF3sD0aE",
    "SUPERSET_ADMIN_PASSWORD": "Прочный-пароль-2025",
}


@pytest.fixture
def production(monkeypatch):
    """CUR_ENV=production with the strong secrets set; a test removes or weakens one of them."""
    monkeypatch.setenv("CUR_ENV", "production")
    for name, value in STRONG.items():
        monkeypatch.setenv(name, value)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.delenv("SUPERSET_ADMIN_USER", raising=False)
    return monkeypatch


@pytest.fixture
def development(monkeypatch):
    monkeypatch.delenv("CUR_ENV", raising=False)
    for name in STRONG:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (settings.DEV_DEFAULTS["PII_HASH_KEY"], "publicly known"),
        ("test-pii-key", "publicly known"),
        ("short-but-random-Q7x", r"too short \(20 characters, at least 32\)"),
        ("ab" * 20, "fewer than 8 distinct characters"),
        (None, "is not set"),
    ],
)
def test_production_refuses_a_weak_or_missing_pii_key(production, value, reason):
    if value is None:
        production.delenv("PII_HASH_KEY")
    else:
        production.setenv("PII_HASH_KEY", value)
    with pytest.raises(ProductionConfigError, match=reason):
        settings.check_production()
    with pytest.raises(ProductionConfigError, match="PII_HASH_KEY"):
        pii.hash_key()
    with pytest.raises(ProductionConfigError):
        PiiResource().key()


def test_production_accepts_strong_secrets_from_env_or_file(production, tmp_path):
    settings.check_production()
    assert pii.hash_key() == STRONG["PII_HASH_KEY"].encode()
    key_file = tmp_path / "pii_key"
    key_file.write_text("f" + STRONG["PII_HASH_KEY"] + "\n", encoding="utf-8")
    production.delenv("PII_HASH_KEY")
    production.setenv("PII_HASH_KEY_FILE", str(key_file))
    settings.check_production()
    assert pii.hash_key() == ("f" + STRONG["PII_HASH_KEY"]).encode()  # the file's trailing newline is not the key


def test_production_lists_every_missing_secret_at_once(production):
    production.delenv("SUPERSET_SECRET_KEY")
    production.setenv("SUPERSET_ADMIN_PASSWORD", "admin")
    with pytest.raises(ProductionConfigError) as refused:
        settings.check_production()
    assert "SUPERSET_SECRET_KEY is not set" in str(refused.value)
    assert "SUPERSET_ADMIN_PASSWORD is a publicly known default" in str(refused.value)
    production.setenv("SUPERSET_SECRET_KEY", "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET")  # Superset's own stock key
    with pytest.raises(ProductionConfigError, match="SUPERSET_SECRET_KEY is a publicly known default"):
        settings.check_production()


def test_production_refuses_the_admin_name_as_its_password(production):
    production.setenv("SUPERSET_ADMIN_USER", "cur-administrator-1")
    production.setenv("SUPERSET_ADMIN_PASSWORD", "CUR-Administrator-1")
    with pytest.raises(ProductionConfigError, match="equals the admin's user name"):
        settings.check_production()


def test_development_uses_labelled_defaults_with_a_warning(development, caplog):
    settings.check_production()  # nothing required
    with caplog.at_level(logging.WARNING):
        assert pii.hash_key() == settings.DEV_DEFAULTS["PII_HASH_KEY"].encode()
        assert settings.superset_admin() == ("admin", "admin")
    assert "PII_HASH_KEY is not set: using the development default" in caplog.text
    assert "CUR_ENV=production refuses it" in caplog.text


def test_the_key_is_not_run_config():
    """Run config is stored in Dagster's run storage: the launchpad has no field for the key."""

    @asset(required_resource_keys={"pii"})
    def needs_the_key(context):
        return None

    with pytest.raises(DagsterInvalidConfigError, match="hash_key"):
        materialize(
            [needs_the_key],
            resources={"pii": PiiResource()},
            run_config={"resources": {"pii": {"config": {"hash_key": "a-key-in-run-config"}}}},
        )
    assert not PiiResource.model_fields


def test_the_code_location_refuses_to_load_and_sets_private_modes(production):
    import dagster_project.definitions as definitions

    production.setenv("PII_HASH_KEY", settings.DEV_DEFAULTS["PII_HASH_KEY"])
    with pytest.raises(ProductionConfigError, match="PII_HASH_KEY is a publicly known default"):
        importlib.reload(definitions)
    production.setenv("PII_HASH_KEY", STRONG["PII_HASH_KEY"])
    previous = os.umask(0o022)
    try:
        importlib.reload(definitions)
        assert os.umask(0o022) == 0o077  # files 0600, folders 0700 from here on
    finally:
        os.umask(previous)


def test_the_cli_and_the_report_refuse_to_start(production, tmp_path):
    from dagster_project.cli import main as cli_main
    from dagster_project.reports.__main__ import main as report_main
    from sandbox.__main__ import main as sandbox_main

    production.setenv("PII_HASH_KEY", "too-short")
    with pytest.raises(ProductionConfigError, match="too short"):
        cli_main(["run"])
    with pytest.raises(ProductionConfigError, match="too short"):
        sandbox_main(["run", "--scale", "10"])
    with pytest.raises(ProductionConfigError, match="too short"):
        report_main(["--region", "65", "--month", "2025-11", "--out", str(tmp_path), "--no-pdf"])
    assert not list(tmp_path.iterdir())


# --- Superset ---------------------------------------------------------------------------------------------------


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def superset_config():
    """superset/superset_config.py as Superset loads it (it imports nothing of the project's venv)."""
    return _load(paths.REPO_ROOT / "superset" / "superset_config.py", "superset_config_under_test")


def manage():
    return _load(paths.REPO_ROOT / "superset" / "manage.py", "superset_manage_under_test")


def test_superset_refuses_a_public_secret_key_in_production(production):
    assert superset_config().SECRET_KEY == STRONG["SUPERSET_SECRET_KEY"]
    for public in (
        settings.DEV_DEFAULTS["SUPERSET_SECRET_KEY"],
        "cur-local-superset-only-on-loopback",
        "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET",
    ):
        production.setenv("SUPERSET_SECRET_KEY", public)
        # the config's own copy of lib/settings.py raises its own ProductionConfigError class
        with pytest.raises(RuntimeError, match="SUPERSET_SECRET_KEY is a publicly known default"):
            superset_config()


def test_superset_config_in_development(development, tmp_path):
    config = superset_config()
    assert config.SECRET_KEY == settings.DEV_DEFAULTS["SUPERSET_SECRET_KEY"]
    assert config.FEATURE_FLAGS["RLS_IN_SQLLAB"] is True
    assert config.PUBLIC_ROLE_LIKE is None
    key_file = tmp_path / "superset_key"
    key_file.write_text(STRONG["SUPERSET_SECRET_KEY"], encoding="utf-8")
    development.setenv("SUPERSET_SECRET_KEY_FILE", str(key_file))
    assert superset_config().SECRET_KEY == STRONG["SUPERSET_SECRET_KEY"]


def test_superset_binds_to_loopback_outside_production(development, capsys):
    script = manage()
    assert script.bind_problem("127.0.0.1") is None and script.bind_problem("localhost") is None
    assert "not a loopback address" in script.bind_problem("0.0.0.0")
    assert script.main(["up", "--host", "0.0.0.0"]) == 2  # refused before anything is installed or started
    assert "not a loopback address" in capsys.readouterr().out


def test_superset_deploy_refuses_to_start_in_production_without_its_secrets(production):
    production.delenv("SUPERSET_ADMIN_PASSWORD")
    with pytest.raises(ProductionConfigError, match="SUPERSET_ADMIN_PASSWORD is not set"):
        manage().main(["up", "--host", "0.0.0.0"])


def test_superset_gets_no_pipeline_secret_and_the_admin_password_no_command_line(production, monkeypatch, tmp_path):
    script = manage()
    monkeypatch.setenv("SERVING_POSTGRES_URL", "postgresql://cur:secret@db/cur")
    env = script.superset_env(tmp_path)
    assert "PII_HASH_KEY" not in env and "SERVING_POSTGRES_URL" not in env and "SUPERSET_ADMIN_PASSWORD" not in env
    assert env["SUPERSET_SECRET_KEY"] == STRONG["SUPERSET_SECRET_KEY"]
    calls = []

    class Completed:
        returncode, stdout, stderr = 0, "", b""

    def run(command, **kwargs):
        calls.append((command, kwargs.get("env") or {}))
        return Completed()

    monkeypatch.setattr(script.subprocess, "run", run)
    admin = script.admin_login()
    script.init_metadata(env, admin)
    script.take_screenshots("http://127.0.0.1:1", admin, tmp_path)
    password = STRONG["SUPERSET_ADMIN_PASSWORD"]
    assert all(password not in " ".join(map(str, command)) for command, _ in calls)
    assert [
        env.get("SUPERSET_ADMIN_PASSWORD")
        for command, env in calls
        if "admin_user.py" in " ".join(command) or "screenshot.mjs" in command
    ] == [password, password]


@pytest.mark.parametrize(
    "name, reader",
    [("CUR_DATA_DIR", paths.data_dir), ("WAREHOUSE_PATH", paths.warehouse_path), ("DAGSTER_HOME", paths.dagster_home)],
)
def test_relative_data_paths_are_refused(monkeypatch, tmp_path, name, reader):
    """dbt reads CUR_DATA_DIR and WAREHOUSE_PATH from another folder: a relative value would be another file there."""
    monkeypatch.setenv(name, "data/x")
    with pytest.raises(ValueError, match=f"{name}='data/x' is a relative path"):
        reader()
    monkeypatch.setenv(name, str(tmp_path))
    assert reader() == tmp_path.resolve()
