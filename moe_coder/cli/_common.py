"""Helpers shared by the subcommands."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator


def add_mixture_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mixture", default="builtin", metavar="NAME_OR_PATH",
        help="mixture to use: 'builtin', a mixture directory, or a hub repo id (default: builtin)",
    )


def load_mixture(args: argparse.Namespace) -> Any:
    from moe_coder.mixture import MoECoder

    return MoECoder.from_pretrained(args.mixture)


def read_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)``; a malformed line or missing key is an error naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: malformed JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, found {type(record).__name__}")
            missing = [k for k in required if k not in record]
            if missing:
                raise ValueError(f"{path}:{number}: missing key(s) {missing}")
            yield number, record


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
