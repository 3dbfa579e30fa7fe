"""Check candidate code against a problem's tests in the sandbox and say why it failed.

:class:`Runner` is the one entry point: ``Runner().check(problem, code)`` returns a
:class:`Verdict` whose ``reason`` is one of :data:`REASONS`. A task that cannot run here (missing
toolchain or library) gets ``passed=None`` and reason ``"skipped"``: it is never scored.
"""
from __future__ import annotations

import re
import signal
from dataclasses import dataclass

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.executors import Program, get_executor
from moe_coder.evaluation.sandbox import Limits, RunResult, Sandbox, clean_env

#: Address-space limit for evalplus tasks (the 4 GiB evalplus itself uses).
PLUS_MEMORY_BYTES = 4 << 30

#: Every failure reason a verdict can carry, with what it means.
REASONS = {
    "passed": "all tests passed",
    "assertion": "a test assertion failed",
    "runtime_error": "the program raised an error or exited with a non-zero status",
    "compile_error": "the program did not compile (or, for Python and JavaScript, did not parse)",
    "timeout": "the wall-clock or CPU-time limit was reached",
    "memory": "the program ran out of memory under the address-space limit",
    "output_limit": "the program wrote more than the output cap",
    "resource_limit": "the program hit the process, open-file or file-size limit",
    "killed": "the program was terminated by a signal",
    "early_exit": "the program exited with status 0 before the tests completed",
    "sandbox_error": "the harness could not run the program",
    "skipped": "not run here (toolchain or library missing); not scored",
}

_MEMORY = re.compile(
    r"MemoryError|std::bad_alloc|OutOfMemoryError|heap out of memory|Allocation failed|"
    r"runtime: out of memory|fatal error: out of memory|memory allocation of \d+ bytes failed|"
    r"insufficient memory for the Java Runtime|Could not reserve enough space|cannot allocate memory"
    , re.I,
)
_COMPILE = {
    "python": re.compile(r"^(SyntaxError|IndentationError|TabError)\b", re.M),
    "javascript": re.compile(r"^SyntaxError\b", re.M),
    "java": re.compile(r"error: compilation failed"),
}
_ASSERTION = re.compile(
    r"AssertionError|Assertion [`'].*' failed|assertion failed|assertion `left == right` failed|"
    r"assertion `left != right` failed|^--- FAIL",
    re.M,
)
_RESOURCE = re.compile(
    r"Resource temporarily unavailable|can't start new thread|Too many open files|File too large|"
    r"pthread_create failed|failed to create new OS thread"
)


@dataclass
class Verdict:
    """The outcome of one sample: ``passed`` is ``None`` when the task was skipped."""

    passed: bool | None
    reason: str
    detail: str = ""
    time_s: float = 0.0

    @classmethod
    def skipped(cls, why: str) -> "Verdict":
        return cls(None, "skipped", why)


_STDOUT_TAIL = 4096
_INFORMATIVE = re.compile(r"Error|error|panicked|Assertion|assertion|Exception")


def _last_line(text: str) -> str:
    """The most telling line of an error output: the last one that names an error, else the last."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    telling = [line for line in lines if _INFORMATIVE.search(line)]
    return (telling or lines or [""])[-1][:300]


def classify(language: str, result: RunResult, marker: str, compile_step: bool = False) -> Verdict:
    """Turn one sandboxed run into a verdict (``compile_step``: the run was a compiler)."""
    if result.error:
        return Verdict(False, "sandbox_error", result.error, result.wall_s)
    stderr = result.stderr
    if compile_step:
        if result.timed_out:
            return Verdict(False, "timeout", "compilation exceeded its time limit", result.wall_s)
        if result.output_exceeded:
            return Verdict(False, "output_limit", "the compiler's output exceeded the cap", result.wall_s)
        return Verdict(False, "compile_error", _first_error(stderr), result.wall_s)
    time_s = result.wall_s
    if result.output_exceeded:
        return Verdict(False, "output_limit", "stdout + stderr exceeded the cap", time_s)
    if result.timed_out:
        return Verdict(False, "timeout", "wall-clock limit", time_s)
    if result.signal == signal.SIGXCPU:
        return Verdict(False, "timeout", "CPU-time limit", time_s)
    if result.signal == signal.SIGXFSZ:
        return Verdict(False, "resource_limit", "file-size limit", time_s)
    if result.returncode == 0:
        if marker in result.stdout:
            return Verdict(True, "passed", "", time_s)
        return Verdict(False, "early_exit", "exited with status 0 before the tests completed", time_s)
    # Test runners that report on stdout (Go's "--- FAIL") count too; the tail is enough.
    stderr = f"{stderr}\n{result.stdout[-_STDOUT_TAIL:]}" if result.stdout else stderr
    if _MEMORY.search(stderr):
        return Verdict(False, "memory", _MEMORY.search(stderr).group(0), time_s)
    compile_pattern = _COMPILE.get(language)
    if compile_pattern and compile_pattern.search(stderr):
        return Verdict(False, "compile_error", _first_error(stderr), time_s)
    if _ASSERTION.search(stderr):
        return Verdict(False, "assertion", _last_line(stderr), time_s)
    if _RESOURCE.search(stderr):
        return Verdict(False, "resource_limit", _RESOURCE.search(stderr).group(0), time_s)
    if result.signal is not None:
        return Verdict(False, "killed", signal.Signals(result.signal).name, time_s)
    return Verdict(False, "runtime_error", _last_line(stderr) or f"exit status {result.returncode}", time_s)


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if "error" in line.lower():
            return line.strip()[:300]
    return _last_line(stderr)


class Runner:
    """Checks candidate code for any benchmark language, in a :class:`Sandbox`.

    Args:
        sandbox: the sandbox to use (a default one otherwise).
        limits: limits for running the program under test; compile steps have their own.
    """

    def __init__(self, sandbox: Sandbox | None = None, limits: Limits | None = None) -> None:
        self.sandbox = sandbox or Sandbox()
        self.limits = limits or Limits()

    def skip_reason(self, problem: Problem) -> str | None:
        executor = get_executor(problem.language)
        if not executor.toolchain.available:
            return f"{problem.language}: {executor.toolchain.detail}"
        return executor.unsupported(problem)

    def limits_for(self, problem: Problem) -> Limits:
        """Run limits, stretched for evalplus tasks: 1 s + 4x the reference's time, and 4 GiB."""
        seconds = problem.extra.get("plus_seconds")
        if seconds is None:
            return self.limits
        timeout = max(self.limits.timeout_s, 1.0 + 4.0 * seconds)
        # The expected outputs are loaded next to the candidate's: some need more than the default.
        memory = max(self.limits.memory_bytes, PLUS_MEMORY_BYTES)
        return self.limits.replace(timeout_s=timeout, cpu_s=timeout, memory_bytes=memory)

    def check(self, problem: Problem, code: str, kind: str = "completion") -> Verdict:
        """Run *code* (a ``"completion"`` of the prompt or ``"full"`` code) against the tests."""
        why = self.skip_reason(problem)
        if why:
            return Verdict.skipped(why)
        program = get_executor(problem.language).program(problem, code, kind, self.limits_for(problem))
        return self.run_program(problem.language, program)

    def run_program(self, language: str, program: Program) -> Verdict:
        total = 0.0
        with self.sandbox.workdir(program.files) as workdir:
            for step in program.steps:
                python_file = str(workdir / step.python_file) if step.python_file else None
                result = self.sandbox.run(
                    step.argv,
                    workdir,
                    limits=step.limits,
                    python_file=python_file,
                    env=clean_env(workdir, {k: v.replace("{workdir}", str(workdir)) for k, v in step.env.items()}),
                    writable=step.writable,
                    drop_privileges=not step.compile,
                )
                total += result.wall_s
                if step.compile and not result.ok:
                    verdict = classify(language, result, program.marker, compile_step=True)
                    verdict.time_s = total
                    return verdict
        verdict = classify(language, result, program.marker)
        verdict.time_s = total
        return verdict
