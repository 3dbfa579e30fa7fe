"""Deterministic cues: what fires on fence tags, shebangs, file names, syntax and language mentions."""
import pytest

from moe_coder.routing.calibration import choose_threshold, expected_calibration_error, fit_temperature
from moe_coder.routing.cues import CUE_NAMES, cue_matrix, extract_cues


@pytest.mark.parametrize(
    "prompt, cue",
    [
        ("```rust\nfn main() {}\n```", "fence:rust"),
        ("```ts\nconst x: number = 1\n```", "fence:typescript"),
        ("#!/usr/bin/env bash\nset -e\n", "shebang:bash"),
        ("why does utils.go fail to build?", "file:go"),
        ("<?php echo $x; ?>", "syntax:php_open_tag"),
        ("#include <vector>\nint main() {}", "syntax:cpp_include"),
        ("using System;\nclass A {}", "syntax:csharp_using"),
        ("Traceback (most recent call last):\n  File \"a.py\", line 3, in <module>", "syntax:python_traceback"),
        ("error[E0382]: borrow of moved value: `v`", "syntax:rust_error"),
        ("write this in Rust please", "target:rust"),
        ("like Python's enumerate, but in Go", "aside:python"),
        ("like Python's enumerate, but in Go", "target:go"),
        ("用Python写一个函数", "target:python"),
        ("Écris des tests unitaires", "ask:test"),
        ("Necesito código c++ que ordene un vector", "mention:cpp"),
    ],
)
def test_cue_fires(prompt, cue):
    assert cue in extract_cues(prompt)


@pytest.mark.parametrize(
    "prompt, lang",
    [
        ("how do I paginate a queryset in django", "python"),
        ("Q: necesito código mariadb que haga un join", "sql"),
        ("ayuda con postgresql por favor", "sql"),
        ("WRITE IT IN TYPESCRIPT", "typescript"),
        ("is laravel still worth learning", "php"),
        ("port this to GOLANG", "go"),
        ("what is f# good at", "other"),
    ],
)
def test_a_name_that_is_no_english_word_is_read_in_any_case(prompt, lang):
    assert f"mention:{lang}" in extract_cues(prompt)


@pytest.mark.parametrize("prompt", ["go to the store and unity of purpose", "a react component should react", "trust the oracle"])
def test_a_name_that_is_also_an_english_word_counts_only_as_written(prompt):
    assert not [c for c in extract_cues(prompt) if c.startswith("mention:")]


def test_incidental_mention_marks_the_last_language_named():
    cues = extract_cues("I know Java well, but how do I read a file in C#?")
    assert {"mention:java", "mention:csharp", "last_mention:csharp", "target:csharp"} <= set(cues)
    assert "target:java" not in cues


def test_every_evidence_cue_names_the_languages_it_points_to():
    from moe_coder.routing.cues import _EVIDENCE

    evidence = {name for name in CUE_NAMES if name.split(":")[0] in ("fence", "file", "shebang", "syntax")}
    assert evidence - {"fence:untagged"} == set(_EVIDENCE)


def test_a_target_the_code_is_not_written_in_is_told_apart_from_one_it_is():
    python_code = "def area(r):\n    return 3.14 * r * r\n"
    assert "target:differs_from_code" in extract_cues(f"what would this be in Java?\n\n{python_code}")
    assert "target:matches_code" in extract_cues(f"make this faster, in Python\n\n{python_code}")
    # C and C++ both write #include, so naming either over it is no mismatch
    cues = extract_cues("port this to C++:\n#include <stdio.h>\nint main(void) { return 0; }")
    assert "target:matches_code" in cues and "target:differs_from_code" not in cues
    # no code, or no named target: neither fires
    for prompt in ("write a Java class for a bank account", python_code):
        assert not {"target:matches_code", "target:differs_from_code"} & set(extract_cues(prompt))


def test_an_accented_word_is_not_a_one_letter_language_name():
    # "Cómo" and "Código" begin with a C that ASCII word boundaries would take for the language
    for prompt in ("¿Cómo puedo leer un archivo?", "Código de ejemplo, por favor", "Escribe un programa con Código limpio"):
        assert not [c for c in extract_cues(prompt) if c.endswith(":c")], prompt
    assert {"mention:c", "target:c"} <= set(extract_cues("Escribe en C una función"))
    assert "target:c" in extract_cues("用C写一个函数")


def test_identifiers_in_pasted_code_and_drive_letters_are_not_language_names():
    c_code = "static void* start(void *v)\n{\n\tThreadStart ts;\n\tts = *(ThreadStart*)v;\n\tjs = sh(py);\n}\n"
    names = [c for c in extract_cues("Améliore ce code :\n\n" + c_code) if c.split(":")[0] in ("mention", "target")]
    assert names == []
    assert not [c for c in extract_cues("Notice: Undefined variable in C:\\xampp\\htdocs\\index.php") if c.endswith(":c")]
    # a sentence keeps its names even when it ends like code
    assert "target:python" in extract_cues("Write a function in Python (with tests)")
    assert "mention:rust" in extract_cues(c_code + "\nRust please")


def test_objective_c_perl_pod_and_letters_of_other_scripts_are_not_the_c_language():
    # each of these once made a "C" mention: a language outside the twelve, markup, and a letter
    # inside random characters
    assert {c for c in extract_cues("I'm building a tool in Objective-C and need a parser") if "mention" in c} == {
        "mention:other", "last_mention:other"}
    assert not [c for c in extract_cues("Fix it.\n=item C<write($buffer, $size)>\n\nWrite C<$size> bytes") if c.endswith(":c")]
    assert not [c for c in extract_cues("ᐔ✂஽ଡ଼ཊ⡫ᷮێⵍ⮑ጝCⱵክⓆ͘ϵߐⷻ some words follow here") if c.endswith(":c")]
    for prompt in ("Using C, list the 10 biggest files", "in C: write a loop", "(C) please", "a C/C++ question",
                   "用C写一个程序", "Escribe en C.", 'in "C" and nothing else'):
        assert "mention:c" in extract_cues(prompt), prompt


def test_bytes_that_are_not_text_name_no_language():
    junk = "".join(chr(c) for c in (0x01, 0x02, 0x03, 0x04)) + " Using C and Python, ok " + "\x05\x06"
    cues = extract_cues(junk)
    assert "shape:binary" in cues and not [c for c in cues if c.startswith(("mention:", "last_mention:"))]


def test_empty_binary_and_huge_prompts_are_cues_not_crashes():
    assert extract_cues("   \n") == ["shape:empty"]
    assert "shape:binary" in extract_cues(bytes(range(256)).decode("latin-1"))
    assert "shape:long" in extract_cues("x = 1\n" * 20000)


def test_cue_matrix_has_one_column_per_cue_name():
    m = cue_matrix([["fence:rust", "ask:fix"], [], ["shape:empty"]])
    assert m.shape == (3, len(CUE_NAMES))
    assert m.sum() == 3 and m[1].sum() == 0


def test_temperature_scaling_and_ece():
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    logits = rng.normal(size=(2000, 3))
    logits[np.arange(2000), y] += 1.0
    overconfident = logits * 5
    t = fit_temperature(overconfident, y)
    assert 3.0 < t < 8.0, "the fitted temperature undoes the scaling"
    assert expected_calibration_error(np.full(1000, 0.7), rng.random(1000) < 0.7) < 0.05
    assert expected_calibration_error(np.full(1000, 0.99), np.zeros(1000, bool)) > 0.9


def test_threshold_abstains_where_routing_is_likely_wrong():
    import numpy as np

    confidence = np.array([0.2, 0.3, 0.35, 0.9, 0.95, 0.99])
    correct = np.array([False, False, True, True, True, True])
    t = choose_threshold(confidence, correct)
    assert 0.3 < t < 0.9
    assert choose_threshold(np.array([0.9, 0.95]), np.array([True, True])) == 0.0


def test_syntax_prefilters_never_hide_a_match():
    """Every syntax cue's needed strings really are needed: on the router's own test prompts (code in
    twelve languages and more) a pattern never matches a prompt its prefilter would skip."""
    import gzip
    import json
    from pathlib import Path

    from moe_coder.routing.cues import _SYNTAX_NEEDS, _SYNTAX_RX

    assert set(_SYNTAX_NEEDS) == set(_SYNTAX_RX)
    data = Path(__file__).resolve().parents[1] / "router_training" / "data" / "test.jsonl.gz"
    with gzip.open(data, "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["prompt"] for line in fh]
    texts = [t for t in texts if isinstance(t, str)]
    assert len(texts) > 1000
    hits = 0
    for text in texts:
        for name, rx in _SYNTAX_RX.items():
            if rx.search(text):
                hits += 1
                assert any(n in text for n in _SYNTAX_NEEDS[name]), (name, text[:200])
    assert hits > 1000


@pytest.mark.parametrize("branch, literal", [
    (r"\bfn\s+\w+\s*[(<]", "fn"), (r"\w+!\(", "!("), (r"^\s*package\s+main\b", "package"),
    (r"colou?r", "colo"), (r"ab{0,3}c", "a"), (r"a{2}bcd", "bcd"), (r"x+y", "x"), (r"\$\{\w+[}:#%]", "${"),
    (r"[^]x]abc", "abc"), (r"(?:ab|cd)efg", "efg"), (r"(?<!use )\bstd::", "std::"), (r"\{\s*get;", "get;"),
    (r"a\.b\(c", "a.b(c"), (r"\bx\b", "x"), (r"(?i:abc)", ""), (r"[abc]+", ""), (r"a\nb", "a\nb"),
])
def test_required_literal_is_a_substring_of_every_match(branch, literal):
    import re

    from moe_coder.routing.cues import _required_literal

    assert _required_literal(branch) == literal


def test_gated_syntax_search_finds_what_each_whole_pattern_finds():
    """Each syntax pattern is searched branch by branch, a branch only when the literal it requires is
    in the text; on the router's test prompts and on random mixtures of the patterns' own pieces,
    that finds a match exactly when the whole pattern does."""
    import gzip
    import json
    import random
    import re
    from pathlib import Path

    from moe_coder.routing import cues

    data = Path(__file__).resolve().parents[1] / "router_training" / "data" / "test.jsonl.gz"
    with gzip.open(data, "rt", encoding="utf-8") as fh:
        texts = [t for t in (json.loads(line)["prompt"] for line in fh) if isinstance(t, str)][:1500]
    rng = random.Random(0)
    pieces = [n for parts in cues._SYNTAX_PARTS.values() for n, _ in parts if n] + [" ", "\n", "x", "(", "{", "1"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    matched = 0
    for name, rx in cues._SYNTAX_RX.items():
        for text in texts:
            whole = rx.search(text) is not None
            matched += whole
            assert cues._gated_search(cues._SYNTAX_PARTS[name], text) == whole, (name, text[:200])
    assert matched > 1000
    # a pattern with a case-insensitive flag is never gated by its literals
    assert all(n == "" for n, _ in cues._gated(r"(?i)abc|def", re.M))


def test_using_namespace_std_is_cpp_and_not_csharp():
    """C that says ``using namespace std;`` is C++ (HumanEval-X's C++ prompts are written so);
    C#'s ``namespace X {`` / ``namespace X;`` still fires the C# cue."""
    cues = extract_cues("#include<stdio.h>\nusing namespace std;\nint x_or_y(int n,int x,int y){")
    assert "syntax:cpp_std" in cues
    assert "syntax:csharp_using" not in cues
    assert "syntax:csharp_using" in extract_cues("namespace Shop.Orders;\npublic class Order {}")


@pytest.mark.parametrize(
    "code, untyped",
    [
        ("const findMax = (words) => {\n  let s = -1;\n", True),
        ("function add(a, b) {\n  return a + b;\n}", True),
        ("const findMax = (words: string[]): string => {", False),
        ("class Store {\n  private items = new Map<string, number>();\n  const add = () => {}\n}", False),
        ("export type Id = string;\nconst f = (x) => {", False),
        ("```ts\nconst f = (x) => {\n```", False),
    ],
)
def test_javascript_with_nothing_only_typescript_writes_is_marked_untyped(code, untyped):
    cues = extract_cues(code)
    assert "syntax:js_syntax" in cues
    assert ("syntax:js_untyped" in cues) is untyped


@pytest.mark.parametrize(
    "prompt",
    [
        "// Return the difference between the largest and smallest element.\n// >>> spread([3, 1, 4])\n// 3\n"
        "function spread(xs) {",
        "def sum_of_squares(xs):\n    \"\"\"Return the sum of the squares of xs.\n    >>> sum_of_squares([1, 2])\n    5\n    \"\"\"\n",
        "Write a function that returns the n-th Fibonacci number in Go",
        "Fix this: my loop never ends when the list is empty",
        "crash when the list is empty - what's going on here?",
    ],
)
def test_requests_and_docstrings_do_not_ask_for_an_explanation(prompt):
    assert "ask:explain" not in extract_cues(prompt)


def test_task_words_are_searched_in_a_faster_arrangement_of_the_same_patterns():
    """``_scan_friendly`` regroups an alternation's branches; whether a text matches must not change."""
    import re

    from moe_coder.routing import cues

    assert cues._top_level_alternatives(r"\ba(?:b|c)|[|)]x|\|y|z") == [r"\ba(?:b|c)", "[|)]x", r"\|y", "z"]
    texts = [
        "fix the crash", "prefix the list", "为什么这里报错", "修复这个", "Das funktioniert nicht", "xfunktioniert nicht",
        "explain this", "unexplained", "这是什么", "¿Para qué sirve?", "para qué sirve", "qu'est-ce que c'est",
        "write unit tests", "contests", "翻译成Go", "用Rust重写", "schreib das in Go um", "refactor it", "重构一下", "make it more pythonic", "less nested", "hazlo legible", "it hangs", "no funciona", "程序崩溃",
        "complete the TODO", "incomplete", "补全代码", "写一个函数", "recrea", "crea una función", "", "plain words only",
        "FIX THE CRASH", "Explain This", "Write Unit Tests", "Das FUNKTIONIERT NICHT", "ÜBERSETZ das", "Wie Funktioniert das",
        "ELI5", "Clean This Up", "Qu'est-ce Que c'est", "Stürzt ab", "IT HANGS",
    ]
    for task, pattern in cues._TASK_WORDS.items():
        plain = re.compile(pattern, re.I)
        for text in texts:
            assert bool(plain.search(text)) == bool(cues._TASK_RX[task].search(text.lower())), (task, text)


def test_lower_case_keeps_escapes():
    from moe_coder.routing import cues

    assert cues._lower_case(r"\bFehler\S+[A-Z]\u4E00") == r"\bfehler\S+[a-z]\u4e00"


def test_ends_open_finds_what_the_end_anchored_search_finds():
    """``_ends_open`` looks at the end of the text instead of searching every position; on random
    texts made of the characters that matter it agrees with the search it replaces."""
    import random
    import re

    from moe_coder.routing import cues

    plain = re.compile(r"(?:[{(\[,=:]|=>|->|\bthen|\bdo|\\)\s*$|\n[ \t]+\S[^\n]*\s*$")
    rng = random.Random(0)
    pieces = [" ", "\t", "\n", "\r", "\x0b", "{", "(", "[", ",", "=", ":", ">", "-", "\\", "then", "do", "x", "a",
              "othen", "redo", "\n  ", "\n\t", ";", "}", "é"]
    texts = ["", " ", "\n", "then", "xthen", "do", "  x", "a\n  b", "a\n  b\n\n", "a\n\x0bb", "f(x) {\n"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(20000)]
    texts += ["word " * 100 + "{", "{" + "x" * 500, "a\n  b" + " " * 450]
    for text in texts:
        assert cues._ends_open(text) == bool(plain.search(text[-400:])), repr(text)


@pytest.mark.parametrize(
    "prompt",
    [
        "ELI5 what's going on in this loop",
        "why would you use a trait object here?",
        "Why do people use dependency injection?",
        "what do lifetimes actually do under the hood",
        "How do Python decorators work?",
        "What's the difference between let and var?",
        "Explícame qué hace este bucle",
        "¿Para qué sirve un índice en SQL?",
        "¿Cómo funciona el borrow checker?",
        "Was genau macht dieser Befehl?",
        "Wofür braucht man Interfaces?",
        "Wie funktioniert async in Rust?",
        "Qu'est-ce qu'une closure ?",
        "À quoi sert ce décorateur ?",
        "这段代码的原理是什么",
        "闭包和函数有什么区别？",
        "什么是生命周期",
    ],
)
def test_questions_about_code_ask_for_an_explanation(prompt):
    assert "ask:explain" in extract_cues(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "make this more pythonic",
        "can you tidy this function up?",
        "clean this mess up pls",
        "this is way too verbose, can it be more concise?",
        "modernize this C++98 loop",
        "the nesting here is too nested and ugly",
        "is there a more elegant way to write this?",
        "this code smells, follow best practices",
        "¿Cómo puedo simplificar esto?",
        "hazlo más legible",
        "Wie kann ich diesen Code vereinfachen?",
        "rendre ce code plus lisible",
        "这段代码怎么简化",
        "提高可读性",
    ],
)
def test_refactor_requests_without_the_word_ask_for_a_refactor(prompt):
    assert "ask:refactor" in extract_cues(prompt)


@pytest.mark.parametrize(
    "prompt",
    ["run it in verbose mode", "explain this nested loop", "write a cleanup() function for the temp dir",
     "write a function that reverses a list"],
)
def test_words_near_refactor_phrasings_do_not_ask_for_one(prompt):
    assert "ask:refactor" not in extract_cues(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "my script hangs when the file is empty",
        "this segfaults on an empty vector",
        "there's an off-by-one somewhere, the last item never prints",
        "the worker pool deadlocks under load",
        "I think there's a race condition here",
        "this leaks memory on every request",
        "it panics with index out of range",
        "el script no funciona con espacios",
        "Das Programm stürzt ab",
        "mon script ne marche pas",
        "程序崩溃了",
        "这里好像死循环了",
    ],
)
def test_bugs_told_by_their_symptom_ask_for_a_fix(prompt):
    assert "ask:fix" in extract_cues(prompt)


@pytest.mark.parametrize("prompt", ["I'm stuck, finish this function", "freeze the dataclass so it can be hashed"])
def test_words_near_symptoms_do_not_ask_for_a_fix(prompt):
    assert "ask:fix" not in extract_cues(prompt)
