"""``moe-coder generate``: answer a prompt with the routed expert."""
from __future__ import annotations

import argparse
import sys

from moe_coder.cli._common import COUNT, FRACTION, NON_NEGATIVE, add_mixture_argument, load_mixture, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("generate", help="route a prompt and generate the expert's answer")
    p.add_argument("prompt", help="the prompt; '-' reads it from standard input")
    add_mixture_argument(p)
    p.add_argument("--expert", help="skip routing and use this expert")
    p.add_argument("--max-new-tokens", type=COUNT)
    p.add_argument("--temperature", type=NON_NEGATIVE)
    p.add_argument("--top-p", type=FRACTION)
    p.add_argument("--seed", type=int)
    p.add_argument("--stop", action="append", help="stop string (repeatable)")
    p.add_argument("--no-stream", action="store_true", help="print the answer at the end instead of as it is generated")
    p.add_argument("--json", action="store_true", help="print one JSON object: text and routing decision")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    mixture = load_mixture(args)
    kwargs = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p, seed=args.seed, stop=args.stop)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if args.json:
        print_json(mixture.generate(prompt, expert=args.expert, return_details=True, **kwargs).to_dict())
        return 0
    decision = mixture.route(prompt)
    expert = args.expert or decision.expert
    print(f"[{decision.language}/{decision.task} -> {expert}, confidence {decision.confidence:.2f}]", file=sys.stderr)
    if args.no_stream:
        print(mixture.generate(prompt, expert=expert, **kwargs))
    else:
        for piece in mixture.stream(prompt, expert=expert, **kwargs):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
    return 0
