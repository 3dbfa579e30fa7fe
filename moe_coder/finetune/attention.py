"""``packed_sdpa``: attention for packed rows that costs what the examples cost, with stock PyTorch.

Transformers keeps packed examples apart under ``sdpa`` with a dense block-diagonal mask: correct,
but every row pays for ``seq_len**2`` scores and the mask rules out SDPA's fastest kernels. This
attention instead runs causal SDPA on each example's slice of the row, without a mask: the work is
the sum of the examples' squared lengths, the same as training them one by one, and SDPA may use
its flash kernel. It is the fallback when the flash-attn package (whose varlen kernel does the same
in one call) is not installed.

The example lengths come from :func:`~moe_coder.finetune.packing.collate` as the ``packed_segments``
keyword, which transformers hands through the model to every attention call.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

NAME = "packed_sdpa"
SEGMENTS = "packed_segments"


def packed_sdpa_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal attention within each packed example. ``query``: (rows, heads, length, dim); returns
    (rows, length, heads, dim) like transformers' other attention functions."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    segments: Sequence[Sequence[int]] | None = kwargs.get(SEGMENTS)
    if segments is None or attention_mask is not None:
        raise ValueError(f"{NAME} attention takes packed rows: pass {SEGMENTS} (as collate does) and no attention mask")
    # split, not indexing: the backward of a split is one concatenation, whereas every indexed slice
    # would back-propagate into a zero-filled copy of the whole tensor.
    rows = []
    for q, k, v, lengths in zip(query.split(1), key.split(1), value.split(1), segments):
        pieces = [
            sdpa_attention_forward(module, qs, ks, vs, None, dropout=dropout, scaling=scaling, is_causal=True)[0]
            for qs, ks, vs in zip(q.split(lengths, dim=2), k.split(lengths, dim=2), v.split(lengths, dim=2))
        ]
        rows.append(torch.cat(pieces, dim=1))
    return torch.cat(rows, dim=0), None


def register() -> None:
    """Make ``attn_implementation="packed_sdpa"`` known to transformers (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, packed_sdpa_forward)
