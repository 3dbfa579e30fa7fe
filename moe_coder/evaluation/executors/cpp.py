"""C++17 with g++."""
from __future__ import annotations

import re
from pathlib import Path

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.executors.base import (
    COMPILE_LIMITS, Executor, Program, Step, Toolchain, declared_name, lines_matching, run_tool, new_marker,
)
from moe_coder.evaluation.sandbox import Limits


class CppExecutor(Executor):
    """C++17 with g++; the test's ``main`` becomes a function our own ``main`` calls."""

    language = "cpp"

    def _describe(self, path: str) -> Toolchain:
        return Toolchain(self.language, True, "g++ " + run_tool([path, "-dumpfullversion"]), {self.tool: path})

    #: Headers some HumanEval-X C++ tasks include beyond the standard library, and their package.
    EXTRA_HEADERS = (("openssl/md5.h", "libssl-dev"), ("boost/any.hpp", "libboost-dev"))

    @staticmethod
    def _header_present(header: str) -> bool:
        return any(Path(d, header).exists() for d in ("/usr/include", "/usr/local/include"))

    def unsupported(self, problem: Problem) -> str | None:
        for header, package in self.EXTRA_HEADERS:
            if header in problem.prompt + problem.test and not self._header_present(header):
                return f"needs <{header}> (install {package})"
        return None

    def code(self, problem: Problem, code: str, kind: str) -> str:
        self._check_kind(kind)
        name = declared_name(problem, r"(\w+)\s*\([^()]*\)\s*\{?\s*$")
        if kind == "full" and name and re.search(rf"\b{re.escape(name)}\s*\([^;{{]*\)\s*\{{", code):
            headers = lines_matching(problem.prompt, r"\s*(#include|using\s+namespace)")
            return "\n".join(headers) + "\n" + code
        return problem.prompt + code

    def program(self, problem: Problem, code: str, kind: str, limits: Limits) -> Program:
        marker = new_marker()
        source = re.sub(r"\bint\s+main\s*\(", "int moe_user_main(", self.code(problem, code, kind))
        test = re.sub(r"\bint\s+main\s*\(", "int moe_test_main(", problem.test)
        end = test.rfind("}")
        test = test[:end] + "    return 0;\n" + test[end:]
        driver = f'\n#include <cstdio>\nint main() {{\n    moe_test_main();\n    std::puts("{marker}");\n    return 0;\n}}\n'
        compile_argv = [self.toolchain.paths[self.tool], "-std=c++17", "-O1", "-w", "-o", "program", "program.cpp"]
        if "openssl" in source + test:
            compile_argv.append("-lcrypto")
        steps = (
            Step(tuple(compile_argv), COMPILE_LIMITS, compile=True),
            Step(("./program",), limits),
        )
        return Program({"program.cpp": f"{source}\n{test}\n{driver}"}, steps, marker)
