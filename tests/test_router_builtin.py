"""The shipped router (moe_coder/builtin/router) on prompts people write, and on bad input."""
import json

import pytest

from moe_coder import MoECoder
from moe_coder.mixture import builtin_dir

HUGE_BUG_REPORT = "Fix this bug:\n\n" + "def f(x):\n    return x + 1\n" * 4000 + "\nTypeError: unsupported operand"


@pytest.fixture(scope="module")
def coder():
    return MoECoder.from_pretrained("builtin")


@pytest.mark.parametrize(
    "prompt, language, task",
    [
        ("Is there something like Python's enumerate in Go? I need the index while looping over a slice.", "go", "generate"),
        ("<?php\nfunction total(array $items) {\n    $sum = 0;\n", "php", "complete"),
        ("用Python写一个函数，统计文件里每个单词出现的次数", "python", "generate"),
        ("Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    x = d['k']\nKeyError: 'k'", "python", "fix"),
        ("error[E0382]: borrow of moved value: `s`\n --> src/main.rs:4:20\nhow do I fix this?", "rust", "fix"),
        ("Write Jest unit tests for this:\n\nexport const add = (a, b) => a + b;", "javascript", "test"),
        ("¿Qué hace este código?\n\nSELECT name, COUNT(*) FROM users GROUP BY name HAVING COUNT(*) > 1;", "sql", "explain"),
        ("Make this more idiomatic:\n\nfor (int i = 0; i < list.size(); i++) { System.out.println(list.get(i)); }", "java", "refactor"),
    ],
)
def test_routes_realistic_prompts(coder, prompt, language, task):
    d = coder.route(prompt)
    assert (d.language, d.task) == (language, task), d.to_dict()


def test_translation_names_target_and_source(coder):
    d = coder.route("Convert this to Rust please:\n\ndef area(r):\n    return 3.14159 * r * r")
    assert (d.language, d.task, d.source_language) == ("rust", "translate", "python")
    assert d.expert == "systems" and not d.abstained


def test_decision_explains_itself(coder):
    d = coder.route("```go\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n```\nwhy doesn't this compile?")
    assert "fence:go" in d.cues
    assert len(d.alternatives) == 3 and all({"language", "task", "score", "expert"} <= set(a) for a in d.alternatives)
    assert d.alternatives[0]["score"] <= d.scores["language"][d.language]


def test_chat_routes_on_the_last_user_turn(coder):
    d = coder.route([
        {"role": "user", "content": "Write a bash script that backs up /etc."},
        {"role": "assistant", "content": "```bash\ntar czf etc.tgz /etc\n```"},
        {"role": "user", "content": "Thanks! Now write the same thing as a PHP script."},
    ])
    assert d.language == "php"


@pytest.mark.parametrize("prompt", ["", "   \n\t", "\x00\x01\x02\xff\xfe" * 200, "🙂" * 50])
def test_bad_input_is_unknown_or_unsure(coder, prompt):
    d = coder.route(prompt)
    assert d.language == "unknown" or d.abstained
    assert d.expert == "generalist"


def test_random_bytes_go_to_the_generalist(coder):
    """Binary junk (3,000 random Latin-1 characters) spells short identifiers and stray syntax; nearly
    all of it must still reach the generalist."""
    import random

    prompts = []
    for seed in range(40):
        rng = random.Random(seed)
        prompts.append("".join(chr(rng.randrange(256)) for _ in range(3000)))
    experts = [d.expert for d in coder.route_batch(prompts)]
    assert experts.count("generalist") >= 38, experts


def test_other_languages_go_to_the_generalist(coder):
    for prompt in ["Write a Haskell function that merges two sorted lists.", "Kotlin data class for a user with an email"]:
        d = coder.route(prompt)
        assert d.expert == "generalist", d.to_dict()


def test_huge_prompt_is_routed_by_its_content(coder):
    """A 100 KB bug report is still read as Python (its routing time is in benchmarks/router.py)."""
    prompt = HUGE_BUG_REPORT
    assert len(prompt) > 100_000
    assert coder.route(prompt).language == "python"


def test_shipped_router_artifacts_are_small():
    meta = json.loads((builtin_dir() / "router" / "router.json").read_text())
    # two sets of heads (full and fast) and the code identifier, half-precision weights, compressed
    assert sum(p.stat().st_size for p in (builtin_dir() / "router").iterdir()) < 12_000_000
    assert meta["fast_threshold"] is not None and 0.0 < meta["fast_threshold"] <= 1.0


def test_code_with_clear_signals_skips_the_encoder_and_prose_uses_it(coder):
    fenced = coder.route("```go\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n```\nwhy doesn't this compile?")
    assert fenced.stage == "fast" and fenced.language == "go"
    stages = {coder.route(p).stage for p in [
        "How would I debounce a search box?", "Was macht ein Mutex genau?", "¿Cómo puedo leer un CSV grande sin cargarlo entero?",
    ]}
    assert "full" in stages


def test_target_named_in_lower_case_or_with_a_version(coder):
    code = "```\nfor (int i = 0; i < n; i++) {\n    sum += a[i];\n}\n```\n\n"
    assert coder.route(code + "what would this be in c sharp").language == "csharp"
    assert coder.route(code + "Can you do the same thing in PHP8?").language == "php"


def test_chat_falls_back_on_earlier_turns_only_where_the_last_is_unsure(coder):
    d = coder.route([
        {"role": "user", "content": "```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n```"},
        {"role": "assistant", "content": "This returns the mean of a list."},
        {"role": "user", "content": "why does it crash on an empty list?"},
    ])
    assert (d.language, d.task) == ("python", "fix"), d.to_dict()


# Completion prompts shaped as a signature after a line-comment docstring: the grammar evidence
# (moe_coder/routing/grammar.py) must keep them off look-alike languages.
JS_COMPLETION = """// Given a list of words, return the longest one; the first on ties.
// >>> longestWord(["apple", "fig", "banana"])
// "banana"
function longestWord(words){
"""
CPP_COMPLETION = """#include<assert.h>
#include<bits/stdc++.h>
// Return the running maximum of the numbers.
// >>> running_max((std::vector<long>({(long)1, (long)3, (long)2})))
// (std::vector<long>({(long)1, (long)3, (long)3}))
std::vector<long> running_max(std::vector<long> numbers) {
"""
BASH_STUB = """#!/bin/bash
# Count the lines of a file that contain a word.
# $1 is a file name, $2 a word
#
# >>> $(count_matching "notes.txt" "todo")
# "3"
count_matching() {
"""


def test_javascript_completion_is_not_sent_to_go(coder):
    d = coder.route(JS_COMPLETION)
    assert not (d.language == "go" and d.scores["language"]["go"] >= 0.85), d.to_dict()
    assert d.language == "javascript", d.to_dict()


def test_cpp_completion_with_std_vector_is_cpp(coder):
    assert coder.route(CPP_COMPLETION).language == "cpp"


def test_bash_function_stub_is_bash(coder):
    d = coder.route(BASH_STUB)
    assert d.language == "bash", d.to_dict()


COBOL = ("       IDENTIFICATION DIVISION.\n       PROGRAM-ID. PAYROLL.\n       DATA DIVISION.\n       WORKING-STORAGE SECTION.\n"
         "       01 WS-TOTAL PIC 9(7)V99 VALUE ZERO.\n       PROCEDURE DIVISION.\n           ADD 100 TO WS-TOTAL.\n"
         "           DISPLAY WS-TOTAL.\n           STOP RUN.\n")


@pytest.mark.parametrize("code", [
    "fun main() {\n    val names = listOf(\"a\", \"b\")\n    names.forEachIndexed { i, n -> println(\"$i $n\") }\n}\n"
    "data class User(val name: String, val email: String?)\n",
    "module Main where\n\nimport Data.List (sortBy)\n\nmergeSorted :: Ord a => [a] -> [a] -> [a]\nmergeSorted [] ys = ys\n"
    "mergeSorted xs [] = xs\nmergeSorted (x:xs) (y:ys)\n  | x <= y = x : mergeSorted xs (y:ys)\n  | otherwise = y : mergeSorted (x:xs) ys\n",
    COBOL,  # Pygments' COBOL example is in the router's training split; Kotlin's is in validation, Haskell's in training
    "with Ada.Text_IO; use Ada.Text_IO;\nprocedure Hello is\nbegin\n   Put_Line (\"Hello, world!\");\nend Hello;\n",
    pytest.param(
        "struct Point {\n    var x: Double\n    var y: Double\n}\n\nfunc distance(_ a: Point, _ b: Point) -> Double {\n"
        "    let dx = a.x - b.x\n    let dy = a.y - b.y\n    return (dx * dx + dy * dy).squareRoot()\n}\n",
        marks=pytest.mark.xfail(strict=True, reason="unmet (issue 16): Swift, a language no training prompt holds "
                                                    "(test split), goes to Go at 0.99: `func`, `let`, `struct`")),
])
def test_code_outside_the_twelve_is_not_forced_into_a_language(coder, code):
    """Kotlin, Haskell, COBOL: the generalist, or at least no label language at high confidence."""
    d = coder.route("What does this code do?\n\n" + code)
    assert d.expert == "generalist" or d.scores["language"][d.language] < 0.85, d.to_dict()


@pytest.mark.parametrize("prompt, language", [
    ("How do I validate a JSON schema with ajv?", "javascript"),
    ("Why is gorm slow on bulk inserts?", "go"),
    ("add a migration with alembic", "python"),
    ("parse arguments with picocli", "java"),
])
def test_a_library_only_package_registries_name_gives_the_language(coder, prompt, language):
    """No training prompt names these; Debian's package index does (``packages.tsv.gz`` beside the router)."""
    d = coder.route(prompt)
    assert any(c.startswith("package:") and c.endswith(f">{language}") for c in d.cues), d.to_dict()
    assert d.language == language, d.to_dict()
