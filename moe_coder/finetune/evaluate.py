"""pass@1 of the expert being trained, through the evaluation harness (greedy, a benchmark subset)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from moe_coder.config import ExpertSpec

logger = logging.getLogger(__name__)


def pass_at_1(spec: ExpertSpec, benchmarks: Sequence[str], limit: int, max_new_tokens: int, out_dir: Path) -> dict[str, float]:
    """Greedy pass@1 of the expert ``spec`` alone on the first ``limit`` tasks of each benchmark.

    Samples and verdicts stay in ``out_dir/<benchmark>/`` (the harness's ``samples.jsonl`` and
    ``results.json``).
    """
    from moe_coder.evaluation.harness import (
        Evaluation,
        GenerationSettings,
        expert_system,
    )
    from moe_coder.experts.single import SingleExpert

    lone = SingleExpert(spec)
    system = expert_system(spec.name)
    scores = {}
    for benchmark in benchmarks:
        results = Evaluation(benchmark, out_dir / benchmark, limit=limit).evaluate_mixture(
            lone, [system], GenerationSettings(max_new_tokens=max_new_tokens)
        )
        scores[benchmark] = float(results["systems"][system]["pass@k"]["pass@1"])
        logger.info("%s pass@1 on %d tasks: %.3f", benchmark, results["n_problems"], scores[benchmark])
    return scores
