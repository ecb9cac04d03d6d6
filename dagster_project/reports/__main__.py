"""`python -m dagster_project.reports --region 65 [--month 2025-11] --out data/reports/`"""

import argparse
import sys
from datetime import date, datetime
from pathlib import Path

from dagster_project.lib import paths, retention, settings
from dagster_project.reports import build_monthly_report, last_complete_month


def main(argv: list[str] | None = None) -> int:
    settings.check_production()  # CUR_ENV=production: no report without the platform's strong secrets
    retention.restrict_new_files()  # the report is 0600 in a 0700 folder
    parser = argparse.ArgumentParser(
        prog="python -m dagster_project.reports", description="Ежемесячный отчёт Губернатору (HTML и PDF)"
    )
    parser.add_argument("--region", required=True, help="region code, e.g. 65")
    parser.add_argument("--month", help="report month, YYYY-MM (default: the region's last complete month in the data)")
    parser.add_argument(
        "--out", type=Path, default=paths.data_dir() / "reports", help="output folder (default data/reports)"
    )
    parser.add_argument(
        "--serving",
        type=Path,
        default=None,
        help="serving catalog (default: SERVING_PATH or data/serving/marts.duckdb)",
    )
    parser.add_argument("--no-pdf", action="store_true", help="HTML only")
    args = parser.parse_args(argv)
    try:
        month = datetime.strptime(args.month, "%Y-%m").date() if args.month else None
    except ValueError:
        parser.error("--month must look like 2025-11")
    try:
        month = (
            date(month.year, month.month, 1)
            if month
            else last_complete_month(args.serving or paths.serving_path(), args.region)
        )
        files = build_monthly_report(args.region, month, args.out, args.serving, pdf=not args.no_pdf)
    except LookupError as error:
        print(error, file=sys.stderr)
        return 1
    print(files.html)
    if files.pdf:
        print(files.pdf)
    else:
        print("PDF: skipped (no chromium found)" if not args.no_pdf else "PDF: skipped (--no-pdf)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
