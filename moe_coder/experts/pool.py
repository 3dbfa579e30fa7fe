"""The expert pool: lazy loading, LRU eviction, shared bases, batched and streamed generation."""
from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import OrderedDict
from typing import Any, Iterator, Sequence

from moe_coder.config import ExpertSpec
from moe_coder.experts.loading import LoadedModel, attach_adapter, default_device, load_base
from moe_coder.experts.prompt_formats import Message, render_prompt

logger = logging.getLogger(__name__)

#: Generation settings a caller may pass; anything else is an error, not silently ignored.
GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop", "seed")
_DEFAULTS: dict[str, Any] = {"max_new_tokens": 256, "temperature": 0.0, "top_p": 1.0}


def merge_generation_settings(spec: ExpertSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    """Library defaults, then the expert's defaults, then the caller's explicit settings."""
    unknown = sorted(set(overrides) - set(GENERATION_KEYS))
    if unknown:
        raise ValueError(f"unknown generation argument(s) {unknown}; expected some of {list(GENERATION_KEYS)}")
    settings = {**_DEFAULTS, **spec.generation}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(settings.get("stop"), str):
        settings["stop"] = [settings["stop"]]
    return settings


def truncate_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """Cut ``text`` at the earliest occurrence of any stop string."""
    cut = len(text)
    for s in stop or ():
        i = text.find(s)
        if s and i != -1:
            cut = min(cut, i)
    return text[:cut]


class ExpertPool:
    """Holds loaded expert models, loading each on first use.

    Experts that name the same base weights share one loaded model; experts that add a
    LoRA adapter load it onto that shared base and the pool switches adapters per batch.
    At most ``max_loaded`` distinct base models stay in memory; the least recently used
    one is dropped when another is needed.
    """

    def __init__(self, max_loaded: int = 2, device: str | None = None) -> None:
        if max_loaded < 1:
            raise ValueError(f"max_loaded must be >= 1, found {max_loaded}")
        self.max_loaded = max_loaded
        self.device = device or default_device()
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.RLock()

    @staticmethod
    def _key(spec: ExpertSpec) -> tuple:
        return (spec.model, spec.gguf_file, spec.dtype)

    @property
    def loaded_bases(self) -> list[tuple]:
        """Keys ``(model, gguf_file, dtype)`` of the base models in memory, least recent first."""
        return list(self._models)

    def _get(self, spec: ExpertSpec) -> LoadedModel:
        key = self._key(spec)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
            else:
                while len(self._models) >= self.max_loaded:
                    evicted, _ = self._models.popitem(last=False)
                    logger.info("evicting base model %s", evicted)
                self._models[key] = load_base(spec, self.device)
            return self._models[key]

    def tokenizer(self, spec: ExpertSpec) -> Any:
        return self._get(spec).tokenizer

    @contextlib.contextmanager
    def _activated(self, spec: ExpertSpec) -> Iterator[LoadedModel]:
        """The loaded model with exactly this expert's adapter active (or none)."""
        with self._lock:
            loaded = self._get(spec)
            if spec.adapter:
                name = attach_adapter(loaded, spec)  # may wrap loaded.model in a PeftModel
                loaded.model.set_adapter(name)
                yield loaded
            elif loaded.adapters:
                with loaded.model.disable_adapter():
                    yield loaded
            else:
                yield loaded

    def render(self, spec: ExpertSpec, prompt: str | Sequence[Message]) -> str:
        return render_prompt(spec.prompt_format, prompt, self._get(spec).tokenizer, spec.system_prompt)

    def _encode(self, loaded: LoadedModel, spec: ExpertSpec, texts: list[str], max_new_tokens: int) -> dict:
        tok = loaded.tokenizer
        bos = tok.bos_token
        add_special = not (bos and all(t.startswith(bos) for t in texts))
        enc = tok(texts, add_special_tokens=add_special, padding=True, return_tensors="pt")
        context = spec.max_context or getattr(loaded.model.config, "max_position_embeddings", None)
        if context:
            room = context - max_new_tokens
            if room < 1:
                raise ValueError(
                    f"expert {spec.name!r}: max_new_tokens={max_new_tokens} leaves no room in its {context}-token context"
                )
            if enc["input_ids"].shape[1] > room:
                logger.warning(
                    "expert %r: prompt of %d tokens exceeds the %d-token context minus max_new_tokens; "
                    "keeping the last %d tokens",
                    spec.name, enc["input_ids"].shape[1], context, room,
                )
                enc = {k: v[:, -room:] for k, v in enc.items()}
        return {k: v.to(loaded.model.device) for k, v in enc.items()}

    @staticmethod
    def _generate_kwargs(loaded: LoadedModel, settings: dict[str, Any]) -> dict[str, Any]:
        import torch

        temperature = float(settings.get("temperature") or 0.0)
        kwargs: dict[str, Any] = {
            "max_new_tokens": int(settings["max_new_tokens"]),
            "pad_token_id": loaded.tokenizer.pad_token_id,
            "do_sample": temperature > 0,
        }
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=float(settings.get("top_p", 1.0)))
            if settings.get("top_k") is not None:
                kwargs["top_k"] = int(settings["top_k"])
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if settings.get("repetition_penalty") is not None:
            kwargs["repetition_penalty"] = float(settings["repetition_penalty"])
        if settings.get("stop"):
            kwargs.update(stop_strings=list(settings["stop"]), tokenizer=loaded.tokenizer)
        if settings.get("seed") is not None:
            torch.manual_seed(int(settings["seed"]))
        return kwargs

    def generate_many(
        self,
        requests: Sequence[tuple[ExpertSpec, str | Sequence[Message]]],
        batch_size: int = 8,
        **overrides: Any,
    ) -> list[str]:
        """Answer ``(expert, prompt)`` pairs, in order.

        Requests that run on the same weights (base model and adapter) with the same
        generation settings share batches even when they come from different experts:
        experts on one base differ only in how their prompts are rendered. Within a group,
        prompts are sorted by length so that left-padded batches carry little padding.
        """
        import torch

        groups: dict[tuple, list[int]] = {}
        group_settings: dict[tuple, tuple[ExpertSpec, dict[str, Any]]] = {}
        for i, (spec, _) in enumerate(requests):
            settings = merge_generation_settings(spec, overrides)
            key = (self._key(spec), spec.adapter, spec.max_context, json.dumps(settings, sort_keys=True, default=str))
            groups.setdefault(key, []).append(i)
            group_settings[key] = (spec, settings)
        outputs = [""] * len(requests)
        for key, indices in groups.items():
            spec, settings = group_settings[key]
            texts = {i: self.render(*requests[i]) for i in indices}
            order = sorted(indices, key=lambda i: len(texts[i]))
            with self._activated(spec) as loaded, torch.inference_mode():
                kwargs = self._generate_kwargs(loaded, settings)
                for start in range(0, len(order), batch_size):
                    chunk = order[start : start + batch_size]
                    enc = self._encode(loaded, spec, [texts[i] for i in chunk], kwargs["max_new_tokens"])
                    out = loaded.model.generate(**enc, **kwargs)
                    rows = loaded.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
                    for i, row in zip(chunk, rows):
                        outputs[i] = truncate_at_stop(row, settings.get("stop"))
        return outputs

    def generate(
        self,
        spec: ExpertSpec,
        prompts: Sequence[str | Sequence[Message]],
        batch_size: int = 8,
        **overrides: Any,
    ) -> list[str]:
        """Generate one answer per prompt with one expert, ``batch_size`` prompts at a time (left padded)."""
        return self.generate_many([(spec, p) for p in prompts], batch_size, **overrides)

    def stream(self, spec: ExpertSpec, prompt: str | Sequence[Message], **overrides: Any) -> Iterator[str]:
        """Yield pieces of the answer as they are generated; stops at a stop string."""
        import torch
        from transformers import TextIteratorStreamer

        settings = merge_generation_settings(spec, overrides)
        text = self.render(spec, prompt)
        stop = settings.get("stop")
        with self._activated(spec) as loaded:
            kwargs = self._generate_kwargs(loaded, settings)
            enc = self._encode(loaded, spec, [text], kwargs["max_new_tokens"])
            streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    with torch.inference_mode():
                        loaded.model.generate(**enc, **kwargs, streamer=streamer)
                except BaseException as exc:  # surfaced in the caller's thread below
                    errors.append(exc)
                    streamer.end()

            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            # Hold back enough characters that a stop string split across pieces is never emitted.
            holdback = max((len(s) for s in stop or ()), default=1) - 1
            pending = ""
            try:
                for piece in streamer:
                    pending += piece
                    cut = truncate_at_stop(pending, stop)
                    if len(cut) < len(pending):
                        pending = cut
                        break
                    if len(pending) > holdback:
                        ready = len(pending) - holdback
                        yield pending[:ready]
                        pending = pending[ready:]
                if pending:
                    yield pending
            finally:
                worker.join()  # generation itself halts at the stop string (stop_strings)
            if errors:
                raise errors[0]
