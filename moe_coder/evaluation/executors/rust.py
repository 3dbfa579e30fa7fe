"""Rust with rustc."""
from __future__ import annotations

import re
from pathlib import Path

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.executors.base import (
    COMPILE_LIMITS, Executor, Program, Step, Toolchain, declared_name, lines_matching, run_tool, helper_program,
    new_marker,
)
from moe_coder.evaluation.sandbox import Limits


# HumanEval-X's Rust declarations import three crates (rand, regex, md5) that cannot be fetched
# offline. rand and md5 get the small stand-ins below (only what the tasks use); tasks needing
# regex are skipped with that reason.
_RUST_SHIMS = helper_program("shims.rs")

_RUST_UNAVAILABLE_USE = r"^\s*use\s+(regex|md5)\b[^;]*;\s*$"


def _strip_block_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


class RustExecutor(Executor):
    """Rust with rustc (edition 2018, debug build: integer overflow panics, as under ``cargo test``).

    The ``#[test]`` functions become public and a generated ``main`` calls them in order, so the
    pass marker is printed only after every test returned.
    """

    language = "rust"

    def _describe(self, path: str) -> Toolchain:
        # rustup installs a proxy that needs the caller's HOME; the sandbox runs the real compiler.
        real = Path(run_tool([path, "--print", "sysroot"]).splitlines()[-1]) / "bin" / "rustc"
        compiler = str(real) if real.exists() else path
        return Toolchain(self.language, True, run_tool([compiler, "--version"]), {self.tool: compiler})

    def declaration(self, problem: Problem) -> str:
        return re.sub(_RUST_UNAVAILABLE_USE, "", problem.extra.get("declaration", ""), flags=re.M)

    def completion_prompt(self, problem: Problem) -> str:
        # HumanEval-X's Rust prompt is only the doc comment; the signature is in the declaration.
        return problem.prompt + self.declaration(problem)

    def unsupported(self, problem: Problem) -> str | None:
        if re.search(r"\bRegex\b|\bregex::", problem.canonical_solution + problem.test):
            return "needs the regex crate (no crate registry at run time)"
        return None

    def code(self, problem: Problem, code: str, kind: str) -> str:
        self._check_kind(kind)
        name = declared_name(problem, r"^\s*fn\s+(\w+)")
        if kind == "full" and name and re.search(rf"\bfn\s+{re.escape(name)}\s*[(<]", code):
            uses = lines_matching(self.declaration(problem), r"\s*use\s")
            return "\n".join(uses) + "\n" + re.sub(_RUST_UNAVAILABLE_USE, "", code, flags=re.M)
        return self.completion_prompt(problem) + code

    def program(self, problem: Problem, code: str, kind: str, limits: Limits) -> Program:
        marker = new_marker()
        source = re.sub(r"\bfn\s+main\s*\(", "fn moe_user_main(", self.code(problem, code, kind))
        test = _strip_block_comments(problem.test).replace("#[cfg(test)]", "")
        names = re.findall(r"#\[test\]\s*fn\s+(\w+)", test)
        test = re.sub(r"#\[test\]\s*fn\s+", "pub fn ", test)
        calls = "".join(f"    tests::{name}();\n" for name in names)
        driver = f'\nfn main() {{\n{calls}    println!("{marker}");\n}}\n'
        program = "#![allow(unused, deprecated)]\n" + source + "\n\n" + _RUST_SHIMS + test + driver
        compile_argv = (self.toolchain.paths[self.tool], "--edition", "2018", "-C", "debuginfo=0",
                        "-o", "program", "program.rs")
        steps = (Step(compile_argv, COMPILE_LIMITS, compile=True), Step(("./program",), limits))
        return Program({"program.rs": program}, steps, marker)
