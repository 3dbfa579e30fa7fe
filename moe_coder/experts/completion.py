"""One generated answer with its real token counts, and the pieces that measure them."""
from __future__ import annotations

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


def truncate_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """Cut ``text`` at the earliest occurrence of any stop string."""
    cut = len(text)
    for s in stop or ():
        i = text.find(s)
        if s and i != -1:
            cut = min(cut, i)
    return text[:cut]


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


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The ids that end a sequence for this model (its generation config's, else the tokenizer's)."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None]
