"""The router's training data builder: changelog entries as task requests, code in languages outside the twelve."""
from __future__ import annotations

import gzip
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "router_training"))

import build_data  # noqa: E402
import changelogs  # noqa: E402
import sources  # noqa: E402

UPSTREAM = """\
2022.07.12, Version 1.44.2 (Stable)

* unix: simplify getpwuid call (Jameson Nash)

* build: fix kFreeBSD build (James McCoy)

* test: add tests for bad inputs

* core: add thread-safe strtok implementation (Someone Else)

* Fixed handling of the sign specifier in localized formatting on systems with
  32-bit ``wchar_t`` (`#3041 <https://github.com/fmtlib/fmt/issues/3041>`_).

-   [`78f3fa5`](https://github.com/x/y/commit/78f3fa5) [#4756](https://github.com/x/y/pull/4756) Thanks [@kubk](https://github.com/kubk)! - Fix `super` reads of a getter

* Update debian/watch file
* Bump Standards-Version to 4.6.2
* Use for(;;) instead of while
* Make the parser faster
"""


def test_changelog_entries_become_imperative_requests_of_the_task_their_verb_names(tmp_path):
    doc = tmp_path / "libfoo" / "usr" / "share" / "doc" / "libfoo"
    doc.mkdir(parents=True)
    (doc / "changelog.gz").write_bytes(gzip.compress(UPSTREAM.encode()))
    (doc / "copyright").write_text("* Fix nothing: not a changelog\n")
    found = changelogs.requests(tmp_path / "libfoo")
    assert found["refactor"] == ["Simplify getpwuid call", "Use for(;;) instead of while"]
    assert found["test"] == ["Add tests for bad inputs"]
    # joined continuation lines, past tense made imperative, credits, links and issue numbers dropped
    assert "Fix handling of the sign specifier in localized formatting on systems with 32-bit ``wchar_t``" in found["fix"]
    assert "Fix kFreeBSD build" in found["fix"]
    assert "Fix `super` reads of a getter" in found["fix"]
    everything = [r for rs in found.values() for r in rs]
    assert not any("debian/" in r or "Standards-Version" in r or "strtok" in r or "faster" in r for r in everything)


@pytest.mark.parametrize("request_, task", [
    ("Fix crash on empty input", "fix"), ("Work around a compiler bug", "fix"),
    ("Refactor the lexer into smaller functions", "refactor"), ("Clean up uv_thread_create()", "refactor"),
    ("Replace dpkg calls with a helper", "refactor"), ("Split getReaderM into separated functions", "refactor"),
    ("Add regression tests for MSVC", "test"), ("Test that closing a poll handle doesn't corrupt the stack", "test"),
    ("Add support for wide streams", None), ("Make the parser faster", None), ("Test suite cleanups", None),
    ("Update translations", None),
])
def test_task_of_a_request(request_, task):
    assert changelogs.task_of(request_) == task


def test_changelog_requests_follow_their_package_split(tmp_path):
    names = [f"pkg{i}" for i in range(60)]
    by_split = {}
    for name in names:
        by_split.setdefault(build_data.split_of(name), name)
    for split, name in by_split.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "NEWS").write_text(f"* Fix a crash in the {split} parser\n")
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "CHANGES").write_text("* Fix a crash in a download\n")
    got = build_data.changelog_requests(tmp_path)
    assert got == {split: {"fix": [f"Fix a crash in the {split} parser"]} for split in by_split}


def test_a_code_request_uses_its_split_changelog_words_only():
    bank = {"train": {"refactor": ["Simplify the train-split call"]}, "test": {"refactor": ["Simplify the test-split call"]}}
    builder = build_data.Builder(seed=0, changelog=bank)
    prompts = [builder.code_task("train", "pkg", "python", "def f(x):\n    return x\n", "refactor", ["do a thing"])["prompt"]
               for _ in range(300)]
    own = sum("simplify the train-split call" in p.lower() for p in prompts)
    assert 0.15 * 300 < own < 0.45 * 300
    assert not any("test-split" in p for p in prompts)


def test_code_outside_the_twelve_is_labelled_unknown_one_source_per_language(tmp_path):
    root = tmp_path / "pip-pygments" / "pygments-2.21.0" / "tests" / "examplefiles"
    for folder, name in (("cobol", "example.cob"), ("haskell", "Main.hs"), ("python", "x.py"), ("kotlin", "a.kt.output")):
        (root / folder).mkdir(parents=True)
        (root / folder / name).write_text("IDENTIFICATION DIVISION.\nPROGRAM-ID. HELLO.\n")
    rule = next(r for r in sources.RULES if r.package == "pip-pygments")
    files = {k: v for k, v in sources.source_files(tmp_path).items() if k[1].startswith("pip-pygments")}
    assert rule.language == "unknown"
    assert sorted(files) == [("unknown", "pip-pygments/cobol"), ("unknown", "pip-pygments/haskell")]
    assert sources.other_language_name("pip-pygments/cobol") == "COBOL"
    assert sources.other_language_name("pip-pygments/vb") == "VB.NET"
    assert sources.other_language_name("libruby3.1/x") is None


def test_code_without_a_known_start_line_is_still_cut():
    """COBOL or Haskell match none of the start patterns: unindented lines start their windows."""
    cobol = "\n".join(["       IDENTIFICATION DIVISION.", "       PROGRAM-ID. HELLO.", "PROCEDURE DIVISION.",
                       "    DISPLAY 'HELLO'.", "    MOVE A TO B.", "    ADD 1 TO COUNTER.", "STOP RUN."] * 4)
    snippets = sources.cut_snippets("unknown", cobol, random.Random(0), 3)
    assert snippets and all("DIVISION" in s or "DISPLAY" in s or "MOVE" in s or "ADD" in s for s in snippets)


def test_other_languages_never_include_the_twelve():
    from moe_coder.languages import LANGUAGES

    names = {n.lower() for language in LANGUAGES for n in (language.id, language.name)}
    others = {k.lower() for k in sources.OTHER_LANGUAGES} | {v.lower() for v in sources.OTHER_LANGUAGES.values()}
    assert not names & others


@pytest.mark.parametrize("request_, reported", [
    ("Fix crash on empty input", "crash on empty input"),
    ("Fix a bug where `DocParser` checked the wrong method", "`DocParser` checked the wrong method"),
    ("Fix a bug that caused database corruption when a vacuum is rolled back",
     "database corruption when a vacuum is rolled back"),
    ("Fix UdpSocket not being able to reopen after close", "UdpSocket not being able to reopen after close"),
    ("Fix the wrong error message on connect failures", "wrong error message on connect failures"),
    ("Resolve deadlock in the worker pool", "deadlock in the worker pool"),
    # a build, a platform, a behaviour change or a bare object: nothing a user sees go wrong
    ("Fix mingw build", None), ("Fix building on MinGW", None), ("Fix handling of records", None),
    ("Fix psql to skip in-line data even if the COPY fails", None), ("Fix uv_exepath", None),
    ("Fix udp_ipv6 test flakiness", None), ("Simplify the crash handler", None), ("Add tests for crashes", None),
])
def test_a_fix_entry_reports_its_misbehaviour_without_the_verb(request_, reported):
    assert changelogs.symptom(request_) == reported


def test_some_fix_requests_report_the_misbehaviour_and_nothing_else_is_drawn_differently(monkeypatch):
    bank = {"train": {"fix": ["Fix crash when the list is empty", "Fix mingw build"]},
            "test": {"fix": ["Fix deadlock in the test-split pool"]}}
    code = "def f(x):\n    return x\n"

    def prompts(builder, task):
        return [builder.code_task("train", "pkg", "python", code, task, ["do a thing"])["prompt"] for _ in range(300)]

    with_reports = prompts(build_data.Builder(seed=0, changelog=bank), "fix")
    reports = [p for p in with_reports if "crash when the list is empty" in p.lower() and "fix crash" not in p.lower()]
    assert 0.2 * 300 < len(reports) < 0.5 * 300
    assert not any("mingw build" in p.lower() and "fix" not in p.lower() for p in with_reports)
    assert not any("test-split" in p for p in with_reports)
    # refactor requests never become reports, and the reports keep every other draw where it was
    assert not any("crash when" in p for p in prompts(build_data.Builder(seed=0, changelog=bank), "refactor"))
    monkeypatch.setattr(build_data, "SYMPTOM_SHARE", 0.0)
    without = prompts(build_data.Builder(seed=0, changelog=bank), "fix")
    assert not any("crash when" in p.lower() and "fix crash" not in p.lower() for p in without)
    # the prompts that differ are exactly the reports
    assert [a != b for a, b in zip(with_reports, without)] == [a in reports for a in with_reports]


def test_a_reported_misbehaviour_names_the_pasted_code_not_the_package_it_came_from():
    code = "function loadConfig(path) {\n  const raw_text = fs.readFileSync(path);\n  return JSON.parse(raw_text);\n}\n"
    rng = random.Random(0)
    for entry in ("`res.render` throws when no callback is given", "UdpSocket not being able to reopen after close",
                  "json_is_boolean() returns the wrong value"):
        got = build_data.with_own_identifiers(entry, code, rng)
        assert not any(name in got for name in ("res.render", "UdpSocket", "json_is_boolean"))
        assert any(name in got for name in ("loadConfig", "raw_text", "fs.readFileSync", "JSON.parse")), got
    assert build_data.with_own_identifiers("`res.render` throws", code, rng).startswith("`")
    assert build_data.with_own_identifiers("json_is_boolean() fails", code, rng).split()[0].endswith("()")
    # plain words stay
    assert build_data.with_own_identifiers("crash when the list is empty", code, rng) == "crash when the list is empty"


def _collection_in(split: str, language: str) -> str:
    """A collection name whose ``language`` file belongs to ``split``."""
    return next(f"coll{i}" for i in range(1000)
                if build_data.split_of(f"code-instruction:coll{i}/{language}") == split)


def test_shared_instructions_are_training_prompts_that_name_their_language(tmp_path):
    import json

    shared = tmp_path / "shared"
    train, held = _collection_in("train", "go"), _collection_in("test", "go")
    rows = [{"language": "go", "instruction": "Using Go, implement `func Reverse(s string) string`."},
            {"language": "go", "instruction": "Fix the bug in this Go function that drops the last element."},
            {"language": "go", "instruction": "Reverse a string."}]  # names no language: left out
    for name in (train, held):
        (shared / "code" / name).mkdir(parents=True)
        (shared / "code" / name / "go.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = build_data.shared_instructions(shared, per_language=10, seed=0)
    # only the training-split collection gives prompts; each keeps its wording and its collection
    assert sorted((r["prompt"], r["language"], r["task"]) for r in got) == [
        ("Fix the bug in this Go function that drops the last element.", "go", "fix"),
        ("Using Go, implement `func Reverse(s string) string`.", "go", "generate")]
    assert {r["source"] for r in got} == {f"code-instruction:{train}/go"}
    assert len(build_data.shared_instructions(shared, per_language=1, seed=0)) == 1
    # a template family of its own, for the held-out families
    from moe_coder.routing.metrics import template_family
    assert template_family(got[0]["source"]) == "code collection instruction"

    (shared / "code" / train / "go.jsonl").write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"go.jsonl:2"):
        build_data.shared_instructions(shared, per_language=10, seed=0)
    with pytest.raises(FileNotFoundError, match="no instruction-to-code files"):
        build_data.shared_instructions(tmp_path / "nowhere", per_language=10, seed=0)
