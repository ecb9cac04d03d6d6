"""CLI: `python -m sandbox generate|serve …` (see docs/sources.md); `run` and `ui` (`make run`, `make ui`): the
platform's pipeline or UI on the sandbox sources (sandbox/pipeline.py)."""

import argparse
import json
import os
import sys
from datetime import date

from dagster_project.lib import paths
from sandbox.generator import DEFAULT_SCALE, generate
from sandbox.server import add_serve_arguments, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="generate the API store and the file exports")
    gen.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="number of appeals over all channels")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--out", type=str, default=str(paths.sandbox_dir()))
    gen.add_argument("--inbox", type=str, default=str(paths.inbox_dir("")))
    gen.add_argument("--start", type=date.fromisoformat, default=date(2023, 1, 1))
    gen.add_argument("--end", type=date.fromisoformat, default=date(2025, 12, 31))
    gen.add_argument("--bad-rate", type=float, default=0.01)
    gen.add_argument(
        "--bursts",
        type=int,
        default=None,
        help="labelled bursts of problems on top of --scale (default: 60 per million appeals, at least 1)",
    )

    srv = commands.add_parser("serve", help="serve the ПОС and Инцидент Менеджмент APIs")
    add_serve_arguments(srv, paths.sandbox_dir())

    run = commands.add_parser(
        "run", help="generate the sandbox (once per scale and seed), serve it, materialize every asset, print a summary"
    )
    run.add_argument(
        "--scale", type=int, default=DEFAULT_SCALE, help=f"number of sandbox appeals (default {DEFAULT_SCALE})"
    )
    run.add_argument("--seed", type=int, default=42)
    ui = commands.add_parser("ui", help="the Dagster UI (dagster dev) with the sandbox serving the APIs")
    ui.add_argument("--port", type=int, default=3000)

    args = parser.parse_args(argv)
    if args.command in ("run", "ui"):
        from dagster_project.lib import retention, settings
        from sandbox import pipeline

        settings.check_production()  # CUR_ENV=production: no start without strong secrets
        retention.restrict_new_files()
        if args.command == "ui":
            return pipeline.ui(args.port)
        if args.scale <= 0:
            parser.error("--scale must be a positive number of appeals")
        return pipeline.run(args.scale, args.seed)
    if args.command == "generate":
        summary = generate(
            args.out,
            args.inbox,
            args.scale,
            seed=args.seed,
            start=args.start,
            end=args.end,
            bad_rate=args.bad_rate,
            bursts=args.bursts,
        )
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        serve(args.data, args.host, args.port, args.token, faults=args.faults, now=args.now, quiet=not args.verbose)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # As in dagster_project/cli.py: skipping interpreter finalization avoids DuckDB's spurious nanobind
    # "leaked instance" report at exit.
    os._exit(code)
