"""Fine-tuning recipes: one YAML file per expert (``experts/*.yaml``), plain dataclasses inside.

A recipe has five sections::

    expert:      the ExpertSpec a mixture loads (name, base model, prompt format, languages, ...)
    data:        training/held-out JSONL files and their decontamination reports
    training:    hyperparameters (defaults follow Phind: full fine-tune, 2 epochs, 4096 tokens,
                 bf16 where the hardware has it, cosine schedule with warm-up)
    lora:        optional; present means "train a LoRA adapter instead of every weight"
    evaluation:  optional pass@1 on a benchmark subset after each epoch

Relative paths in a recipe file are relative to that file; relative paths given as
command-line overrides (``--set data.train=[x.jsonl]``) are relative to the working directory.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from moe_coder.config import ExpertSpec
from moe_coder.experts.loading import PACKAGE_SCHEME
from moe_coder.jsonl import check_keys

SCHEDULERS = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
ATTENTIONS = ("auto", "flash_attention_2", "packed_sdpa", "flex_attention", "sdpa", "eager")
SECTIONS = ("expert", "data", "training", "lora", "evaluation")


def _coerce(obj: Any, section: str, kind: type, names: Sequence[str]) -> None:
    """Turn numeric fields into ``kind`` (YAML reads ``1e-4``, without a dot, as a string)."""
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        try:
            converted = kind(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            converted = None
        if converted is None or (kind is int and converted != float(value)):
            raise ValueError(f"{section}.{name} must be a {'whole ' if kind is int else ''}number, found {value!r}")
        setattr(obj, name, converted)


def _as_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [str(value)]
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, os.PathLike)) for v in value):
        return [str(v) for v in value]
    raise ValueError(f"{where} must be a path or a list of paths, found {value!r}")


@dataclass
class DataConfig:
    """Where the examples come from.

    ``train``/``eval`` are JSONL(.gz) files of ``{"instruction", "response"}`` (optionally
    ``"input"`` and ``"system"``) or ``{"messages": [...]}`` records. Without ``eval`` files,
    ``eval_fraction`` of the training examples is held out for the held-out loss.
    ``decontamination_reports`` are reports written by ``moe-coder decontaminate`` whose clean
    output is (byte for byte) a training file; ``decontaminate: true`` runs it before training.
    """

    train: list[str] = field(default_factory=list)
    eval: list[str] = field(default_factory=list)
    eval_fraction: float = 0.02
    max_examples: int | None = None
    decontamination_reports: list[str] = field(default_factory=list)
    decontaminate: bool = False
    benchmarks: list[str] = field(default_factory=lambda: ["humaneval", "mbpp"])

    def __post_init__(self) -> None:
        _coerce(self, "data", float, ("eval_fraction",))
        _coerce(self, "data", int, ("max_examples",))
        self.train = _as_list(self.train, "data.train")
        self.eval = _as_list(self.eval, "data.eval")
        self.decontamination_reports = _as_list(self.decontamination_reports, "data.decontamination_reports")
        if not self.train:
            raise ValueError("data.train: at least one training file is required")
        if not 0.0 <= self.eval_fraction < 0.5:
            raise ValueError(f"data.eval_fraction must be in [0, 0.5), found {self.eval_fraction}")
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"data.max_examples must be >= 1, found {self.max_examples}")
        if not self.benchmarks:
            raise ValueError("data.benchmarks: name at least one benchmark to decontaminate against")


@dataclass
class TrainingConfig:
    """Hyperparameters. A step is one optimizer update over ``micro_batch_size x
    gradient_accumulation_steps x processes`` rows of ``seq_len`` tokens."""

    epochs: int = 2
    seq_len: int = 4096
    packing: bool = True
    micro_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    max_grad_norm: float = 1.0
    precision: str = "auto"
    attention: str = "auto"
    gradient_checkpointing: bool = False
    seed: int = 42
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    max_steps: int | None = None

    def __post_init__(self) -> None:
        _coerce(self, "training", float, ("learning_rate", "warmup_ratio", "weight_decay", "max_grad_norm"))
        _coerce(self, "training", int, ("epochs", "seq_len", "micro_batch_size", "gradient_accumulation_steps",
                                        "seed", "checkpoint_every", "keep_checkpoints", "max_steps"))
        positive = ("epochs", "seq_len", "micro_batch_size", "gradient_accumulation_steps", "keep_checkpoints")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"training.{name} must be >= 1, found {getattr(self, name)}")
        if self.seq_len < 16:
            raise ValueError(f"training.seq_len must be >= 16, found {self.seq_len}")
        if not self.learning_rate > 0:
            raise ValueError(f"training.learning_rate must be > 0, found {self.learning_rate}")
        if self.lr_scheduler not in SCHEDULERS:
            raise ValueError(f"training.lr_scheduler: expected one of {SCHEDULERS}, found {self.lr_scheduler!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"training.warmup_ratio must be in [0, 1), found {self.warmup_ratio}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"training.precision: expected one of {PRECISIONS}, found {self.precision!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"training.attention: expected one of {ATTENTIONS}, found {self.attention!r}")
        if self.checkpoint_every < 0:
            raise ValueError(f"training.checkpoint_every must be >= 0 (0: only at epoch ends), found {self.checkpoint_every}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"training.max_steps must be >= 1, found {self.max_steps}")
        if len(self.adam_betas) != 2 or not all(0.0 <= b < 1.0 for b in self.adam_betas):
            raise ValueError(f"training.adam_betas must be two numbers in [0, 1), found {self.adam_betas}")


@dataclass
class LoraSettings:
    """A LoRA adapter instead of a full fine-tune (peft). ``merge: true`` folds it into the
    base weights at the end; otherwise the expert is the adapter over the shared base."""

    r: int = 16
    alpha: float = 32
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    layers_to_transform: list[int] | None = None
    merge: bool = False

    def __post_init__(self) -> None:
        _coerce(self, "lora", int, ("r",))
        _coerce(self, "lora", float, ("alpha", "dropout"))
        if self.r < 1:
            raise ValueError(f"lora.r must be >= 1, found {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora.dropout must be in [0, 1), found {self.dropout}")


@dataclass
class EvaluationConfig:
    """Held-out loss always runs after each epoch; ``pass_at_1`` names benchmarks
    (``humaneval``, ``mbpp``, ...) to also score on their first ``limit`` tasks."""

    pass_at_1: list[str] = field(default_factory=list)
    limit: int = 20
    max_new_tokens: int = 512

    def __post_init__(self) -> None:
        _coerce(self, "evaluation", int, ("limit", "max_new_tokens"))
        if self.limit < 1:
            raise ValueError(f"evaluation.limit must be >= 1, found {self.limit}")


@dataclass
class Recipe:
    """A whole recipe. ``expert`` describes the base the expert starts from; training turns it
    into the trained expert's entry (``model``/``adapter`` pointing at the output)."""

    expert: ExpertSpec
    data: DataConfig
    training: TrainingConfig = field(default_factory=TrainingConfig)
    lora: LoraSettings | None = None
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Recipe":
        if not isinstance(data, dict):
            raise ValueError(f"a recipe must be a mapping, found {type(data).__name__}")
        check_keys(cls, data, "recipe")
        for name in ("expert", "data"):
            if not isinstance(data.get(name), dict):
                raise ValueError(f"recipe: section {name!r} is required and must be a mapping")
        sections: dict[str, Any] = {}
        for name, kind in (("data", DataConfig), ("training", TrainingConfig),
                           ("lora", LoraSettings), ("evaluation", EvaluationConfig)):
            value = data.get(name)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ValueError(f"recipe: section {name!r} must be a mapping, found {value!r}")
            check_keys(kind, value, name)
            try:
                sections[name] = kind(**value)
            except TypeError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return cls(expert=ExpertSpec.from_dict(data["expert"]), **sections)

    def to_dict(self) -> dict[str, Any]:
        return {
            "expert": self.expert.to_dict(),
            "data": asdict(self.data),
            "training": asdict(self.training),
            "lora": asdict(self.lora) if self.lora is not None else None,
            "evaluation": asdict(self.evaluation),
        }


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Make the recipe's relative file paths absolute against ``base`` (in place)."""
    data = raw.get("data")
    if isinstance(data, dict):
        for key in ("train", "eval", "decontamination_reports"):
            if key in data and data[key] is not None:
                data[key] = [str((base / p).resolve()) for p in _as_list(data[key], f"data.{key}")]
    expert = raw.get("expert")
    if isinstance(expert, dict) and isinstance(expert.get("model"), str):
        model = expert["model"]
        local = base / os.path.expanduser(model)
        if not model.startswith(PACKAGE_SCHEME) and local.exists():
            expert["model"] = str(local.resolve())


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"training.learning_rate=1e-4"`` -> ``(["training", "learning_rate"], 1e-4)`` (value read as YAML)."""
    key, sep, value = text.partition("=")
    path = key.strip().split(".")
    if not sep or not all(path):
        raise ValueError(f"override {text!r} must look like section.field=value")
    if path[0] not in SECTIONS:
        raise ValueError(f"override {text!r}: unknown section {path[0]!r}; expected one of {SECTIONS}")
    if len(path) > 2:
        raise ValueError(f"override {text!r}: expected section.field, found {len(path)} parts")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise ValueError(f"override {text!r}: value is not valid YAML ({exc})") from None
    return path, parsed


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str], base: Path | None = None) -> dict[str, Any]:
    """Apply ``section.field=value`` overrides to a raw recipe mapping (a new mapping is returned).

    ``lora=null`` removes the LoRA section; ``lora.r=8`` creates it with defaults when absent.
    """
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for text in overrides:
        path, value = parse_override(text)
        if len(path) == 1:
            if isinstance(value, dict):
                _resolve_paths({path[0]: value}, base or Path.cwd())
            out[path[0]] = value
            continue
        section = out.get(path[0])
        if section is None:
            section = out[path[0]] = {}
        if not isinstance(section, dict):
            raise ValueError(f"override {text!r}: section {path[0]!r} is not a mapping")
        patch = {path[1]: value}
        _resolve_paths({path[0]: patch}, base or Path.cwd())
        section.update(patch)
    return out


def load_recipe(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe YAML file, apply command-line overrides, and validate it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: malformed YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a recipe must be a mapping with sections {SECTIONS}")
    _resolve_paths(raw, path.parent)
    raw = apply_overrides(raw, overrides)
    try:
        return Recipe.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
