"""Asset checks that run the Great Expectations suites of `expectations/` (see docs/data_quality.md).

One multi-asset check per validated asset runs its checkpoints once and reports one Dagster check per
`meta.check` of the suites. On a mart, a check that holds a `critical` expectation is blocking: when it fails at
ERROR, the assets downstream of the mart are not materialized in that run. On a raw table an ERROR holds the failing
load out of the warehouse instead of stopping the dbt graph for every source and region (lib/held_loads.py); the
raw table's extra check `load_admitted` reports the hold and is the blocking one, so that the warehouse build waits
for the verdict. WARN results are recorded only.
"""

import json

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetChecksDefinition,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from dagster_project.lib import gx, warehouse


def _result(asset_key: AssetKey, outcome: gx.CheckOutcome) -> AssetCheckResult:
    metadata = {
        "unexpected_count": MetadataValue.int(outcome.unexpected_count),
        "unexpected_sample": MetadataValue.json(json.loads(json.dumps(outcome.samples, default=str))),
        "data_docs": MetadataValue.url(outcome.data_docs) if outcome.data_docs else MetadataValue.text("—"),
    }
    if outcome.failures:
        metadata["failed_expectations"] = MetadataValue.md("\n".join(f"- {line}" for line in outcome.failures))
    if outcome.validated_run_id:
        metadata["validated_run_id"] = MetadataValue.text(outcome.validated_run_id)
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=AssetCheckSeverity.ERROR if outcome.severity == "error" else AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def quality_checks(asset_key: AssetKey) -> AssetChecksDefinition:
    specs = [
        AssetCheckSpec(name=spec.name, asset=asset_key, description=spec.description, blocking=spec.blocking)
        for spec in gx.checks_for(tuple(asset_key.path))
    ]

    @multi_asset_check(
        specs=specs,
        name=f"gx_{'__'.join(asset_key.path)}",
        description=f"Great Expectations: {', '.join(gx.checkpoints_for(tuple(asset_key.path)))}",
    )
    def _checks(context: AssetCheckExecutionContext):
        # a mart suite reads the warehouse and a failing raw suite writes a hold into it (lib/warehouse.py)
        with warehouse.lock("quality checks"):
            outcomes = {outcome.name: outcome for outcome in gx.validate(tuple(asset_key.path))}
        context.log.info(f"Data Docs: {gx.data_docs_index()}")
        for spec in specs:
            yield _result(asset_key, outcomes[spec.name])

    return _checks


QUALITY_CHECKS = [quality_checks(AssetKey(list(asset_path))) for asset_path in gx.VALIDATED_ASSETS]
