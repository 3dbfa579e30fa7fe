"""The expert pool: lazy loading, LRU eviction, shared bases, batched and streamed generation."""
from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generator, Iterator, Sequence

from moe_coder.config import ExpertSpec
from moe_coder.experts.completion import Completion, check_room, eos_token_ids
from moe_coder.experts.decoding import Sampling, decode
from moe_coder.experts.loading import LoadedModel, attach_adapter, default_device, load_base
from moe_coder.experts.prompt_formats import Message, render_prompt
from moe_coder.experts.streaming import BatchStream

logger = logging.getLogger(__name__)

#: Generation settings a caller may pass; anything else is an error, not silently ignored.
GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop", "seed")
_DEFAULTS: dict[str, Any] = {"max_new_tokens": 256, "temperature": 0.0, "top_p": 1.0}
#: The batch sizes a local generation runs at: a batch of 5 prompts runs as 8 rows (three filler
#: rows that do not run). Kernel libraries keep per-shape state for every input shape they see
#: (oneDNN's bf16 kernels on a CPU: JIT code and scratch memory), so a server whose batches take every
#: size from 1 to 64 grows by that state request after request; a few sizes bound it, as vLLM's
#: capture sizes do. Sizes past the last one are rounded up to a multiple of it.
BATCH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64)
#: Prompts in a batch are left-padded to a multiple of this many tokens, for the same reason.
PROMPT_LENGTH_MULTIPLE = 16
#: transformers resolves its top-level names lazily, and two threads resolving one at once can fail.
_IMPORT_LOCK = threading.Lock()


def bucket_size(rows: int, batch_size: int) -> int:
    """The batch size ``rows`` prompts generate at: the smallest bucket that holds them, at most ``batch_size``.

    ``rows`` itself when it is ``batch_size`` or more, so every size used is a bucket or ``batch_size``.
    """
    if rows >= batch_size:
        return rows
    last = BATCH_BUCKETS[-1]
    bucket = next((b for b in BATCH_BUCKETS if b >= rows), -(-rows // last) * last)
    return min(bucket, batch_size)


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


class ExpertPool:
    """Holds loaded expert models, loading each on first use.

    Experts that name the same base weights share one loaded model; experts that add a
    LoRA adapter load it onto that shared base and the pool switches adapters per batch.
    At most ``max_loaded`` distinct base models stay in memory; the least recently used
    one is dropped when another is needed. Remote experts (an ``endpoint``) load nothing:
    their requests go over HTTP, concurrently with local generation.

    A local batch drops its rows as they end (at a bucket size; see
    :mod:`moe_coder.experts.decoding`); ``drop_finished_rows=False`` runs every row to the end
    of the longest, as ``transformers``' ``generate`` does (the baseline of
    ``benchmarks/evaluation_speed.py``).
    """

    def __init__(self, max_loaded: int = 2, device: str | None = None, drop_finished_rows: bool = True) -> None:
        if max_loaded < 1:
            raise ValueError(f"max_loaded must be >= 1, found {max_loaded}")
        self.max_loaded = max_loaded
        self.device = device or default_device()
        self.drop_finished_rows = drop_finished_rows
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.RLock()
        self._endpoints: dict[tuple, Any] = {}
        self._endpoints_lock = threading.Lock()  # not the model lock: remote calls never wait on local generation
        self._remote_workers = ThreadPoolExecutor(max_workers=64, thread_name_prefix="remote-expert")

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

    def remote_endpoint(self, spec: ExpertSpec) -> Any:
        """The HTTP client of a remote expert's endpoint, created on first use (its API key read then)."""
        from moe_coder.experts.remote import RemoteEndpoint

        key = (spec.endpoint, spec.api_key_env)
        with self._endpoints_lock:
            if key not in self._endpoints:
                self._endpoints[key] = RemoteEndpoint.for_expert(spec)
            return self._endpoints[key]

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
        enc = tok(
            texts, add_special_tokens=add_special, padding=True, pad_to_multiple_of=PROMPT_LENGTH_MULTIPLE, return_tensors="pt"
        )
        context = spec.max_context or getattr(loaded.model.config, "max_position_embeddings", None)
        room = check_room(spec, context, max_new_tokens)
        if room:
            if enc["input_ids"].shape[1] > room:
                longest = int(enc["attention_mask"].sum(dim=1).max())
                if longest > room:  # not only the bucket's padding is cut
                    logger.warning(
                        "expert %r: prompt of %d tokens exceeds the %d-token context minus max_new_tokens; "
                        "keeping the last %d tokens",
                        spec.name, longest, context, room,
                    )
                enc = {k: v[:, -room:] for k, v in enc.items()}
        return {k: v.to(loaded.model.device) for k, v in enc.items()}

    def generate_many(
        self,
        requests: Sequence[tuple[ExpertSpec, str | Sequence[Message]]],
        batch_size: int = 8,
        **overrides: Any,
    ) -> list[str]:
        """Answer ``(expert, prompt)`` pairs, in order (the texts of :meth:`complete_many`)."""
        return [c.text for c in self.complete_many(requests, batch_size, **overrides)]

    def complete_many(
        self,
        requests: Sequence[tuple[ExpertSpec, str | Sequence[Message]]],
        batch_size: int = 8,
        **overrides: Any,
    ) -> list[Completion]:
        """Answer ``(expert, prompt)`` pairs, in order, with token counts.

        Requests that run on the same weights (base model and adapter) with the same
        generation settings share batches even when they come from different experts:
        experts on one base differ only in how their prompts are rendered. Within a group,
        prompts are sorted by length so that left-padded batches carry little padding.
        Remote experts' requests are all sent at once (their engines batch them) and answered
        while local ones generate; the first failure is raised once every request has finished.
        """
        remote = [i for i, (spec, _) in enumerate(requests) if spec.endpoint]
        local = [i for i, (spec, _) in enumerate(requests) if not spec.endpoint]
        calls = [
            (self.remote_endpoint(spec).complete, spec, prompt, merge_generation_settings(spec, overrides))
            for spec, prompt in (requests[i] for i in remote)
        ]
        if len(calls) == 1 and not local:  # nothing to overlap with: no thread hop
            call, *arguments = calls[0]
            return [call(*arguments)]
        futures = [self._remote_workers.submit(*call) for call in calls]
        outputs: list[Any] = [None] * len(requests)
        try:
            self._complete_local(requests, local, outputs, batch_size, overrides)
        finally:  # even when local generation failed, no remote request is left running
            for i, future in zip(remote, futures):
                outputs[i] = future.exception() or future.result()
        for answer in outputs:
            if isinstance(answer, BaseException):
                raise answer
        return outputs

    def _local_groups(
        self,
        requests: Sequence[tuple[ExpertSpec, str | Sequence[Message]]],
        indices: Sequence[int],
        overrides: dict[str, Any],
    ) -> list[tuple[ExpertSpec, dict[str, Any], list[int], dict[int, str]]]:
        """Local requests grouped by the weights they run on and their settings.

        Each group: a spec of it, the merged settings, its indices sorted by prompt length (so
        left-padded batches carry little padding) and the rendered prompts.
        """
        groups: dict[tuple, list[int]] = {}
        group_settings: dict[tuple, tuple[ExpertSpec, dict[str, Any]]] = {}
        for i in indices:
            spec = requests[i][0]
            settings = merge_generation_settings(spec, overrides)
            key = (self._key(spec), spec.adapter, spec.max_context, json.dumps(settings, sort_keys=True, default=str))
            groups.setdefault(key, []).append(i)
            group_settings[key] = (spec, settings)
        result = []
        for key, members in groups.items():
            texts = {i: self.render(*requests[i]) for i in members}
            result.append((*group_settings[key], sorted(members, key=lambda i: len(texts[i])), texts))
        return result

    def _complete_local(
        self,
        requests: Sequence[tuple[ExpertSpec, str | Sequence[Message]]],
        indices: Sequence[int],
        outputs: list[Any],
        batch_size: int,
        overrides: dict[str, Any],
    ) -> None:
        for spec, settings, order, texts in self._local_groups(requests, indices, overrides):
            batch = self._batch(spec, settings, [texts[i] for i in order], [None] * len(order), batch_size)
            for i, completion in zip(order, batch.run()):
                outputs[i] = completion

    def generate(
        self,
        spec: ExpertSpec,
        prompts: Sequence[str | Sequence[Message]],
        batch_size: int = 8,
        **overrides: Any,
    ) -> list[str]:
        """Generate one answer per prompt with one expert, ``batch_size`` prompts at a time (left padded)."""
        return self.generate_many([(spec, p) for p in prompts], batch_size, **overrides)

    def stream(
        self,
        spec: ExpertSpec,
        prompt: str | Sequence[Message],
        cancel: threading.Event | None = None,
        **overrides: Any,
    ) -> Generator[str, None, Completion]:
        """Yield pieces of the answer as they are generated; stops at a stop string.

        The generator's return value is the :class:`Completion` with its token counts. The
        pool's lock is held by the generating thread only, never across a ``yield``: a slow
        reader delays nobody else. Setting ``cancel``, or closing the generator, stops the
        generation at its next token. :meth:`stream_many` streams many prompts as one batch.
        """
        return self.stream_many([(spec, prompt, cancel)], **overrides)[0]

    def stream_many(
        self,
        requests: Sequence[tuple[ExpertSpec, str | Sequence[Message], threading.Event | None]],
        batch_size: int = 8,
        **overrides: Any,
    ) -> list[Generator[str, None, Completion]]:
        """One stream per ``(expert, prompt, cancel)``, local ones generated together in batches.

        Local requests are grouped as :meth:`complete_many` groups them; each group decodes
        ``batch_size`` rows at a time (rows join as others end), started when the first of its
        streams is read. Each stream is a generator as :meth:`stream` returns: pieces of text, then its
        :class:`Completion`. A stream whose reader stops (closed, or its ``cancel`` set) ends its
        own row at the next token; the others go on. Remote experts' streams go to their
        endpoints, one request each.
        """
        streams: list[Any] = [None] * len(requests)
        local = []
        for i, (spec, prompt, cancel) in enumerate(requests):
            if spec.endpoint:
                settings = merge_generation_settings(spec, overrides)
                streams[i] = self.remote_endpoint(spec).stream(spec, prompt, settings, cancel)
            else:
                local.append(i)
        pairs = [(spec, prompt) for spec, prompt, _ in requests]
        for spec, settings, order, texts in self._local_groups(pairs, local, overrides):
            batch = self._batch(spec, settings, [texts[i] for i in order], [requests[i][2] for i in order], batch_size)
            for j, i in enumerate(order):
                streams[i] = batch.reader(j)
        return streams

    def _batch(
        self,
        spec: ExpertSpec,
        settings: dict[str, Any],
        texts: list[str],
        cancels: list[threading.Event | None],
        batch_size: int,
    ) -> BatchStream:
        """One decoding run over ``texts`` on ``spec``'s weights, ``batch_size`` rows at a time, run by
        :meth:`BatchStream.run` or streamed.

        The batch runs at bucket sizes (:data:`BATCH_BUCKETS`); rows that end leave it and waiting
        rows join it (:func:`~moe_coder.experts.decoding.decode`), unless the pool was made with
        ``drop_finished_rows=False``: then ``batch_size`` rows at a time run to their longest's end.
        """

        def run(batch: BatchStream) -> None:
            import torch

            with _IMPORT_LOCK:
                from transformers.generation import logits_process  # noqa: F401  (resolved under the lock)

            with self._activated(spec) as loaded, torch.inference_mode():
                max_new_tokens = int(settings["max_new_tokens"])
                if settings.get("seed") is not None:
                    torch.manual_seed(int(settings["seed"]))
                tokenizer = loaded.tokenizer

                def encode(indices: list[int]) -> tuple[Any, Any]:
                    enc = self._encode(loaded, spec, [texts[i] for i in indices], max_new_tokens)
                    batch.set_prompt_tokens(indices, enc["attention_mask"].sum(dim=1).tolist())
                    return enc["input_ids"], enc["attention_mask"]

                watcher = batch.watch(  # ends each row at its end-of-sequence token, a stop string or the length
                    lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
                    eos_token_ids(loaded.model, loaded.tokenizer),
                    settings.get("stop"),
                    max_new_tokens,
                )
                decode(
                    loaded.model,
                    encode,
                    len(texts),
                    batch_size=batch_size,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
                    on_step=watcher.step,
                    sampling=Sampling.from_settings(settings),
                    bucket=lambda rows: bucket_size(rows, batch_size),
                    drop=self.drop_finished_rows,
                    refill=self.drop_finished_rows,
                )

        return BatchStream(cancels, run)
