"""Write a small instruction-answer JSONL from the GPTeacher code instructions, for the SmolLM2 example.

    python examples/gpteacher_subset.py ../shared/data/instruct/gpteacher-codegen-instruct.json \
        runs/data/gpteacher-python.jsonl --keyword python --max-chars 700 --limit 300

Keeps records whose instruction mentions ``--keyword`` (case-insensitive) and whose instruction,
input and response together are at most ``--max-chars`` long (short examples keep a CPU run short),
in file order, up to ``--limit``. The output is raw data: train on it with ``--decontaminate``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="gpteacher-codegen-instruct.json (a JSON array)")
    parser.add_argument("out", type=Path, help="JSONL to write")
    parser.add_argument("--keyword", default="python")
    parser.add_argument("--max-chars", type=int, default=700)
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    records = json.loads(args.source.read_text(encoding="utf-8"))
    kept = [
        r for r in records
        if args.keyword.lower() in r["instruction"].lower()
        and len(r["instruction"]) + len(r.get("input", "")) + len(r["response"]) <= args.max_chars
    ][: args.limit]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
    print(f"wrote {len(kept)} of {len(records)} records to {args.out}")


if __name__ == "__main__":
    main()
