"""Data quality outside Dagster, on the current data root (CUR_DATA_DIR, WAREHOUSE_PATH):

- `run-all`: every suite (the benchmark, a manual look): validates every raw table and mart, rebuilds Data Docs,
  prints one line per check and exits 1 when a check fails at ERROR;
- `held`: the loads held out of the warehouse after an ERROR of a raw suite (lib/held_loads.py);
- `release RUN_ID`: releases a held load after checking it; the next build reads it.
"""

import argparse
import sys

from dagster_project.lib import gx, held_loads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.defs.quality")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run-all", help="validate every raw table and mart")
    commands.add_parser("held", help="list the loads held out of the warehouse")
    release = commands.add_parser("release", help="release a held load: the next build reads it")
    release.add_argument("run_id")
    args = parser.parse_args(argv)
    if args.command == "held":
        loads = held_loads.held_loads()
        for table, run_id, parts, reason, held_at in loads:
            print(f"{table} run {run_id}: {parts} parts held since {held_at:%Y-%m-%d %H:%M} UTC: {reason}")
        print(f"{len(loads)} load(s) held")
        return 0
    if args.command == "release":
        released = held_loads.release(args.run_id)
        print(f"run {args.run_id}: {released} part(s) released" if released else f"run {args.run_id}: nothing held")
        return 0 if released else 1
    errors = 0
    for asset_path, outcomes in gx.validate_many(gx.VALIDATED_ASSETS).items():
        for outcome in outcomes:
            status = "ok" if outcome.passed else outcome.severity.upper()
            errors += status == "ERROR"
            details = f": {'; '.join(outcome.failures)}" if outcome.failures else ""
            print(f"{'/'.join(asset_path)} {outcome.name}: {status}{details}", flush=True)
    print(f"Data Docs: {gx.data_docs_index()}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
