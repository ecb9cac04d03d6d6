"""The warehouse build: the dbt project (models, seeds, snapshots, tests) and everything downstream of it (the Great
Expectations checks of the marts, publish, the Superset deploy), except the Governor's report, which is partitioned
by month and region."""

from dagster import AssetSelection, define_asset_job

from dagster_project.defs.reports.assets import GOVERNOR_REPORT_KEY
from dagster_project.defs.transform.assets import cur_dbt_models

# Every dbt model, seed and snapshot (whole, so dbt is not subset) and what reads them.
WAREHOUSE = AssetSelection.assets(cur_dbt_models).downstream() - AssetSelection.assets(GOVERNOR_REPORT_KEY)
# One warehouse writer at a time: the run queue holds a second build (tag_concurrency_limits in dagster.yaml). A build
# goes before queued loads: it is what makes landed data visible.
WAREHOUSE_TAGS = {"cur/warehouse": "build", "dagster/priority": "1"}
DBT_OP = "cur_dbt_models"

WAREHOUSE_BUILD = define_asset_job(
    "warehouse_build",
    selection=WAREHOUSE,
    tags=WAREHOUSE_TAGS,
    description="Инкрементальная сборка dbt, проверки качества, публикация витрин и дашбордов",
)
WAREHOUSE_FULL_REFRESH = define_asset_job(
    "warehouse_full_refresh",
    selection=WAREHOUSE,
    tags=WAREHOUSE_TAGS,
    config={"ops": {DBT_OP: {"config": {"full_refresh": True}}}},
    description="Полная пересборка хранилища со всеми тестами (dbt unit и data tests, Great Expectations)",
)
