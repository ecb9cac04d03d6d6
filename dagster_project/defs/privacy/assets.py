"""The retention asset: raw exports kept CUR_RAW_EXPORT_RETENTION_DAYS (default 30) after they were processed or
rejected, then deleted, each deletion logged; folders made before the file-mode rules are closed to other users."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from dagster_project.lib import paths, retention, settings


@asset(
    key=AssetKey(["privacy", "raw_export_retention"]),
    group_name="privacy",
    description="Удаление обработанных и отклонённых выгрузок старше срока хранения (152-ФЗ); права 0600/0700.",
)
def raw_export_retention(context: AssetExecutionContext) -> MaterializeResult:
    days = settings.raw_export_retention_days()
    inbox_root = paths.inbox_dir("")
    removed = []
    for expired in retention.expired_exports(inbox_root, days):
        expired.path.unlink(missing_ok=True)
        shown = expired.path.relative_to(inbox_root)
        removed.append(str(shown))
        context.log.info(f"retention: removed {shown} ({expired.age_days:.1f} days since it was archived, kept {days})")
    tightened = [str(path) for path in retention.private_paths() if retention.tighten(path)]
    for path in tightened:
        context.log.info(f"file modes: {path} is no longer readable by other users")
    context.log.info(f"retention: {len(removed)} raw exports older than {days} days removed")
    return MaterializeResult(
        metadata={"retention_days": days, "removed": len(removed), "removed_files": removed, "tightened": tightened}
    )
