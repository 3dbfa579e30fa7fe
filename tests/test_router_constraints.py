"""What the labels' definitions rule out: code whose fenced blocks are all tagged with one label
language is in that language; code a grammar rejects is not in its language when a rival's grammar
accepts it; a prompt that names one label language and shows no code is not ``unknown``; a prompt
without code is neither a translation nor a completion."""
from __future__ import annotations

import numpy as np
import pytest

from moe_coder.routing.cues import extract_cues
from moe_coder.routing.constraints import (GRAMMAR_VETO, CodeEvidence, declare_language, declared_language,
                                           all_code, complete_open_code, constraint_inputs, exclude_code_tasks,
                                           exclude_unknown, grammar_code,
                                           holds_code, holds_words, javascript_not_typescript, named_language,
                                           reject_ungrammatical, says_nothing, untyped_javascript)
from moe_coder.routing.cues import code_outside_prose
from moe_coder.routing.router import PromptRouter


def _named(text: str) -> str | None:
    return named_language(text, extract_cues(text))


@pytest.mark.parametrize("text, language", [
    ("Using C, list the 10 biggest files in a directory.", "c"),
    ("Hi! Show me how to read a YAML config into a struct. Language: rust", "rust"),
    ("帮我写个Go程序，需求是 list the 10 biggest files in a directory", "go"),
    ("Thanks in advance. How do I test code that will list a folder in TS? Write the tests.", "typescript"),
    # code, two languages, a language outside the twelve, no language at all: no rule
    ("Using C, fix this:\n\n```\nint main(void) { return 0 }\n```", None),
    ("In SQL I'd just use GROUP BY. What's the C# .NET way to group products?", None),
    ("Write it in Kotlin, not Java.", None),
    ("compute the median of a list of numbers", None),
    # only languages outside the twelve, no code: unknown
    ("I'm building a tool in Objective-C and need a function that returns the date", "unknown"),
    ("Using F#, check whether two strings are anagrams.", "unknown"),
    ("Write me a Groovy class or function that can implement a stack with push, pop and peek.", "unknown"),
    ("How do I 统计文本中每个单词出现的次数 in R?", "unknown"),
    ("Using Kotlin, fix this:\n\n```\nfun main() { println(1) }\n```", None),
])
def test_named_language_is_the_one_label_language_a_prompt_without_code_names(text, language):
    assert _named(text) == language


@pytest.mark.parametrize("text, words", [
    ("hi", True), ("ok thanks", True), ("напиши функцию", True), ("كيف أكتب دالة", True), ("排序", True),
    ("ソート", True), ("정렬", True), ("", False), ("  \n ", False), ("42 %% ==> 7", False),
    ("ତʅ₊❂ᢾǗⵥ⸾ṍ௰͓ᕝᛙ౯⇙", False),     # code points of many scripts, none twice in a row
    ("a b c d", False),                 # single letters
])
def test_holds_words_is_two_letters_of_one_script_or_an_ideograph(text, words):
    assert holds_words(text) == words


def test_a_prompt_with_neither_code_nor_a_word_is_unknown():
    junk = "ତʅ₊❂ᢾǗⵥ⸾ṍ௰͓ᕝᛙ౯⇙ ⿕⏪೧ჳ"
    assert says_nothing(junk) and says_nothing("") and not says_nothing("hi") and not says_nothing("x = [1]")
    texts = [junk, junk, "hi", "}}", "C#"]
    named = constraint_inputs(texts, ["", "def f(x):\n    return x", "", "", ""], [extract_cues(t) for t in texts]).named
    # the second one follows a turn with code, "}}" holds code itself, and "C#" names a language
    assert says_nothing("C#")
    assert named == ["unknown", None, None, None, "csharp"]


def test_exclude_unknown_moves_only_unknowns_probability_to_the_named_language():
    classes = ["c", "go", "python", "unknown"]
    p = np.array([[0.1, 0.05, 0.05, 0.8],    # named c: c gets unknown's mass
                  [0.1, 0.6, 0.0, 0.3],      # named c, heads prefer go: go stays first
                  [0.1, 0.1, 0.1, 0.7]])     # nothing named: unchanged
    out = exclude_unknown(p, classes, ["c", "c", None])
    assert out[0] == pytest.approx([0.9, 0.05, 0.05, 0.0])
    assert out[1] == pytest.approx([0.4, 0.6, 0.0, 0.0])
    assert out[2] == pytest.approx(p[2])
    assert out.sum(axis=1) == pytest.approx(np.ones(3))
    assert p[0, 3] == 0.8  # a new array; the input is untouched
    # a row naming only languages outside the twelve is unknown, whatever the heads said
    outside = exclude_unknown(p, classes, ["unknown", None, None])
    assert outside[0] == pytest.approx([0.0, 0.0, 0.0, 1.0]) and outside[1] == pytest.approx(p[1])
    # a router without an unknown label, or a named language it lacks, changes nothing
    assert exclude_unknown(p[:, :3], classes[:3], ["c", "unknown", None]) == pytest.approx(p[:, :3])
    assert exclude_unknown(p, classes, ["rust", None, None]) == pytest.approx(p)


def _prompts() -> tuple[list[str], list[tuple[str, str]]]:
    prompts, y = [], []
    for i in range(12):
        # prose without code is `unknown` here unless the code says otherwise: the style the rule corrects
        prompts += [f"compute the median of list number {i}", f"say hello to person {i}",
                    f"```c\nint f{i}(int x) {{ return x + {i}; }}\n```", f"```go\nfunc f{i}(x int) int {{ return x + {i} }}\n```"]
        y += [("unknown", "generate"), ("unknown", "generate"), ("c", "complete"), ("go", "complete")]
    return prompts, y


def test_the_router_applies_it_after_its_heads_and_can_be_switched_off():
    prompts, y = _prompts()
    router = PromptRouter(max_iter=200, tol=1e-3, cascade=False, translate_target=False).fit(prompts, y)
    prompt = "Using C, compute the median of list number 3"
    language = list(router.classes_[0])
    with_rule = router.predict_proba([prompt])[0][0]
    assert with_rule[language.index("unknown")] == 0.0 and language[int(with_rule.argmax())] == "c"
    router.label_constraints = False
    without = router.predict_proba([prompt])[0][0]
    assert without[language.index("unknown")] > 0.0
    assert with_rule[language.index("c")] == pytest.approx(without[language.index("c")] + without[language.index("unknown")])
    # prompts with code (in an untagged block), or naming nothing, are the heads' alone
    router.label_constraints = True
    others = ["say hello to person 5", "Using C:\n```\nint g(int x) { return x; }\n```"]
    on = router.predict_proba(others)[0]
    router.label_constraints = False
    assert on == pytest.approx(router.predict_proba(others)[0])
    assert "label_constraints" in router.get_params()


def test_tasks_that_need_code_are_spread_over_the_other_tasks():
    classes = ["complete", "explain", "generate", "translate"]
    p = np.array([[0.2, 0.1, 0.1, 0.6], [0.2, 0.1, 0.1, 0.6], [0.5, 0.0, 0.0, 0.5]])
    out = exclude_code_tasks(p, classes, [True, False, True])
    assert out[0] == pytest.approx([0.0, 0.5, 0.5, 0.0])
    assert out[1] == pytest.approx(p[1])
    assert out[2] == pytest.approx(p[2])  # nothing to spread it over: left alone
    assert p[0, 3] == 0.6
    assert exclude_code_tasks(p[:, 1:3], classes[1:3], [True] * 3) == pytest.approx(p[:, 1:3])


@pytest.mark.parametrize("text, code", [
    ("Show me how to count the words of a text. Language: a shell script", False),
    ("without using typescript, find the second highest salary in plain sql", False),
    ("Hi! using Moq, check if a string is a palindrome", False),
    ("Select the best sorting algorithm for nearly sorted data", False),
    # code without a bracket in sight
    ("fi\n\n\nurgent: complete the TODO", True),
    ("package uuid\n\nHello, Vervollständige diese Funktion:", True),
    ("SELECT name, score\nFROM users", True),
    ("-- List the 10 biggest files in a directory.\nSELECT ", True),
    ("0x655: 0x2000,\n0x65a: 0x200", True),
    ("return the largest of three numbers", True),  # it errs towards code
    ("what would this be in rust\n\nSELECT city FROM weather;", True),
    ("Translate this to Go: x = [i * i for i in range(10)]", True),
    ("rewrite `len(xs)` in Rust", True),
    ("How would you convert a Unix timestamp to a date (in Python)?", True),  # a parenthesis is enough
])
def test_holds_code_is_conservative(text, code):
    assert holds_code(text) is code


def test_a_conversation_whose_earlier_turn_holds_code_can_still_be_a_translation_or_completion():
    prompts, y = _prompts()
    prompts += [f"```c\nint f{i}(int x) {{ return x; }}\n```\n\nnow write it in Go please" for i in range(12)]
    y += [("go", "translate")] * 12
    router = PromptRouter(max_iter=200, tol=1e-3, cascade=False, translate_target=False).fit(prompts, y)
    task = list(router.classes_[1])
    t = task.index("translate")
    plain = router.predict_proba(["now write it in Go please"])[1][0]
    assert plain[t] == 0.0 and plain[task.index("complete")] == 0.0 and plain.sum() == pytest.approx(1.0)
    chat = [{"role": "user", "content": "```c\nint g(int x) { return x + 1; }\n```"},
            {"role": "assistant", "content": "It adds one."},
            {"role": "user", "content": "now write it in Go please"}]
    assert router.predict_proba([chat])[1][0][t] > 0.0
    router.label_constraints = False
    assert router.predict_proba(["now write it in Go please"])[1][0][t] > 0.0


@pytest.mark.parametrize("text, language", [
    ("```go\nfunc f() {}\n```", "go"),
    ("Why does this panic?\n\n```golang\nvar m map[string]int\nm[\"a\"] = 1\n```\nThanks in advance.", "go"),
    ("```py\nx = 1\n```\nand then\n```python3\ny = 2\n```", "python"),
    ("Bump jest to 29\n\n```go\nfunc TestF(t *testing.T) {}\n```", "go"),
    ("```ts\nconst x: number = 1;", "typescript"),           # an unclosed block runs to the end
    ("fix it:\n  ```rust\n  fn f() {}\n  ```", "rust"),     # an indented fence
    # no declaration: no block, an untagged block, a language outside the twelve, two languages,
    # code outside the blocks, a fence inside a comment line
    ("def f(): pass", None),
    ("```\nfunc f() {}\n```", None),
    ("```kotlin\nfun f() {}\n```", None),
    ("```go\nfunc f() {}\n```\n\n```python\ndef f(): pass\n```", None),
    ("```go\nfunc f() {}\n```\n\nin Python it would be:\n    def f():\n        pass", None),
    ("/**\n * ```ts\n * of(1)\n * ```\n */", None),
])
def test_declared_language_is_the_one_label_language_every_fence_tag_names(text, language):
    assert declared_language(text) == language


def test_declare_language_sets_the_declared_rows_to_certainty():
    classes = ["c", "go", "unknown"]
    p = np.array([[0.2, 0.7, 0.1], [0.2, 0.7, 0.1], [0.2, 0.7, 0.1]])
    out = declare_language(p, classes, ["c", None, "rust"])  # rust: a language this head lacks
    assert out[0] == pytest.approx([1.0, 0.0, 0.0])
    assert out[1] == pytest.approx(p[1]) and out[2] == pytest.approx(p[2])
    assert p[0, 0] == 0.2


def test_a_fence_tag_decides_the_codes_language_but_not_a_translations_target():
    prompts, y = _prompts()
    y = [(lang, task, None) for lang, task in y]
    for i in range(12):
        prompts += [f"```c\nint f{i}(int x) {{ return x; }}\n```\n\nnow write it in Go please",
                    f"```go\nfunc f{i}(x int) int {{ return x }}\n```\n\nnow write it in C please"]
        y += [("go", "translate", "c"), ("c", "translate", "go")]
    router = PromptRouter(max_iter=200, tol=1e-3, cascade=False).fit(prompts, y)
    assert router.heads_ == ["language", "task", "source_language"] and router.full_heads_.target is not None
    language, source = list(router.classes_[0]), list(router.classes_[2])
    # Go code, tagged C: the heads read go, the tag says c
    mislabelled = "```c\nfunc g(x int) int { return x }\n```"
    p = router.predict_proba([mislabelled])
    assert p[0][0][language.index("c")] > 0.99
    router.label_constraints = False
    assert router.predict_proba([mislabelled])[0][0].argmax() == language.index("go")
    # a translation of it: its source is the declared language, its language still the target
    router.label_constraints = True
    translation = mislabelled + "\n\nnow write it in Go please"
    lang_p, task_p, source_p = router.predict_proba([translation])
    assert source_p[0][source.index("c")] == pytest.approx(1.0)
    assert task_p[0].argmax() == list(router.classes_[1]).index("translate")
    assert lang_p[0].argmax() == language.index("go")


JS_COMPLETION = b"""// Return the number of vowels in the string.
// >>> countVowels("hello")
// 2
function countVowels(s){
"""
CPP_COMPLETION = b"""#include<bits/stdc++.h>
// Sum the even numbers.
long sum_even(std::vector<long> xs) {
"""
GNU_C = b"""static __inline void
le16enc(void *pp, uint16_t u)
{
\tuint8_t *p = (uint8_t *)pp;
"""
KOTLIN = b"""fun area(shapes: List<Shape>): Double {
    val total = shapes.sumOf { it.area() }
    return total
}
"""


def test_reject_ungrammatical_scales_the_rejected_languages_down_when_a_rival_accepts():
    classes = ["bash", "c", "cpp", "go", "javascript", "typescript", "unknown"]
    p = np.array([
        [0.0, 0.0, 0.0, 0.85, 0.10, 0.03, 0.02],   # JS code, Go first: Go's grammar rejects it, JS's accepts
        [0.0, 0.0, 0.0, 0.05, 0.90, 0.03, 0.02],   # the same, JS first: it parses, nothing changes
        [0.0, 0.0, 0.0, 0.85, 0.10, 0.03, 0.02],   # no code given for the row: nothing changes
        [0.0, 0.0, 0.0, 0.85, 0.10, 0.03, 0.02],   # Kotlin: no candidate's grammar accepts it
        [0.0, 0.8, 0.15, 0.0, 0.0, 0.0, 0.05],     # std::vector: C's grammar rejects it, C++'s accepts with its own node
        [0.0, 0.8, 0.15, 0.0, 0.0, 0.0, 0.05],     # GNU C: C's grammar errs, C++'s accepts, but with no node of its own
        [0.1, 0.0, 0.0, 0.85, 0.0, 0.0, 0.05],     # only Bash's lenient grammar "accepts" JS code
    ])
    codes = [JS_COMPLETION, JS_COMPLETION, None, KOTLIN, CPP_COMPLETION, GNU_C, JS_COMPLETION]
    out = reject_ungrammatical(p, classes, codes)
    go, js = classes.index("go"), classes.index("javascript")
    expected = p[0].copy()
    expected[go] *= GRAMMAR_VETO
    assert out[0] == pytest.approx(expected / expected.sum())
    assert out[0].argmax() == js
    for row in (1, 2, 3, 5, 6):
        assert out[row] == pytest.approx(p[row]), row
    assert out[4].argmax() == classes.index("cpp") and out[4, 1] < 0.3
    assert p[0, go] == 0.85  # a new array


def test_code_evidence_skips_declared_rows_and_keeps_rows_in_order():
    texts = ["```go\nfunc f() {}\n```", JS_COMPLETION.decode(), "say hello"]
    evidence = CodeEvidence.of(texts)
    assert evidence.declared == ["go", None, None]
    assert evidence.code[0] == b"" and evidence.code[1].endswith(b"function countVowels(s){") and evidence.code[2] == b""
    assert evidence.take([2, 1]).declared == [None, None] and evidence.take([2, 1]).code[1] == evidence.code[1]
    classes = ["go", "javascript", "unknown"]
    p = np.array([[0.1, 0.8, 0.1], [0.9, 0.08, 0.02], [0.2, 0.2, 0.6]])
    out = evidence.apply(p, classes)
    assert out[0] == pytest.approx([1.0, 0.0, 0.0])        # the fence tag
    assert out[1].argmax() == 1                              # the grammars
    assert out[2] == pytest.approx(p[2])                     # no code
    with pytest.raises(ValueError, match="3 rows for 2"):
        evidence.apply(p[:2], classes)


JAVA_STUB = """class Solution {
    /**
     * List the 10 biggest files in a directory.
     */
    public int listBiggestFiles(List<Integer> nums) {
"""
CSHARP_STUB = """public class CheckIfStringService
{
    // Check if a string is a palindrome.
    public bool CheckIfString(string input)
    {
"""
JS_BLOCK_DOC = """/* Check if a string is a palindrome.
  */
const checkIfString = (arr) => {
"""


@pytest.mark.parametrize("text", [JAVA_STUB, CSHARP_STUB, JS_BLOCK_DOC])
def test_grammar_code_keeps_declarations_and_comments_that_read_like_words(text):
    # the cues take a line with three words in a row for prose; the grammars need it
    assert code_outside_prose(text) != text.strip("\n")
    assert grammar_code(text) == text.strip("\n")


def test_grammar_code_leaves_sentences_and_bullets_out():
    text = ("Can you explain why this prints nothing?\n\n    for x in items:\n        print(x)\n\n"
            "* it used to work\n* the list is not empty\n\n```py\nitems = []\n```")
    code = grammar_code(text)
    assert "Can you explain" not in code and "* it used" not in code
    assert "items = []" in code and "print(x)" in code
    assert grammar_code("say hello") == code_outside_prose("say hello") == ""


@pytest.mark.parametrize("text, wrong, right", [
    (JAVA_STUB, "php", "java"),        # PHP's grammar rejects `public int f(List<Integer> nums)`
    (CSHARP_STUB, "go", "csharp"),     # Go's grammar rejects `public class`
])
def test_the_grammar_rule_reads_a_stubs_declarations(text, wrong, right):
    classes = sorted({wrong, right, "unknown"})
    p = np.zeros((1, len(classes)))
    p[0, classes.index(wrong)], p[0, classes.index(right)], p[0, classes.index("unknown")] = 0.9, 0.08, 0.02
    out = CodeEvidence.of([text]).apply(p, classes)
    assert classes[out[0].argmax()] == right
    # what the cues call the code loses the declaration, and the rule cannot tell
    before = reject_ungrammatical(p, classes, [code_outside_prose(text).encode()])
    assert classes[before[0].argmax()] == wrong


PYTHON_STUB = 'def f(items):\n    """Implement a stack with push, pop and peek.\n    >>> f(3) == 6\n    """\n'


@pytest.mark.parametrize("text, language, expected", [
    (PYTHON_STUB, "python", True),                      # the docstring is a string literal
    (JAVA_STUB, "java", True),                          # the doc comment is a comment
    (CSHARP_STUB, "csharp", True),
    (JS_BLOCK_DOC, "javascript", True),
    (JAVA_STUB, "php", False),                          # PHP's grammar rejects it
    ("Please finish this\nfunction f(x) {\n", "javascript", False),     # a request in words
    ("给这段代码写单元测试\n\npackage math\n\nfunc archExp2(x float64) float64 {", "go", False),
    ("```js\nfunction f(x) {\n", "javascript", False),  # fenced: a chat message, not a file
    ("for f in *.txt; do\n", "bash", False),             # a lenient grammar says nothing
    (PYTHON_STUB, "unknown", False),
    # a first line that opens with a word is prose, without parsing; one that opens a prefixed
    # string literal is parsed, and its words lie in the string
    ("Finish this: def f(x):\n    return x\n", "python", False),
    ('r"""Return the value of x, escaped."""\ndef f(x):\n    return x\n', "python", True),
])
def test_all_code_is_a_parse_without_errors_whose_words_lie_in_comments_and_strings(text, language, expected):
    assert all_code(text, language) == expected


def test_code_alone_that_stops_open_is_a_completion():
    tasks, languages = ["complete", "explain", "generate"], ["java", "php", "python"]
    task_p = np.array([[0.1, 0.1, 0.8]] * 4)
    language_p = np.array([[0.1, 0.0, 0.9], [0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.1, 0.0, 0.9]])
    out = complete_open_code(task_p, tasks, language_p, languages, [PYTHON_STUB, JAVA_STUB, JAVA_STUB, None])
    assert out[0] == pytest.approx([1.0, 0.0, 0.0]) and out[1] == pytest.approx([1.0, 0.0, 0.0])
    assert out[2] == pytest.approx(task_p[2])  # read as PHP, whose grammar rejects it
    assert out[3] == pytest.approx(task_p[3])  # not open, or not one turn
    # only a one-turn prompt whose end is open is offered to the rule
    texts = [PYTHON_STUB, PYTHON_STUB, "x = f(1)\n"]
    inputs = constraint_inputs(texts, ["", "translate this to Go", ""], [extract_cues(t) for t in texts])
    assert inputs.open_code == [PYTHON_STUB, None, None]


@pytest.mark.parametrize("text, untyped", [
    (JS_BLOCK_DOC, True),                                                    # const f = (arr) => {
    ("// Count the vowels.\nexport function countVowels(s, n) {\n", True),
    ("/**\n * Sum.\n * @param {number[]} xs\n */\nasync function sum(xs) {\n", True),
    ("// Count the vowels.\nfunction countVowels(s: string): number {\n", False),   # annotated
    ("// Start.\nconst start = () => {\n", False),          # no parameter to leave untyped
    ("    return function (x) {\n", False),                   # not declared at the start of a line
    ("Finish this: function f(x) {\n", False),                # a request in words
])
def test_untyped_javascript_is_code_alone_with_untyped_parameters(text, untyped):
    assert untyped_javascript(text, extract_cues(text)) == untyped


def test_untyped_javascript_moves_typescripts_probability_to_javascript():
    classes = ["go", "javascript", "typescript"]
    p = np.array([[0.05, 0.15, 0.8], [0.05, 0.15, 0.8]])
    out = javascript_not_typescript(p, classes, [True, False])
    assert out[0] == pytest.approx([0.05, 0.95, 0.0]) and out[1] == pytest.approx(p[1])
    inputs = constraint_inputs([JS_BLOCK_DOC, JS_BLOCK_DOC], ["", "port this to TypeScript"],
                               [extract_cues(JS_BLOCK_DOC)] * 2)
    assert inputs.untyped_js == [True, False]  # only a one-turn prompt


def test_a_router_reads_an_open_stub_as_a_completion_whatever_its_heads_learned():
    # heads trained on stubs labelled "generate" (their doc comments read as requests)
    prompts, y = [], []
    for i in range(16):
        prompts += [f'def value{i}(x):\n    """Return the value {i} of x."""\n',
                    f"write a python function that returns the value {i}",
                    f"def value{i}(x):\n    return x + {i}\n\nfinish this",
                    f"write a javascript function that returns the value {i}"]
        y += [("python", "generate"), ("python", "generate"), ("python", "complete"), ("javascript", "generate")]
    router = PromptRouter(max_iter=200, tol=1e-3, cascade=False, translate_target=False).fit(prompts, y)
    stub = 'def count_items(xs):\n    """Return the number of items."""\n'
    tasks = list(router.classes_[1])
    router.label_constraints = False
    assert tasks[router.predict_proba([stub])[1][0].argmax()] == "generate"
    router.label_constraints = True
    assert tasks[router.predict_proba([stub])[1][0].argmax()] == "complete"


def test_a_router_sends_code_its_grammar_rejects_to_the_rival_that_parses_it():
    # heads trained on a mislabelled style: JavaScript functions under // doc lines labelled go
    # (the shortcut "// >>> lines mean Go", made certain); the grammars know the code
    prompts, y = [], []
    for i in range(16):
        prompts += [f"// Return the value {i}.\n// >>> value{i}(x)\nfunction value{i}(x) {{\n",
                    f"/* Return the value {i}.\n>>> value{i}(x) */\nconst value{i} = (x) => {{\n"]
        y += [("go", "complete"), ("javascript", "complete")]
    prompts += [f"explain what value {i} means" for i in range(8)]
    y += [("unknown", "explain")] * 8
    router = PromptRouter(max_iter=200, tol=1e-3, cascade=False, translate_target=False).fit(prompts, y)
    language = list(router.classes_[0])
    js = "// Return the count of items.\n// >>> countItems(x)\nfunction countItems(xs) {\n"
    go = "// Return the count of items.\n// >>> countItems(x)\nfunc CountItems(xs []int) int {\n"
    router.label_constraints = False
    assert language[router.predict_proba([js])[0][0].argmax()] == "go"
    router.label_constraints = True
    p_js, p_go = router.predict_proba([js, go])[0]
    assert language[p_js.argmax()] == "javascript"
    assert language[p_go.argmax()] == "go"  # Go code parses as Go: nothing to correct
