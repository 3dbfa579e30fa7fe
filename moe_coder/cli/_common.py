"""Helpers shared by the subcommands."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_mixture_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mixture", default="builtin", metavar="NAME_OR_PATH",
        help="mixture to use: 'builtin', 'builtin-base' (its untuned baseline), a mixture directory, "
             "or a hub repo id (default: builtin)",
    )


def load_mixture(args: argparse.Namespace) -> Any:
    from moe_coder.mixture import MoECoder

    return MoECoder.from_pretrained(args.mixture)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
