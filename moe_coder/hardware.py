"""What the CPU computes natively, in one place, so every step asks the same question.

``native_bf16()`` says whether this CPU has bfloat16 matrix units (AVX512-BF16 or AMX). Steps
that gain from bfloat16 (generation, training) use it; steps that must give the same answer
for a prompt alone and in any batch (the router's encoder) do not take a different path on it.

``MOE_CODER_NATIVE_BF16=1`` (or ``0``) overrides the detection, so that a test can force the
path a native-bf16 CPU takes on any machine.
"""
from __future__ import annotations

import os
from functools import lru_cache

ENV_OVERRIDE = "MOE_CODER_NATIVE_BF16"


@lru_cache(maxsize=1)
def _detected_native_bf16() -> bool:
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def native_bf16() -> bool:
    """True where the CPU computes bfloat16 natively, or where ``MOE_CODER_NATIVE_BF16`` says so."""
    forced = os.environ.get(ENV_OVERRIDE, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if forced:
        raise ValueError(f"{ENV_OVERRIDE} must be 0 or 1, not {forced!r}")
    return _detected_native_bf16()
