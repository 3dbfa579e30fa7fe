"""Per-language program assembly and toolchains: from (problem, generated code) to runnable steps.

One module per language behind :class:`~moe_coder.evaluation.executors.base.Executor` (its
docstring has the scheme every language follows); the helper programs (evalplus checks, Go's
testify stand-in, Rust's crate stand-ins) ship as files in ``programs/``.
"""
from __future__ import annotations

from moe_coder.evaluation.executors.base import (
    COMPILE_LIMITS, KINDS, Executor, Program, Step, Toolchain, helper_program, new_marker,
)
from moe_coder.evaluation.executors.cpp import CppExecutor
from moe_coder.evaluation.executors.go import GoExecutor
from moe_coder.evaluation.executors.java import JavaExecutor
from moe_coder.evaluation.executors.javascript import JavaScriptExecutor
from moe_coder.evaluation.executors.python import PLUS_HELPERS, PythonExecutor
from moe_coder.evaluation.executors.rust import RustExecutor

__all__ = [
    "COMPILE_LIMITS", "EXECUTORS", "KINDS", "PLUS_HELPERS", "CppExecutor", "Executor", "GoExecutor", "JavaExecutor",
    "JavaScriptExecutor", "Program", "PythonExecutor", "RustExecutor", "Step", "Toolchain", "detect_toolchains",
    "get_executor", "helper_program", "new_marker",
]

EXECUTORS: dict[str, Executor] = {
    executor.language: executor
    for executor in (PythonExecutor(), CppExecutor(), JavaExecutor(), JavaScriptExecutor(), GoExecutor(), RustExecutor())
}


def get_executor(language: str) -> Executor:
    try:
        return EXECUTORS[language]
    except KeyError:
        raise ValueError(f"no executor for language {language!r}; expected one of {', '.join(EXECUTORS)}") from None


def detect_toolchains() -> dict[str, Toolchain]:
    """Every supported language's toolchain status on this machine."""
    return {language: executor.toolchain for language, executor in EXECUTORS.items()}
