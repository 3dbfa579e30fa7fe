"""Count the answers that give back a completion prompt's head with an empty body, per system.

On HumanEval-X such an answer fails in a way each toolchain names: in C++ the function returns
nothing and the test binary dies of SIGSEGV (reason ``killed``); in Go the file no longer parses,
because the test function is read as part of the unclosed signature (``expected '(', found Test``).

    python experts/smollm2/empty_bodies.py runs/eval-full/builtin-base/humaneval_x_cpp runs/eval-full/builtin/humaneval_x_go
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from moe_coder.jsonl import iter_jsonl

#: Per benchmark, whether a scored sample's failure is the empty body.
SIGNS = {
    "humaneval_x_cpp": lambda row: row.get("reason") == "killed" and "SIGSEGV" in str(row.get("detail")),
    "humaneval_x_go": lambda row: "expected '(', found Test" in str(row.get("detail")),
}


def count(run: Path) -> dict[str, tuple[int, int]]:
    """``{system: (empty bodies, scored samples)}`` of one ``moe-coder evaluate`` output folder."""
    benchmark = json.loads((run / "results.json").read_text())["benchmark"]
    if benchmark not in SIGNS:
        raise ValueError(f"{run}: no empty-body sign known for {benchmark!r}; known: {sorted(SIGNS)}")
    empty, scored = Counter(), Counter()
    for _, row in iter_jsonl(run / "samples.jsonl", required=("system",), what="samples file"):
        if isinstance(row.get("passed"), bool):
            scored[row["system"]] += 1
            empty[row["system"]] += bool(SIGNS[benchmark](row))
    return {system: (empty[system], n) for system, n in scored.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="moe-coder evaluate output folders")
    parser.add_argument("--json", action="store_true", help="one JSON object per run")
    args = parser.parse_args(argv)
    for run in args.runs:
        counts = count(run)
        if args.json:
            print(json.dumps({"run": str(run), "systems": {s: {"empty": e, "scored": n} for s, (e, n) in counts.items()}}))
        else:
            print(f"{run}: " + ", ".join(f"{s} {e}/{n}" for s, (e, n) in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
