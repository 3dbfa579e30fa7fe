"""The label sets the router predicts."""
from __future__ import annotations

from moe_coder.languages import LANGUAGES as _LANGUAGES

UNKNOWN = "unknown"

#: Programming-language ids (:data:`moe_coder.languages.LANGUAGES`, then ``unknown`` when a
#: prompt names or shows none).
LANGUAGES: tuple[str, ...] = (*(language.id for language in _LANGUAGES), UNKNOWN)

#: The router's heads, in the order of its probabilities: language, task, and the source
#: language of translations.
HEADS: tuple[str, ...] = ("language", "task", "source_language")

#: Task ids.
TASKS: tuple[str, ...] = ("generate", "complete", "fix", "explain", "test", "translate", "refactor")
