"""``moe-coder calibrate``: choose a mixture's ``confidence_threshold`` on held-out labelled prompts."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "calibrate", help="choose a mixture's abstain threshold on labelled prompts and write it to mixture.json",
        description="Route held-out labelled prompts with the mixture's router and experts, choose the "
        "confidence_threshold below which the generalist answers, and write it into DIR/mixture.json "
        "(the router artifacts are left as they are).",
    )
    p.add_argument("--mixture", required=True, metavar="DIR", help="the mixture directory to calibrate")
    p.add_argument("--data", required=True, metavar="DIR_OR_JSONL",
                   help="labelled prompts: a JSONL file, or a directory holding validation.jsonl[.gz]")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moe_coder.cli._common import print_json
    from moe_coder.config import CONFIG_NAME
    from moe_coder.mixture import MoECoder
    from moe_coder.routing.dataset import find_split, load_labelled

    data = Path(args.data)
    if data.is_dir():
        found = find_split(data, "validation")
        if found is None:
            raise FileNotFoundError(f"no validation.jsonl or validation.jsonl.gz in {data}")
        data = found
    directory = Path(args.mixture)
    if not (directory / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"mixture config not found: {directory / CONFIG_NAME}")
    labelled = load_labelled(data)
    coder = MoECoder.from_pretrained(directory)
    before = coder.config.confidence_threshold
    coder.calibrate(labelled.prompts, labelled.y)
    coder.config.to_json_file(directory / CONFIG_NAME)
    summary = {"mixture": str(directory), "data": str(data), "prompts": len(labelled),
               "confidence_threshold": coder.config.confidence_threshold, "previous": before}
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {directory / CONFIG_NAME}: confidence_threshold {summary['confidence_threshold']:.4f} "
              f"(was {before:.4f}), chosen on {len(labelled)} prompts from {data}")
    return 0
