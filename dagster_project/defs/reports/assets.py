"""The monthly report to the Governor as an asset: one partition per month × region (MultiPartitions).

Two dimensions rather than a region loop inside a monthly partition: a region whose report failed is re-run alone, and
the partition bar shows which region's month is missing. The month dimension ends with the last closed month
(`end_offset=0`), so a month becomes a partition only once it is over.
"""

from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MonthlyPartitionsDefinition,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    asset,
)

from dagster_project.defs.bi.assets import serving_marts
from dagster_project.defs.extract.assets import DAILY
from dagster_project.defs.extract.conform import region_zones
from dagster_project.defs.resources import ServingResource
from dagster_project.lib import paths
from dagster_project.reports import build_monthly_report

GOVERNOR_REPORT_KEY = AssetKey(["reports", "governor_monthly"])
REPORT_PARTITIONS = MultiPartitionsDefinition(
    {
        "month": MonthlyPartitionsDefinition(start_date=DAILY.start.strftime("%Y-%m-%d"), end_offset=0),
        "region": StaticPartitionsDefinition(sorted(region_zones())),
    }
)


@asset(
    key=GOVERNOR_REPORT_KEY,
    deps=[serving_marts],
    partitions_def=REPORT_PARTITIONS,
    group_name="reports",
    kinds={"html"},
    description="Ежемесячный отчёт Губернатору (HTML, PDF при наличии Chromium): месяц × регион, из витрины serving",
)
def governor_monthly_report(context: AssetExecutionContext, serving_layer: ServingResource) -> MaterializeResult:
    keys = context.partition_key.keys_by_dimension
    month = date.fromisoformat(keys["month"])
    out_dir = paths.data_dir() / "reports" / keys["region"]
    files = build_monthly_report(keys["region"], month, out_dir, serving_path=serving_layer.catalog())
    context.log.info(f"report: {files.html}" + (f", {files.pdf}" if files.pdf else " (no PDF: Chromium not found)"))
    return MaterializeResult(
        metadata={
            "html": str(files.html),
            "pdf": str(files.pdf) if files.pdf else "—",
            "bytes": files.html.stat().st_size,
        }
    )
