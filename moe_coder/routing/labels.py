"""The label sets the router predicts."""
from __future__ import annotations

UNKNOWN = "unknown"

#: Programming-language ids (``unknown`` when a prompt names or shows none).
LANGUAGES: tuple[str, ...] = (
    "python", "cpp", "c", "java", "javascript", "typescript", "php", "csharp",
    "bash", "go", "rust", "sql", UNKNOWN,
)

#: Task ids.
TASKS: tuple[str, ...] = ("generate", "complete", "fix", "explain", "test", "translate", "refactor")
