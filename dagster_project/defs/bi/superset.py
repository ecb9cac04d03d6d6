"""Deploys the dashboards-as-code bundle, roles and RLS to Superset after each new serving snapshot.

Runs only when env `SUPERSET_URL` is set (login from `SUPERSET_USERNAME` / `SUPERSET_PASSWORD`, default
admin/admin for the local instance of `make superset`). Superset reads the snapshot file itself
(`duckdb:///…marts.duckdb?access_mode=read_only`), or the PostgreSQL serving copy when `SUPERSET_SERVING_URI`
names it (e.g. `postgresql://user:pass@host/db`, schema `serving`).
"""

import os

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from dagster_project.lib import paths
from dagster_project.lib.serving import agencies_in_snapshot
from dagster_project.lib.superset_client import SupersetClient, deploy, serving_duckdb_uri


@asset(
    key=AssetKey(["serving", "superset_dashboards"]),
    deps=[AssetKey(["serving", "marts_snapshot"])],
    group_name="bi",
    output_required=False,
    description="Дашборды Superset (рейтинг, отрасли, тепловая карта, показатели ЦУР, нагрузка, сводка), роли и RLS.",
)
def superset_dashboards(context: AssetExecutionContext):
    url = os.environ.get("SUPERSET_URL")
    if not url:
        context.log.info("SUPERSET_URL is not set: nothing to deploy")
        return
    serving = paths.serving_path()
    serving_uri = os.environ.get("SUPERSET_SERVING_URI") or serving_duckdb_uri(serving)
    # The DuckDB snapshot keeps the marts in `main`; lib.serving.load_postgres loads them into `serving`.
    serving_schema = "main" if serving_uri.startswith("duckdb") else "serving"
    username = os.environ.get("SUPERSET_USERNAME", "admin")
    with SupersetClient(url, username, os.environ.get("SUPERSET_PASSWORD", "admin")) as client:
        result = deploy(client, serving_uri, agencies_in_snapshot(serving), serving_schema)
    yield MaterializeResult(
        metadata={
            "superset_url": url,
            "datasets": len(result.datasets),
            "charts_checked": len(result.charts),
            "dashboards": sorted(result.dashboards),
            "rls_rules": result.rls_rules,
            "duration_s": result.duration_s,
        },
    )
