"""The monthly report to the Governor: numbers from governor_monthly_summary, inline charts, PDF with chromium."""

import re
from datetime import date

import duckdb
import pytest
from bi_serving_fixture import publish_serving_fixture

from dagster_project.reports import build_monthly_report, find_chromium
from dagster_project.reports.__main__ import main as reports_cli


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    return publish_serving_fixture(tmp_path_factory.mktemp("serving"))  # the catalog, as publish writes it


def _summary(serving, region: str, month: date) -> dict:
    with duckdb.connect(str(serving), read_only=True) as con:
        cursor = con.execute("select * from governor_monthly_summary where region_code = ? and month_start = ?", [region, month])
        return dict(zip([column[0] for column in cursor.description], cursor.fetchone()))


def test_html_report_shows_the_month_and_its_changes(serving, tmp_path):
    files = build_monthly_report("65", date(2025, 11, 1), tmp_path, serving, pdf=False)
    html = files.html.read_text(encoding="utf-8")
    row = _summary(serving, "65", date(2025, 11, 1))
    assert files.html.name == "governor_65_2025-11.html" and files.pdf is None
    assert "Сахалинская область" in html and "ноябрь 2025" in html
    assert "Месяц ещё не завершён" in html  # the fixture's November is the partial as-of month
    received = f"{row['received']:,}".replace(",", "\u202f")
    change = f"{abs(row['received_change']):,}".replace(",", "\u202f")
    assert f">{received}<" in html and change in html
    on_time = f"{row['on_time_share'] * 100:.1f} %".replace(".", ",")
    assert on_time in html
    for column in ("top_problem_1", "lowest_agency_1", "lowest_agency_2", "lowest_agency_3", "hottest_municipality"):
        assert row[column] in html
    # Two inline SVG charts; the bar chart has a bar per month of history (three in the fixture).
    assert html.count("<svg") == 2 and html.count("<rect x=") - html.count('width="12" height="12"') == 3
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)


def test_cli_writes_html_and_pdf_when_chromium_is_there(serving, tmp_path, capsys):
    assert reports_cli(["--region", "37", "--month", "2025-10", "--out", str(tmp_path), "--serving", str(serving)]) == 0
    html = tmp_path / "governor_37_2025-10.html"
    assert html.exists() and "Ивановская область" in html.read_text(encoding="utf-8")
    if find_chromium():
        pdf = tmp_path / "governor_37_2025-10.pdf"
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    else:
        assert "PDF: skipped" in capsys.readouterr().out


def test_missing_month_is_an_error(serving, tmp_path):
    assert reports_cli(["--region", "65", "--month", "2020-01", "--out", str(tmp_path), "--serving", str(serving), "--no-pdf"]) == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.integration  # a Dagster run
def test_the_report_asset_writes_one_region_and_month(serving, tmp_path, monkeypatch):
    from dagster import MultiPartitionKey, materialize

    from dagster_project.defs.reports.assets import governor_monthly_report

    monkeypatch.setenv("SERVING_PATH", str(serving))
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    key = MultiPartitionKey({"month": "2025-10-01", "region": "37"})
    result = materialize([governor_monthly_report], partition_key=key)
    html = tmp_path / "reports" / "37" / "governor_37_2025-10.html"
    assert result.success and html.exists()
    expected = build_monthly_report("37", date(2025, 10, 1), tmp_path / "by_hand", serving, pdf=False)
    assert html.read_text(encoding="utf-8") == expected.html.read_text(encoding="utf-8")
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["html"].value == str(html) and metadata["bytes"].value == html.stat().st_size
    # A month with no data (before the fixture's first month) fails instead of writing an empty report.
    missing = materialize([governor_monthly_report], partition_key=MultiPartitionKey({"month": "2024-01-01", "region": "37"}),
                          raise_on_error=False)
    assert not missing.success
