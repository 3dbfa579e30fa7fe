"""``moe-coder route``: show which expert a prompt goes to, and why."""
from __future__ import annotations

import argparse
import sys

from moe_coder.cli._common import COUNT, add_mixture_argument, load_mixture, print_json
from moe_coder.jsonl import iter_jsonl


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("route", help="classify prompts (language, task) and name the chosen expert")
    p.add_argument("prompt", nargs="?", help="the prompt (or use --input)")
    p.add_argument(
        "--input", metavar="FILE.jsonl",
        help="one {\"prompt\": ...} object per line; a prompt may be a chat messages list",
    )
    p.add_argument("--batch-size", type=COUNT, default=256)
    add_mixture_argument(p)
    p.add_argument("--json", action="store_true", help="one JSON decision per line")
    p.set_defaults(func=run)


def _summary(decision) -> dict:
    keys = ("language", "task", "source_language", "confidence", "expert", "abstained")
    return {k: v for k, v in decision.to_dict().items() if k in keys}


def run(args: argparse.Namespace) -> int:
    if (args.prompt is None) == (args.input is None):
        raise ValueError("give a prompt or --input FILE.jsonl (not both)")
    mixture = load_mixture(args)
    if args.prompt is not None:
        d = mixture.route(args.prompt)
        if args.json:
            print_json(d.to_dict())
        else:
            source = f" from {d.source_language}" if d.source_language else ""
            print(f"{d.language}/{d.task}{source} -> {d.expert} (confidence {d.confidence:.3f}{', abstained' if d.abstained else ''})")
            for alt in d.alternatives:
                print(f"  alternative {alt['language']}/{alt['task']} -> {alt['expert']} ({alt['score']:.3f})")
            if d.cues:
                print(f"  cues: {', '.join(d.cues)}")
        return 0
    batch: list = []

    def flush() -> None:
        for d in mixture.route_batch(batch):
            if args.json:
                print_json(_summary(d))
            else:
                fields = [d.language, d.task, d.source_language or "-", f"{d.confidence:.3f}", d.expert]
                print("\t".join(fields + (["abstained"] if d.abstained else [])))
        batch.clear()

    for _, record in iter_jsonl(args.input, required=("prompt",)):
        prompt = record["prompt"]
        batch.append(prompt if isinstance(prompt, (str, list)) else str(prompt))
        if len(batch) >= args.batch_size:
            flush()
    flush()
    sys.stdout.flush()
    return 0
