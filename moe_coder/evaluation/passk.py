"""pass@k with the unbiased estimator of the Codex paper (Chen et al., 2021).

For a task with ``n`` samples of which ``c`` pass, ``pass@k = 1 - C(n-c, k) / C(n, k)``: the
probability that at least one of ``k`` samples drawn without replacement passes. It is computed
as a product so that large ``n`` neither overflows nor loses precision. The benchmark score is the
mean over tasks.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

DEFAULT_KS = (1, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with *n* samples, *c* of them correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k < 1 or k > n:
        raise ValueError(f"k must be in [1, n={n}], got {k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def usable_ks(n_per_task: Iterable[int], ks: Sequence[int] = DEFAULT_KS) -> list[int]:
    """The values of k that every task has enough samples for."""
    smallest = min(n_per_task, default=0)
    return [k for k in ks if 1 <= k <= smallest]


def mean_pass_at_k(counts: Mapping[str, tuple[int, int]], ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """``{"pass@k": score}`` over tasks, from ``{task_id: (n, c)}``; k larger than some n is left out."""
    if not counts:
        return {}
    return {
        f"pass@{k}": float(np.mean([pass_at_k(n, c, k) for n, c in counts.values()]))
        for k in usable_ks((n for n, _ in counts.values()), ks)
    }
