"""moe-coder: route coding prompts to specialised fine-tuned code models."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["MoECoder", "MixtureConfig", "ExpertSpec", "RoutingDecision", "__version__"]

if TYPE_CHECKING:
    from moe_coder.config import ExpertSpec, MixtureConfig
    from moe_coder.mixture import MoECoder
    from moe_coder.decisions import RoutingDecision

_LAZY = {
    "MoECoder": "moe_coder.mixture",
    "MixtureConfig": "moe_coder.config",
    "ExpertSpec": "moe_coder.config",
    "RoutingDecision": "moe_coder.decisions",
}


def __getattr__(name: str) -> Any:
    """Import heavy modules (torch, transformers) only when their objects are used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'moe_coder' has no attribute {name!r}")
