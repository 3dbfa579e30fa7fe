"""Python: programs run in the harness's own interpreter (see the jail)."""
from __future__ import annotations

import re
import sys

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.executors.base import Executor, Program, Step, Toolchain, helper_program, new_marker
from moe_coder.evaluation.sandbox import Limits

#: Shared by the candidate check and the ground-truth program (groundtruth.py).
PLUS_HELPERS = helper_program("plus_helpers.py")
_PLUS_CHECK = helper_program("plus_check.py")


class PythonExecutor(Executor):
    """Python programs, run in the harness's own interpreter (see the jail)."""

    language = "python"

    def _detect(self) -> Toolchain:
        return self._describe(sys.executable)  # this interpreter, not whichever python is on PATH

    def _describe(self, path: str) -> Toolchain:
        version = ".".join(map(str, sys.version_info[:3]))
        return Toolchain(self.language, True, f"Python {version}", {self.tool: path})

    def code(self, problem: Problem, code: str, kind: str) -> str:
        """Prompt context and candidate code, as one module."""
        self._check_kind(kind)
        if kind == "full":
            name = problem.entry_point or _python_function_name(problem.prompt)
            defines = name and re.search(rf"^def\s+{re.escape(name)}\s*\(", code, re.M)
            if defines or not name:
                return problem.prompt + "\n\n" + code
        return problem.prompt + code

    def program(self, problem: Problem, code: str, kind: str, limits: Limits) -> Program:
        marker = new_marker()
        files: dict[str, str | bytes] = {}
        source = self.code(problem, code, kind)
        if "plus_case" in problem.extra:
            files["plus_case.pkl"] = problem.extra["plus_case"]
            tests = PLUS_HELPERS + _PLUS_CHECK + f"\n_moe_plus_check({problem.entry_point})\n"
        else:
            tests = problem.test
            if problem.entry_point and re.search(r"^def check\(", tests, re.M) and not re.search(r"^check\(", tests, re.M):
                tests += f"\ncheck({problem.entry_point})\n"
        files["program.py"] = f"{source}\n\n{tests}\n\nprint({marker!r}, flush=True)\n"
        step = Step(argv=None, python_file="program.py", limits=limits)
        return Program(files, (step,), marker)


def _python_function_name(prompt: str) -> str:
    names = re.findall(r"^def\s+(\w+)\s*\(", prompt, re.M)
    return names[-1] if names else ""
