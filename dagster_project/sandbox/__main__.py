"""CLI: `python -m dagster_project.sandbox generate|serve …` (see docs/sources.md)."""

import argparse
import json
from datetime import date

from dagster_project.lib import paths
from dagster_project.sandbox.generator import generate
from dagster_project.sandbox.server import add_serve_arguments, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="generate the API store and the file exports")
    gen.add_argument("--scale", type=int, default=30_000, help="number of appeals over all channels")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--out", type=str, default=str(paths.sandbox_dir()))
    gen.add_argument("--inbox", type=str, default=str(paths.inbox_dir("")))
    gen.add_argument("--start", type=date.fromisoformat, default=date(2023, 1, 1))
    gen.add_argument("--end", type=date.fromisoformat, default=date(2025, 12, 31))
    gen.add_argument("--bad-rate", type=float, default=0.01)
    gen.add_argument("--bursts", type=int, default=None,
                     help="labelled bursts of problems on top of --scale (default: 60 per million appeals, at least 1)")

    srv = commands.add_parser("serve", help="serve the ПОС and Инцидент Менеджмент APIs")
    add_serve_arguments(srv, paths.sandbox_dir())

    args = parser.parse_args(argv)
    if args.command == "generate":
        summary = generate(args.out, args.inbox, args.scale, seed=args.seed, start=args.start, end=args.end,
                           bad_rate=args.bad_rate, bursts=args.bursts)
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        serve(args.data, args.host, args.port, args.token, faults=args.faults, now=args.now, quiet=not args.verbose)


if __name__ == "__main__":
    main()
