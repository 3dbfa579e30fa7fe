"""Loading the base model for training: weights, attention kernel, precision, LoRA, checkpointing."""
from __future__ import annotations

import importlib.util
import logging
from typing import Any

import torch

from moe_coder.config import ExpertSpec
from moe_coder.experts.loading import weights_source
from moe_coder.finetune.attention import NAME as PACKED_SDPA
from moe_coder.finetune.attention import register as register_packed_sdpa
from moe_coder.finetune.recipe import LoraSettings
from moe_coder.hardware import native_bf16

logger = logging.getLogger(__name__)


def has_accelerator() -> bool:
    """Whether a GPU (or another torch accelerator) is present; without one, training runs on CPUs."""
    current = getattr(getattr(torch, "accelerator", None), "is_available", None)
    return bool(current()) if current is not None else torch.cuda.is_available()


def flash_attention_available() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None


def attention_implementation(requested: str, packing: bool) -> str:
    """``auto`` is ``flash_attention_2`` when the flash-attn package and a GPU are there, else
    ``packed_sdpa`` for packed rows and ``sdpa`` for padded ones.

    All of them keep packed examples apart: ``flash_attention_2`` with its varlen kernel,
    ``packed_sdpa`` one example at a time, ``flex_attention`` with a block-sparse document mask (GPU
    only: PyTorch has no CPU backward for it), ``sdpa`` and ``eager`` with a dense block-diagonal mask.
    """
    if requested == "auto":
        if flash_attention_available():
            return "flash_attention_2"
        return PACKED_SDPA if packing else "sdpa"
    if requested == PACKED_SDPA and not packing:
        raise ValueError(f"training.attention={PACKED_SDPA} is for packed rows; use sdpa with training.packing=false")
    if requested == "flash_attention_2" and not flash_attention_available():
        raise ValueError("training.attention=flash_attention_2 needs a CUDA GPU and the flash-attn package "
                         "(pip install 'moe-coder[flash]'); use auto or sdpa")
    if requested == "flex_attention" and not torch.cuda.is_available():
        raise ValueError("training.attention=flex_attention needs a CUDA GPU (PyTorch cannot train it on CPUs); "
                         "use auto or sdpa")
    return requested


def mixed_precision(requested: str, on_cpu: bool) -> str:
    """The ``accelerate`` mixed-precision mode: ``auto`` is bf16 where the hardware computes it natively
    (a GPU that has it, or a CPU with AVX512-BF16/AMX: 3x the tokens/s of float32 there), else full precision.

    bf16 is autocast over float32 master weights, so optimizer state and saved weights stay float32-exact."""
    if requested == "auto":
        native = native_bf16() if on_cpu else torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return "bf16" if native else "no"
    return {"fp32": "no"}.get(requested, requested)


def load_tokenizer(spec: ExpertSpec) -> Any:
    from transformers import AutoTokenizer

    source = weights_source(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise FileNotFoundError(f"expert {spec.name!r}: could not load the tokenizer from {source!r}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: ExpertSpec, attention: str, gradient_checkpointing: bool, lora: LoraSettings | None) -> Any:
    """The base model in float32 (the master weights; mixed precision casts per operation), ready to train.

    Loaded on the CPU of each process (``accelerate`` moves it, or shards it under FSDP /
    DeepSpeed ZeRO-3, which also take over loading when their configs ask for it). A GGUF base is
    read from its de-quantised copy in the user cache (see :func:`~moe_coder.experts.loading.weights_source`):
    a plain float32 model that saves as safetensors.
    """
    from transformers import AutoModelForCausalLM

    source = weights_source(spec)
    if attention == PACKED_SDPA:
        register_packed_sdpa()
    logger.info("loading base %s for training (%s attention)", source, attention)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, attn_implementation=attention)
    except OSError as exc:
        raise FileNotFoundError(f"expert {spec.name!r}: could not load model from {source!r}: {exc}") from None
    model.config.use_cache = False
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora is not None:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules,
            layers_to_transform=lora.layers_to_transform, task_type="CAUSAL_LM",
        ))
    model.train()
    return model


def trainable_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
