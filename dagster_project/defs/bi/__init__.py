from dagster import Definitions

from dagster_project.defs.bi.assets import publish

defs = Definitions(assets=[publish])
