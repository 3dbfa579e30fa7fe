"""Expert fine-tuning: the Phind recipe (full fine-tune, or LoRA) as a command, from one CPU to many GPUs.

>>> from moe_coder.finetune import load_recipe, train_expert
>>> recipe = load_recipe("examples/tiny_expert.yaml", ["training.epochs=1"])  # doctest: +SKIP
>>> result = train_expert(recipe, "out/tiny", decontaminate=True)  # doctest: +SKIP
>>> result.metrics["eval_loss"]  # doctest: +SKIP

See ``docs/finetune.md``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "DataConfig",
    "EvaluationConfig",
    "LoraSettings",
    "Recipe",
    "StepLog",
    "TrainResult",
    "TrainingConfig",
    "load_recipe",
    "train_expert",
]

if TYPE_CHECKING:
    from moe_coder.finetune.recipe import (
        DataConfig,
        EvaluationConfig,
        LoraSettings,
        Recipe,
        TrainingConfig,
        load_recipe,
    )
    from moe_coder.finetune.trainer import StepLog, TrainResult, train_expert

_LAZY = {
    **dict.fromkeys(("DataConfig", "EvaluationConfig", "LoraSettings", "Recipe", "TrainingConfig", "load_recipe"),
                    "moe_coder.finetune.recipe"),
    **dict.fromkeys(("StepLog", "TrainResult", "train_expert"), "moe_coder.finetune.trainer"),
}


def __getattr__(name: str) -> Any:
    """Import the trainer (accelerate, the decontamination pipeline) only when it is used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'moe_coder.finetune' has no attribute {name!r}")
