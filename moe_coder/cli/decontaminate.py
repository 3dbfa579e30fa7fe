"""``moe-coder decontaminate``: drop training records that overlap evaluation sets."""
from __future__ import annotations

import argparse
import json

from moe_coder.cli._common import COUNT
from moe_coder.decontamination import METHODS, decontaminate


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "decontaminate",
        help="remove training records that contain evaluation questions (OpenAI's 50-character method)",
        description=(
            "Stream training JSONL(.gz) files and write the records that match no evaluation item, "
            "byte-identical and in order, plus a JSON report and a list of contaminated evaluation ids "
            "(<report stem>.contaminated.json, for `moe-coder evaluate --exclude`)."
        ),
    )
    parser.add_argument("--train", nargs="+", action="extend", required=True, metavar="FILE",
                        help="training JSONL or JSONL.gz files, processed in order")
    parser.add_argument("--eval", action="append", dest="evals", metavar="NAME|PATH",
                        help="evaluation set: a built-in benchmark (humaneval, mbpp, ...) or a JSONL file; "
                             "repeatable (default: humaneval and mbpp)")
    parser.add_argument("--out", required=True, metavar="CLEAN.jsonl",
                        help="clean JSONL to write (gzip if it ends in .gz)")
    parser.add_argument("--report", required=True, metavar="REPORT.json", help="JSON report to write")
    parser.add_argument("--method", choices=METHODS, default="openai50",
                        help="openai50: three random 50-character substrings per item (default); "
                             "ngram13: GPT-3 style 13-word overlap")
    parser.add_argument("--seed", type=int, default=0, help="seed of the substring sampling (default 0)")
    parser.add_argument("--lowercase", action="store_true", help="ignore case (openai50 keeps it by default)")
    parser.add_argument("--field", nargs="+", action="extend", dest="fields", metavar="FIELD",
                        help="record fields holding the text (default: every string in the record)")
    parser.add_argument("--eval-text-field", help="text field of JSONL evaluation files "
                                                  "(default: first of question, prompt, text)")
    parser.add_argument("--eval-id-field", help="id field of JSONL evaluation files (default: task_id, then id)")
    parser.add_argument("--workers", type=COUNT, default=1, help="processes matching in parallel (default 1)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="drop malformed lines (counted in the report) instead of stopping")
    parser.add_argument("--json", action="store_true", help="print the report's summary as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = decontaminate(
        args.train,
        args.evals or ["humaneval", "mbpp"],
        args.out,
        args.report,
        method=args.method,
        seed=args.seed,
        lowercase=args.lowercase,
        fields=args.fields,
        workers=args.workers,
        skip_bad=args.skip_bad,
        eval_text_field=args.eval_text_field,
        eval_id_field=args.eval_id_field,
    )
    counts = report.counts
    if args.json:
        summary = {key: getattr(report, key) for key in ("method", "seed", "lowercase", "counts", "output",
                                                          "contaminated_ids_file", "elapsed_s")}
        summary["report"] = args.report
        summary["contaminated_ids"] = report.contaminated_ids
        print(json.dumps(summary, indent=2))
        return 0
    per_set = ", ".join(f"{s['name']} {s['contaminated']}/{s['items']}" for s in report.eval_sets)
    print(f"kept {counts['kept']} of {counts['records']} records "
          f"(removed {counts['removed']}, skipped {counts['skipped_bad']} bad lines) -> {args.out}")
    print(f"contaminated evaluation items: {per_set}")
    print(f"report: {args.report}; contaminated ids: {report.contaminated_ids_file}")
    return 0
