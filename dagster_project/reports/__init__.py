"""The monthly report to the Governor (seed 001 §3): one self-contained HTML file (and PDF) per region and month.

Read from the serving layer (the catalog data/serving/marts.duckdb of views over the marts' Parquet files), so that it
shows the same numbers as the dashboards. Sections (docs/bi_superset.md, «Ежемесячный отчёт Губернатору»):

1. «Краткие выводы» — plain Russian sentences generated from the numbers by the rules of `summary_sentences`;
2. «Основные показатели» — the month, the previous month, the same month a year earlier, the mean of the other regions;
3. «Сравнение с другими регионами»; 4. «Показатели по отраслям»; 5. «Муниципальные образования»;
6. «Отстающие органы власти» — with the reason: the weakest sub-score and the overdue appeals;
7. «Целевые показатели ЦУР» — targets, actuals and status for the report's year;
8. «Рекомендации» — derived by the rules of `recommendations`; 9. twelve months of history as inline SVG charts.

The header carries the data cut-off (the as-of date of the marts) and the preparation date; times are in days.

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

MONTHS_RU = (
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
)
MONTHS_RU_PREPOSITIONAL = (
    "январе",
    "феврале",
    "марте",
    "апреле",
    "мае",
    "июне",
    "июле",
    "августе",
    "сентябре",
    "октябре",
    "ноябре",
    "декабре",
)
LAGGING_AGENCIES = 5
TOP_MUNICIPALITIES = 10
TEMPLATES_DIR = Path(__file__).parent / "templates"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# (label, value column, kind): kind decides the formatting and which direction of change is good.
HEADLINES = (
    ("Поступило обращений и сообщений", "received", "count"),
    ("Доля обращений с ответом", "answered_share", "share_up"),
    ("Доля ответов в срок", "on_time_share", "share_up"),
    ("Удовлетворённость ответами (оценки 4–5)", "satisfaction_share", "share_up"),
    ("Доля повторных обращений", "repeat_share", "share_down"),
    ("Просроченные без ответа", "overdue_open", "count_down"),
    ("Медианное время ответа, дней", "median_response_days", "days_down"),
)
SUB_SCORES = {
    "quantity_score": "доля обращений с ответом",
    "speed_score": "доля ответов в срок",
    "quality_score": "доля оценок 4–5",
    "completeness_score": "доля ответов без доработки и повторов",
}
# Rule thresholds of the summary and the recommendations (documented in docs/bi_superset.md).
NOTABLE_CHANGE_SHARE = 0.05  # the volume changed notably: by 5 % or more
NOTABLE_CHANGE_POINTS = 0.01  # a share changed notably: by 1 percentage point or more
LOW_SUB_SCORE = 0.8  # a lagging agency's sub-score below 80 % is named as the reason


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path | None


def month_label(month: date) -> str:
    return f"{MONTHS_RU[month.month - 1]} {month.year}"


def number(value, kind: str = "count") -> str:
    """A value in Russian notation: "299 514", "62,3 %", "4,5"; "—" for none."""
    if value is None:
        return "—"
    if kind.startswith("share"):
        return f"{value * 100:.1f}\u00a0%".replace(".", ",")
    if kind.startswith(("days", "decimal")):
        return f"{value:.1f}".replace(".", ",")
    return f"{value:,.0f}".replace(",", "\u00a0")


def change(value, kind: str) -> tuple[str, str]:
    """A change as text (shares in percentage points) and a CSS class: good, bad or flat."""
    if value is None:
        return "—", "flat"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    magnitude = abs(value)
    if kind.startswith("share"):
        text = f"{sign}{magnitude * 100:.1f} п.\u00a0п.".replace(".", ",", 1)
    elif kind.startswith("days"):
        text = f"{sign}{magnitude:.1f} дн.".replace(".", ",", 1)
    else:
        text = f"{sign}{magnitude:,.0f}".replace(",", "\u00a0")
    if value == 0 or kind == "count":
        return text, "flat"
    better = value > 0 if kind.endswith("_up") else value < 0
    return text, "good" if better else "bad"


def _rows(con, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _with_days(row: dict | None) -> dict | None:
    if row is not None:
        hours = row.get("median_response_hours")
        row["median_response_days"] = None if hours is None else hours / 24
    return row


def load_report_data(serving_path: Path, region_code: str, month: date) -> dict:
    """Everything the report shows for a region and month, read from the serving catalog."""
    with duckdb.connect(str(serving_path), read_only=True) as con:
        history = [
            _with_days(row)
            for row in _rows(
                con,
                """
            select * from main.governor_monthly_summary
            where region_code = ? and month_start <= ? and month_start > ? - interval 12 month order by month_start""",
                [region_code, month, month],
            )
        ]
        if not history or history[-1]["month_start"] != month:
            raise LookupError(f"no summary for region {region_code}, month {month:%Y-%m}")
        previous = next((row for row in history if row["month_start"] == _months_before(month, 1)), None)
        [last_year] = [
            _with_days(row)
            for row in _rows(
                con,
                """select * from main.governor_monthly_summary
            where region_code = ? and month_start = ?""",
                [region_code, _months_before(month, 12)],
            )
        ] or [None]
        regions = [
            _with_days(row)
            for row in _rows(
                con,
                """select * from main.governor_monthly_summary
            where month_start = ? order by on_time_share desc nulls last, region_code""",
                [month],
            )
        ]
        sectors = _rows(
            con,
            """select sector_name, received, answered, overdue_open, on_time_share, satisfaction_share,
                repeat_share, median_response_hours / 24 as median_response_days
            from main.sector_kpis_monthly where region_code = ? and month_start = ?
            order by received desc, sector_name""",
            [region_code, month],
        )
        municipalities = _rows(
            con,
            f"""select municipality_name, sum(appeals) as appeals,
                10000.0 * sum(appeals) / max(population) as per_10k, count(*) filter (where is_hot) as hot_cells,
                string_agg(case when is_hot then sector_name end, ', ' order by intensity_index desc) as hot_sectors
            from main.problem_heat_map where region_code = ? and month_start = ?
            group by municipality_name order by appeals desc, municipality_name limit {TOP_MUNICIPALITIES}""",
            [region_code, month],
        )
        hot_cells = _rows(
            con,
            """select municipality_name, sector_name, appeals, intensity_index
            from main.problem_heat_map where region_code = ? and month_start = ? and is_hot
            order by intensity_index desc, municipality_name, sector_name""",
            [region_code, month],
        )
        agencies = _rows(
            con,
            f"""select agency_name_in_month as agency_name, agency_kind, score, rating_rank, ranked_agencies,
                received, answered, open_overdue, quantity_score, speed_score, quality_score, completeness_score
            from main.agency_rating_monthly where region_code = ? and month_start = ? and is_ranked
            order by score, agency_id limit {LAGGING_AGENCIES}""",
            [region_code, month],
        )
        ranked = _rows(
            con,
            """select count(*) filter (where is_ranked) as ranked, count(*) as agencies
            from main.agency_rating_monthly where region_code = ? and month_start = ?""",
            [region_code, month],
        )[0]
        indicators = _rows(
            con,
            """select indicator_code, indicator_name, indicator_kind_ru, unit, target_value, actual_value,
                target_date_ru, status, status_ru
            from main.indicator_tracking where region_code = ? and year = ?
            order by indicator_kind desc, indicator_code""",
            [region_code, month.year],
        )
        roadmap_overdue = _rows(
            con,
            """select count(*) filter (where is_overdue) as overdue, max(as_of_date) as as_of_date
            from main.roadmap_status where region_code = ?""",
            [region_code],
        )[0]
    current = history[-1]
    others = [row for row in regions if row["region_code"] != region_code]
    return {
        "current": current,
        "previous": previous,
        "last_year": last_year,
        "history": history,
        "regions": regions,
        "others_mean": {column: _mean([row[column] for row in others]) for _, column, _ in HEADLINES},
        "sectors": sectors,
        "municipalities": municipalities,
        "hot_cells": hot_cells,
        "agencies": [agency | _lag_reason(agency) for agency in agencies],
        "ranked": ranked,
        "indicators": indicators,
        "roadmap_overdue": roadmap_overdue["overdue"],
        "as_of_date": roadmap_overdue["as_of_date"],
    }


def last_complete_month(serving_path: Path, region_code: str) -> date:
    """The region's latest month that has ended by the data's as-of moment: the report's default month."""
    with duckdb.connect(str(serving_path), read_only=True) as con:
        [(month,)] = con.execute(
            """select max(month_start) from main.governor_monthly_summary
            where region_code = ? and not is_partial_month""",
            [region_code],
        ).fetchall()
    if month is None:
        raise LookupError(f"no complete month for region {region_code}")
    return month


def _months_before(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _mean(values: list) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None


def _lag_reason(agency: dict) -> dict:
    """Why an agency lags: its two weakest sub-scores under LOW_SUB_SCORE (else its weakest), its overdue appeals."""
    scores = {name: agency[name] for name in SUB_SCORES if agency[name] is not None}
    weakest = min(scores, key=scores.get) if scores else None
    ordered = sorted(scores.items(), key=lambda item: item[1])
    low = [f"{SUB_SCORES[name]} {number(value, 'share')}" for name, value in ordered if value < LOW_SUB_SCORE][:2]
    parts = low or ([f"{SUB_SCORES[weakest]} {number(scores[weakest], 'share')}"] if weakest else [])
    if agency["open_overdue"]:
        parts.append(f"без ответа с истёкшим сроком {number(agency['open_overdue'])}")
    return {"weakest": weakest, "reason": "; ".join(parts)}


def _relative(value, base) -> float | None:
    return None if value is None or not base else value / base - 1


def _more_or_less(share: float) -> str:
    return f"на {number(abs(share), 'share')} {'больше' if share > 0 else 'меньше'}"


def summary_sentences(data: dict) -> list[str]:
    """The «Краткие выводы» by fixed rules (docs/bi_superset.md):

    1. volume: the month's appeals, compared with the previous month and the same month a year earlier
       (a change under NOTABLE_CHANGE_SHARE is «на уровне»);
    2. timeliness: the on-time share, its change in points, the region's place among the regions;
    3. overdue appeals without an answer, when there are any;
    4. the top problem and the hottest cell of the heat map (index ≥ 1,5 on at least 5 appeals), when there is one;
    5. the lowest-rated agency and its reason; 6. indicators under threat or failed.
    """
    current, previous, last_year = data["current"], data["previous"], data["last_year"]
    month_in = f"В {MONTHS_RU_PREPOSITIONAL[current['month_start'].month - 1]} {current['month_start'].year} г."
    sentences = []
    comparisons = []
    for base, prepositional, genitive in (
        (previous, "предыдущем месяце", "предыдущего месяца"),
        (last_year, "том же месяце прошлого года", "того же месяца прошлого года"),
    ):
        share = _relative(current["received"], base and base["received"])
        if share is not None:
            comparisons.append(
                f"{_more_or_less(share)}, чем в {prepositional}"
                if abs(share) >= NOTABLE_CHANGE_SHARE
                else f"на уровне {genitive}"
            )
    sentences.append(
        f"{month_in} поступило {number(current['received'])} обращений и сообщений"
        + (f" — {'; '.join(comparisons)}" if comparisons else "")
        + "."
    )
    if current["on_time_share"] is not None:
        text = f"В срок дан ответ на {number(current['on_time_share'], 'share')} обращений"
        if previous and previous["on_time_share"] is not None:
            delta = current["on_time_share"] - previous["on_time_share"]
            text += (
                f" ({'рост' if delta > 0 else 'снижение'} на {number(abs(delta) * 100, 'decimal')} п.\u00a0п."
                " к предыдущему месяцу)"
                if abs(delta) >= NOTABLE_CHANGE_POINTS
                else " (на уровне предыдущего месяца)"
            )
        place = [row["region_code"] for row in data["regions"]].index(current["region_code"]) + 1
        text += f"; это {place}-е место из {len(data['regions'])} регионов ЦУР."
        sentences.append(text)
    if current["overdue_open"]:
        sentences.append(f"Без ответа с истёкшим сроком остаются {number(current['overdue_open'])} обращений.")
    if current["top_problem_1"]:
        text = (
            f"Больше всего обращений — по теме «{current['top_problem_1']}» ({current['top_problem_1_sector']}, "
            f"{number(current['top_problem_1_appeals'])})"
        )
        if data["hot_cells"]:
            hot = data["hot_cells"][0]
            text += (
                f"; самая острая точка — {hot['municipality_name']}, отрасль «{hot['sector_name']}»: обращений на "
                f"10 тыс. жителей в {number(hot['intensity_index'], 'decimal')} раза больше обычного по региону"
            )
        sentences.append(text + ".")
    if data["agencies"]:
        agency = data["agencies"][0]
        sentences.append(
            f"Ниже всех в рейтинге — {agency['agency_name']} (балл {number(agency['score'], 'decimal')} из 100): "
            f"{agency['reason']}."
        )
    risky = [row for row in data["indicators"] if row["status"] in ("at_risk", "failed")]
    if risky:
        sentences.append(
            f"Целевые показатели под угрозой или не достигнуты: {len(risky)} из {len(data['indicators'])}."
        )
    return sentences


def recommendations(data: dict) -> list[str]:
    """«Рекомендации» by fixed rules (docs/bi_superset.md), in this order:

    - overdue appeals without an answer → take them under control with the agencies that hold most of them;
    - each lagging agency whose weakest sub-score is speed or quantity → a plan to answer on time;
      quality or completeness → a review of answers with rework and repeats;
    - each hot cell of the heat map (at most three) → an on-site review of the municipality and sector;
    - repeat share up by NOTABLE_CHANGE_POINTS or more → analyse root causes of repeats;
    - each indicator under threat or failed → measures to reach the target;
    - roadmap events overdue → update the roadmap's schedule.
    """
    current, previous = data["current"], data["previous"]
    advice = []
    if current["overdue_open"]:
        holders = [agency["agency_name"] for agency in data["agencies"] if agency["open_overdue"]]
        advice.append(
            f"Взять на контроль {number(current['overdue_open'])} обращений без ответа с истёкшим сроком"
            + (f", прежде всего у органов: {', '.join(holders)}." if holders else ".")
        )
    for agency in data["agencies"]:
        if agency["weakest"] in ("speed_score", "quantity_score"):
            advice.append(
                f"{agency['agency_name']}: представить план ответов в установленный срок "
                f"({SUB_SCORES[agency['weakest']]} {number(agency[agency['weakest']], 'share')})."
            )
        elif agency["weakest"] in ("quality_score", "completeness_score"):
            advice.append(
                f"{agency['agency_name']}: разобрать ответы, возвращённые на доработку и вызвавшие повторные "
                f"обращения ({SUB_SCORES[agency['weakest']]} {number(agency[agency['weakest']], 'share')})."
            )
    for hot in data["hot_cells"][:3]:
        advice.append(
            f"{hot['municipality_name']}, отрасль «{hot['sector_name']}»: провести выездной разбор причин "
            f"({number(hot['appeals'])} обращений, индекс интенсивности {number(hot['intensity_index'], 'decimal')})."
        )
    if (
        previous
        and current["repeat_share"] is not None
        and previous["repeat_share"] is not None
        and current["repeat_share"] - previous["repeat_share"] >= NOTABLE_CHANGE_POINTS
    ):
        advice.append(
            "Проанализировать первопричины повторных обращений: их доля выросла до "
            f"{number(current['repeat_share'], 'share')}."
        )
    for indicator in data["indicators"]:
        if indicator["status"] in ("at_risk", "failed"):
            advice.append(
                f"Показатель «{indicator['indicator_name']}» ({indicator['status_ru']}): принять меры для "
                f"достижения цели {number(indicator['target_value'], 'decimal')} {indicator['unit']} "
                f"к {indicator['target_date_ru']}."
            )
    if data["roadmap_overdue"]:
        advice.append(f"Актуализировать сроки дорожной карты ЦУР: просрочено мероприятий — {data['roadmap_overdue']}.")
    return advice


def render_html(data: dict, prepared: date | None = None) -> str:
    current, history = data["current"], data["history"]
    labels = [f"{row['month_start']:%m.%y}" for row in history]
    charts = [
        bar_chart("Поступление обращений по месяцам", labels, [row["received"] for row in history]),
        line_chart(
            "Сроки и качество ответов",
            labels,
            {
                "Доля ответов в срок": [row["on_time_share"] for row in history],
                "Удовлетворённость": [row["satisfaction_share"] for row in history],
                "Доля повторных": [row["repeat_share"] for row in history],
            },
        ),
    ]
    headlines = []
    for label, column, kind in HEADLINES:
        compared = {}
        for name, base in (("previous", data["previous"]), ("last_year", data["last_year"])):
            delta = (
                None
                if base is None or base[column] is None or current[column] is None
                else current[column] - base[column]
            )
            compared[name], compared[f"{name}_class"] = change(delta, kind)
        headlines.append(
            {
                "label": label,
                "value": number(current[column], kind),
                **compared,
                "others": number(data["others_mean"][column], kind),
            }
        )
    environment = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape())
    environment.filters["number"] = number
    return environment.get_template("governor_monthly.html").render(
        region_name=current["region_name"] or current["region_code"],
        month=month_label(current["month_start"]),
        last_year_month=month_label(_months_before(current["month_start"], 12)),
        is_partial_month=current["is_partial_month"],
        as_of=f"{data['as_of_date']:%d.%m.%Y}" if data["as_of_date"] else "—",
        prepared=f"{prepared or date.today():%d.%m.%Y}",
        summary=summary_sentences(data),
        headlines=headlines,
        regions=data["regions"],
        region_code=current["region_code"],
        sectors=data["sectors"],
        municipalities=data["municipalities"],
        hot_cells=data["hot_cells"],
        agencies=data["agencies"],
        ranked=data["ranked"],
        indicators=data["indicators"],
        year=current["month_start"].year,
        recommendations=recommendations(data),
        problems=[
            {
                "name": current[f"top_problem_{n}"],
                "sector": current[f"top_problem_{n}_sector"],
                "appeals": current[f"top_problem_{n}_appeals"],
            }
            for n in (1, 2, 3)
            if current[f"top_problem_{n}"]
        ],
        charts=charts,
    )


def find_chromium() -> str | None:
    return next((found for name in CHROMIUM_CANDIDATES if (found := shutil.which(name))), None)


def print_pdf(html_path: Path, pdf_path: Path, chromium: str) -> None:
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            html_path.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def build_monthly_report(
    region_code: str, month: date, out_dir: Path, serving_path: Path | None = None, pdf: bool = True
) -> ReportFiles:
    """Write `governor_<region>_<YYYY-MM>.html` (and `.pdf` when Chromium is available) into `out_dir`."""
    data = load_report_data(serving_path or paths.serving_path(), region_code, month)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"governor_{region_code}_{month:%Y-%m}.html"
    html_path.write_text(render_html(data), encoding="utf-8")
    chromium = find_chromium() if pdf else None
    pdf_path = None
    if chromium:
        pdf_path = html_path.with_suffix(".pdf")
        print_pdf(html_path, pdf_path, chromium)
    return ReportFiles(html_path, pdf_path)
