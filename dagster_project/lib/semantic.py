"""The semantic layer Superset shows analysts, generated from the marts' dbt YAML (never retyped in the bundle).

Source: `dbt/models/marts/**/_*__models.yml` — the same text dbt compiles into `manifest.json` and its docs, read
directly so that a deploy needs no `dbt parse`. For every served mart this gives Superset's dataset:

- every column with a Russian **label** (`verbose_name`) and **description**. The description is the column's dbt
  description; the label is the column's `config.meta.label` when set, else the description's head — the text
  before the first « = », « (», «:», «;», « — » or « —» (so «Доля ответов в срок = в срок / (…)» is labelled «Доля
  ответов в срок»). The numbered columns of governor_monthly_summary (`top_problem_2`, `lowest_agency_3_score`, …)
  take the documentation of their `_1` column with «№ N» added.
- the model's **saved metrics** from `config.meta.metrics` (metric_name, label, expression, description, format):
  one definition per weighted share or score, which every chart and analyst reuses by name; a metric with
  `change` also gets `<name>_change`, its month-over-month change in percentage points or points (`change_metric`).

preset-cli's `superset-cli sync dbt-core` was weighed: it builds datasets from `manifest.json` the same way, but
creates them with its own uuids (the bundle's charts and dashboards are keyed by the dataset uuids), knows nothing
of the bundle's `access` declarations (default deny, RLS) and would bring its dependencies into the project's venv.
"""

import re
from functools import cache

import yaml

from dagster_project.lib import paths

MARTS_DIR = paths.DBT_PROJECT_DIR / "models" / "marts"
NUMBERED = re.compile(r"^(?P<head>.+?)_(?P<n>[2-9])(?P<tail>(_.+)?)$")
LABEL_END = re.compile(r" = | \(|:|;| — | —")
TEMPORAL = re.compile(r"(_start|_date|_at|^deadline|^valid_from|^valid_to)$")


@cache
def mart_docs() -> dict[str, dict]:
    """model name → {"description", "columns": {name: {"label", "description"}}, "metrics": [...]}."""
    docs = {}
    for file in sorted(MARTS_DIR.rglob("*.yml")):
        for model in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("models", []):
            meta = (model.get("config") or {}).get("meta") or {}
            columns = {}
            for column in model.get("columns", []):
                description = " ".join((column.get("description") or "").split())
                label = ((column.get("config") or {}).get("meta") or {}).get("label") or column_label(description)
                columns[column["name"]] = {"label": label, "description": description}
            docs[model["name"]] = {
                "description": " ".join((model.get("description") or "").split()),
                "columns": columns,
                "metrics": meta.get("metrics", []),
            }
    return docs


@cache
def governor_top_n() -> int:
    """dbt var governor_top_n: how many numbered top_problem_N / lowest_agency_N columns the summary has."""
    project = yaml.safe_load((paths.DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return int(project["vars"]["governor_top_n"])


def mart_columns(model: str) -> list[str]:
    """Every column of a mart as documented in dbt, the numbered `_1` columns expanded to 1…governor_top_n."""
    names = []
    for name in mart_docs()[model]["columns"]:
        names.append(name)
        first = re.match(r"^(?P<head>.+?)_1(?P<tail>(_.+)?)$", name)
        if first:
            names += [f"{first['head']}_{n}{first['tail']}" for n in range(2, governor_top_n() + 1)]
    return names


def column_label(description: str) -> str:
    """The head of a dbt description, used as the column's label (see the module doc)."""
    head = LABEL_END.split(description, maxsplit=1)[0].strip().rstrip(".,")
    return head[:1].upper() + head[1:]


def column_doc(model: str, column: str) -> dict | None:
    """{"label", "description"} of a mart column, or None when dbt does not document it."""
    columns = mart_docs().get(model, {}).get("columns", {})
    if column in columns:
        return columns[column]
    numbered = NUMBERED.match(column)
    if numbered:
        first = columns.get(f"{numbered['head']}_1{numbered['tail']}")
        if first:
            return {
                "label": f"{first['label']} № {numbered['n']}",
                "description": f"{first['description']} (№ {numbered['n']})",
            }
    return None


def dataset_columns(model: str, names: list[str]) -> list[dict]:
    """Superset column entries (bundle format) for the given columns of a mart: label and description from dbt."""
    entries = []
    for name in names:
        doc = column_doc(model, name) or {"label": None, "description": None}
        entries.append(
            {
                "column_name": name,
                "verbose_name": doc["label"],
                "description": doc["description"],
                "is_dttm": bool(TEMPORAL.search(name)),
                "groupby": True,
                "filterable": True,
            }
        )
    return entries


def dataset_metrics(model: str) -> list[dict]:
    """Superset saved metrics (bundle format) of a mart, from its dbt `config.meta.metrics`, each followed by its
    month-over-month change when the metric declares `change` (see `change_metric`)."""
    metrics = []
    for metric in mart_docs().get(model, {}).get("metrics", []):
        metrics.append(
            _saved_metric(
                metric["name"], metric["label"], metric["expression"], metric["description"], metric.get("format")
            )
        )
        if "change" in metric:
            metrics.append(change_metric(metric))
    return metrics


def change_metric(metric: dict) -> dict:
    """`<name>_change`: the metric in a month minus the metric in the month before, in the unit a reader expects.

    A share's change is in percentage points (`change: {unit: "п.п.", scale: 100}`: 59,1 % → 62,3 % is «+3,2»), not
    the relative change «+5,4 %» Superset's big number computes; a score's in points. The metric's own expression is
    reused (one definition): `scale * (m - LAG(m) OVER (ORDER BY MIN(month_start)))` rounded to 0,1, a window over
    the query's groups without a partition, so it is meant for one series by month (a KPI tile): grouped by anything
    else too, the previous row would be another group's. The first month of the series has no change.
    """
    expression = metric["expression"]  # _saved_metric collapses its whitespace with the rest
    scale = metric["change"]["scale"]
    unit = metric["change"]["unit"]
    change = f"({expression}) - LAG({expression}) OVER (ORDER BY MIN(month_start))"
    if scale != 1:
        change = f"{scale} * ({change})"
    return _saved_metric(
        f"{metric['name']}_change",
        f"{metric['label']}: изменение за месяц, {unit}",
        # rounded to the 0,1 the tile shows, in decimal: a change under 0,05 reads «+0,0», not «−0,0» (-0.0 of a
        # double); NUMERIC rounding works on DuckDB and PostgreSQL alike
        f"ROUND(CAST({change} AS DECIMAL(18, 6)), 1)",
        f"Изменение показателя «{metric['label']}» к предыдущему месяцу, {unit}; "
        "только для ряда по месяцам без других разрезов (плитка KPI)",
        "+,.1f",
    )


def _saved_metric(name: str, label: str, expression: str, description: str, d3format: str | None) -> dict:
    return {
        "metric_name": name,
        "verbose_name": label,
        "metric_type": None,
        "expression": " ".join(expression.split()),
        "description": description,
        "d3format": d3format,
        "extra": None,
        "warning_text": None,
    }


def undocumented(model: str, names: list[str]) -> list[str]:
    """Columns of a mart without a label or a description in dbt: a deploy check and a test."""
    return [name for name in names if not ((doc := column_doc(model, name)) and doc["label"] and doc["description"])]
