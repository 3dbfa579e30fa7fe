"""The executors' shape: one module per language behind a base that declares every method, and
helper programs shipped as files that really compile."""
from __future__ import annotations

import inspect
import os
import subprocess

import pytest

from moe_coder.evaluation.executors import EXECUTORS, Executor, helper_program


def test_every_executor_implements_what_the_base_declares():
    declared = {name for name, member in vars(Executor).items() if getattr(member, "__isabstractmethod__", False)}
    assert {"code", "program", "_describe"} <= declared
    for language, executor in EXECUTORS.items():
        assert not type(executor).__abstractmethods__, language
        assert inspect.getmodule(type(executor)).__name__.endswith(f".{language}"), "one module per language"
        for name in ("code", "program", "completion_prompt", "unsupported"):
            assert callable(getattr(executor, name))


def test_the_python_helpers_compile_and_define_the_check():
    namespace: dict = {}
    for name in ("plus_helpers.py", "plus_check.py"):
        exec(compile(helper_program(name), name, "exec"), namespace)  # noqa: S102 - our own shipped file
    assert callable(namespace["_moe_plus_check"]) and callable(namespace["_moe_compact"])
    assert namespace["_moe_close"]([1.0, 2.0], [1.0, 2.0 + 1e-9], 0.0)


def _require(language: str) -> dict:
    toolchain = EXECUTORS[language].toolchain
    if not toolchain.available:
        pytest.skip(f"no {language} toolchain here")
    return dict(toolchain.paths)


def test_the_go_testify_stand_in_compiles_and_vets(tmp_path):
    go = _require("go")["go"]
    (tmp_path / "go.mod").write_text("module shimcheck\n\ngo 1.18\n")
    (tmp_path / "shim_test.go").write_text(helper_program("testify_shim_test.go").replace("%MARKER%", "ok"))
    (tmp_path / "main_test.go").write_text(
        'package main\n\nimport "testing"\n\nfunc TestEqual(t *testing.T) {\n'
        '\tassert := assert.New(t)\n\tassert.Equal([]byte("a"), []byte("a"))\n}\n'
    )
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    done = subprocess.run([go, "vet", "."], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_the_rust_crate_stand_ins_compile(tmp_path):
    rustc = _require("rust")["rustc"]
    source = tmp_path / "shims.rs"
    source.write_text(helper_program("shims.rs") + "\npub fn use_them() -> String {\n"
                      "    use rand::Rng;\n    let _n: i32 = rand::thread_rng().gen_range(0, 10);\n"
                      "    format!(\"{:x}\", md5::compute(b\"abc\"))\n}\n")
    done = subprocess.run([rustc, "--edition", "2018", "--crate-type", "lib", "-D", "warnings",
                           "--emit", "metadata", "-o", str(tmp_path / "shims.rmeta"), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
