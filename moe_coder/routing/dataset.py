"""Labelled routing prompts: reading and validating JSONL, and the by-source validation split."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moe_coder.jsonl import iter_jsonl
from moe_coder.routing.labels import LANGUAGES, TASKS, UNKNOWN


@dataclass
class LabelledPrompts:
    """Prompts with their labels; ``y`` rows are ``[language, task, source_language or None]``."""

    prompts: list[Any]
    y: list[list[str | None]]
    sources: list[str]

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, indices: list[int]) -> "LabelledPrompts":
        return LabelledPrompts([self.prompts[i] for i in indices], [self.y[i] for i in indices], [self.sources[i] for i in indices])


def load_labelled(path: str | Path) -> LabelledPrompts:
    """Read ``{"prompt", "language", "task"[, "source_language"][, "source"]}`` lines (``.jsonl`` or ``.jsonl.gz``).

    A malformed line, a missing key or an unknown label is a ``ValueError`` naming file and line.
    """
    path = Path(path)
    prompts, y, sources = [], [], []
    for where, row in iter_jsonl(path, required=("prompt", "language", "task"), what="labelled data"):
        if not isinstance(row["prompt"], (str, list)):
            raise ValueError(f"{where}: 'prompt' must be a string or a messages list")
        if row["language"] not in LANGUAGES:
            raise ValueError(f"{where}: unknown language {row['language']!r}; expected one of {list(LANGUAGES)}")
        if row["task"] not in TASKS:
            raise ValueError(f"{where}: unknown task {row['task']!r}; expected one of {list(TASKS)}")
        source_language = row.get("source_language")
        if row["task"] == "translate":
            source_language = source_language or UNKNOWN
            if source_language not in LANGUAGES:
                raise ValueError(f"{where}: unknown source_language {source_language!r}")
        else:
            source_language = None
        prompts.append(row["prompt"])
        y.append([row["language"], row["task"], source_language])
        sources.append(str(row.get("source", "")))
    if not prompts:
        raise ValueError(f"{path}: no labelled prompts")
    return LabelledPrompts(prompts, y, sources)


def find_split(directory: Path, name: str) -> Path | None:
    """``name.jsonl`` or ``name.jsonl.gz`` inside ``directory``, if present."""
    for candidate in (directory / f"{name}.jsonl", directory / f"{name}.jsonl.gz"):
        if candidate.is_file():
            return candidate
    return None


def split_by_source(data: LabelledPrompts, fraction: float = 0.15) -> tuple[LabelledPrompts, LabelledPrompts]:
    """``(train, validation)``: whole sources go to validation (rows without a source, one by one)."""
    def held_out(i: int) -> bool:
        key = data.sources[i] or json.dumps(data.prompts[i])
        return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction

    val = [i for i in range(len(data)) if held_out(i)]
    train = [i for i in range(len(data)) if not held_out(i)]
    if not val or not train:
        raise ValueError(f"cannot hold out a validation split from {len(data)} prompts; pass a directory with validation.jsonl")
    return data.subset(train), data.subset(val)
