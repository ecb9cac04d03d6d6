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
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from dagster_project.defs.resources import WarehouseResource
from dagster_project.lib import gx


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


def quality_checks(*asset_keys: AssetKey) -> AssetChecksDefinition:
    """One multi-asset check over `asset_keys`: the selected ones are validated in one pass (lib/gx.validate_many)."""
    specs = [
        AssetCheckSpec(name=spec.name, asset=asset_key, description=spec.description, blocking=spec.blocking)
        for asset_key in asset_keys
        for spec in gx.checks_for(tuple(asset_key.path))
    ]
    checkpoints = [checkpoint for asset_key in asset_keys for checkpoint in gx.checkpoints_for(tuple(asset_key.path))]

    @multi_asset_check(
        specs=specs,
        name="gx_raw" if len(asset_keys) > 1 else f"gx_{'__'.join(asset_keys[0].path)}",
        description=f"Great Expectations: {', '.join(checkpoints)}",
        can_subset=True,  # an extraction job validates its own raw tables only
    )
    def _checks(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
        selected = context.selected_asset_check_keys
        validated = [asset_key for asset_key in asset_keys if any(key.asset_key == asset_key for key in selected)]
        warehouse.require_settings_path("Great Expectations")
        # a mart suite reads the warehouse and a failing raw suite writes a hold into it (lib/warehouse.py)
        with warehouse.lock("quality checks"):
            outcomes = gx.validate_many([tuple(asset_key.path) for asset_key in validated])
        context.log.info(f"Data Docs: {gx.data_docs_index()}")
        for spec in specs:
            if spec.key in selected:
                by_name = {outcome.name: outcome for outcome in outcomes[tuple(spec.asset_key.path)]}
                yield _result(spec.asset_key, by_name[spec.name])

    return _checks


# One validation pass over every raw table a run lands (one GE context, catalog and Data Docs build), one per mart:
# each mart's checks run as soon as its model is built and block only what is downstream of it.
RAW_ASSETS = [AssetKey(list(asset_path)) for asset_path in gx.VALIDATED_ASSETS if asset_path[0] == "raw"]
QUALITY_CHECKS = [quality_checks(*RAW_ASSETS)] + [
    quality_checks(AssetKey(list(asset_path))) for asset_path in gx.VALIDATED_ASSETS if asset_path[0] != "raw"
]
