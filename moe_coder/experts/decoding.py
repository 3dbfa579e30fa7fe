"""Batched decoding that drops finished rows, for the pool's local generation.

``transformers``' ``generate`` runs a batch until its longest row ends: a row that stopped at
token 40 is still computed, padded, for every step until the last row stops at token 384. On a
CPU, where a step's cost grows with the rows in it, most of an evaluation's time went to such
rows. :func:`decode` runs the same greedy or sampled decoding with the model's own KV cache,
and when enough rows have ended it selects the rows still running out of the batch and the
cache (``Cache.batch_select_indices``), as continuous-batching engines such as vLLM do.

The batch only ever shrinks to one of the pool's bucket sizes (``sizes``): kernel libraries
keep per-shape state, so a few sizes bound it (see :data:`moe_coder.experts.pool.BATCH_BUCKETS`).
Ended rows that fill a bucket are fed the pad token, as ``generate`` feeds them, and their
tokens are ignored. A model whose cache cannot select rows decodes its whole batch to the end.

Greedy answers equal ``generate``'s in float32. In bf16 a row's logits can differ in the last
bit with the batch it shares (the kernels block the matrix products by batch size), so a
shrinking batch changes a small share of greedy answers, as a different batch size does.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Sequence

#: Called once per step with the batch rows still running (their indices in the original batch)
#: and the token each generated; returns, per such row, whether it has ended.
StepCallback = Callable[[list[int], list[int]], Sequence[bool]]


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen: greedy when ``temperature`` is 0, else sampled.

    The settings mean what they mean in ``transformers``' ``generate`` (``temperature``,
    ``top_k``, ``top_p``, ``repetition_penalty``), applied in that library's order.
    """

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    repetition_penalty: float | None = None

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "Sampling":
        """The sampling of merged generation settings (see :func:`merge_generation_settings`)."""
        temperature = float(settings.get("temperature") or 0.0)
        penalty = settings.get("repetition_penalty")
        top_k = settings.get("top_k")
        return cls(
            temperature=temperature,
            top_p=float(settings.get("top_p") or 1.0),
            top_k=int(top_k) if top_k is not None and temperature > 0 else None,
            repetition_penalty=float(penalty) if penalty is not None else None,
        )

    def processors(self) -> Any:
        """The ``transformers`` logits processors that apply these settings."""
        from transformers.generation.logits_process import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        chain = LogitsProcessorList()
        if self.repetition_penalty is not None and self.repetition_penalty != 1.0:
            chain.append(RepetitionPenaltyLogitsProcessor(self.repetition_penalty))
        if self.temperature > 0:
            if self.temperature != 1.0:
                chain.append(TemperatureLogitsWarper(self.temperature))
            if self.top_k:
                chain.append(TopKLogitsWarper(self.top_k))
            if self.top_p < 1.0:
                chain.append(TopPLogitsWarper(self.top_p))
        return chain


def _accepts(model: Any, name: str) -> bool:
    """Whether the model's forward takes ``name`` (looked up on a PEFT wrapper's base model)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return name in inspect.signature(base.forward).parameters


def _cache_argument(model: Any) -> str:
    """The forward argument that takes the KV cache: ``cache`` in newer ``transformers``, else ``past_key_values``."""
    return "cache" if _accepts(model, "cache") else "past_key_values"


def _cache_of(out: Any) -> Any:
    cache = out.get("cache") if hasattr(out, "get") else None
    return cache if cache is not None else out.past_key_values


def shrink_to(running: int, current: int, sizes: Sequence[int]) -> int:
    """The batch size to run ``running`` unfinished rows at, from a batch of ``current`` rows.

    The smallest of ``sizes`` that holds them when it is below ``current``; else ``current``.
    """
    smaller = [s for s in sizes if running <= s < current]
    return min(smaller) if smaller else current


def decode(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    *,
    max_new_tokens: int,
    pad_token_id: int,
    on_step: StepCallback,
    sampling: Sampling = Sampling(),
    sizes: Sequence[int] = (),
) -> int:
    """Decode a left-padded batch until every row has ended or ``max_new_tokens`` steps ran.

    ``on_step`` sees each running row's new token and says which rows ended (at an
    end-of-sequence token, a stop string, a cancelled reader or the length). Rows that ended
    are dropped from the batch whenever the rows left fit a smaller size of ``sizes`` (no size:
    the batch never shrinks). Returns the number of decoding steps run.
    """
    import torch

    batch = input_ids.shape[0]
    position_ids = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)  # as generate sets them
    processors = sampling.processors()
    sequences = input_ids if processors else None  # what the repetition penalty reads
    extra = {"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True, **extra)
    cache = _cache_of(out)
    cache_argument = _cache_argument(model)
    selectable = hasattr(cache, "batch_select_indices")
    rows = torch.arange(batch)  # original row of each batch position
    running = torch.ones(batch, dtype=torch.bool)
    positions = position_ids[:, -1]
    mask = attention_mask
    steps = 0
    while steps < max_new_tokens:
        logits = out.logits[:, -1, :].float()
        if processors:
            logits = processors(sequences, logits)
        if sampling.temperature > 0:
            tokens = torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1).squeeze(1)
        else:
            tokens = logits.argmax(dim=-1)
        tokens = torch.where(running, tokens, torch.full_like(tokens, pad_token_id))
        steps += 1
        live = running.nonzero().squeeze(1).tolist()
        ended = on_step([int(rows[i]) for i in live], [int(tokens[i]) for i in live])
        for i, done in zip(live, ended):
            if done:
                running[i] = False
        left = int(running.sum())
        if left == 0 or steps == max_new_tokens:
            break
        size = shrink_to(left, len(rows), sizes) if selectable else len(rows)
        if size < len(rows):
            finished = (~running).nonzero().squeeze(1)
            keep = torch.cat([running.nonzero().squeeze(1), finished[: size - left]]).sort().values
            cache.batch_select_indices(keep)
            rows, running, tokens, positions, mask = rows[keep], running[keep], tokens[keep], positions[keep], mask[keep]
            if sequences is not None:
                sequences = sequences[keep]
        if sequences is not None:
            sequences = torch.cat([sequences, tokens[:, None]], dim=1)
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        positions = positions + 1
        out = model(
            input_ids=tokens[:, None],
            attention_mask=mask,
            position_ids=positions[:, None],
            use_cache=True,
            **{cache_argument: cache},
            **extra,
        )
        cache = _cache_of(out)
    return steps
