"""Train the built-in mixture's router on ``router_training/seed.jsonl`` and write its artifacts.

    python router_training/train_builtin.py --data router_training/seed.jsonl --out moe_coder/builtin/router
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from moe_coder.routing.router import PromptRouter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="router_training/seed.jsonl", type=Path)
    ap.add_argument("--out", default="moe_coder/builtin/router", type=Path)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    router = PromptRouter().fit([r["prompt"] for r in rows], [[r["language"], r["task"]] for r in rows])
    router.save_pretrained(args.out)
    print(f"trained on {len(rows)} prompts; wrote {args.out}")


if __name__ == "__main__":
    main()
