"""The one code location: merges the definitions of every domain folder under defs/."""

from dagster import Definitions, in_process_executor

from dagster_project.defs import automation, bi, extract, monitoring, operations, privacy, quality, reports, transform
from dagster_project.defs.resources import platform_resources
from dagster_project.lib import retention, settings

# Fail closed: with CUR_ENV=production the code location does not load without strong secrets (lib/settings.py).
settings.check_production()
# What the runs write (inbox archive, lake, warehouse, serving) is readable by the platform's user only.
retention.restrict_new_files()

# One embedded DuckDB file takes a single writer, so steps run one after another in one process. The resources of the
# warehouse, serving and Superset (defs/resources.py) are wired here, with their defaults from lib/settings.py.
defs = Definitions.merge(
    extract.defs,
    transform.defs,
    quality.defs,
    bi.defs,
    privacy.defs,
    monitoring.defs,
    reports.defs,
    automation.defs,
    operations.defs,
    Definitions(executor=in_process_executor, resources=platform_resources()),
)
