"""Rows, steps and batches: packing examples into sequence-length rows, and the epoch plan.

Packing puts several examples in one row of ``seq_len`` tokens, and no example attends to
another: position ids restart at 0 for every example, which flash attention 2 reads as sequence
boundaries (its varlen kernel over the flattened batch) and transformers' ``sdpa``/``eager``/
``flex_attention`` turn into a block-diagonal causal mask; ``packed_sdpa``
(:mod:`moe_coder.finetune.attention`) takes the example lengths and attends within each. Padded batching
(one example per row, padded to the longest in the micro-batch) is the baseline packing is
measured against.

The plan is a pure function of the example lengths, the seed and the epoch, so a resumed run
sees exactly the rows an uninterrupted run would have seen. A step covers ``rows_per_step`` rows
(micro-batch x accumulation x processes); the loss of a step is the sum over all answer tokens of
those rows divided by their number, however the rows are split between processes and micro-batches.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from moe_coder.finetune.attention import SEGMENTS
from moe_coder.finetune.data import Example

IGNORE_INDEX = -100


def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Best-fit packing in the given order: each item goes into the open row with the least room
    that still holds it, or starts a new row. Returns rows of item indices."""
    rows: list[list[int]] = []
    room: list[int] = []  # free space of the open rows, ascending
    row_of: list[int] = []  # the row each entry of ``room`` belongs to
    for item, length in enumerate(lengths):
        if length > capacity:
            raise ValueError(f"item {item} has {length} tokens, more than a row's {capacity}")
        k = bisect_left(room, length)
        if k < len(room):
            row = row_of.pop(k)
            left = room.pop(k) - length
            rows[row].append(item)
        else:
            row = len(rows)
            rows.append([item])
            left = capacity - length
        if left > 0:
            k = bisect_left(room, left)
            room.insert(k, left)
            row_of.insert(k, row)
    return rows


def epoch_rows(lengths: Sequence[int], seq_len: int, packing: bool, seed: int, epoch: int) -> list[list[int]]:
    """The rows of one epoch: examples shuffled by ``(seed, epoch)``, then packed or one per row."""
    order = np.random.default_rng([seed, epoch]).permutation(len(lengths))
    if not packing:
        return [[int(i)] for i in order]
    packed = pack_rows([lengths[i] for i in order], seq_len)
    return [[int(order[j]) for j in row] for row in packed]


@dataclass(frozen=True)
class Plan:
    """Every epoch's rows, cut into steps of ``rows_per_step`` rows (the last step of an epoch may be short)."""

    epochs: tuple[tuple[tuple[int, ...], ...], ...]
    rows_per_step: int
    max_steps: int | None = None

    def steps_in_epoch(self, epoch: int) -> int:
        return math.ceil(len(self.epochs[epoch]) / self.rows_per_step)

    @property
    def total_steps(self) -> int:
        total = sum(self.steps_in_epoch(e) for e in range(len(self.epochs)))
        return min(total, self.max_steps) if self.max_steps else total

    def locate(self, step: int) -> tuple[int, int]:
        """``(epoch, step within the epoch)`` of global step ``step`` (0-based)."""
        for epoch in range(len(self.epochs)):
            n = self.steps_in_epoch(epoch)
            if step < n:
                return epoch, step
            step -= n
        raise IndexError("step past the end of the plan")

    def step_rows(self, step: int) -> tuple[tuple[int, ...], ...]:
        epoch, index = self.locate(step)
        return self.epochs[epoch][index * self.rows_per_step : (index + 1) * self.rows_per_step]

    def epoch_end(self, step: int) -> bool:
        """Whether global step ``step`` is the last of its epoch."""
        epoch, index = self.locate(step)
        return index == self.steps_in_epoch(epoch) - 1


def make_plan(lengths: Sequence[int], seq_len: int, packing: bool, epochs: int, seed: int,
              rows_per_step: int, max_steps: int | None = None) -> Plan:
    if not lengths:
        raise ValueError("no training examples")
    rows = tuple(
        tuple(tuple(row) for row in epoch_rows(lengths, seq_len, packing, seed, e)) for e in range(epochs)
    )
    return Plan(rows, rows_per_step, max_steps)


def shard_step(rows: Sequence[Sequence[int]], micro_batch_size: int, accumulation: int, world: int,
               rank: int) -> list[list[Sequence[int]]]:
    """This process's micro-batches of a step: ``accumulation`` lists of up to ``micro_batch_size`` rows.

    An empty list means the step ran out of rows for this process: it still runs a forward and
    backward pass (with no answer tokens) so that every process takes part in every reduction.
    """
    out = []
    for a in range(accumulation):
        start = (a * world + rank) * micro_batch_size
        out.append(list(rows[start : start + micro_batch_size]))
    return out


@dataclass
class Batch:
    """Model inputs plus the counts the loss and the throughput figures need."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    position_ids: torch.Tensor | None
    attention_mask: torch.Tensor | None
    tokens: int  # non-padding tokens
    positions: int  # all positions, padding included
    label_tokens: int
    segments: list[list[int]] | None = None  # per row, the lengths of its examples (and end padding)

    def model_inputs(self, device: torch.device | str | None = None) -> dict[str, Any]:
        """Keyword arguments for the model's forward (tensors moved to ``device``)."""
        tensors = {"input_ids": self.input_ids, "position_ids": self.position_ids,
                   "attention_mask": self.attention_mask}
        inputs: dict[str, Any] = {k: v.to(device) if device is not None else v
                                  for k, v in tensors.items() if v is not None}
        if self.segments is not None:
            inputs[SEGMENTS] = self.segments
        return inputs


def row_labels(example: Example) -> np.ndarray:
    labels = example.ids.astype(np.int64)
    labels[: example.prompt_len] = IGNORE_INDEX
    return labels


def collate(examples: Sequence[Example], rows: Sequence[Sequence[int]], *, packed: bool, pad_id: int,
            flatten: bool = False, width: int | None = None, segments: bool = False, filler: bool = False) -> Batch:
    """Tensors for a micro-batch of rows (lists of example indices).

    Packed rows get position ids that restart per example and no attention mask; the padding at
    a row's end is a segment of its own. Padded (unpacked) rows get an attention mask. Rows are
    padded to the longest one, or to ``width``. ``flatten`` joins the rows into one (for flash
    attention's varlen path); ``segments`` adds the example lengths (for ``packed_sdpa``).
    ``filler`` masks every label.
    """
    ids_rows, label_rows, pos_rows = [], [], []
    for row in rows:
        parts = [examples[i] for i in row]
        if not packed and len(parts) != 1:
            raise ValueError("an unpacked row holds exactly one example")
        ids_rows.append(np.concatenate([p.ids for p in parts]).astype(np.int64))
        label_rows.append(np.concatenate([row_labels(p) for p in parts]))
        pos_rows.append(np.concatenate([np.arange(len(p)) for p in parts]))
    width = max(max(len(r) for r in ids_rows), width or 0)
    n = len(ids_rows)
    input_ids = np.full((n, width), pad_id, dtype=np.int64)
    labels = np.full((n, width), IGNORE_INDEX, dtype=np.int64)
    position_ids = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    for r, (ids, lab, pos) in enumerate(zip(ids_rows, label_rows, pos_rows)):
        input_ids[r, : len(ids)] = ids
        labels[r, : len(ids)] = lab
        position_ids[r, : len(ids)] = pos
        position_ids[r, len(ids):] = np.arange(width - len(ids))
        mask[r, : len(ids)] = 1
    tokens = int(mask.sum())
    if filler:
        labels[:] = IGNORE_INDEX
        tokens = 0
    if flatten:
        input_ids, labels, position_ids = (a.reshape(1, -1) for a in (input_ids, labels, position_ids))
    row_segments = None
    if segments:
        row_segments = [[len(examples[i]) for i in row] + ([width - len(ids)] if width > len(ids) else [])
                        for row, ids in zip(rows, ids_rows)]
    return Batch(
        input_ids=torch.from_numpy(input_ids),
        labels=torch.from_numpy(labels),
        position_ids=torch.from_numpy(position_ids) if packed else None,
        attention_mask=None if packed else torch.from_numpy(mask),
        tokens=tokens,
        positions=n * width,
        label_tokens=int((labels != IGNORE_INDEX).sum()),
        segments=row_segments,
    )


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy over the labelled positions (in float32)."""
    vocab = logits.shape[-1]
    return F.cross_entropy(
        logits[:, :-1].float().reshape(-1, vocab), labels[:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX, reduction="sum",
    )
