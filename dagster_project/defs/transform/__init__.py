from dagster import Definitions

from dagster_project.defs.transform.assets import cur_dbt_models
from dagster_project.lib.dbt import dbt_resource

defs = Definitions(assets=[cur_dbt_models], resources={"dbt": dbt_resource()})
