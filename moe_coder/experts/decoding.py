"""Batched decoding in which rows leave as they end and waiting rows join, for the pool's local generation.

``transformers``' ``generate`` runs a batch until its longest row ends: a row that stopped at
token 40 is still computed, padded, for every step until the last row stops at token 384. On a
CPU, where a step's cost grows with the rows in it, most of an evaluation's time went to such
rows. :func:`decode` runs the same greedy or sampled decoding with the model's own KV cache.
When enough rows have ended it selects the rows still running out of the batch and the cache
(``Cache.batch_select_indices``), and rows still waiting are prefilled apart and joined to the
running rows' cache, left-padded (continuous batching, as vLLM and TGI do).

The batch only ever runs at the pool's bucket sizes (``bucket``): kernel libraries keep
per-shape state, so a few sizes bound it (see :data:`moe_coder.experts.pool.BATCH_BUCKETS`).
Ended rows that fill a bucket are fed the pad token, as ``generate`` feeds them, and their
tokens are ignored. A model whose cache cannot select rows decodes each batch to its end.

Greedy answers equal ``generate``'s, and each prompt's answer alone, in float32. In bf16 a row's
logits can differ in the last bit with the batch it shares (the kernels block the products by
shape), so a batch that changes around a row changes a share of greedy answers, as a different
batch size does.
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


def _plain_dynamic(cache: Any) -> bool:
    """Whether ``cache`` is a ``DynamicCache`` of plain full-attention layers, whose tensors can be
    padded, trimmed and joined (``[batch, heads, length, head_dim]``); a sliding-window or
    recurrent layer cannot be."""
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:  # an older transformers without cache layers
        return False
    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer) is DynamicLayer and layer.is_initialized for layer in layers)


@dataclass
class _Batch:
    """The rows decoding together: per batch position, its state; and the cache they share."""

    rows: Any  # original row index of each position; -1 for a filler
    running: Any  # bool: still generating
    generated: Any  # tokens generated so far
    positions: Any  # position id of the last token
    mask: Any  # (batch, cache length) attention mask
    sequences: Any  # (batch, length) every token so far, for the repetition penalty; None without it
    logits: Any  # (batch, vocab) the next token's logits
    cache: Any
    tokens: Any = None  # the token each position reads next

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def select(self, keep: Any, fillers: int = 0) -> "_Batch":
        """The positions ``keep`` (in order), then ``fillers`` copies of the first one that do not run."""
        import torch

        if fillers:
            keep = torch.cat([keep, keep[:1].expand(fillers)])
        if len(keep) == len(self) and bool((keep == torch.arange(len(self))).all()):
            return self
        self.cache.batch_select_indices(keep)
        running = self.running[keep]
        rows = self.rows[keep]
        if fillers:
            running[-fillers:] = False
            rows[-fillers:] = -1
        return _Batch(
            rows, running, self.generated[keep], self.positions[keep], self.mask[keep],
            None if self.sequences is None else self.sequences[keep], self.logits[keep], self.cache,
            None if self.tokens is None else self.tokens[keep],
        )

    def trim(self) -> None:
        """Drop the cache columns that are padding in every row (left by rows that left); a plain
        ``DynamicCache`` only (:func:`_plain_dynamic`)."""
        start = int(self.mask.any(dim=0).long().argmax())
        if start == 0:
            return
        for layer in self.cache.layers:
            layer.keys, layer.values = layer.keys[:, :, start:], layer.values[:, :, start:]
        self.mask = self.mask[:, start:]


def _pad_left(tensor: Any, length: int, dim: int, value: Any = 0) -> Any:
    import torch

    missing = length - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    if isinstance(value, torch.Tensor):  # a per-row value, repeated
        return torch.cat([value.expand(*shape), tensor], dim=dim)
    return torch.cat([tensor.new_full(shape, value), tensor], dim=dim)


def _join(a: _Batch, b: _Batch) -> _Batch:
    """``a``'s rows then ``b``'s, in one cache: the shorter side is left-padded (masked out)."""
    import torch

    length = max(a.mask.shape[1], b.mask.shape[1])
    for la, lb in zip(a.cache.layers, b.cache.layers):
        la.keys = torch.cat([_pad_left(la.keys, length, 2), _pad_left(lb.keys, length, 2)])
        la.values = torch.cat([_pad_left(la.values, length, 2), _pad_left(lb.values, length, 2)])
    sequences = None
    if a.sequences is not None:
        width = max(a.sequences.shape[1], b.sequences.shape[1])  # padded with each row's first token: no new token is penalised
        sequences = torch.cat([_pad_left(a.sequences, width, 1, a.sequences[:, :1]),
                               _pad_left(b.sequences, width, 1, b.sequences[:, :1])])
    return _Batch(
        torch.cat([a.rows, b.rows]), torch.cat([a.running, b.running]), torch.cat([a.generated, b.generated]),
        torch.cat([a.positions, b.positions]),
        torch.cat([_pad_left(a.mask, length, 1), _pad_left(b.mask, length, 1)]),
        sequences, torch.cat([a.logits, b.logits]), a.cache, torch.cat([a.tokens, b.tokens]),
    )


def decode(
    model: Any,
    encode: Callable[[list[int]], tuple[Any, Any]],
    rows: int,
    *,
    batch_size: int,
    max_new_tokens: int,
    pad_token_id: int,
    on_step: StepCallback,
    sampling: Sampling = Sampling(),
    bucket: Callable[[int], int] = lambda rows: rows,
    drop: bool = True,
    refill: bool = True,
) -> int:
    """Decode ``rows`` prompts, at most ``batch_size`` at a time, until each has ended.

    ``encode(indices)`` gives the left-padded ``(input_ids, attention_mask)`` of those rows
    (an index may repeat: the copies are fillers). ``on_step`` sees each running row's new token
    and says which rows ended (at an end-of-sequence token, a stop string, a cancelled reader
    or the length); a row also ends after ``max_new_tokens`` tokens.

    ``bucket(n)`` is the batch size ``n`` rows run at (at most ``batch_size``): a batch is padded
    to it with fillers that do not run. With ``drop``, rows that ended leave the batch whenever
    the rows left fit a smaller bucket. With ``refill`` too, rows still waiting join the batch
    once a quarter of it has ended (or all that wait fit): they are prefilled apart and joined
    to the running rows' cache, left-padded (continuous batching). Dropping needs a cache that selects
    rows; refill, a plain ``DynamicCache``. Without them, ``batch_size`` rows at a time run to
    their longest's end, as ``generate`` runs a batch. Returns the number of decoding steps run.
    """
    import torch

    if rows <= 0:
        return 0
    processors = sampling.processors()
    extra = {"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}
    cache_argument = _cache_argument(model)
    waiting = list(range(rows))[::-1]  # popped from the end: row 0 first

    def prefill(indices: list[int]) -> _Batch:
        size = bucket(len(indices))
        input_ids, attention_mask = encode(indices + [indices[-1]] * (size - len(indices)))
        position_ids = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)  # as generate sets them
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True, **extra)
        real = torch.arange(size) < len(indices)
        return _Batch(
            torch.tensor(indices + [-1] * (size - len(indices))), real, torch.zeros(size, dtype=torch.long),
            position_ids[:, -1], attention_mask, input_ids if processors else None,
            out.logits[:, -1, :].float(), _cache_of(out),
        )

    def admit(count: int) -> _Batch:
        return prefill([waiting.pop() for _ in range(min(count, len(waiting)))])

    def choose(batch: _Batch) -> None:
        """Pick each running row's next token from its logits; the rows that end with it stop running."""
        logits = processors(batch.sequences, batch.logits) if processors else batch.logits
        if sampling.temperature > 0:
            tokens = torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1).squeeze(1)
        else:
            tokens = logits.argmax(dim=-1)
        batch.tokens = torch.where(batch.running, tokens, torch.full_like(tokens, pad_token_id))
        live = batch.running.nonzero().squeeze(1).tolist()
        ended = on_step([int(batch.rows[i]) for i in live], [int(batch.tokens[i]) for i in live])
        batch.generated[live] += 1
        for i, done in zip(live, ended):
            if done or int(batch.generated[i]) >= max_new_tokens:
                batch.running[i] = False

    batch = admit(batch_size)
    choose(batch)
    selectable = drop and hasattr(batch.cache, "batch_select_indices")
    joinable = refill and selectable and _plain_dynamic(batch.cache)  # every later cache is of the same kind
    steps = 0
    while True:
        running = batch.running.nonzero().squeeze(1)
        left = len(running)
        free = batch_size - left
        if waiting and (left == 0 or (joinable and free >= min(len(waiting), max(1, batch_size // 4)))):
            newcomers = admit(free)
            choose(newcomers)
            if left == 0:
                batch = newcomers  # prefilled at a bucket size
                if not bool(batch.running.any()):
                    continue  # every newcomer ended at its first token
            else:
                joining = newcomers.running.nonzero().squeeze(1)  # its fillers, and rows that ended, left out
                if len(joining):
                    fillers = bucket(left + len(joining)) - left - len(joining)
                    batch = _join(batch.select(running), newcomers.select(joining, fillers=fillers))
                else:
                    batch = batch.select(running, fillers=bucket(left) - left)
        elif left == 0:
            return steps
        elif selectable and bucket(left) < len(batch):
            batch = batch.select(running, fillers=bucket(left) - left)
        if batch.sequences is not None:
            batch.sequences = torch.cat([batch.sequences, batch.tokens[:, None]], dim=1)
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch), 1))], dim=1)
        batch.positions = batch.positions + 1
        out = model(
            input_ids=batch.tokens[:, None],
            attention_mask=batch.mask,
            position_ids=batch.positions[:, None],
            use_cache=True,
            **{cache_argument: batch.cache},
            **extra,
        )
        steps += 1
        batch.cache, batch.logits = _cache_of(out), out.logits[:, -1, :].float()
        if joinable:
            batch.trim()
        choose(batch)
