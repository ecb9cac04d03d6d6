"""The monthly report to the Governor (seed 001 §3): one self-contained HTML file per region and month.

Built from the `governor_monthly_summary` mart of the serving layer (a view of the catalog data/serving/marts.duckdb
over the mart's Parquet file): the headline numbers with their change against the previous month, twelve months of
history as inline SVG charts, the top problems and the lowest-rated agencies. A PDF is printed beside it by headless
Chromium when it is installed.

    python -m dagster_project.reports --region 65 --month 2025-11 --out data/reports/
"""

import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
from jinja2 import Environment, FileSystemLoader, select_autoescape

from dagster_project.lib import paths
from dagster_project.reports.svg import bar_chart, line_chart

MONTHS_RU = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь")
TEMPLATES_DIR = Path(__file__).parent / "templates"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# (label, value column, change column, kind): kind decides the formatting and which direction is good.
HEADLINES = (
    ("Поступило обращений и сообщений", "received", "received_change", "count"),
    ("Доля обращений с ответом", "answered_share", "answered_share_change", "share_up"),
    ("Доля ответов в срок", "on_time_share", "on_time_share_change", "share_up"),
    ("Удовлетворённость ответами (оценки 4–5)", "satisfaction_share", "satisfaction_share_change", "share_up"),
    ("Доля повторных обращений", "repeat_share", "repeat_share_change", "share_down"),
    ("Просроченные без ответа", "overdue_open", "overdue_open_change", "count_down"),
    ("Медианное время ответа, ч", "median_response_hours", "median_response_hours_change", "hours_down"),
)


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path | None


def month_label(month: date) -> str:
    return f"{MONTHS_RU[month.month - 1]} {month.year}"


def _format(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind.startswith("share"):
        return f"{value * 100:.1f} %".replace(".", ",")
    if kind.startswith(("hours", "decimal")):
        return f"{value:.1f}".replace(".", ",")
    return f"{value:,.0f}".replace(",", "\u202f")


def _format_change(value, kind: str) -> tuple[str, str]:
    """The change as text (shares in percentage points) and a CSS class: good, bad or flat."""
    if value is None:
        return "—", "flat"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    magnitude = abs(value)
    if kind.startswith("share"):
        text = f"{sign}{magnitude * 100:.1f} п.п.".replace(".", ",", 1)
    elif kind.startswith("hours"):
        text = f"{sign}{magnitude:.1f} ч".replace(".", ",")
    else:
        text = f"{sign}{magnitude:,.0f}".replace(",", "\u202f")
    if value == 0 or kind == "count":
        return text, "flat"
    better = value > 0 if kind.endswith("_up") else value < 0
    return text, "good" if better else "bad"


def load_summary(serving_path: Path, region_code: str, month: date) -> tuple[dict, list[dict]]:
    """The report month's row and up to twelve months of history ending with it."""
    with duckdb.connect(str(serving_path), read_only=True) as con:
        cursor = con.execute(
            """select * from main.governor_monthly_summary
               where region_code = ? and month_start <= ? and month_start > ? - interval 12 month
               order by month_start""",
            [region_code, month, month],
        )
        names = [column[0] for column in cursor.description]
        history = [dict(zip(names, row)) for row in cursor.fetchall()]
    if not history or history[-1]["month_start"] != month:
        raise LookupError(f"governor_monthly_summary has no row for region {region_code}, month {month:%Y-%m}")
    return history[-1], history


def render_html(current: dict, history: list[dict]) -> str:
    labels = [f"{row['month_start']:%m.%y}" for row in history]
    charts = [
        bar_chart("Поступление обращений по месяцам", labels, [row["received"] for row in history]),
        line_chart("Сроки и качество ответов", labels, {
            "Доля ответов в срок": [row["on_time_share"] for row in history],
            "Удовлетворённость": [row["satisfaction_share"] for row in history],
            "Доля повторных": [row["repeat_share"] for row in history],
        }),
    ]
    headlines = []
    for label, column, change_column, kind in HEADLINES:
        change, change_class = _format_change(current[change_column], kind)
        headlines.append({"label": label, "value": _format(current[column], kind), "change": change, "change_class": change_class})
    problems = [
        {"name": current[f"top_problem_{n}"], "sector": current[f"top_problem_{n}_sector"],
         "appeals": _format(current[f"top_problem_{n}_appeals"], "count")}
        for n in (1, 2, 3) if current[f"top_problem_{n}"]
    ]
    agencies = [
        {"name": current[f"lowest_agency_{n}"], "kind": current[f"lowest_agency_{n}_kind"],
         "score": _format(current[f"lowest_agency_{n}_score"], "decimal")}
        for n in (1, 2, 3) if current[f"lowest_agency_{n}"]
    ]
    environment = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape())
    return environment.get_template("governor_monthly.html").render(
        region_name=current["region_name"] or current["region_code"],
        region_code=current["region_code"],
        month=month_label(current["month_start"]),
        is_partial_month=current["is_partial_month"],
        headlines=headlines,
        charts=charts,
        problems=problems,
        hottest={"municipality": current["hottest_municipality"], "sector": current["hottest_sector"],
                 "intensity": _format(current["hottest_intensity_index"], "decimal")} if current["hottest_municipality"] else None,
        agencies=agencies,
    )


def find_chromium() -> str | None:
    return next((found for name in CHROMIUM_CANDIDATES if (found := shutil.which(name))), None)


def print_pdf(html_path: Path, pdf_path: Path, chromium: str) -> None:
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )


def build_monthly_report(region_code: str, month: date, out_dir: Path, serving_path: Path | None = None,
                         pdf: bool = True) -> ReportFiles:
    """Write `governor_<region>_<YYYY-MM>.html` (and `.pdf` when Chromium is available) into `out_dir`."""
    current, history = load_summary(serving_path or paths.serving_path(), region_code, month)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"governor_{region_code}_{month:%Y-%m}.html"
    html_path.write_text(render_html(current, history), encoding="utf-8")
    chromium = find_chromium() if pdf else None
    pdf_path = None
    if chromium:
        pdf_path = html_path.with_suffix(".pdf")
        print_pdf(html_path, pdf_path, chromium)
    return ReportFiles(html_path, pdf_path)
