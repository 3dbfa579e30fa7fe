"""Decontamination benchmark: throughput, speed-up over the naive reference, and peak memory.

Builds a training JSONL from the GPTeacher code instructions in ``../shared/data`` (or, without
them, from the shipped benchmarks' reference solutions), plants contamination from HumanEval and
MBPP questions in it, and decontaminates it against HumanEval + MBPP (the ``openai50`` method):

1. throughput in MB/s of raw JSONL, end to end (loading the evaluation sets included), with
   1 and 2 workers, per wall-clock second and per CPU-second (which a busy machine disturbs less);
2. the fast path against the naive reference (``engine="naive"``) on the same smaller input:
   the same matches, and the speed-up;
3. peak memory (max RSS of a fresh process) on a small file and on one of ``--max-size``.

    python benchmarks/decontamination.py                 # about 1-2 minutes, 1 GB for memory
    python benchmarks/decontamination.py --max-size 200  # quicker
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from moe_coder.decontamination import decontaminate  # noqa: E402
from moe_coder.benchmarks import load_benchmark  # noqa: E402

GPTEACHER = REPO.parent / "shared" / "data" / "instruct" / "gpteacher-codegen-instruct.json"
MB = 1_000_000


def base_records() -> tuple[list[dict], str]:
    if GPTEACHER.is_file():
        return json.loads(GPTEACHER.read_text(encoding="utf-8")), "GPTeacher codegen-instruct"
    records = []
    for name in ("humaneval_x_cpp", "humaneval_x_java", "humaneval_x_js", "humaneval_x_go", "mbpp"):
        for problem in load_benchmark(name):
            records.append({"instruction": f"Write a {problem.language} function.", "input": "",
                            "response": problem.canonical_solution})
    return records, "reference solutions of the shipped benchmarks"


def build_block(size: int, seed: int = 0) -> tuple[bytes, int]:
    """About ``size`` bytes of JSONL with planted contamination; returns the bytes and how many were planted."""
    rng = random.Random(seed)
    records, _ = base_records()
    questions = [p.question for name in ("humaneval", "mbpp") for p in load_benchmark(name)]
    lines, total, planted = [], 0, 0
    while total < size:
        record = dict(rng.choice(records), id=len(lines))
        if rng.random() < 0.002:
            question = rng.choice(questions)
            start = rng.randrange(len(question) // 2)
            piece = re.sub(r"\s+", lambda _: rng.choice([" ", "\n", "\n    ", "  # "]), question[start:])
            record["input"] = record.get("input", "") + "\n" + piece
            planted += 1
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        lines.append(line)
        total += len(line)
    return b"".join(lines), planted


def write_file(path: Path, block: bytes, size: int) -> Path:
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            fh.write(block)
            written += len(block)
    return path


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the worker processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run(train: Path, workdir: Path, tag: str, **kwargs) -> tuple[float, float, dict]:
    """Wall and CPU seconds of one decontamination of ``train``, and what it found."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    report = decontaminate(train, ["humaneval", "mbpp"], workdir / f"{tag}.jsonl", workdir / f"{tag}.json", **kwargs)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    (workdir / f"{tag}.jsonl").unlink()
    return wall, cpu, {"removed": report.removed, "contaminated": report.contaminated, "counts": report.counts}


MEMORY_PROBE = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from moe_coder.decontamination import decontaminate
started = time.perf_counter()
report = decontaminate({train!r}, ["humaneval", "mbpp"], {out!r}, {report!r})
elapsed = time.perf_counter() - started
cpu = time.process_time()
print(json.dumps({{"elapsed": elapsed, "cpu": cpu, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "records": report.counts["records"], "removed": report.counts["removed"]}}))
"""


def peak_memory(train: Path, workdir: Path) -> dict:
    code = MEMORY_PROBE.format(repo=str(REPO), train=str(train), out=str(workdir / "mem.jsonl"),
                               report=str(workdir / "mem.json"))
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    (workdir / "mem.jsonl").unlink()
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100, help="MB for the throughput runs (default 100)")
    parser.add_argument("--naive-size", type=float, default=5, help="MB for the naive comparison (default 5)")
    parser.add_argument("--max-size", type=int, default=1000, help="MB of the large memory run (default 1000)")
    parser.add_argument("--tmp", default=None, help="folder for the generated files (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the empty-file setup runs would warn

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        workdir = Path(tmp)
        _, source = base_records()
        block, planted = build_block(10 * MB)
        print(f"corpus: {source}, {len(block) / MB:.1f} MB block, {planted} planted contaminated records per block")

        print("\n1. throughput, HumanEval + MBPP (1138 items), openai50, end to end")
        train = write_file(workdir / "throughput.jsonl", block, args.size * MB)
        size = train.stat().st_size
        single, single_cpu, first = run(train, workdir, "w1", workers=1)
        double, double_cpu, second = run(train, workdir, "w2", workers=2)
        assert first == second, "2 workers found different matches"
        print(f"   {size / MB:.0f} MB, {first['counts']['records']} records, {first['counts']['removed']} removed, "
              f"{first['counts']['contaminated_items']} evaluation items contaminated")
        print(f"   workers=1: {size / MB / single:6.1f} MB/s wall ({single:.1f} s), "
              f"{size / MB / single_cpu:6.1f} MB per CPU-second")
        print(f"   workers=2: {size / MB / double:6.1f} MB/s wall ({double:.1f} s), "
              f"{size / MB / double_cpu:6.1f} MB per CPU-second; wall speed-up x{single / double:.2f}")
        train.unlink()

        print("\n2. fast path against the naive reference, same input")
        small = workdir / "small.jsonl"
        cut = block.rfind(b"\n", 0, int(args.naive_size * MB)) + 1
        small.write_bytes(block[:cut])
        empty = workdir / "empty.jsonl"
        empty.write_bytes(b"")
        naive_setup, _, _ = run(empty, workdir, "naive0", engine="naive")
        fast_setup, _, _ = run(empty, workdir, "fast0")
        naive_s, _, naive = run(small, workdir, "naive", engine="naive")
        fast_s, _, fast = run(small, workdir, "fast")
        same = naive == fast
        print(f"   {cut / MB:.1f} MB, {naive['counts']['removed']} removed; same matches: {same}")
        for name, total, setup in (("naive", naive_s, naive_setup), ("fast", fast_s, fast_setup)):
            print(f"   {name:5}: {cut / MB / total:6.2f} MB/s end to end ({total:.2f} s), "
                  f"{cut / MB / (total - setup):6.2f} MB/s after {setup:.2f} s setup")
        print(f"   speed-up: x{naive_s / fast_s:.0f} end to end, "
              f"x{(naive_s - naive_setup) / (fast_s - fast_setup):.0f} after setup")
        assert same, "the fast path and the naive reference disagree"

        print("\n3. peak memory (max RSS of a fresh process, workers=1)")
        rows = []
        for mb in (10, args.max_size):
            train = write_file(workdir / f"mem{mb}.jsonl", block, mb * MB)
            size = train.stat().st_size
            probe = peak_memory(train, workdir)
            train.unlink()
            rows.append(probe["maxrss_kib"] / 1024)
            print(f"   {size / MB:7.0f} MB: peak {probe['maxrss_kib'] / 1024:6.1f} MiB, "
                  f"{size / MB / probe['elapsed']:5.1f} MB/s wall, {size / MB / probe['cpu']:5.1f} MB per CPU-second, "
                  f"{probe['records']} records, {probe['removed']} removed")
        print(f"   peak memory ratio {args.max_size} MB / 10 MB: x{rows[1] / rows[0]:.2f}")


if __name__ == "__main__":
    main()
