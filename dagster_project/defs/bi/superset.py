"""Deploys the dashboards-as-code bundle, roles and RLS to Superset after each new serving snapshot.

Runs only when env `SUPERSET_URL` is set; logs in as Superset's admin (`SUPERSET_ADMIN_USER`, password
`SUPERSET_ADMIN_PASSWORD` or the file named by `SUPERSET_ADMIN_PASSWORD_FILE`; the development default admin/admin
only outside production). Superset reads the serving catalog itself (`duckdb:///…marts.duckdb?access_mode=read_only`),
or the PostgreSQL serving copy when `SUPERSET_SERVING_URI` (env or file) names it (e.g.
`postgresql://user:pass@host/db`, schema `serving`).
"""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from dagster_project.defs.resources import ServingResource, SupersetResource
from dagster_project.lib.serving import agencies_in_snapshot
from dagster_project.lib.superset_client import SupersetClient, deploy, serving_duckdb_uri


@asset(
    key=AssetKey(["serving", "superset_dashboards"]),
    deps=[AssetKey(["serving", "marts"])],
    group_name="bi",
    output_required=False,
    description="Дашборды Superset (рейтинг, отрасли, тепловая карта, показатели ЦУР, нагрузка, сводка), роли и RLS.",
)
def superset_dashboards(context: AssetExecutionContext, serving_layer: ServingResource, superset: SupersetResource):
    url = superset.resolved_url()
    if not url:
        context.log.info("SUPERSET_URL is not set: nothing to deploy")
        return
    catalog = serving_layer.catalog()
    serving_uri = superset.serving_uri() or serving_duckdb_uri(catalog)
    # The DuckDB catalog keeps the marts in `main`; lib.serving.load_postgres loads them into the serving schema.
    serving_schema = "main" if serving_uri.startswith("duckdb") else serving_layer.resolved_postgres_schema()
    with SupersetClient(url, *superset.admin()) as client:
        result = deploy(client, serving_uri, agencies_in_snapshot(catalog), serving_schema, serving_catalog=catalog)
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
