"""pass@1 of the expert being trained, through the evaluation harness (greedy, a benchmark subset)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from moe_coder.config import ExpertSpec, MixtureConfig

logger = logging.getLogger(__name__)


def pass_at_1(spec: ExpertSpec, benchmarks: Sequence[str], limit: int, max_new_tokens: int, out_dir: Path) -> dict[str, float]:
    """Greedy pass@1 of the expert ``spec`` alone on the first ``limit`` tasks of each benchmark.

    Samples and verdicts stay in ``out_dir/<benchmark>/`` (the harness's ``samples.jsonl`` and
    ``results.json``).
    """
    from moe_coder.evaluation.harness import Evaluation, GenerationSettings, expert_system
    from moe_coder.mixture import MoECoder, builtin_dir
    from moe_coder.routing.router import PromptRouter

    config = MixtureConfig(experts=[spec], generalist=spec.name, router="builtin", name=f"{spec.name}-in-training")
    coder = MoECoder(config, PromptRouter.from_pretrained(builtin_dir() / "router"))
    system = expert_system(spec.name)
    scores = {}
    for benchmark in benchmarks:
        results = Evaluation(benchmark, out_dir / benchmark, limit=limit).evaluate_mixture(
            coder, [system], GenerationSettings(max_new_tokens=max_new_tokens)
        )
        scores[benchmark] = float(results["systems"][system]["pass@k"]["pass@1"])
        logger.info("%s pass@1 on %d tasks: %.3f", benchmark, results["n_problems"], scores[benchmark])
    return scores
