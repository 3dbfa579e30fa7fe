"""Helpers shared by the subcommands."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from moe_coder.validation import number_argument

#: argparse types for the numbers several commands take.
COUNT = number_argument(low=1, integer=True)
NON_NEGATIVE = number_argument(low=0)
FRACTION = number_argument(low=0, high=1, low_open=True)


def add_mixture_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mixture", default="builtin", metavar="NAME_OR_PATH",
        help="mixture to use: 'builtin', 'builtin-base' (its untuned baseline), a mixture directory, "
             "or a hub repo id (default: builtin)",
    )
    parser.add_argument(
        "--allow-outside-paths", action="store_true",
        help="let mixture.json name a router folder or GGUF file outside the mixture's own directories",
    )


def load_mixture(args: argparse.Namespace) -> Any:
    from moe_coder.mixture import MoECoder

    return MoECoder.from_pretrained(args.mixture, allow_outside_paths=args.allow_outside_paths)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
