"""Expert fine-tuning: the Phind recipe (full fine-tune, or LoRA) as a command, from one CPU to many GPUs.

>>> from moe_coder.finetune import load_recipe, train_expert
>>> recipe = load_recipe("examples/tiny_expert.yaml", ["training.epochs=1"])  # doctest: +SKIP
>>> result = train_expert(recipe, "out/tiny", decontaminate=True)  # doctest: +SKIP
>>> result.metrics["eval_loss"]  # doctest: +SKIP

See ``docs/finetune.md``.
"""
from moe_coder.finetune.recipe import (
    DataConfig,
    EvaluationConfig,
    LoraSettings,
    Recipe,
    TrainingConfig,
    apply_overrides,
    load_recipe,
)
from moe_coder.finetune.trainer import StepLog, TrainResult, train_expert

__all__ = [
    "DataConfig",
    "EvaluationConfig",
    "LoraSettings",
    "Recipe",
    "StepLog",
    "TrainResult",
    "TrainingConfig",
    "apply_overrides",
    "load_recipe",
    "train_expert",
]
