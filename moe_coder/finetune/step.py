"""One optimizer step of the trainer, usable on its own (the GPU benchmark times exactly this)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from moe_coder.finetune.attention import NAME as PACKED_SDPA
from moe_coder.finetune.data import Example
from moe_coder.finetune.packing import collate, shard_step, token_loss_sum
from moe_coder.finetune.recipe import TrainingConfig


def batch_layout(training: TrainingConfig, attention: str, pad_id: int) -> dict[str, Any]:
    """How :func:`~moe_coder.finetune.packing.collate` lays out a micro-batch for this attention kernel.

    Flash attention reads packed rows as one flattened sequence whose restarting position ids mark
    the examples (its varlen kernel); ``packed_sdpa`` takes the examples' lengths; flex attention is
    compiled per shape, so packed rows are padded to the full sequence length to keep one shape.
    """
    packed = training.packing
    return {"packed": packed, "pad_id": pad_id, "flatten": packed and attention == "flash_attention_2",
            "segments": packed and attention == PACKED_SDPA,
            "width": training.seq_len if packed and attention == "flex_attention" else None}


@dataclass
class StepResult:
    """Totals of one optimizer step over every process."""

    loss_sum: float
    answer_tokens: int
    tokens: int
    positions: int
    grad_norm: float | None
    learning_rate: float
    seconds: float


def train_step(accelerator: Any, model: Any, optimizer: Any, scheduler: Any, examples: Sequence[Example],
               rows: Sequence[Sequence[int]], training: TrainingConfig, layout: dict[str, Any]) -> StepResult:
    """One optimizer step over ``rows`` (all processes' rows; this process takes its share).

    Each process's gradient is averaged over processes and accumulation steps, so the summed token
    loss is scaled to make the update the gradient of the step's mean answer-token loss, however the
    rows are split.
    """
    acc, t = accelerator, training
    began = time.perf_counter()
    answer_tokens = sum(examples[i].answer_len for row in rows for i in row)
    scale = acc.num_processes * t.gradient_accumulation_steps / answer_tokens
    loss_sum = torch.zeros((), device=acc.device, dtype=torch.float32)
    counts = torch.zeros(2, device=acc.device, dtype=torch.float64)
    for micro in shard_step(rows, t.micro_batch_size, t.gradient_accumulation_steps, acc.num_processes,
                            acc.process_index):
        batch = collate(examples, micro or [rows[0]], filler=not micro, **layout)
        with acc.accumulate(model):
            logits = model(**batch.model_inputs(acc.device), use_cache=False).logits
            loss = token_loss_sum(logits, batch.labels.to(acc.device))
            acc.backward(loss * scale)
        loss_sum += loss.detach()
        counts += torch.tensor([batch.tokens, batch.positions], device=acc.device, dtype=torch.float64)
    grad_norm = acc.clip_grad_norm_(model.parameters(), t.max_grad_norm) if t.max_grad_norm > 0 else None
    learning_rate = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    total_loss = float(acc.reduce(loss_sum, reduction="sum"))
    tokens, positions = (int(x) for x in acc.reduce(counts, reduction="sum").tolist())
    return StepResult(loss_sum=total_loss, answer_tokens=answer_tokens, tokens=tokens, positions=positions,
                      grad_norm=float(grad_norm) if grad_norm is not None else None, learning_rate=learning_rate,
                      seconds=time.perf_counter() - began)
