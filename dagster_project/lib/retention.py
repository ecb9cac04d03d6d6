"""How long raw exports are kept and who can read what the platform writes (152-ФЗ, docs/privacy.md).

- Every entry point (the code location, the CLI, the report, Superset's manage.py) calls `restrict_new_files()`:
  with umask 077 every file it creates is 0600 and every folder 0700 (inbox processed/ and rejected/, the lake, the
  warehouse, the serving files, reports, Superset's metadata), so only the platform's own user reads them.
- A raw export leaves the inbox through `archive()`: moved into processed/ or rejected/, it becomes 0600 and its
  modification time is set to the moment it was archived, the start of its retention period.
- The `privacy/raw_export_retention` asset deletes archived exports older than CUR_RAW_EXPORT_RETENTION_DAYS
  (default 30) and closes up folders created before these rules.
"""

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from dagster_project.lib import paths

PRIVATE_UMASK = 0o077
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
ARCHIVE_FOLDERS = ("processed", "rejected")
SECONDS_PER_DAY = 86_400


def restrict_new_files() -> None:
    """Files and folders this process creates from now on are readable by its own user only."""
    os.umask(PRIVATE_UMASK)


def archive(path: Path) -> None:
    """A raw export just moved into processed/ or rejected/: private, and its retention clock starts now."""
    os.chmod(path, PRIVATE_FILE_MODE)
    os.utime(path)


@dataclass(frozen=True)
class ExpiredFile:
    path: Path
    age_days: float


def expired_exports(inbox_root: Path, days: int, now: float | None = None) -> list[ExpiredFile]:
    """Archived exports (and their .reason.txt notes) of every source inbox older than `days`, oldest first."""
    now = time.time() if now is None else now
    found = []
    for folder in sorted(inbox_root.glob("*/*")):
        if folder.name not in ARCHIVE_FOLDERS or not folder.is_dir():
            continue
        for file in folder.iterdir():
            if file.is_file() and not file.is_symlink():
                age_days = (now - file.stat().st_mtime) / SECONDS_PER_DAY
                if age_days > days:
                    found.append(ExpiredFile(file, age_days))
    return sorted(found, key=lambda expired: -expired.age_days)


def private_paths() -> list[Path]:
    """Folders and files that can hold personal data, as far as they exist: the data root and what is configured to
    live elsewhere (inbox, warehouse, serving)."""
    inbox_root = paths.inbox_dir("")
    candidates = [
        paths.data_dir(),
        inbox_root,
        *(inbox_root.glob(f"*/{folder}") for folder in ARCHIVE_FOLDERS),
        paths.lake_dir(),
        paths.warehouse_path(),
        paths.serving_path().parent,
        paths.data_dir() / "reports",
    ]
    found = []
    for candidate in candidates:
        for path in [candidate] if isinstance(candidate, Path) else sorted(candidate):
            if path.exists() and path not in found:
                found.append(path)
    return found


def tighten(path: Path) -> bool:
    """Take group and other permissions away from a folder or file created before these rules; True if it changed.
    The inbox root itself keeps its mode when it is a drop folder outside the data root (a sender writes there)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return False
    if path == paths.inbox_dir("") and paths.data_dir() not in path.parents:
        return False
    os.chmod(path, mode & ~0o077)
    return True
