"""Java 11+, one source file run by the ``java`` launcher."""
from __future__ import annotations

import re

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.executors.base import (
    Executor, Program, Step, Toolchain, declared_name, lines_matching, run_tool, new_marker,
)
from moe_coder.evaluation.sandbox import Limits


_JAVA_IMPORT = r"^\s*import\s+(static\s+)?[\w.]+(\.\*)?\s*;\s*$"


class JavaExecutor(Executor):
    """Java 11+ run as one source file (compiled in memory by the ``java`` launcher: one JVM start)."""

    language = "java"

    def _describe(self, path: str) -> Toolchain:
        version = run_tool([path, "-version"]).splitlines()[0]
        major = re.search(r'version "(\d+)(?:\.(\d+))?', version)
        if major and int(major.group(1)) == 1:  # "1.8.0" style
            return Toolchain(self.language, False, f"needs Java 11 or newer, found {version}")
        return Toolchain(self.language, True, version, {self.tool: path})

    def code(self, problem: Problem, code: str, kind: str) -> str:
        self._check_kind(kind)
        if kind == "full" and re.search(r"\bclass\s+Solution\b", code):
            return "\n".join(lines_matching(problem.prompt, _JAVA_IMPORT)) + "\n" + code
        name = declared_name(problem, r"(\w+)\s*\([^()]*\)\s*(?:throws[\w\s,.]+)?\{?\s*$")
        if kind == "full" and name and re.search(rf"\b{re.escape(name)}\s*\([^;{{]*\)\s*(throws[\w\s,.]+)?\{{", code):
            imports = lines_matching(problem.prompt, _JAVA_IMPORT)
            return "\n".join(imports) + "\nclass Solution {\n" + code + "\n}\n"
        return problem.prompt + code

    def program(self, problem: Problem, code: str, kind: str, limits: Limits) -> Program:
        marker = new_marker()
        source = self.code(problem, code, kind)
        test = re.sub(r"\bpublic\s+class\s+Main\b", "class MoeTestMain", problem.test)
        imports = list(dict.fromkeys(lines_matching(source + "\n" + test, _JAVA_IMPORT)))
        body = re.sub(_JAVA_IMPORT, "", source + "\n" + test, flags=re.M)
        # The source launcher runs the first top-level class: our driver, which prints the marker.
        driver = (
            "public class Main {\n    public static void main(String[] args) throws Throwable {\n"
            f'        MoeTestMain.main(args);\n        System.out.println("{marker}");\n    }}\n}}\n'
        )
        heap_mb = max(64, limits.memory_bytes // 4 >> 20)
        argv = (
            self.toolchain.paths[self.tool], "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
            f"-Xmx{heap_mb}m", "-Xss8m", "-XX:ReservedCodeCacheSize=64m", "-XX:MaxMetaspaceSize=256m",
            "-XX:CompressedClassSpaceSize=64m", "-Djava.io.tmpdir=.", "Main.java",
        )
        # The JVM needs address space well beyond its heap, and compiles with several threads.
        run_limits = limits.replace(
            memory_bytes=max(limits.memory_bytes, 4 << 30),
            cpu_s=2 * (limits.cpu_s or limits.timeout_s),
            max_processes=max(limits.max_processes, 128),
        )
        files = {"Main.java": "\n".join(imports) + "\n\n" + driver + "\n" + body}
        return Program(files, (Step(argv, run_limits),), marker)
