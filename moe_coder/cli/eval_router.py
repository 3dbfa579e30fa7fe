"""``moe-coder eval-router``: accuracy, macro-F1, calibration, abstention and latency on labelled prompts."""
from __future__ import annotations

import argparse

from moe_coder.cli._common import add_mixture_argument, load_mixture, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval-router", help="evaluate a mixture's router on labelled prompts; writes report.json and PNGs",
    )
    p.add_argument("--data", required=True, metavar="FILE.jsonl", help="lines with prompt, language, task (source_language for translate)")
    p.add_argument("--report", required=True, metavar="DIR", help="where report.json and the figures go")
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    add_mixture_argument(p)
    p.add_argument("--json", action="store_true", help="print report.json's headline figures as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moe_coder.routing.dataset import load_labelled
    from moe_coder.routing.metrics import evaluate, write_report

    data = load_labelled(args.data)
    mixture = load_mixture(args)
    report = evaluate(mixture.route_batch, data, measure_latency=not args.no_latency)
    write_report(report, args.report)
    headline = {
        "n": report["n"],
        "language_accuracy": report["language"]["accuracy"], "language_macro_f1": report["language"]["macro_f1"],
        "task_accuracy": report["task"]["accuracy"], "task_macro_f1": report["task"]["macro_f1"],
        "language_ece": report["language"]["ece"], "abstain_rate": report["routing"]["abstain_rate"],
        **({"source_language_accuracy": report["source_language"]["accuracy"]} if "source_language" in report else {}),
        **report.get("latency", {}), "report": args.report,
    }
    if args.json:
        print_json(headline)
    else:
        for key, value in headline.items():
            print(f"{key:>32}: {value:.4f}" if isinstance(value, float) else f"{key:>32}: {value}")
    return 0
