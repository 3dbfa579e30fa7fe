"""What the evaluation harness evaluates: the contract between it and the systems it generates with.

A :class:`Generator` answers prompts with one of its experts, by name; a :class:`RoutingGenerator`
can also route prompts to its experts (the harness's ``routed`` system). A mixture,
:class:`~moe_coder.mixture.MoECoder`, is both; one expert on its own,
:class:`~moe_coder.experts.single.SingleExpert`, is a :class:`Generator`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Sequence

if TYPE_CHECKING:
    from moe_coder.config import ExpertSpec
    from moe_coder.decisions import RoutingDecision


class Generator(Protocol):
    """Experts the harness can prompt by name."""

    @property
    def experts(self) -> Sequence["ExpertSpec"]:
        """Every expert, with the ``prompt_format`` that says how the harness asks it."""
        ...

    def generate(self, prompt: Sequence[str], *, expert: str, batch_size: int = 8, **settings: Any) -> Any:
        """One answer (a string) per prompt, in order, from the expert named ``expert``; ``settings``
        are generation settings (``max_new_tokens``, ``temperature``, ``top_p``, ``seed``, ``stop``)."""
        ...


class RoutingGenerator(Generator, Protocol):
    """A :class:`Generator` that also chooses an expert for each prompt."""

    def route_batch(self, prompts: Sequence[str]) -> list["RoutingDecision"]:
        """One decision per prompt: its ``expert``, ``language``, ``task``, ``confidence``, ``abstained``."""
        ...


def expert_spec(generator: Generator, name: str) -> "ExpertSpec":
    """The generator's expert named ``name``; an unknown name is an error naming the experts."""
    for spec in generator.experts:
        if spec.name == name:
            return spec
    raise KeyError(f"no expert named {name!r}; the generator has {[e.name for e in generator.experts]}")
