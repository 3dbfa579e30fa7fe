"""Go: ``go test -c`` in a throw-away module, then the test binary runs in the sandbox."""
from __future__ import annotations

import re

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.executors.base import (
    COMPILE_LIMITS, Executor, Program, Step, Toolchain, cache_dir, declared_name, run_tool, helper_program, new_marker,
)
from moe_coder.evaluation.sandbox import Limits


# HumanEval-X's Go tests use github.com/stretchr/testify/assert (only assert.New and Equal), which
# cannot be fetched offline. This same-package stand-in is a variable named ``assert`` whose New
# returns an object with testify's Equal semantics (ObjectsAreEqual: bytes.Equal for []byte, else
# reflect.DeepEqual). ``assert := assert.New(t)`` still resolves, because the short variable
# declaration's scope begins after the statement.
_GO_TESTIFY = helper_program("testify_shim_test.go")

#: Standard packages a completion may use without being able to import them (its imports are above it).
_GO_STD = ("fmt", "math", "sort", "strings", "strconv", "time", "regexp", "bytes", "unicode", "math/rand",
           "crypto/md5", "encoding/hex", "math/big", "unicode/utf8", "container/heap")


_GO_PACKAGE_AND_IMPORTS = r'^import\s*\([^)]*\)|^import\s+"[^"]+"|^package\s+\w+'
_GO_NOT_CODE = r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|`[^`]*`|\'(?:\\.|[^\'\\\n])*\''


class GoExecutor(Executor):
    """Go: ``go test -c`` in a throw-away module, then the test binary runs in the sandbox."""

    language = "go"

    def _describe(self, path: str) -> Toolchain:
        return Toolchain(self.language, True, run_tool([path, "version"]), {self.tool: path})

    def code(self, problem: Problem, code: str, kind: str) -> str:
        self._check_kind(kind)
        name = declared_name(problem, r"^func\s+(\w+)\s*\(")
        if kind == "full" and name and re.search(rf"^func\s+{re.escape(name)}\s*\(", code, re.M):
            return problem.extra.get("import", "") + "\n" + code
        return problem.prompt + code

    @staticmethod
    def _imports(text: str) -> list[str]:
        found = []
        for block in re.findall(r"^import\s*\(([^)]*)\)", text, re.M):
            found += re.findall(r'"([^"]+)"', block)
        found += re.findall(r'^import\s+"([^"]+)"', text, re.M)
        return found

    def program(self, problem: Problem, code: str, kind: str, limits: Limits) -> Program:
        marker = new_marker()
        source = self.code(problem, code, kind)
        setup = problem.extra.get("test_setup", "")
        body = re.sub(_GO_PACKAGE_AND_IMPORTS, "", source, flags=re.M) + "\n" + problem.test
        code_only = re.sub(_GO_NOT_CODE, " ", body, flags=re.S)  # "a list of strings." is not strings.X
        candidates = [*self._imports(setup), *self._imports(source), *_GO_STD]
        imports = ["testing"]
        for path in dict.fromkeys(candidates):
            name = path.rsplit("/", 1)[-1]
            if "testify" in path or path == "testing":
                continue
            if re.search(rf"(?<![\w.]){re.escape(name)}\.", code_only) and name not in {p.rsplit('/', 1)[-1] for p in imports}:
                imports.append(path)
        header = "package main\n\nimport (\n" + "".join(f'    "{p}"\n' for p in imports) + ")\n"
        files = {
            "go.mod": "module moe_coder_eval\n\ngo 1.18\n",
            "main_test.go": header + body,
            "testify_shim_test.go": _GO_TESTIFY.replace("%MARKER%", marker),
        }
        cache = str(cache_dir("go-build"))
        # Go ignores a go.mod that sits directly in the temp root, so TMPDIR must not be the workdir.
        env = {"GOCACHE": cache, "TMPDIR": "/tmp", "GOTMPDIR": "{workdir}", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local",
               "CGO_ENABLED": "0", "GO111MODULE": "on", "GOPATH": "/nonexistent"}
        build = Step((self.toolchain.paths[self.tool], "test", "-c", "-vet=off", "-o", "program.test", "."),
                     COMPILE_LIMITS, env=env, writable=(cache,), compile=True)
        run = Step(("./program.test",), limits.replace(max_processes=max(limits.max_processes, 64)),
                   env={"GOMAXPROCS": "2"})
        return Program(files, (build, run), marker)
