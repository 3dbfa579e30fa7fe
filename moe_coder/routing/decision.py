"""What the router decided for one prompt, and why."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RoutingDecision:
    """The routing decision for one prompt.

    ``language`` / ``task`` are the most probable pair (for a translation ``language`` is the
    target and ``source_language`` the language translated from). ``confidence`` is the
    calibrated probability that the chosen expert is the right one (the summed probability of
    the pairs it serves); ``abstained`` is true when it fell below the mixture's threshold and
    the generalist answers instead. ``scores`` holds per-head class probabilities,
    ``alternatives`` the next best (language, task) pairs, ``cues`` the deterministic cues
    seen in the prompt. ``stage`` says which heads answered: ``"fast"`` (n-grams and cues were
    conclusive) or ``"full"`` (the prompt was also encoded by the sentence encoder).
    """

    language: str
    task: str
    confidence: float
    expert: str
    abstained: bool = False
    source_language: str | None = None
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    cues: list[str] = field(default_factory=list)
    stage: str = "full"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["source_language"] is None:
            del out["source_language"]
        return out


@dataclass
class GenerationResult:
    """Generated text together with the routing decision that chose its expert."""

    text: str
    decision: RoutingDecision

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "decision": self.decision.to_dict()}
