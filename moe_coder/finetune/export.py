"""The finished expert: Hugging Face files plus the entry a mixture loads.

``DIR/`` receives, for a full fine-tune (or a merged LoRA), ``config.json``,
``model.safetensors``, ``generation_config.json`` and the tokenizer with its chat template; for
a LoRA kept as an adapter, ``adapter_config.json`` and ``adapter_model.safetensors`` (the base
stays where the recipe points) plus the tokenizer and generation config. ``DIR/expert.json`` is
the :class:`~moe_coder.config.ExpertSpec` to paste into a mixture's ``mixture.json``, with local
paths relative to ``DIR`` so the folder can move (read it with ``ExpertSpec.from_json_file``);
``DIR/training.json`` records the recipe and where the data came from, and ``DIR/README.md`` is
the model card.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from moe_coder.atomic import write_text_atomic
from moe_coder.config import EXPERT_NAME, ExpertSpec
from moe_coder.experts.prompt_formats import chat_template
from moe_coder.finetune.model_card import CARD_NAME, model_card
from moe_coder.finetune.modeling import load_model
from moe_coder.finetune.recipe import Recipe

logger = logging.getLogger(__name__)

TRAINING_NAME = "training.json"


def trained_spec(spec: ExpertSpec, output: Path, adapter: bool) -> ExpertSpec:
    """The expert entry of the trained weights in ``output``."""
    path = str(output.resolve())
    if adapter:
        return replace(spec, adapter=path)
    return replace(spec, model=path, gguf_file=None, adapter=None)


def relocatable(spec: ExpertSpec, output: Path) -> ExpertSpec:
    """``spec`` with its absolute ``model``/``adapter`` paths written relative to ``output``."""
    changes = {name: os.path.relpath(value, output.resolve()) for name in ("model", "adapter")
               if (value := getattr(spec, name)) and os.path.isabs(value)}
    return replace(spec, **changes)


def generation_config(model: Any, tokenizer: Any, spec: ExpertSpec) -> Any:
    """The base's generation config with this expert's end/pad tokens and default settings."""
    from transformers import GenerationConfig

    base = getattr(model, "generation_config", None)
    config = GenerationConfig.from_dict(base.to_dict()) if base is not None else GenerationConfig()
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    settings = spec.generation
    if "max_new_tokens" in settings:
        config.max_new_tokens = int(settings["max_new_tokens"])
    temperature = float(settings.get("temperature") or 0.0)
    config.do_sample = temperature > 0
    if temperature > 0:
        config.temperature = temperature
        config.top_p = float(settings.get("top_p", 1.0))
    else:
        config.temperature = config.top_p = config.top_k = None
    return config


def save_tokenizer(tokenizer: Any, spec: ExpertSpec, output: Path) -> None:
    template = chat_template(spec.prompt_format, tokenizer, spec.system_prompt)
    if template is not None:
        tokenizer.chat_template = template
    tokenizer.save_pretrained(output)


def _cast(state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def save_weights(accelerator: Any, model: Any, tokenizer: Any, recipe: Recipe, output: Path, dtype: torch.dtype) -> ExpertSpec:
    """Save the trained weights into ``output`` (every process must call this); return the expert entry."""
    state = accelerator.get_state_dict(model)
    unwrapped = accelerator.unwrap_model(model)
    lora = recipe.lora
    spec = recipe.expert
    if accelerator.is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        if lora is None:
            unwrapped.config.dtype = dtype
            unwrapped.config.use_cache = True
            unwrapped.save_pretrained(output, state_dict=_cast(state, dtype), safe_serialization=True)
        elif not lora.merge:
            unwrapped.save_pretrained(output, state_dict=state, safe_serialization=True)
        else:
            _merge_adapter(unwrapped, state, spec, output, dtype)
        generation_config(unwrapped, tokenizer, spec).save_pretrained(output)
        save_tokenizer(tokenizer, spec, output)
    accelerator.wait_for_everyone()
    return trained_spec(spec, output, adapter=lora is not None and not lora.merge)


def _merge_adapter(peft_model: Any, state: dict, spec: ExpertSpec, output: Path, dtype: torch.dtype) -> None:
    """Fold the adapter into a fresh copy of the base (on the CPU, whatever sharding training used)."""
    from peft import PeftModel

    with tempfile.TemporaryDirectory(dir=output, prefix=".adapter-") as staged:
        peft_model.save_pretrained(staged, state_dict=state, safe_serialization=True)
        base = load_model(spec, attention="sdpa", gradient_checkpointing=False, lora=None)
        merged = PeftModel.from_pretrained(base, staged).merge_and_unload()
    merged.config.dtype = dtype
    merged.config.use_cache = True
    merged.save_pretrained(output, state_dict=_cast(merged.state_dict(), dtype), safe_serialization=True)


def write_expert_files(output: Path, spec: ExpertSpec, training: dict[str, Any], metrics: dict[str, Any]) -> None:
    """``training.json`` and the model card first, ``expert.json`` last: an ``expert.json`` means the expert is complete."""
    write_text_atomic(output / TRAINING_NAME, json.dumps(training, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(output / CARD_NAME, model_card(spec, training, metrics))
    entry = relocatable(spec, output).to_dict()
    write_text_atomic(output / EXPERT_NAME, json.dumps(entry, indent=2, ensure_ascii=False) + "\n")
