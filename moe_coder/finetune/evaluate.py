"""pass@1 of the expert being trained, through the evaluation harness (greedy, a benchmark subset)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from moe_coder.config import ExpertSpec, MixtureConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Answer:
    text: str


class _LoneExpert:
    """What the harness asks of a mixture when it evaluates one expert alone, without a router:
    its ``config`` and ``generate(prompts, expert=...)``."""

    def __init__(self, spec: ExpertSpec) -> None:
        from moe_coder.experts.pool import ExpertPool

        self.config = MixtureConfig(experts=[spec], generalist=spec.name, router="builtin", name=spec.name)
        self.pool = ExpertPool(max_loaded=1)

    def generate(self, prompts: Sequence[str], *, expert: str, batch_size: int = 8, **settings: Any) -> list[_Answer]:
        settings.pop("return_details", None)
        texts = self.pool.generate(self.config.expert(expert), prompts, batch_size=batch_size, **settings)
        return [_Answer(text) for text in texts]


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

    lone = _LoneExpert(spec)
    system = expert_system(spec.name)
    scores = {}
    for benchmark in benchmarks:
        results = Evaluation(benchmark, out_dir / benchmark, limit=limit).evaluate_mixture(
            lone, [system], GenerationSettings(max_new_tokens=max_new_tokens)
        )
        scores[benchmark] = float(results["systems"][system]["pass@k"]["pass@1"])
        logger.info("%s pass@1 on %d tasks: %.3f", benchmark, results["n_problems"], scores[benchmark])
    return scores
