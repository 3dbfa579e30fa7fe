"""One generated answer with its real token counts, and the pieces that measure them."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Sequence

from moe_coder.config import ExpertSpec


@dataclass
class Completion:
    """Generated text, the tokens it cost, and why generation ended.

    ``finish_reason`` follows the OpenAI API: ``"length"`` when ``max_new_tokens`` ran out,
    ``"stop"`` otherwise (end of sequence, a stop string, or a cancelled stream).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


class ContextLengthError(ValueError):
    """``max_new_tokens`` does not fit in the expert's context."""


def check_room(spec: ExpertSpec, context: int | None, max_new_tokens: int) -> int | None:
    """Tokens left for the prompt once ``max_new_tokens`` are reserved; an error when none are."""
    if not context:
        return None
    room = context - max_new_tokens
    if room < 1:
        raise ContextLengthError(f"expert {spec.name!r}: max_new_tokens={max_new_tokens} leaves no room in its {context}-token context")
    return room


def generated_lengths(new_tokens: Any, eos_ids: Sequence[int], pad_id: int | None) -> list[int]:
    """Tokens each row of ``generate``'s output really generated.

    A row ends at its first end-of-sequence token (counted); a row stopped otherwise (a stop
    string) is followed by padding, which is not counted.
    """
    lengths = []
    for row in new_tokens.tolist():
        n = len(row)
        ends = [i for i, t in enumerate(row) if t in eos_ids]
        if ends:
            n = ends[0] + 1
        elif pad_id is not None:
            while n and row[n - 1] == pad_id:
                n -= 1
        lengths.append(n)
    return lengths


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The ids that end a sequence for this model (its generation config's, else the tokenizer's)."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None]


class GenerationMonitor:
    """A ``generate`` stopping criterion that counts new tokens and halts when an event is set."""

    def __init__(self, prompt_length: int, *events: threading.Event | None) -> None:
        self.prompt_length = prompt_length
        self.events = [e for e in events if e is not None]
        self.generated = 0

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        self.generated = int(input_ids.shape[1]) - self.prompt_length
        halt = any(e.is_set() for e in self.events)
        return torch.full((input_ids.shape[0],), halt, dtype=torch.bool, device=input_ids.device)
