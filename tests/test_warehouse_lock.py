"""The warehouse lock (lib/warehouse.py): two overlapping writers — the second waits and then succeeds; with a short
timeout it fails naming the holder (pid, run, purpose, since); a killed holder releases it; one process shares it."""

import os
import subprocess
import sys
import time

import duckdb
import pytest

from dagster_project.lib import warehouse

HOLDER = """
import sys, time
from dagster_project.lib import warehouse
with warehouse.lock("test holder", run_id="run-holder-1"), warehouse.connect() as con:
    con.execute("create table if not exists main.writes (writer varchar)")
    con.execute("insert into main.writes values ('holder')")
    print("locked", flush=True)
    time.sleep(float(sys.argv[1]))
"""


@pytest.fixture
def warehouse_path(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("CUR_WAREHOUSE_LOCK_TIMEOUT_S", raising=False)
    return tmp_path / "warehouse.duckdb"


def hold(seconds: float) -> subprocess.Popen:
    """Another process that takes the lock, writes, says so and keeps the lock for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(seconds)], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def write(writer: str) -> None:
    with warehouse.connect() as con:
        con.execute("insert into main.writes values (?)", [writer])


def writes(path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [writer for (writer,) in con.execute("select writer from main.writes").fetchall()]


def test_a_second_writer_waits_for_the_first_and_then_writes(warehouse_path):
    holder = hold(2.0)
    started = time.monotonic()
    write("second")
    waited = time.monotonic() - started
    assert holder.wait(timeout=10) == 0
    assert 1.5 <= waited < 30  # the holder kept the lock for 2 s after saying it had it
    assert writes(warehouse_path) == ["holder", "second"]


def test_with_a_short_timeout_the_error_names_the_holder(warehouse_path, monkeypatch):
    monkeypatch.setenv("CUR_WAREHOUSE_LOCK_TIMEOUT_S", "0.5")
    holder = hold(60)
    try:
        started = time.monotonic()
        with pytest.raises(warehouse.WarehouseLocked) as error:
            write("second")
        assert 0.5 <= time.monotonic() - started < 5
        message = str(error.value)
        assert f"pid {holder.pid}" in message
        assert "Dagster run run-holder-1" in message and "test holder" in message
        assert "since 20" in message and "waited 0.5 s" in message and "CUR_WAREHOUSE_LOCK_TIMEOUT_S" in message
    finally:
        holder.kill()
        holder.wait()
    assert writes(warehouse_path) == ["holder"]


def test_a_killed_holder_releases_the_lock(warehouse_path):
    holder = hold(60)
    holder.kill()  # SIGKILL: no cleanup runs, the kernel drops the lock with the process
    holder.wait()
    started = time.monotonic()
    write("after the kill")
    assert time.monotonic() - started < 2
    assert writes(warehouse_path) == ["holder", "after the kill"]


def test_one_process_shares_its_lock(warehouse_path, monkeypatch):
    monkeypatch.setenv("CUR_WAREHOUSE_LOCK_TIMEOUT_S", "0.5")
    with warehouse.lock("outer step", run_id="run-2"):
        with warehouse.connect() as con:  # nested in the same process: no waiting for itself
            con.execute("create table main.writes as select 'nested' as writer")
        assert warehouse.lock_holder()["purpose"] == "outer step"
        assert warehouse.lock_holder()["pid"] == os.getpid()
    write("after")  # released: taken again at once
    assert writes(warehouse_path) == ["nested", "after"]


def test_the_timeout_setting_is_checked(monkeypatch):
    from dagster_project.lib import settings

    monkeypatch.setenv("CUR_WAREHOUSE_LOCK_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="CUR_WAREHOUSE_LOCK_TIMEOUT_S"):
        settings.warehouse_lock_timeout_s()
    monkeypatch.setenv("CUR_WAREHOUSE_LOCK_TIMEOUT_S", "0")
    with pytest.raises(ValueError, match="positive"):
        settings.warehouse_lock_timeout_s()
    monkeypatch.delenv("CUR_WAREHOUSE_LOCK_TIMEOUT_S")
    assert settings.warehouse_lock_timeout_s() == 120


def test_a_lock_names_its_warehouse_and_one_process_holds_one(warehouse_path, tmp_path):
    """The warehouse resource locks the file it points at: the lock file sits beside that warehouse, and asking for
    another warehouse's lock while this one is held is a wiring error, not a second lock silently shared."""
    other = tmp_path / "other" / "warehouse.duckdb"
    with warehouse.lock("resource's warehouse", warehouse=other):
        assert warehouse.lock_holder(other)["purpose"] == "resource's warehouse"
        assert warehouse.lock_holder() is None  # the settings' warehouse was never locked
        with pytest.raises(RuntimeError, match="is held in this process"), warehouse.lock():
            pass
    with warehouse.lock("after"):  # released: the settings' warehouse is locked at once
        assert warehouse.lock_holder(warehouse_path)["purpose"] == "after"
