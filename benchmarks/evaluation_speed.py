"""How long one system's full HumanEval greedy run takes, and what batching and bf16 buy.

Prints, in one run on this machine:
- single-stream float32 generation tokens/s (the baseline: one prompt at a time, as a naive loop);
- float32 and the default precision (bf16 where the CPU computes it natively) at batch 32, on
  the same HumanEval prompts, with the share of greedy outputs that come out identical;
- ``moe-coder evaluate``'s own run of one system over all 164 HumanEval tasks (384 new tokens,
  stop sequences, batch 32): wall time, generated tokens/s and pass@1. Target: at most 5 minutes
  on 2 cores;
- with ``--baseline``, the same run first with every row of a batch kept to the end of its
  longest (as ``transformers``' ``generate`` runs a batch), the wall-time ratio and the share of
  identical outputs.

    python benchmarks/evaluation_speed.py [--expert generalist] [--compare-prompts 32] [--baseline] [--json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time

from moe_coder import MoECoder, hardware
from moe_coder.benchmarks import load_benchmark
from moe_coder.evaluation.harness import Evaluation, GenerationSettings, expert_system
from moe_coder.evaluation.prompts import build_request


def _tokens(coder: MoECoder, spec, texts: list[str]) -> int:
    with coder.pool._activated(spec) as loaded:
        return sum(len(ids) for ids in loaded.tokenizer(texts, add_special_tokens=False)["input_ids"])


def _dtype(coder: MoECoder, spec) -> str:
    with coder.pool._activated(spec) as loaded:
        return str(loaded.model.dtype).removeprefix("torch.")


def _timed(coder: MoECoder, spec, prompts: list[str], batch_size: int, stop, max_new_tokens: int):
    coder.pool.generate(spec, prompts[:1], batch_size=1, max_new_tokens=4)  # load and warm up
    began = time.perf_counter()
    outputs = coder.pool.generate(spec, prompts, batch_size=batch_size, stop=stop, max_new_tokens=max_new_tokens,
                                  temperature=0.0)
    seconds = time.perf_counter() - began
    return outputs, seconds, _tokens(coder, spec, outputs) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mixture", default="builtin")
    ap.add_argument("--expert", default="generalist")
    ap.add_argument("--max-new-tokens", type=int, default=384)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--single-prompts", type=int, default=3, help="prompts in the single-stream baseline")
    ap.add_argument("--compare-prompts", type=int, default=32, help="prompts generated in both precisions")
    ap.add_argument("--limit", type=int, help="HumanEval tasks in the evaluate run (default all 164)")
    ap.add_argument("--baseline", action="store_true",
                    help="first run the evaluation with every row kept to the end of its batch's longest (as "
                         "transformers' generate does), and print the ratio")
    ap.add_argument("--out", help="keep the evaluate runs' files here (default: a temporary folder)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    coder = MoECoder.from_pretrained(args.mixture)
    spec = coder.config.expert(args.expert)
    fp32 = dataclasses.replace(spec, dtype="float32")
    problems = load_benchmark("humaneval")
    requests = [build_request(p, spec.prompt_format) for p in problems]
    prompts, stop = [r.prompt for r in requests], list(requests[0].stop) or None

    _, _, single_tps = _timed(coder, fp32, prompts[: args.single_prompts], 1, stop, 128)
    few = prompts[: args.compare_prompts]
    out32, _, tps32 = _timed(coder, fp32, few, args.batch_size, stop, args.max_new_tokens)
    out_default, _, tps_default = _timed(coder, spec, few, args.batch_size, stop, args.max_new_tokens)
    same = sum(a == b for a, b in zip(out32, out_default))

    def humaneval_run(out_dir: str) -> tuple[float, list[dict], dict]:
        evaluation = Evaluation("humaneval", out_dir, limit=args.limit)
        settings = GenerationSettings(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
        began = time.perf_counter()
        results = evaluation.evaluate_mixture(coder, [expert_system(args.expert)], settings, mixture_name=args.mixture)
        wall = time.perf_counter() - began
        with open(f"{out_dir}/samples.jsonl") as fh:
            rows = [json.loads(line) for line in fh]
        return wall, rows, results["systems"][expert_system(args.expert)]

    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or scratch
        baseline = None
        if args.baseline:  # the same decoder, every row kept to the end of the longest (as generate runs)
            coder.pool.drop_finished_rows = False
            baseline = humaneval_run(f"{out}/rows-kept")
            coder.pool.drop_finished_rows = True
        wall, rows, system = humaneval_run(f"{out}/rows-dropped" if args.baseline else out)
    generated = _tokens(coder, spec, [r["output"] for r in rows])
    generation_s = sum(r["generation_s"] for r in rows)
    figures = {
        "native_bf16": hardware.native_bf16(),
        "default_dtype": _dtype(coder, spec),
        "single_stream_fp32_tokens_per_s": round(single_tps, 1),
        f"batch{args.batch_size}_fp32_tokens_per_s": round(tps32, 1),
        f"batch{args.batch_size}_default_tokens_per_s": round(tps_default, 1),
        "greedy_outputs_identical_fp32_vs_default": f"{same}/{len(few)}",
        "humaneval_tasks": len(rows),
        "humaneval_wall_s": round(wall, 1),
        "humaneval_generation_s": round(generation_s, 1),
        "humaneval_generation_tokens_per_s": round(generated / generation_s, 1),
        "speedup_over_single_stream_fp32": round(generated / generation_s / single_tps, 1),
        "pass@1": system["pass@k"].get("pass@1"),
        "target_wall_s": 300,
    }
    if baseline is not None:
        kept_wall, kept_rows, kept_system = baseline
        kept = {r["task_id"]: r["output"] for r in kept_rows}
        figures.update({
            "rows_kept_humaneval_wall_s": round(kept_wall, 1),
            "rows_kept_pass@1": kept_system["pass@k"].get("pass@1"),
            "wall_ratio_rows_kept_over_dropped": round(kept_wall / wall, 2),
            "outputs_identical_rows_kept_vs_dropped": f"{sum(kept.get(r['task_id']) == r['output'] for r in rows)}/{len(rows)}",
        })
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:45s} {value}")


if __name__ == "__main__":
    main()
