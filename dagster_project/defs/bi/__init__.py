from dagster import Definitions

from dagster_project.defs.bi.assets import publish
from dagster_project.defs.bi.superset import superset_dashboards

defs = Definitions(assets=[publish, superset_dashboards])
