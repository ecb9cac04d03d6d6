"""Held loads (задержанные загрузки): a landed load that breaks a raw suite at ERROR stays out of the warehouse.

With one dbt asset graph, a blocking check on `raw/<table>` would stop dbt for every source and region (every mart
reads every source). So a structural break blocks only what it concerns — the load itself: the quality check records
the load's Parquet parts in `ops.held_loads` (schema in lib/warehouse.py), and the warehouse does not read them
(dbt on DuckDB: the lake-part ledger and the staging models skip them; PostgreSQL: lib/postgres.py does not copy
them). Everything else — the source's other loads, the other sources and regions — goes on to the marts.
A hold ends when a data engineer releases it (`python -m dagster_project.defs.quality release <run_id>`, after
checking the load); the next build then reads its parts like newly landed ones. A corrected re-export lands as a new
load and needs no release. The lake itself is never changed.
A part that the warehouse has already read (it is in the dbt ledger `staging.stg_lake__landed_parts`) is not held:
taking it back out would need its rows removed, and an hourly build would no longer equal a full refresh. In a run,
the checks come before the build (check `load_admitted`), so this happens only when a load is validated again later.
"""

from collections.abc import Sequence
from pathlib import Path

from dagster_project.lib import paths, warehouse

LEDGER = "staging.stg_lake__landed_parts"  # the dbt model that records the lake parts the warehouse has read


def part_name(part: str | Path) -> str:
    """A part's name within its raw table (`load_date=…/<file>.parquet`): the same however the lake path is written
    (dbt may read the lake through a relative path)."""
    path = Path(part)
    return f"{path.parent.name}/{path.name}"


def hold(table: str, run_id: str | None, parts: Sequence[str], reason: str) -> int:
    """Holds the parts of a load that the warehouse has not read yet (idempotent; a released load is not held
    again). Returns the parts newly held."""
    names = sorted({part_name(part) for part in parts})
    if not names:
        return 0
    with warehouse.connect() as con:
        known = {
            name
            for (name,) in con.execute(
                "select part_name from ops.held_loads where source = ? and part_name in (select unnest(?))",
                [table, names],
            ).fetchall()
        }
        if con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            LEDGER.split("."),
        ).fetchone()[0]:
            known |= {
                part_name(path)
                for (path,) in con.execute(f"select part_path from {LEDGER} where table_name = ?", [table]).fetchall()
            }
        new = [name for name in names if name not in known]
        if new:
            now = warehouse.utcnow()
            con.executemany(
                "insert into ops.held_loads values (?, ?, ?, ?, ?, null)",
                [(table, run_id, name, reason, now) for name in new],
            )
    return len(new)


def release(run_id: str) -> int:
    """Releases every held part of a load; returns how many parts were released."""
    with warehouse.connect() as con:
        released = con.execute(
            "update ops.held_loads set released_at = ? where run_id = ? and released_at is null returning part_name",
            [warehouse.utcnow(), run_id],
        ).fetchall()
    return len(released)


def held_parts(table: str | None = None) -> list[tuple[str, str]]:
    """(table, part name) of every part held now. Nothing when the warehouse or the table does not exist yet."""
    if not paths.warehouse_path().exists():
        return []
    with warehouse.connect() as con:
        query = "select source, part_name from ops.held_loads where released_at is null"
        if table is not None:
            return con.execute(query + " and source = ? order by 1, 2", [table]).fetchall()
        return con.execute(query + " order by 1, 2").fetchall()


def held_loads() -> list[tuple]:
    """One row per load held now: (table, run_id, parts, reason, held_at)."""
    if not paths.warehouse_path().exists():
        return []
    with warehouse.connect() as con:
        return con.execute(
            """select source, run_id, count(*) as parts, any_value(reason), min(held_at) from ops.held_loads
               where released_at is null group by source, run_id order by min(held_at)"""
        ).fetchall()


def is_held(table: str, parts: Sequence[str]) -> bool:
    """Whether some of these parts are held now."""
    names = {part_name(part) for part in parts}
    return any(name in names for _, name in held_parts(table))
