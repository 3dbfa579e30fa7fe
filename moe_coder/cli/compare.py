"""``moe-coder compare``: a paired test of two evaluated systems (exact McNemar, bootstrap interval)."""
from __future__ import annotations

import argparse

from moe_coder.cli._common import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="paired comparison of two evaluated systems: McNemar p-value and bootstrap interval",
        description=(
            "Compare system B with system A on the tasks both were scored on by `moe-coder evaluate`. "
            "Each side is one or more run directories (comma-separated; their tasks are pooled), each "
            "optionally followed by #SYSTEM (expert:NAME or routed) when the run holds several systems."
        ),
    )
    p.add_argument("a", metavar="RUN_A", help="baseline: DIR[#SYSTEM][,DIR[#SYSTEM]...]")
    p.add_argument("b", metavar="RUN_B", help="candidate: DIR[#SYSTEM][,DIR[#SYSTEM]...]")
    p.add_argument("--clean", action="store_true",
                   help="leave out tasks either run excluded as contaminated (evaluate --exclude)")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moe_coder.evaluation.paired import RunRef, compare_runs, format_comparison

    sides = [[RunRef.parse(part) for part in side.split(",") if part] for side in (args.a, args.b)]
    result = compare_runs(*sides, clean=args.clean, resamples=args.resamples, seed=args.seed)
    if args.json:
        print_json(result.to_dict())
    else:
        print(format_comparison(result, args.a, args.b))
    return 0
