"""``MoECoder``: route each prompt to the expert fine-tuned for its language and task."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence

from moe_coder.config import CONFIG_NAME, ExpertSpec, MixtureConfig
from moe_coder.decisions import GenerationResult, RoutingDecision, choose_confidence_threshold, decide
from moe_coder.experts.pool import ExpertPool
from moe_coder.messages import Message, normalise_messages
from moe_coder.routing.labels import UNKNOWN
from moe_coder.routing.router import PromptRouter
from moe_coder.validation import check_inside

logger = logging.getLogger(__name__)

BUILTIN = "builtin"
#: Mixtures that ship inside the package, by name: folder. ``builtin-base`` is the untuned baseline
#: (the same router, experts without adapters) that every figure of the built-in experts is compared with.
BUILTIN_MIXTURES = {BUILTIN: "builtin", "builtin-base": "builtin_base"}
Prompt = str | Sequence[Message]


def builtin_dir(name: str = BUILTIN) -> Path:
    """A mixture that ships inside the package (:data:`BUILTIN_MIXTURES`); the default by default."""
    return Path(str(resources.files("moe_coder") / BUILTIN_MIXTURES[name]))


def router_dir(config: MixtureConfig, directory: str | os.PathLike) -> Path:
    """The folder of the router artifacts of the mixture ``config`` saved in ``directory``
    (the package's own for ``"router": "builtin"``)."""
    return builtin_dir() / "router" if config.router == BUILTIN else Path(directory) / config.router


#: Files of a mixture's router and adapter folders that do not change what it generates.
_NOT_WEIGHTS = {".md", ".png"}


def mixture_fingerprint(name_or_path: str | os.PathLike) -> str:
    """SHA-256 over what a local mixture generates with: its ``mixture.json``, its router's files and
    each expert's local adapter folder (model cards and plots left out; a base model named by hub id
    or ``pkg://`` is named in ``mixture.json``, not hashed). ``moe-coder evaluate`` records it, so that
    a run is not resumed with answers of a mixture whose adapters were replaced since."""
    import hashlib

    from moe_coder.decontamination.chunks import file_sha256

    directory = resolve_mixture_dir(name_or_path)
    config = MixtureConfig.from_json_file(directory / CONFIG_NAME)
    folders = [router_dir(config, directory)]
    folders += [Path(e.adapter) for e in config.experts if e.adapter and Path(e.adapter).is_dir()]
    digest = hashlib.sha256((directory / CONFIG_NAME).read_bytes())
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix not in _NOT_WEIGHTS
                           and "__pycache__" not in p.parts):
            digest.update(f"{path.relative_to(folder)}\0{file_sha256(path)}\0".encode())
    return digest.hexdigest()


def resolve_mixture_dir(name_or_path: str | os.PathLike) -> Path:
    """``"builtin"`` (or another of :data:`BUILTIN_MIXTURES`), a local mixture directory, or a hub repo id
    (downloaded when a network is available)."""
    name = str(name_or_path)
    if name in BUILTIN_MIXTURES:
        return builtin_dir(name)
    path = Path(os.path.expanduser(name))
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"a mixture is a directory holding {CONFIG_NAME}; {path} is a file")
        return path
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(name))
        except Exception as exc:
            raise FileNotFoundError(f"mixture {name!r}: not a local directory, and the hub download failed: {exc}") from None
    raise FileNotFoundError(f"mixture directory not found: {path.resolve()}")


class MoECoder:
    """A mixture of code experts behind a router.

    >>> coder = MoECoder.from_pretrained("builtin")
    >>> coder.generate("Write a PHP function that reverses a string.")
    """

    def __init__(self, config: MixtureConfig, router: PromptRouter, device: str | None = None) -> None:
        self.config = config
        self.router = router
        self.pool = ExpertPool(max_loaded=config.max_loaded_experts, device=device)

    # ----------------------------------------------------------------- loading & saving
    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = BUILTIN, device: str | None = None,
                        allow_outside_paths: bool = False, **overrides: Any) -> "MoECoder":
        """Load a mixture directory (``mixture.json`` plus router artifacts).

        ``overrides`` replace top-level config fields, e.g. ``confidence_threshold=0.7``. The
        router folder must lie inside the mixture directory and a GGUF file inside its model's
        folder, unless ``allow_outside_paths`` (a mixture.json from elsewhere is not trusted to
        point at arbitrary files).
        """
        directory = resolve_mixture_dir(name_or_path)
        config = MixtureConfig.from_json_file(directory / CONFIG_NAME)
        if overrides:
            config = MixtureConfig.from_dict({**config.to_dict(), **overrides})
        where = directory / CONFIG_NAME
        try:
            if config.router != BUILTIN:
                check_inside(config.router, "router", directory, allow_outside_paths)
            for spec in config.experts:
                if spec.gguf_file:
                    check_inside(spec.gguf_file, f"expert {spec.name!r}: gguf_file", None, allow_outside_paths)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        return cls(config, PromptRouter.from_pretrained(router_dir(config, directory)), device=device)

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write ``mixture.json`` (with the ``confidence_threshold`` :meth:`calibrate` chose) and the
        router artifacts; files appear complete or not at all."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
        try:
            self.config.to_json_file(staging / CONFIG_NAME, folder=directory)
            if self.config.router != BUILTIN:
                self.router.save_pretrained(staging / self.config.router)
            directory.mkdir(exist_ok=True)
            for item in sorted(staging.rglob("*"), key=lambda p: len(p.parts)):
                target = directory / item.relative_to(staging)
                if item.is_dir():
                    target.mkdir(exist_ok=True)
                else:
                    os.replace(item, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """Save this mixture and upload it to the hub model repo ``repo_id``; return the commit URL.

        Every expert must name weights others can load (a hub id or ``pkg://``); ``kwargs`` go to
        :func:`moe_coder.hub.push_folder_to_hub` (``token``, ``private``, ``commit_message``, ``revision``).
        """
        from moe_coder.hub import push_folder_to_hub

        with tempfile.TemporaryDirectory(prefix="moe-coder-push-") as staging:
            self.save_pretrained(Path(staging) / "mixture")
            return push_folder_to_hub(Path(staging) / "mixture", repo_id, **kwargs)

    # ----------------------------------------------------------------- routing
    @property
    def experts(self) -> list[ExpertSpec]:
        return self.config.experts

    def select_expert(self, language: str, task: str) -> str:
        """The most specific expert serving ``(language, task)``; the generalist if none does.

        Answers are remembered for the expert table they came from: every routing call asks for
        all 91 (language, task) pairs, and a changed table (experts added, edited) is read again."""
        table = (self.config.generalist, tuple((e.name, tuple(e.languages), tuple(e.tasks)) for e in self.config.experts))
        memo = self.__dict__.setdefault("_expert_memo", {})
        if memo.get("table") != table:
            memo.clear()
            memo["table"] = table
        key = (language, task)
        if key not in memo:
            memo[key] = self._select_expert(language, task)
        return memo[key]

    def _select_expert(self, language: str, task: str) -> str:
        candidates = [
            e for e in self.config.experts if e.name != self.config.generalist and language != UNKNOWN and e.serves(language, task)
        ]
        if not candidates:
            return self.config.generalist
        best = max(candidates, key=lambda e: (bool(e.languages), bool(e.tasks), -len(e.languages), -len(e.tasks)))
        return best.name

    def route_batch(self, prompts: Sequence[Prompt]) -> list[RoutingDecision]:
        """Routing decisions for many prompts, classified in one batch."""
        return decide(
            self.router, list(prompts), select_expert=self.select_expert,
            generalist=self.config.generalist, threshold=self.config.confidence_threshold,
        )

    def route(self, prompt: Prompt) -> RoutingDecision:
        """The routing decision for one prompt (a string or a chat ``messages`` list)."""
        return self.route_batch([prompt])[0]

    def calibrate(self, prompts: Sequence[Prompt], labels: Any) -> "MoECoder":
        """Choose ``config.confidence_threshold`` on held-out labelled prompts.

        ``labels`` holds a ``(language, task)`` row per prompt (as ``PromptRouter.fit`` takes them).
        The threshold is chosen on the confidence :meth:`route` compares with it (the chosen
        expert's summed probability) and against this mixture's experts: a route is right when it
        reaches the expert serving the prompt's true pair. :meth:`save_pretrained` writes it.
        """
        threshold = choose_confidence_threshold(self.router, list(prompts), labels, self.select_expert)
        logger.info("confidence threshold %.4f (was %.4f)", threshold, self.config.confidence_threshold)
        self.config.confidence_threshold = threshold
        return self

    def calibrate_held_out_style(self, train: Any, validation: Any, corpus: Any = None, **kwargs: Any) -> Any:
        """Choose the router's temperatures and the abstain threshold on held-out prompt styles.

        ``train`` and ``validation`` are :class:`~moe_coder.routing.dataset.LabelledPrompts` (the
        router's training and validation splits), ``corpus`` the code corpus its code identifier
        was fitted on. The heads are refitted without one prompt family at a time
        (:func:`moe_coder.routing.held_out.held_out_style`); the shipped temperatures are raised by
        how much softer the held-out families needed them; the cascade threshold is chosen again
        on ``validation``; ``config.confidence_threshold`` is chosen on the pooled held-out-style
        prompts. Returns the :class:`~moe_coder.routing.held_out.HeldOutStyle` measured.
        :meth:`save_pretrained` (or the router's own) writes the results.
        """
        from moe_coder.routing.held_out import held_out_style

        result = held_out_style(self.router, train, validation, corpus, **kwargs)
        previous = (self.router.fast_threshold_, self.config.confidence_threshold)
        result.apply(self.router)
        self.router.choose_fast_threshold(validation.prompts, validation.y, result.validation_features)
        threshold = result.route_pooled(self.router.fast_threshold_, self.select_expert, before=previous)
        self.router.held_out_style_ = result.to_dict(families=False)
        logger.info("held-out style: temperatures x%s, confidence threshold %.4f (was %.4f)",
                    {k: result.multipliers(k) for k in result.held_out}, threshold, self.config.confidence_threshold)
        self.config.confidence_threshold = threshold
        return result

    # ----------------------------------------------------------------- generation
    def _forced(self, prompts: Sequence[Prompt], expert: str) -> list[RoutingDecision]:
        """Decisions for prompts sent to ``expert`` by name: nothing is routed."""
        self.config.expert(expert)  # raises KeyError naming the experts when unknown
        return [RoutingDecision.forced(expert) for _ in prompts]

    def generate(
        self,
        prompt: Prompt | Sequence[str] | None = None,
        *,
        messages: Sequence[Message] | None = None,
        expert: str | None = None,
        return_details: bool = False,
        batch_size: int = 8,
        **gen_kwargs: Any,
    ) -> str | list[str] | GenerationResult | list[GenerationResult]:
        """Generate answers.

        ``prompt`` is a string (returns a string) or a list of strings (returns a list,
        generated in left-padded batches grouped by the weights that serve them: experts
        sharing a base model and adapter batch together). ``messages=[{"role", "content"}, ...]`` is
        a chat conversation. ``expert`` skips routing and forces one expert (the router is not
        called; the decision's ``stage`` is ``"forced"``).
        ``gen_kwargs``: ``max_new_tokens``, ``temperature``, ``top_p``, ``top_k``,
        ``repetition_penalty``, ``stop``, ``seed``; unset ones come from the expert's defaults.
        With ``return_details=True`` each answer comes with its :class:`RoutingDecision`.
        """
        single, prompts = self._inputs(prompt, messages)
        decisions = self._forced(prompts, expert) if expert else self.route_batch(prompts)
        texts = self.pool.generate_many(
            [(self.config.expert(d.expert), p) for d, p in zip(decisions, prompts)], batch_size, **gen_kwargs
        )
        results: list[Any] = (
            [GenerationResult(t, d) for t, d in zip(texts, decisions)] if return_details else texts
        )
        return results[0] if single else results

    def stream(
        self,
        prompt: Prompt | None = None,
        *,
        messages: Sequence[Message] | None = None,
        expert: str | None = None,
        **gen_kwargs: Any,
    ) -> Iterator[str]:
        """Yield the answer to one prompt piece by piece as the routed expert generates it."""
        single, prompts = self._inputs(prompt, messages)
        if not single:
            raise ValueError("stream() takes one prompt; use generate() for a list")
        decision = self._forced(prompts, expert)[0] if expert else self.route(prompts[0])
        yield from self.pool.stream(self.config.expert(decision.expert), prompts[0], **gen_kwargs)

    @staticmethod
    def _inputs(prompt: Any, messages: Sequence[Message] | None) -> tuple[bool, list[Prompt]]:
        if (prompt is None) == (messages is None):
            raise ValueError("pass exactly one of prompt or messages")
        if messages is not None:
            return True, [normalise_messages(messages)]
        if isinstance(prompt, str):
            prompts: list[Prompt] = [prompt]
            single = True
        elif isinstance(prompt, Sequence) and all(isinstance(p, str) for p in prompt):
            prompts, single = list(prompt), False
        else:
            raise ValueError("prompt must be a string or a list of strings (use messages= for a chat)")
        for i, p in enumerate(prompts):
            if not str(p).strip():
                raise ValueError(f"prompt {i} is empty" if not single else "prompt is empty")
        return single, prompts
