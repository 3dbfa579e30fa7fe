"""MBPP in JavaScript (moe_coder/translated_mbpp.py): tests translated from MBPP's asserts, run by Node."""
from __future__ import annotations

import ast
import json

import pytest

from moe_coder.benchmarks import load_benchmark
from moe_coder.cli import main
from moe_coder.evaluation.execution import Runner
from moe_coder.evaluation.executors import get_executor
from moe_coder.evaluation.prompts import build_request, instruction_prompt, writes_whole_function
from moe_coder.translated_mbpp import (
    Untranslatable, camel_case, javascript_call_test, javascript_literal, javascript_task,
)

JS = {p.task_id: p for p in load_benchmark("mbpp_js")}
MBPP = {p.task_id: p for p in load_benchmark("mbpp")}


def needs_node() -> None:
    toolchain = get_executor("javascript").toolchain
    if not toolchain.available:
        pytest.skip(f"javascript: {toolchain.detail}")


def literal(text: str) -> str:
    return javascript_literal(ast.parse(text, mode="eval").body)


@pytest.mark.parametrize("python, javascript", [
    ("3", "3"), ("-2.5", "-2.5"), ("True", "true"), ("None", "null"), ("'it\\'s \"x\"\\n'", '"it\'s \\"x\\"\\n"'),
    ("(4, 5)", "[4, 5]"), ("[[1, 2], ()]", "[[1, 2], []]"), ("{'a': 1, 2: [None]}", '{"a": 1, "2": [null]}'),
    ("'héllo'", '"héllo"'),
])
def test_python_literals_become_javascript_literals(python, javascript):
    assert literal(python) == javascript


@pytest.mark.parametrize("python", ["{1, 2}", "b'x'", "2**60", "float('inf')", "x", "1j", "{(1, 2): 3}", "f(1)"])
def test_values_without_a_faithful_javascript_literal_are_refused(python):
    with pytest.raises(Untranslatable):
        literal(str(2**60) if python == "2**60" else python)


@pytest.mark.parametrize("test", [
    "assert math.isclose(area(2), 12.56, rel_tol=0.01)",
    "assert set(f([1, 2])) == set([1, 2])",
    "assert not is_odd(2)",
    "assert f(x=1) == 2",
    "assert f(*[1]) == 2",
    "assert f(1) != 2",
    "assert f(1) == 2 == 2",
    "print(f(1))",
])
def test_only_a_call_compared_with_a_literal_translates(test):
    with pytest.raises(Untranslatable):
        javascript_call_test(test)


def test_a_call_test_translates_with_camel_case_names():
    assert javascript_call_test('assert remove_Occ("hello","l") == "heo"') == (
        "removeOcc", 'removeOcc("hello", "l")', '"heo"')
    assert camel_case("first_repeated_char") == "firstRepeatedChar"
    assert camel_case("_private_name") == "_privateName" and camel_case("max") == "max" and camel_case("a__b") == "aB"


def test_a_task_is_laid_out_as_humaneval_x_lays_out_javascript():
    task = javascript_task({
        "task_id": 602, "text": "Write a python function to find the first repeated character in a given string.",
        "code": "def first_repeated_char(str1):\n  return None",
        "test_list": ['assert first_repeated_char("abcabc") == "a"', 'assert first_repeated_char("abc") == None'],
        "test_setup_code": "", "challenge_test_list": [],
    })
    assert task["task_id"] == "mbpp_js/602" and task["entry_point"] == "firstRepeatedChar"
    assert task["prompt"] == (
        "/* Write a JavaScript function to find the first repeated character in a given string.\n"
        '  >>> firstRepeatedChar("abcabc")\n  "a"\n  */\nconst firstRepeatedChar = (str1) => {\n')
    assert task["test"] == ('require(\'node:assert\').deepEqual(firstRepeatedChar("abcabc"), "a");\n'
                            "require('node:assert').deepEqual(firstRepeatedChar(\"abc\"), null);\n")


def test_a_task_with_one_untranslatable_test_is_left_out_whole():
    with pytest.raises(Untranslatable):
        javascript_task({"task_id": 9, "text": "t", "code": "def f(a):\n  return {a}",
                         "test_list": ["assert f(1) == 1", "assert f(2) == {2}"], "test_setup_code": ""})
    with pytest.raises(Untranslatable, match="defines no function"):
        javascript_task({"task_id": 9, "text": "t", "code": "def g(a):\n  return a",
                         "test_list": ["assert f(1) == 1"], "test_setup_code": ""})


def test_the_benchmark_keeps_mbpps_numbers_and_splits():
    assert 900 < len(JS) < len(MBPP)
    assert {p.language for p in JS.values()} == {"javascript"}
    numbers = {int(t.rpartition("/")[2]) for t in JS}
    assert numbers <= {int(t.rpartition("/")[2]) for t in MBPP}
    assert sum(11 <= n <= 510 for n in numbers) > 450 and sum(not 11 <= n <= 510 for n in numbers) > 450
    assert "mbpp_js/602" in JS and JS["mbpp_js/602"].entry_point == "firstRepeatedChar"


def test_mbpp_in_javascript_is_asked_as_a_signature_to_complete():
    problem = JS["mbpp_js/17"]
    assert not writes_whole_function(problem) and writes_whole_function(MBPP["mbpp/17"])
    assert instruction_prompt(problem).startswith("Complete the following JavaScript function.")
    assert "const squarePerimeter = (a) => {" in instruction_prompt(problem)
    request = build_request(problem, "completion")
    assert request.completion and request.prompt == problem.prompt


@pytest.mark.parametrize("task_id, code, kind, passes", [
    ("mbpp_js/17", "  return 4 * a;\n}", "completion", True),
    ("mbpp_js/17", "  return 4 + a;\n}", "completion", False),
    # tuples are arrays; a whole answer that declares the function with `function` is run as written
    ("mbpp_js/2", "function similarElements(a, b) {\n  return a.filter(x => b.includes(x)).sort((x, y) => x - y);\n}",
     "full", True),
    ("mbpp_js/2", "function similarElements(a, b) {\n  return a.filter(x => b.includes(x));\n}", "full", False),
    # booleans, loosely as Python compares them; an answer may declare `assert` itself
    ("mbpp_js/3", "const assert = 1;\nconst isNotPrime = (n) => {\n  for (let i = 2; i * i <= n; i++) if (n % i === 0) return true;\n"
     "  return false;\n};", "full", True),
    ("mbpp_js/3", "const isNotPrime = (n) => n % 2 === 0;", "full", False),
])
def test_translated_tests_run_on_node(task_id, code, kind, passes):
    needs_node()
    assert Runner().check(JS[task_id], code, kind).passed is passes


@pytest.mark.slow
def test_every_translated_test_runs_and_fails_a_wrong_answer(tmp_path):
    """Every task's program (prompt, a body returning undefined, tests) parses and reaches its asserts:
    it fails by assertion, or passes where every expected value is null (undefined == null loosely)."""
    needs_node()
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": "  return undefined;\n}"}) + "\n" for t in JS))
    assert main(["evaluate", "--benchmark", "mbpp_js", "--samples", str(samples), "--out", str(tmp_path / "out"),
                 "--workers", "2"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == len(JS)
    reasons = {r["task_id"]: r["reason"] for r in rows}
    assert {reason for reason in reasons.values()} <= {"assertion", "passed"}, \
        {t: r for t, r in reasons.items() if r not in ("assertion", "passed")}
    passing = {t for t, r in reasons.items() if r == "passed"}
    assert all(JS[t].test.count(", null);") == JS[t].test.count("deepEqual(") for t in passing)


def test_a_comment_closer_in_an_example_does_not_close_the_doc_comment():
    task = javascript_task({"task_id": 676, "text": "Keep letters.", "code": "def f(s):\n  return s",
                            "test_list": ['assert f("**//G") == "G"'], "test_setup_code": ""})
    assert task["prompt"].count("*/") == 1 and '>>> f("**\\//G")' in task["prompt"]
