"""One expert answering on its own, without a router or a mixture around it."""
from __future__ import annotations

from typing import Any, Sequence

from moe_coder.config import ExpertSpec
from moe_coder.experts.pool import ExpertPool


class SingleExpert:
    """An expert alone (what ``train-expert`` evaluates after training): its weights are loaded on
    first use, and :meth:`generate` answers with it as a mixture answers with that expert."""

    def __init__(self, spec: ExpertSpec, device: str | None = None) -> None:
        self.spec = spec
        self.pool = ExpertPool(max_loaded=1, device=device)

    @property
    def experts(self) -> list[ExpertSpec]:
        return [self.spec]

    def generate(self, prompt: Sequence[str], *, expert: str | None = None, batch_size: int = 8, **settings: Any) -> list[str]:
        """One answer per prompt; ``expert``, when given, must name this expert."""
        if expert is not None and expert != self.spec.name:
            raise KeyError(f"no expert named {expert!r}; this is the expert {self.spec.name!r}")
        return self.pool.generate(self.spec, list(prompt), batch_size=batch_size, **settings)
