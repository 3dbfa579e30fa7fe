"""Paired comparison of two systems on the same tasks: is B better than A, or is it noise?

The pass counts of a small model are small, so a difference of two points can be chance. Each
task is scored by both systems, so the test is paired:

- **exact McNemar**: only the tasks where the systems disagree carry information. With ``b``
  tasks that B solves and A does not, and ``c`` the other way, the two-sided p-value is the
  binomial probability of a split at least as uneven as ``b : c`` when each disagreement is a
  fair coin. With several samples per task a task counts for the system with the higher pass
  fraction (the sign test, which is McNemar's test when there is one sample).
- **bootstrap interval**: tasks are resampled with replacement; the 2.5th and 97.5th
  percentiles of the mean per-task difference in pass@1 give a 95% interval.

Runs are read from ``moe-coder evaluate`` output directories. Several runs may be given per side
(HumanEval and HumanEval-X, say): their tasks are pooled, keyed by benchmark and task id.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.stats import binomtest

from moe_coder.jsonl import iter_jsonl, read_json

#: Separates a run directory from the system to read from it: ``runs/he#expert:python``.
SYSTEM_SEPARATOR = "#"


@dataclass(frozen=True)
class RunRef:
    """One system's samples in one evaluation directory."""

    directory: Path
    system: str | None = None

    @classmethod
    def parse(cls, text: str) -> "RunRef":
        directory, _, system = text.partition(SYSTEM_SEPARATOR)
        return cls(Path(directory), system or None)

    def __str__(self) -> str:
        return f"{self.directory}{SYSTEM_SEPARATOR}{self.system}" if self.system else str(self.directory)


def _rounded(record: object) -> dict:
    """A result dataclass as JSON types, its floats rounded to 4 places."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(record).items()}


@dataclass(frozen=True)
class PairedComparison:
    """B against A on the tasks both were scored on."""

    n_tasks: int
    pass_at_1_a: float
    pass_at_1_b: float
    difference: float  # B minus A, in pass@1
    ci_low: float
    ci_high: float
    b_only: int  # tasks where B beats A
    a_only: int  # tasks where A beats B
    p_value: float  # exact McNemar (two-sided)
    excluded_tasks: int
    unmatched_tasks: int

    def to_dict(self) -> dict:
        return _rounded(self)


@dataclass(frozen=True)
class PairedTest:
    """Two systems' scores on the same items (1 right, 0 wrong, or a pass fraction), compared item by item."""

    n: int
    mean_a: float
    mean_b: float
    difference: float  # B minus A
    ci_low: float  # 95% bootstrap interval of the difference
    ci_high: float
    b_only: int  # items where B scores higher than A
    a_only: int  # items where A scores higher than B
    p_value: float  # exact McNemar (two-sided)

    def to_dict(self) -> dict:
        return _rounded(self)


def paired_test(a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, seed: int = 0) -> PairedTest:
    """Exact McNemar p-value and bootstrap 95% interval of ``mean(b) - mean(a)`` over paired items.

    ``a[i]`` and ``b[i]`` are the two systems' scores on item ``i``: booleans (a router's decision
    right or wrong, a task solved or not) or pass fractions. Only the items where they differ
    count for the p-value.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    pa, pb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if pa.shape != pb.shape or pa.ndim != 1:
        raise ValueError(f"paired scores need two sequences of one length, got {pa.shape} and {pb.shape}")
    if not len(pa):
        raise ValueError("no paired items to compare")
    diff = pb - pa
    b_only, a_only = int((diff > 0).sum()), int((diff < 0).sum())
    p_value = binomtest(b_only, b_only + a_only, 0.5).pvalue if b_only + a_only else 1.0
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedTest(
        n=len(diff), mean_a=float(pa.mean()), mean_b=float(pb.mean()), difference=float(diff.mean()),
        ci_low=float(low), ci_high=float(high), b_only=b_only, a_only=a_only, p_value=float(p_value),
    )


def _read_run(ref: RunRef) -> tuple[dict[tuple[str, str], float], set[tuple[str, str]]]:
    """Per-task pass fraction of one system, and the tasks the run excluded as contaminated."""
    results = read_json(ref.directory / "results.json", "evaluation results")
    if not isinstance(results, dict) or not isinstance(results.get("systems"), dict):
        raise ValueError(f"{ref.directory / 'results.json'}: not a moe-coder evaluate results file")
    benchmark = str(results.get("benchmark", ""))
    systems = [s for s in results["systems"] if s != "oracle"]
    system = ref.system
    if system is None:
        if len(systems) != 1:
            raise ValueError(f"{ref.directory} holds systems {systems}: name one as {ref.directory}{SYSTEM_SEPARATOR}SYSTEM")
        system = systems[0]
    elif system not in systems:
        raise ValueError(f"{ref.directory} has no system {system!r}; it holds {systems}")
    passed: dict[tuple[str, str], list[bool]] = {}
    samples = ref.directory / "samples.jsonl"
    for where, row in iter_jsonl(samples, required=("system", "task_id"), what="samples file"):
        if row["system"] != system or row.get("reason") == "skipped":
            continue  # a task the harness could not run here (a missing crate) is scored by neither side
        if not isinstance(row.get("passed"), bool):
            raise ValueError(f"{where}: sample of {system!r} for {row['task_id']!r} has no verdict; finish the run first")
        passed.setdefault((benchmark, str(row["task_id"])), []).append(row["passed"])
    if not passed:
        raise ValueError(f"{samples}: no scored samples of {system!r}")
    excluded = {(benchmark, t) for t in results.get("exclude", {}).get("excluded_tasks", [])}
    return {task: float(np.mean(v)) for task, v in passed.items()}, excluded


def _pooled(refs: Sequence[RunRef]) -> tuple[dict[tuple[str, str], float], set[tuple[str, str]]]:
    scores: dict[tuple[str, str], float] = {}
    excluded: set[tuple[str, str]] = set()
    for ref in refs:
        run, run_excluded = _read_run(ref)
        overlap = scores.keys() & run.keys()
        if overlap:
            raise ValueError(f"{ref}: task {sorted(overlap)[0][1]!r} of {sorted(overlap)[0][0]} is already in another run of this side")
        scores.update(run)
        excluded |= run_excluded
    return scores, excluded


def compare_runs(
    a: Sequence[RunRef], b: Sequence[RunRef], *, clean: bool = False, resamples: int = 10_000, seed: int = 0,
) -> PairedComparison:
    """Compare system B with system A task by task (pooled over the runs given for each side).

    ``clean`` leaves out every task that either side's run excluded as contaminated
    (``moe-coder evaluate --exclude``).
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    scores_a, excluded_a = _pooled(a)
    scores_b, excluded_b = _pooled(b)
    excluded = (excluded_a | excluded_b) if clean else set()
    tasks = sorted((scores_a.keys() & scores_b.keys()) - excluded)
    if not tasks:
        raise ValueError("the two sides share no scored task: compare runs of the same benchmark")
    pa = np.array([scores_a[t] for t in tasks])
    pb = np.array([scores_b[t] for t in tasks])
    test = paired_test(pa, pb, resamples=resamples, seed=seed)
    unmatched = len((scores_a.keys() ^ scores_b.keys()) - excluded)
    return PairedComparison(
        n_tasks=test.n, pass_at_1_a=test.mean_a, pass_at_1_b=test.mean_b,
        difference=test.difference, ci_low=test.ci_low, ci_high=test.ci_high,
        b_only=test.b_only, a_only=test.a_only, p_value=test.p_value,
        excluded_tasks=len(excluded & (scores_a.keys() | scores_b.keys())), unmatched_tasks=unmatched,
    )


def format_comparison(result: PairedComparison, a: str, b: str) -> str:
    """A few lines a person reads: both scores, the difference with its interval, and the p-value."""
    return "\n".join([
        f"tasks compared: {result.n_tasks}"
        + (f" ({result.excluded_tasks} excluded as contaminated)" if result.excluded_tasks else "")
        + (f" ({result.unmatched_tasks} scored on one side only, left out)" if result.unmatched_tasks else ""),
        f"A  {a}: pass@1 {100 * result.pass_at_1_a:.1f}%",
        f"B  {b}: pass@1 {100 * result.pass_at_1_b:.1f}%",
        f"B - A: {100 * result.difference:+.1f} points, 95% bootstrap interval "
        f"[{100 * result.ci_low:+.1f}, {100 * result.ci_high:+.1f}]",
        f"tasks only B solves: {result.b_only}; only A solves: {result.a_only}; "
        f"exact McNemar p = {result.p_value:.4g}",
    ])
