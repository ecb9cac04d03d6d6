"""Retention of raw exports (N days after processing, then deleted and logged) and private file modes."""

import os
import stat
import time

import pytest
from dagster import DagsterInstance, materialize

from dagster_project.defs.privacy.assets import raw_export_retention
from dagster_project.defs.privacy.schedules import RETENTION_SCHEDULE
from dagster_project.lib import paths, retention

DAY = 86_400


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CUR_INBOX_DIR", raising=False)
    monkeypatch.delenv("CUR_RAW_EXPORT_RETENTION_DAYS", raising=False)
    return tmp_path / "data"


def _export(path, age_days: float) -> os.PathLike:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("Рег. номер;Заявитель\nОГ-1;Иванов Иван Иванович\n", encoding="utf-8")
    then = time.time() - age_days * DAY
    os.utime(path, (then, then))
    return path


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_old_exports_are_deleted_and_logged_new_and_pending_ones_kept(data, monkeypatch):
    inbox = paths.inbox_dir("")
    old = _export(inbox / "sed" / "processed" / "sed_64_20250101.csv", 31)
    old_reason = _export(inbox / "portal" / "rejected" / "portal_64_20250101.csv.reason.txt", 45)
    old_rejected = _export(inbox / "portal" / "rejected" / "portal_64_20250101.csv", 45)
    new = _export(inbox / "sed" / "processed" / "sed_64_20250201.csv", 29)
    pending = _export(inbox / "sed" / "sed_64_20240101.csv", 400)  # not processed yet: never the retention's
    elsewhere = _export(data / "lake" / "raw" / "sed_appeals" / "old.parquet", 400)
    instance = DagsterInstance.ephemeral()
    result = materialize([raw_export_retention], instance=instance)
    assert result.success
    assert not old.exists() and not old_rejected.exists() and not old_reason.exists()
    assert new.exists() and pending.exists() and elsewhere.exists()
    (materialization,) = result.asset_materializations_for_node("privacy__raw_export_retention")
    assert materialization.metadata["removed"].value == 3
    assert sorted(materialization.metadata["removed_files"].value) == [
        "portal/rejected/portal_64_20250101.csv",
        "portal/rejected/portal_64_20250101.csv.reason.txt",
        "sed/processed/sed_64_20250101.csv",
    ]
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("retention: removed sed/processed/sed_64_20250101.csv (31.0 days" in m for m in logged)
    assert "retention: 3 raw exports older than 30 days removed" in logged


def test_the_retention_period_is_configurable(data, monkeypatch):
    monkeypatch.setenv("CUR_RAW_EXPORT_RETENTION_DAYS", "7")
    export = _export(paths.inbox_dir("sed") / "processed" / "sed_64_20250101.csv", 8)
    assert [e.path for e in retention.expired_exports(paths.inbox_dir(""), 7)] == [export]
    assert retention.expired_exports(paths.inbox_dir(""), 30) == []
    monkeypatch.setenv("CUR_RAW_EXPORT_RETENTION_DAYS", "0")
    with pytest.raises(Exception, match="at least 1"):
        materialize([raw_export_retention], instance=DagsterInstance.ephemeral())


def test_the_retention_runs_every_night_without_an_operator():
    assert RETENTION_SCHEDULE.cron_schedule == "30 3 * * *"
    assert RETENTION_SCHEDULE.default_status.value == "RUNNING"


def test_archiving_starts_the_clock_and_makes_the_export_private(data):
    export = _export(paths.inbox_dir("sed") / "processed" / "sed_64_20250101.csv", 400)  # an old file, just moved
    os.chmod(export, 0o644)
    retention.archive(export)
    assert _mode(export) == 0o600
    assert retention.expired_exports(paths.inbox_dir(""), 30) == []


def test_folders_made_before_the_rules_are_closed(data):
    folders = [paths.inbox_dir("sed") / "processed", data / "lake" / "raw", data / "serving", data / "reports"]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o755)
    os.chmod(data, 0o755)
    result = materialize([raw_export_retention], instance=DagsterInstance.ephemeral())
    (materialization,) = result.asset_materializations_for_node("privacy__raw_export_retention")
    assert str(data) in materialization.metadata["tightened"].value
    assert _mode(data) == 0o700
    assert all(_mode(folder) & 0o077 == 0 for folder in folders if folder.parent != data / "lake")


def test_an_entry_point_umask_makes_every_new_file_and_folder_private(tmp_path):
    previous = os.umask(0o022)
    try:
        retention.restrict_new_files()
        (tmp_path / "folder").mkdir()
        (tmp_path / "folder" / "file").write_text("x")
        assert _mode(tmp_path / "folder") == 0o700 and _mode(tmp_path / "folder" / "file") == 0o600
    finally:
        os.umask(previous)
