"""JavaScript on Node.js."""
from __future__ import annotations

import re

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.executors.base import Executor, Program, Step, Toolchain, declared_name, run_tool, new_marker
from moe_coder.evaluation.sandbox import Limits


_JS_PRELUDE = """\
// console.assert only logs by default; a failed test must fail the program.
console.assert = (condition, ...message) => {
  if (!condition) {
    const error = new Error(['console.assert failed', ...message].join(' '));
    error.name = 'AssertionError';
    throw error;
  }
};
"""

# Stand-in for the npm package js-md5 (HumanEval-X JavaScript/162), on top of Node's own crypto.
_JS_MD5 = "module.exports = (text) => require('crypto').createHash('md5').update(text).digest('hex');\n"


class JavaScriptExecutor(Executor):
    """JavaScript on Node.js."""

    language = "javascript"

    def _describe(self, path: str) -> Toolchain:
        return Toolchain(self.language, True, "node " + run_tool([path, "--version"]), {self.tool: path})

    def code(self, problem: Problem, code: str, kind: str) -> str:
        self._check_kind(kind)
        name = declared_name(problem, r"^\s*(?:const|let|var|function)\s+(\w+)")
        pattern = rf"(?:\b(?:const|let|var)\s+{re.escape(name)}\s*=|\bfunction\s+{re.escape(name)}\s*\()"
        if kind == "full" and name and re.search(pattern, code):
            return code
        return problem.prompt + code

    def program(self, problem: Problem, code: str, kind: str, limits: Limits) -> Program:
        marker = new_marker()
        source = self.code(problem, code, kind)
        program = f"{_JS_PRELUDE}\n{source}\n{problem.test}\nconsole.log({marker!r});\n"
        heap_mb = max(64, limits.memory_bytes // 2 >> 20)
        argv = (self.toolchain.paths[self.tool], f"--max-old-space-size={heap_mb}", "program.js")
        files = {"program.js": program, "node_modules/js-md5/index.js": _JS_MD5}
        return Program(files, (Step(argv, limits),), marker)
