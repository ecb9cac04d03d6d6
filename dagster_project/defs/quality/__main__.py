"""`python -m dagster_project.defs.quality run-all`: every suite outside Dagster (the benchmark, a manual look).

Validates every raw table and mart of the current data root (CUR_DATA_DIR, WAREHOUSE_PATH), rebuilds Data Docs,
prints one line per check and exits 1 when a check fails at ERROR.
"""

import argparse
import sys

from dagster_project.lib import gx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.defs.quality")
    parser.add_argument("command", choices=["run-all"])
    parser.parse_args(argv)
    errors = 0
    for asset_path in gx.VALIDATED_ASSETS:
        for outcome in gx.validate(asset_path):
            status = "ok" if outcome.passed else outcome.severity.upper()
            errors += status == "ERROR"
            details = f": {'; '.join(outcome.failures)}" if outcome.failures else ""
            print(f"{'/'.join(asset_path)} {outcome.name}: {status}{details}", flush=True)
    print(f"Data Docs: {gx.data_docs_index()}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
