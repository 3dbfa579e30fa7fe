"""Training examples: read JSONL records, render them with the expert's prompt format, tokenize.

Rendering goes through :func:`moe_coder.experts.prompt_formats.render_example`, the code path
the mixture uses at inference, and the prompt is tokenized exactly as the expert pool tokenizes
it, so training and serving agree. The loss sees only the answer (and its end-of-sequence token).
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from moe_coder.config import ExpertSpec
from moe_coder.experts.prompt_formats import render_example
from moe_coder.messages import Message
from moe_coder.jsonl import iter_jsonl

logger = logging.getLogger(__name__)

ENCODE_BATCH = 256


@dataclass(frozen=True)
class Example:
    """One tokenized conversation: ``ids`` is prompt then answer; the loss skips the first ``prompt_len``."""

    ids: np.ndarray
    prompt_len: int

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def answer_len(self) -> int:
        return len(self.ids) - self.prompt_len


@dataclass
class DataStats:
    """What reading and tokenizing a set of files did."""

    records: int = 0
    examples: int = 0
    truncated: int = 0
    dropped_no_answer: int = 0
    boundary_retokenized: int = 0
    tokens: int = 0
    answer_tokens: int = 0
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_records(path: str | Path) -> Iterator[tuple[str, dict]]:
    """Yield ``(where, record)`` for each non-blank line of a JSONL(.gz) file; ``where`` is ``file:line``."""
    return iter_jsonl(path, what="training data")


def record_messages(record: dict, where: str = "record") -> list[Message]:
    """A record as a chat ending in the answer.

    ``{"messages": [...]}`` is used as is; ``{"instruction", "response"}`` becomes one user turn
    (``"input"``, when present and non-empty, is appended to the instruction after a blank line;
    ``"system"`` becomes the system message, overriding the expert's).
    """
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:
            raise ValueError(f"{where}: 'messages' must be a non-empty list")
        return messages
    if "instruction" in record and "response" in record:
        instruction = str(record["instruction"])
        extra = record.get("input")
        if extra:
            instruction = f"{instruction}\n\n{extra}"
        messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": str(record["response"])}]
        if record.get("system"):
            messages.insert(0, {"role": "system", "content": str(record["system"])})
        return messages
    raise ValueError(f"{where}: expected 'messages' or 'instruction' and 'response', found keys {sorted(record)}")


def prompt_adds_special_tokens(tokenizer: Any, prompt_text: str) -> bool:
    """Whether the tokenizer should add its special tokens (BOS) to a prompt.

    The same rule as the expert pool at inference: not when the rendered prompt already starts
    with the BOS token (chat templates that write it themselves).
    """
    bos = getattr(tokenizer, "bos_token", None)
    return not (bos and prompt_text.startswith(bos))


def encode_conversations(
    conversations: Sequence[Sequence[Message]],
    spec: ExpertSpec,
    tokenizer: Any,
    seq_len: int,
    stats: DataStats | None = None,
) -> list[Example]:
    """Render and tokenize conversations (each ending in an assistant answer) into examples.

    The prompt keeps exactly the tokens inference would give it. The answer's tokens are those of
    the whole text after the prompt, unless the tokenizer merged across the boundary, in which case
    the answer is tokenized on its own. Examples longer than ``seq_len`` are cut at ``seq_len``;
    an example with no answer token left is dropped.
    """
    stats = stats if stats is not None else DataStats()
    examples: list[Example] = []
    for start in range(0, len(conversations), ENCODE_BATCH):
        rendered = [
            render_example(spec.prompt_format, messages, tokenizer, spec.system_prompt)
            for messages in conversations[start : start + ENCODE_BATCH]
        ]
        encoded: dict[int, tuple[list[int], list[int]]] = {}
        for special in (True, False):
            indices = [i for i, (p, _) in enumerate(rendered) if prompt_adds_special_tokens(tokenizer, p) == special]
            if not indices:
                continue
            prompts = tokenizer([rendered[i][0] for i in indices], add_special_tokens=special)["input_ids"]
            fulls = tokenizer([rendered[i][0] + rendered[i][1] for i in indices], add_special_tokens=special)["input_ids"]
            encoded.update(zip(indices, zip(prompts, fulls)))
        for i, (_, answer) in enumerate(rendered):
            prompt_ids, full_ids = encoded[i]
            if full_ids[: len(prompt_ids)] != prompt_ids:
                stats.boundary_retokenized += 1
                full_ids = prompt_ids + tokenizer(answer, add_special_tokens=False)["input_ids"]
            prompt_len = max(1, len(prompt_ids))
            if len(full_ids) > seq_len:
                stats.truncated += 1
                full_ids = full_ids[:seq_len]
            if prompt_len >= len(full_ids):
                stats.dropped_no_answer += 1
                continue
            example = Example(np.asarray(full_ids, dtype=np.int32), prompt_len)
            examples.append(example)
            stats.tokens += len(example)
            stats.answer_tokens += example.answer_len
    stats.examples += len(examples)
    return examples


def read_conversations(paths: Sequence[str | Path], max_records: int | None = None,
                       stats: DataStats | None = None) -> list[list[Message]]:
    """Read every record of ``paths`` (in order, up to ``max_records``) as a conversation."""
    stats = stats if stats is not None else DataStats()
    conversations: list[list[Message]] = []
    for path in paths:
        stats.files.append(str(path))
        for where, record in read_records(path):
            if max_records is not None and len(conversations) >= max_records:
                return conversations
            conversations.append(record_messages(record, where))
            stats.records += 1
    return conversations


def split_heldout(conversations: list, fraction: float, seed: int) -> tuple[list, list]:
    """Hold out ``fraction`` of the conversations (at least one, when any) at random, reproducibly."""
    if fraction <= 0 or len(conversations) < 2:
        return conversations, []
    count = min(len(conversations) - 1, max(1, round(fraction * len(conversations))))
    held = set(random.Random(seed).sample(range(len(conversations)), count))
    train = [c for i, c in enumerate(conversations) if i not in held]
    heldout = [c for i, c in enumerate(conversations) if i in held]
    return train, heldout
