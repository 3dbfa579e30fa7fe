"""Package-registry names for the lexicon: Debian's naming policy and sections place each library or tool."""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "router_training"))

import packages  # noqa: E402
from moe_coder.routing.lexicon import PackageNames  # noqa: E402

INDEX = """\
Package: python3-scikit-image
Section: python
Description: Python 3 module for image processing

Package: node-kleur
Section: javascript
Description: Node.js library for terminal colours
Homepage: https://github.com/lukeed/kleur
 a continuation line: ignored

Package: node-ts-pattern
Section: javascript
Description: exhaustive pattern matching library for TypeScript

Package: librust-nom-7-dev
Section: rust
Description: Byte-oriented parser combinator library - Rust source code

Package: librust-nom+std-dev
Section: rust
Description: feature "std"

Package: golang-github-spf13-cobra-dev
Section: golang
Description: Go library for creating powerful modern CLI applications

Package: libjackson2-core-java
Section: java
Description: fast and powerful JSON library for Java

Package: libnunit-cil-dev
Section: cli-mono
Description: Unit test framework for CLI - development files

Package: libgtest-dev
Section: libdevel
Description: Google's framework for writing C++ tests

Package: libjansson-dev
Section: libdevel
Description: C library for encoding, decoding and manipulating JSON data (dev)

Package: libfoo1.2-dev
Section: libdevel
Description: development files, no language said

Package: maven
Section: java
Description: Java software project management and comprehension tool

Package: pgbouncer
Section: database
Description: lightweight connection pooler for PostgreSQL

Package: ripgrep
Section: utils
Description: Recursively searches directories for a regex pattern

Package: php-yaml
Section: php
Description: YAML-1.1 parser and emitter for PHP

Package: python3-yaml
Section: python
Description: YAML parser and emitter for Python

Package: python3-express
Section: python
Description: a name the training prose uses as a word

Package: xterm
Section: x11
Description: X terminal emulator
"""


def test_debian_names_place_libraries_and_tools():
    found = {r["Package"]: packages.library_of(r["Package"], r.get("Section", ""), r["Description"])
             for r in packages.records(INDEX)}
    assert found == {
        "python3-scikit-image": ("scikit-image", "python"),
        "node-kleur": ("kleur", "javascript"),
        "node-ts-pattern": ("ts-pattern", "typescript"),  # the description says TypeScript
        "librust-nom-7-dev": ("nom", "rust"),  # the version is not part of the name
        "librust-nom+std-dev": None,  # a feature package
        "golang-github-spf13-cobra-dev": ("cobra", "go"),
        "libjackson2-core-java": ("jackson2-core", "java"),
        "libnunit-cil-dev": ("nunit", "csharp"),
        "libgtest-dev": ("gtest", "cpp"),
        "libjansson-dev": ("jansson", "c"),
        "libfoo1.2-dev": None,  # a development package that names no language
        "maven": ("maven", "java"),
        "pgbouncer": ("pgbouncer", "sql"),
        "ripgrep": ("ripgrep", "bash"),
        "php-yaml": ("yaml", "php"),
        "python3-yaml": ("yaml", "python"),
        "python3-express": ("express", "python"),
        "xterm": None,
    }


def test_names_one_language_owns_and_no_common_training_word(tmp_path):
    train = tmp_path / "train.jsonl.gz"
    rows = [("express the result as a list", lang) for lang in ("python", "go", "java")]
    rows.append(("an express route handler", "javascript"))
    with gzip.open(train, "wt") as fh:
        for prompt, lang in rows:
            fh.write(json.dumps({"prompt": prompt, "language": lang, "task": "generate", "source": "s"}) + "\n")
    stop = packages.common_words(train)
    assert "express" in stop and "route" not in stop
    names = packages.package_names(packages.records(INDEX), stop, min_share=0.85)
    assert "yaml" not in names.tokens  # PHP's and Python's alike
    assert "express" not in names.tokens
    assert names.share("kleur") == {"javascript": 1.0} and names.share("nom") == {"rust": 1.0}


def test_the_command_writes_a_table_the_lexicon_reads(tmp_path):
    index = tmp_path / "Packages.gz"
    with gzip.open(index, "wt") as fh:
        fh.write(INDEX)
    train = tmp_path / "train.jsonl.gz"
    with gzip.open(train, "wt") as fh:
        fh.write(json.dumps({"prompt": "hi", "language": "python", "task": "generate", "source": "s"}) + "\n")
    words = tmp_path / "words"
    words.write_text("cobra\ncobra's\nMaven\n")  # a common noun; a capitalised entry is a proper name
    packages.main(["--index", str(index), "--train", str(train), "--words", str(words), "--out", str(tmp_path / "packages.tsv.gz")])
    names = PackageNames.load(tmp_path / "packages.tsv.gz")
    assert {"scikit-image", "kleur", "gtest", "maven", "ripgrep"} <= set(names.tokens) and "cobra" not in names.tokens
    with pytest.raises(SystemExit, match="--index .*missing: no such file"):
        packages.main(["--index", str(tmp_path / "missing"), "--words", str(words), "--out", str(tmp_path / "x.tsv.gz")])
    with pytest.raises(SystemExit, match="--words .*nowords: no such file"):
        packages.main(["--index", str(index), "--train", str(train), "--words", str(tmp_path / "nowords")])
