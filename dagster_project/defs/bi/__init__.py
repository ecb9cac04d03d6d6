from dagster import Definitions

from dagster_project.defs.bi.assets import serving_marts
from dagster_project.defs.bi.superset import superset_dashboards

defs = Definitions(assets=[serving_marts, superset_dashboards])
