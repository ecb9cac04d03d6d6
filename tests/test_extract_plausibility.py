"""Unit tier of issue 15's extraction rules: the plausibility window of timestamps (settings and conform), formula
neutralising, odd inbox entries. The whole bad-input corpus runs through the pipeline in tests/test_bad_inputs.py."""

import os
from datetime import datetime

import pyarrow as pa
import pytest

from dagster_project.defs.extract import conform, wire
from dagster_project.defs.extract.files import odd_entries
from dagster_project.defs.extract.specs import POS_MESSAGES
from dagster_project.lib import settings

KEY = b"test-key"
LOAD_TIME = datetime(2025, 6, 1, 12, 0)


def pos_record(created: str, event_at: str | None = None) -> dict:
    return {
        "id": "POS-64-1",
        "regionCode": "64",
        "oktmo": "63701000",
        "opaId": "64-OMSU-63701000",
        "is59FZ": False,
        "categoryCode": "roads.01",
        "text": "Яма",
        "createdAt": created,
        "status": "registered",
        "updatedAt": created,
        "author": {"name": "Сидоров Пётр"},
        "statusHistory": [{"status": "registered", "at": event_at or created, "opaId": "64-OMSU-63701000"}],
    }


def reasons(records: list[dict], window=None) -> list[str]:
    batch = wire.api_records(POS_MESSAGES, records)
    converter = conform.Converter(KEY, window or settings.timestamp_window(LOAD_TIME))
    return [reason for _, reason in converter.conform(POS_MESSAGES, batch.table).invalid]


def test_the_window_defaults_to_2000_and_a_day_after_the_load(monkeypatch):
    monkeypatch.delenv("CUR_EARLIEST_TIMESTAMP", raising=False)
    monkeypatch.delenv("CUR_LATEST_TIMESTAMP_AHEAD_HOURS", raising=False)
    assert settings.timestamp_window(LOAD_TIME) == (datetime(2000, 1, 1), datetime(2025, 6, 2, 12, 0))
    monkeypatch.setenv("CUR_EARLIEST_TIMESTAMP", "1995-03-01")
    monkeypatch.setenv("CUR_LATEST_TIMESTAMP_AHEAD_HOURS", "2")
    assert settings.timestamp_window(LOAD_TIME) == (datetime(1995, 3, 1), datetime(2025, 6, 1, 14, 0))
    for name, value in (("CUR_EARLIEST_TIMESTAMP", "вчера"), ("CUR_LATEST_TIMESTAMP_AHEAD_HOURS", "-1")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=name):
            settings.timestamp_window(LOAD_TIME)
        monkeypatch.delenv(name)


def test_timestamps_outside_the_window_are_quarantined_in_records_and_histories():
    assert reasons([pos_record("2025-06-02T11:59:59Z")]) == []  # within a day after the load
    assert reasons([pos_record("2025-06-02T12:00:01Z")]) == [
        "created_at: 2025-06-02T12:00:01Z is later than 2025-06-02 12:00 UTC, the load time plus "
        "CUR_LATEST_TIMESTAMP_AHEAD_HOURS"
    ]
    assert reasons([pos_record("1900-01-01T00:00:00Z")]) == [
        "created_at: 1900-01-01T00:00:00Z is before 2000-01-01, the earliest plausible date (CUR_EARLIEST_TIMESTAMP)"
    ]
    assert reasons([pos_record("2025-01-01T00:00:00Z", event_at="2031-01-01T00:00:00Z")]) == [
        "event_at: 2031-01-01T00:00:00Z is later than 2025-06-02 12:00 UTC, the load time plus "
        "CUR_LATEST_TIMESTAMP_AHEAD_HOURS"
    ]
    # a wider window lets 1995 in
    assert reasons([pos_record("1995-05-01T00:00:00Z")], (datetime(1990, 1, 1), datetime(2026, 1, 1))) == []


def test_texts_a_spreadsheet_would_run_are_neutralised():
    table = pa.table(
        {
            "text": ['=HYPERLINK("x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\tx", "Яма", None, "a=b"],
            "_extra": ["=not landed text"] * 8,
        }
    )
    safe = conform.formula_safe(table)
    assert safe["text"].to_pylist() == [
        '\'=HYPERLINK("x")',
        "'+cmd|' /C calc'!A0",
        "'-2+3",
        "'@SUM(1)",
        "'\tx",
        "Яма",
        None,
        "a=b",
    ]
    assert safe["_extra"].to_pylist() == table["_extra"].to_pylist()


def test_odd_inbox_entries_are_named(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "processed").mkdir()
    (inbox / "portal_64_20250101.csv").write_text("Номер\n")
    (inbox / "portal_64_20250102.csv.part").write_text("")  # a copy in progress: waits
    (inbox / ".fresh").write_text("")  # a young hidden file: may be rsync's temporary copy
    old_hidden = inbox / ".DS_Store"
    old_hidden.write_text("")
    os.utime(old_hidden, (0, 0))
    os.symlink(tmp_path / "elsewhere.csv", inbox / "portal_64_20250103.csv")
    os.mkfifo(inbox / "portal_64_20250104.csv")
    found = {path.name: reason for path, reason in odd_entries(inbox)}
    assert set(found) == {".DS_Store", "portal_64_20250103.csv", "portal_64_20250104.csv"}
    assert found[".DS_Store"].startswith("a hidden file")
    assert found["portal_64_20250103.csv"].startswith(f"a symbolic link (to '{tmp_path / 'elsewhere.csv'}')")
    assert found["portal_64_20250104.csv"] == "not a regular file (a named pipe): not an export"
