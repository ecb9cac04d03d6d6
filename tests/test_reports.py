"""The monthly report to the Governor: every section present, its numbers equal to the marts', PDF with chromium."""

import html as html_lib
import re
from datetime import date

import duckdb
import pytest
from bi_serving_fixture import publish_serving_fixture

from dagster_project.reports import build_monthly_report, find_chromium, number
from dagster_project.reports.__main__ import main as reports_cli

SECTIONS = {
    "summary": "Краткие выводы",
    "headlines": "Основные показатели",
    "regions": "Сравнение с другими регионами",
    "sectors": "Показатели по отраслям",
    "municipalities": "Муниципальные образования",
    "agencies": "Отстающие органы власти",
    "indicators": "Целевые показатели",
    "recommendations": "Рекомендации",
    "history": "Динамика за 12 месяцев",
}


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    return publish_serving_fixture(tmp_path_factory.mktemp("serving"))  # the catalog, as publish writes it


@pytest.fixture(scope="module")
def report(serving, tmp_path_factory):
    files = build_monthly_report("65", date(2025, 10, 1), tmp_path_factory.mktemp("report"), serving, pdf=False)
    page = files.html.read_text(encoding="utf-8")
    return files, page, {name: _section(page, name) for name in SECTIONS}


def _section(page: str, name: str) -> str:
    """The visible text of one section (tags dropped, entities decoded, spaces collapsed)."""
    match = re.search(rf'<section id="{name}"[^>]*>(.*?)</section>', page, re.S)
    assert match, f"section {name} is missing"
    text = re.sub(r"<svg.*?</svg>", " ", match.group(1), flags=re.S)
    return re.sub(r"[ \t\r\n]+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", text)))  # keeps no-break spaces


def _rows(serving, sql: str, params=()) -> list[dict]:
    with duckdb.connect(str(serving), read_only=True) as con:
        cursor = con.execute(sql, list(params))
        return [dict(zip([column[0] for column in cursor.description], row)) for row in cursor.fetchall()]


def _ru(value, decimals=1, percent=False) -> str:
    """Russian notation computed here, independently of the report's own formatter."""
    if percent:
        return f"{value * 100:.{decimals}f}\u00a0%".replace(".", ",")
    if decimals == 0:
        return f"{value:,.0f}".replace(",", "\u00a0")
    return f"{value:.{decimals}f}".replace(".", ",")


def test_every_section_is_there_with_its_title(report):
    files, page, sections = report
    assert files.html.name == "governor_65_2025-10.html" and files.pdf is None
    for name, title in SECTIONS.items():
        assert title in sections[name], name
    # the header: region, month, data cut-off and preparation dates (ДД.ММ.ГГГГ); October is complete
    assert "Сахалинская область · октябрь 2025" in page
    assert "Данные по состоянию на 28.11.2025" in page and re.search(r"Отчёт подготовлен \d\d\.\d\d\.\d{4}", page)
    assert "Месяц ещё не завершён" not in page
    # no table names, no docs paths, no hours: what a Governor's office reads
    text = " ".join(sections.values())
    assert not re.search(r"governor_monthly_summary|_monthly|\.md\b|docs/|час", text + page.split("<footer>")[1])
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from outside


def test_headlines_match_the_summary_mart(serving, report):
    _, _, sections = report
    [row] = _rows(
        serving, "select * from governor_monthly_summary where region_code = '65' and month_start = '2025-10-01'"
    )
    [previous] = _rows(
        serving, "select * from governor_monthly_summary where region_code = '65' and month_start = '2025-09-01'"
    )
    [other] = _rows(
        serving, "select * from governor_monthly_summary where region_code = '37' and month_start = '2025-10-01'"
    )
    headlines = sections["headlines"]
    assert (
        f"Поступило обращений и сообщений {_ru(row['received'], 0)} +{_ru(row['received'] - previous['received'], 0)}"
        in headlines
    )
    on_time_change = (row["on_time_share"] - previous["on_time_share"]) * 100
    sign = "+" if on_time_change > 0 else "−"
    assert (
        f"Доля ответов в срок {_ru(row['on_time_share'], percent=True)} {sign}{_ru(abs(on_time_change))} п.\u00a0п."
        in headlines
    )
    # the other regions' mean (one other region in the fixture) and the median time in days, not hours
    assert f"{_ru(other['overdue_open'], 0)}" in headlines.split("Просроченные без ответа")[1]
    assert f"Медианное время ответа, дней {_ru(row['median_response_hours'] / 24)}" in headlines
    # no row a year earlier in the fixture: shown as a dash, not as zero
    assert "— " in headlines


def test_summary_sentences_follow_the_rules(serving, report):
    _, _, sections = report
    summary = sections["summary"]
    [row] = _rows(
        serving, "select * from governor_monthly_summary where region_code = '65' and month_start = '2025-10-01'"
    )
    [previous] = _rows(
        serving, "select received from governor_monthly_summary where region_code = '65' and month_start = '2025-09-01'"
    )
    growth = row["received"] / previous["received"] - 1
    word = "больше" if growth > 0 else "меньше"
    assert (
        f"В октябре 2025 г. поступило {_ru(row['received'], 0)} обращений и сообщений — на "
        f"{_ru(abs(growth), percent=True)} {word}, чем в предыдущем месяце."
    ) in summary
    regions = _rows(
        serving,
        "select region_code from governor_monthly_summary where month_start = '2025-10-01' order by on_time_share desc",
    )
    place = [r["region_code"] for r in regions].index("65") + 1
    assert f"это {place}-е место из {len(regions)} регионов ЦУР." in summary
    assert f"Без ответа с истёкшим сроком остаются {_ru(row['overdue_open'], 0)} обращений." in summary
    assert f"«{row['top_problem_1']}»" in summary


def test_regions_sectors_and_municipalities_match_the_marts(serving, report):
    _, _, sections = report
    for region in _rows(serving, "select * from governor_monthly_summary where month_start = '2025-10-01'"):
        assert (
            f"{region['region_name']} {_ru(region['received'], 0)} {_ru(region['on_time_share'], percent=True)}"
            in sections["regions"]
        )
    for sector in _rows(
        serving, "select * from sector_kpis_monthly where region_code = '65' and month_start = '2025-10-01'"
    ):
        assert (
            f"{sector['sector_name']} {_ru(sector['received'], 0)} {_ru(sector['answered'], 0)}" in sections["sectors"]
        )
    cells = _rows(
        serving,
        """select municipality_name, sum(appeals) as appeals, max(population) as population,
            list(sector_name order by intensity_index desc) filter (where is_hot) as hot
        from problem_heat_map where region_code = '65' and month_start = '2025-10-01' group by all""",
    )
    for cell in cells:
        per_10k = 10000 * cell["appeals"] / cell["population"]
        hot = ", ".join(cell["hot"]) if cell["hot"] else "нет"
        assert (
            f"{cell['municipality_name']} {_ru(cell['appeals'], 0)} {_ru(per_10k)} {hot}" in sections["municipalities"]
        )


def test_lagging_agencies_with_their_reason(serving, report):
    _, _, sections = report
    agencies = _rows(
        serving,
        """select * from agency_rating_monthly where region_code = '65' and month_start = '2025-10-01'
        and is_ranked order by score""",
    )
    lowest = agencies[0]
    scores = {
        "quantity_score": "доля обращений с ответом",
        "speed_score": "доля ответов в срок",
        "quality_score": "доля оценок 4–5",
        "completeness_score": "доля ответов без доработки и повторов",
    }
    weakest = min((name for name in scores if lowest[name] is not None), key=lambda name: lowest[name])
    row_text = sections["agencies"].split(lowest["agency_name_in_month"], 1)[1]
    assert row_text.startswith(
        f" {lowest['agency_kind']} {_ru(lowest['score'])} {lowest['rating_rank']} из {lowest['ranked_agencies']}"
    )
    assert f"{scores[weakest]} {_ru(lowest[weakest], percent=True)}" in row_text
    if lowest["open_overdue"]:
        assert f"без ответа с истёкшим сроком {_ru(lowest['open_overdue'], 0)}" in row_text
    # the recommendation names the agency and what to fix
    assert lowest["agency_name_in_month"] in sections["recommendations"]


def test_indicators_and_recommendations_by_the_rules(serving, report):
    _, _, sections = report
    indicators = _rows(serving, "select * from indicator_tracking where region_code = '65' and year = 2025")
    assert indicators
    for indicator in indicators:
        assert f"{indicator['indicator_name']} {indicator['indicator_kind_ru']}" in sections["indicators"]
        assert indicator["status_ru"] in sections["indicators"]
    risky = [row for row in indicators if row["status"] in ("at_risk", "failed")]
    for indicator in risky:
        assert f"Показатель «{indicator['indicator_name']}» ({indicator['status_ru']})" in sections["recommendations"]
    hot = _rows(
        serving,
        """select municipality_name, sector_name from problem_heat_map where region_code = '65'
        and month_start = '2025-10-01' and is_hot""",
    )
    for cell in hot[:3]:
        assert (
            f"{cell['municipality_name']}, отрасль «{cell['sector_name']}»: провести выездной разбор"
            in sections["recommendations"]
        )
    [overdue] = _rows(
        serving, "select count(*) filter (where is_overdue) as n from roadmap_status where region_code = '65'"
    )
    assert (f"просрочено мероприятий — {overdue['n']}" in sections["recommendations"]) == bool(overdue["n"])


def test_number_formats():
    assert number(299514) == "299\u00a0514"
    assert number(0.6234, "share") == "62,3\u00a0%"
    assert number(None) == "—"


def test_partial_month_is_marked(serving, tmp_path):
    page = build_monthly_report("65", date(2025, 11, 1), tmp_path, serving, pdf=False).html.read_text(encoding="utf-8")
    assert "Месяц ещё не завершён" in page


@pytest.mark.integration  # starts a real headless Chromium for the PDF: 25 s, a quarter of the unit tier
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
    assert (
        reports_cli(
            ["--region", "65", "--month", "2020-01", "--out", str(tmp_path), "--serving", str(serving), "--no-pdf"]
        )
        == 1
    )
    assert not list(tmp_path.iterdir())


@pytest.mark.integration  # a Dagster run
def test_the_report_asset_writes_one_region_and_month(serving, tmp_path, monkeypatch):
    from dagster import MultiPartitionKey, materialize

    from dagster_project.defs.reports.assets import governor_monthly_report
    from dagster_project.defs.resources import platform_resources

    monkeypatch.setenv("SERVING_PATH", str(serving))
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    key = MultiPartitionKey({"month": "2025-10-01", "region": "37"})
    result = materialize([governor_monthly_report], partition_key=key, resources=platform_resources())
    html = tmp_path / "reports" / "37" / "governor_37_2025-10.html"
    assert result.success and html.exists()
    expected = build_monthly_report("37", date(2025, 10, 1), tmp_path / "by_hand", serving, pdf=False)
    assert html.read_text(encoding="utf-8") == expected.html.read_text(encoding="utf-8")
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["html"].value == str(html) and metadata["bytes"].value == html.stat().st_size
    # A month with no data (before the fixture's first month) fails instead of writing an empty report.
    missing = materialize(
        [governor_monthly_report],
        partition_key=MultiPartitionKey({"month": "2024-01-01", "region": "37"}),
        resources=platform_resources(),
        raise_on_error=False,
    )
    assert not missing.success


def test_without_a_month_the_last_complete_month_is_reported(serving, tmp_path):
    """The fixture's November is in progress: the default is October."""
    assert reports_cli(["--region", "65", "--out", str(tmp_path), "--serving", str(serving), "--no-pdf"]) == 0
    assert [path.name for path in tmp_path.iterdir()] == ["governor_65_2025-10.html"]
