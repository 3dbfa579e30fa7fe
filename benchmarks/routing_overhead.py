"""Routing overhead and batching gain of the built-in mixture.

Prints, for one batch of prompts spread over the built-in experts:
- time spent routing versus time spent generating (target: routing < 2% of end to end);
- batched ``generate(list)`` versus a loop of single ``generate`` calls on the same prompts
  (target: batched >= 3x the loop's throughput on a 2-core CPU).

    python benchmarks/routing_overhead.py [--prompts 16] [--max-new-tokens 32] [--json]
"""
from __future__ import annotations

import argparse
import json
import time

PROMPTS = [
    "Write a Python function that returns the n-th Fibonacci number.",
    "Write a PHP function that checks whether a string is a palindrome.",
    "Write a bash script that prints the 5 largest files in the current directory.",
    "Write a C++ function that reverses a std::vector<int> in place.",
    "Write a Java method that counts the vowels in a String.",
    "Write a JavaScript function that debounces another function.",
    "Write an SQL query that returns the ten most recent orders per customer.",
    "Write a Python class implementing a least-recently-used cache.",
    "Write a Rust function that sums the even numbers of a slice.",
    "Write a PHP script that reads a CSV file and prints an HTML table.",
    "Write a bash one-liner that finds duplicate lines across files.",
    "Write a Go function that checks whether a number is prime.",
    "Write a Python function that flattens a nested list.",
    "Write a C# method that parses a date string safely.",
    "Write a TypeScript function that deep-merges two objects.",
    "Write a Python generator that yields prime numbers.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from moe_coder import MoECoder

    prompts = (PROMPTS * (args.prompts // len(PROMPTS) + 1))[: args.prompts]
    coder = MoECoder.from_pretrained("builtin")
    settings = dict(max_new_tokens=args.max_new_tokens, temperature=0.0)
    coder.generate(prompts[:2], **settings)  # warm up: load the model, first-call overheads

    t0 = time.perf_counter()
    decisions = coder.route_batch(prompts)
    routing_batch_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    batched = coder.generate(prompts, batch_size=args.batch_size, **settings)
    batched_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    looped = [coder.generate(p, **settings) for p in prompts]
    loop_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for p in prompts:
        coder.route(p)
    routing_single_s = time.perf_counter() - t0

    figures = {
        "prompts": len(prompts),
        "experts_used": sorted({d.expert for d in decisions}),
        "max_new_tokens": args.max_new_tokens,
        "routing_batched_s": round(routing_batch_s, 4),
        "generate_batched_s": round(batched_s, 3),
        "routing_share_of_batched": round(routing_batch_s / batched_s, 5),
        "routing_single_total_s": round(routing_single_s, 4),
        "generate_loop_s": round(loop_s, 3),
        "routing_share_of_loop": round(routing_single_s / loop_s, 5),
        "batched_prompts_per_s": round(len(prompts) / batched_s, 3),
        "loop_prompts_per_s": round(len(prompts) / loop_s, 3),
        "batched_speedup_vs_loop": round(loop_s / batched_s, 2),
        "greedy_outputs_identical": batched == looped,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:28s} {v}")


if __name__ == "__main__":
    main()
