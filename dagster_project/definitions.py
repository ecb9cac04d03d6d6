"""The one code location: merges the definitions of every domain folder under defs/."""

from dagster import Definitions, in_process_executor

from dagster_project.defs import bi, extract, quality, transform

# One embedded DuckDB file takes a single writer, so steps run one after another in one process.
defs = Definitions.merge(
    extract.defs,
    transform.defs,
    quality.defs,
    bi.defs,
    Definitions(executor=in_process_executor),
)
