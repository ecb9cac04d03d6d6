"""The alert sensors: a failed run and the blocking check that failed it, a source that went quiet, a new spike of
problems (to a real webhook)."""

import json
import os
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    DagsterInstance,
    asset,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

from dagster_project.defs.monitoring.sensors import (
    alert_on_problem_spikes,
    alert_on_run_failure,
    alert_on_stale_sources,
    stale_sources,
)
from dagster_project.defs.resources import platform_resources
from dagster_project.lib import landing, paths
from tests.test_alerts import Receiver


@pytest.fixture
def webhook(tmp_path, monkeypatch):
    receiver = Receiver()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CUR_ALERT_WEBHOOK_URL", f"{receiver.url}/hook")
    for name in ("CUR_ALERT_TELEGRAM_BOT_TOKEN", "CUR_ALERT_SMTP_HOST", "CUR_ALERT_DEDUP_MINUTES", "CUR_STALE_HOURS"):
        monkeypatch.delenv(name, raising=False)
    yield receiver
    receiver.server.shutdown()


@asset(check_specs=[AssetCheckSpec("no_duplicates", asset="appeals", blocking=True)])
def appeals():
    yield AssetCheckResult(
        check_name="no_duplicates",
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        description="3 duplicate appeal ids",
    )


@asset(deps=[appeals])
def rating():
    return None


@pytest.mark.integration  # a (tiny) Dagster run
def test_a_failed_run_alerts_once_with_its_blocking_check(webhook):
    with DagsterInstance.ephemeral() as instance:
        result = materialize([appeals, rating], instance=instance, raise_on_error=False)
        assert not result.success  # the blocking check stopped the run before `rating`
        context = build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        alert_on_run_failure(context)
        alert_on_run_failure(context)  # the next failure of the same job within the window: no second message
    kinds = [(m["kind"], m["key"]) for m in webhook.webhook]
    assert kinds == [
        ("check_failure", "check_failure:appeals:no_duplicates"),
        ("run_failure", f"run_failure:{result.dagster_run.job_name}"),
    ]
    assert "3 duplicate appeal ids" in webhook.webhook[0]["text"]
    assert result.run_id in webhook.webhook[1]["text"]


def _part(table: str, age: timedelta, now: datetime) -> None:
    part = paths.raw_dir(table) / "load_date=2026-01-01" / f"{table}-x.parquet"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"PAR1")
    stamp = (now - age).timestamp()
    os.utime(part, (stamp, stamp))


def test_stale_sources_by_the_age_of_their_newest_part(webhook, monkeypatch):
    now = datetime.now(UTC)
    monkeypatch.setenv("CUR_STALE_HOURS", "6")
    monkeypatch.setenv("CUR_STALE_HOURS_SED_APPEALS", "48")  # a daily export may skip a day
    _part("pos_messages", timedelta(hours=2), now)
    _part("pos_polls", timedelta(hours=7), now)
    _part("incidents", timedelta(hours=5, minutes=50), now)
    _part("sed_appeals", timedelta(hours=30), now)
    empty = paths.raw_dir("portal_appeals") / landing.EMPTY_PART  # the schema placeholder is not data
    empty.parent.mkdir(parents=True)
    empty.write_bytes(b"PAR1")
    assert landing.last_landed_at("portal_appeals") is None
    found = {source: (round(hours, 1), limit) for source, hours, limit in stale_sources(now, now - timedelta(hours=8))}
    assert found == {"pos_polls": (7.0, 6), "portal_appeals": (8.0, 6)}
    # The sensor: a new instance starts watching now, so a source that never landed is not stale yet.
    context = build_sensor_context()
    alert_on_stale_sources(context)
    assert [m["key"] for m in webhook.webhook] == ["stale_source:pos_polls"]
    assert "7.0 ч (допустимо 6 ч)" in webhook.webhook[0]["text"]


def _publish_spikes(rows: list[tuple]) -> None:
    """A serving catalog with the mart problem_spikes (the columns the sensor reads), as `publish` leaves it."""
    catalog = paths.serving_path()
    catalog.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(catalog)) as con:
        con.execute("""create or replace table problem_spikes(spike_id varchar, region_code varchar, oktmo varchar,
            municipality_name varchar, series_kind varchar, sector_code varchar, problem_name varchar,
            onset_at timestamp, detected_at timestamp, peak_appeals bigint, peak_window_hours integer,
            peak_expected_appeals double, appeals bigint, appeals_unanswered bigint, agencies varchar,
            is_open boolean)""")
        con.executemany(
            "insert into problem_spikes values (?, '65', ?, ?, ?, ?, ?, timestamp '2025-12-30 03:00', "
            "timestamp '2025-12-30 05:00', 14, 24, 1.5, 16, 9, 'Администрация', ?)",
            rows,
        )


def test_new_open_spikes_alert_once_and_a_sector_spike_only_when_no_category_spike_explains_it(webhook):
    context = build_sensor_context(instance=DagsterInstance.ephemeral(), resources=platform_resources())
    alert_on_problem_spikes(context)  # nothing published yet
    assert webhook.webhook == []
    _publish_spikes(
        [
            ("heat", "64701000", "г. Южно-Сахалинск", "category", "housing", "Отопление", True),
            ("housing", "64701000", "г. Южно-Сахалинск", "sector", "housing", "ЖКХ", True),  # explained by «heat»
            ("roads", "64701000", "г. Южно-Сахалинск", "sector", "roads", "Дороги", True),
            ("old", "64708000", "Корсаковский ГО", "category", "housing", "Отопление", False),  # closed
        ]
    )
    alert_on_problem_spikes(context)
    alert_on_problem_spikes(context)  # the next tick: the same open spikes, no second message
    assert [m["key"] for m in webhook.webhook] == ["problem_spike:heat", "problem_spike:roads"]
    assert webhook.webhook[0]["title"] == "Всплеск: Отопление — г. Южно-Сахалинск"
    assert "14 обращений за 24 ч при обычных 1.5" in webhook.webhook[0]["text"]
    # «heat» closes, a new spike opens: only the new one is sent, and the cursor forgets the closed one
    _publish_spikes(
        [
            ("heat", "64701000", "г. Южно-Сахалинск", "category", "housing", "Отопление", False),
            ("roads", "64701000", "г. Южно-Сахалинск", "sector", "roads", "Дороги", True),
            ("water", "64708000", "Корсаковский ГО", "category", "housing", "Водоснабжение", True),
        ]
    )
    alert_on_problem_spikes(context)
    assert [m["key"] for m in webhook.webhook][2:] == ["problem_spike:water"]
    assert json.loads(context.cursor) == ["roads", "water"]
