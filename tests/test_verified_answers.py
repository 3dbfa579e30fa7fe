"""experts/verified_answers.py: training rows from answers that passed their tests, decontaminated."""
import importlib.util
import json
from pathlib import Path

import pytest

from moe_coder.benchmarks import load_benchmark
from moe_coder.decontamination import check_decontaminated
from moe_coder.evaluation.execution import Runner
from moe_coder.evaluation.prompts import instruction_prompt, task_prompt

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("verified_answers", ROOT / "experts" / "verified_answers.py")
verified_answers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verified_answers)

MBPP = {p.task_id: p for p in load_benchmark("mbpp")}
REPEATED = "def first_repeated_char(s):\n    for i, c in enumerate(s):\n        if c in s[:i]:\n            return c\n    return \"None\"\n"
REPEATED_RESPACED = REPEATED.replace("    ", "  ")
SIMILAR = "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n"


def _sample(task_id: str, code: str, passed: bool, sample: int = 0) -> dict:
    return {"system": "expert:python", "task_id": task_id, "sample": sample, "language": "python",
            "completion": code, "kind": "full", "passed": passed, "reason": "passed" if passed else "failed"}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_answers_are_really_verified_by_the_harness():
    """The fixtures' passing answers pass the real sandboxed tests, and the failing one fails."""
    runner = Runner()
    assert runner.check(MBPP["mbpp/602"], REPEATED, "full").passed
    assert runner.check(MBPP["mbpp/2"], SIMILAR, "full").passed
    assert not runner.check(MBPP["mbpp/602"], "def first_repeated_char(s):\n    return s[0]\n", "full").passed


def test_rows_keep_distinct_passing_answers_asked_as_the_harness_asks(tmp_path):
    samples = _write(tmp_path / "samples.jsonl", [
        _sample("mbpp/602", REPEATED, True, 0),
        _sample("mbpp/602", REPEATED_RESPACED, True, 1),  # the same answer up to whitespace
        _sample("mbpp/602", "def first_repeated_char(s):\n    return s[0]\n", False, 2),
        _sample("mbpp/2", SIMILAR, True, 0),
        _sample("mbpp/601", "def max_chain_length(a, n):\n    return 0\n", False, 0),
    ])
    counts = verified_answers.Counter()
    rows = verified_answers.verified_rows(samples, per_task=4, counts=counts)
    assert [(r["task_id"], r["kind"]) for r in rows] == [("mbpp/2", "task"), ("mbpp/602", "task")]
    assert rows[1]["instruction"] == instruction_prompt(MBPP["mbpp/602"])
    assert rows[1]["response"].startswith("```python\ndef first_repeated_char") and rows[1]["response"].endswith("\n```")
    assert rows[1]["origin"].endswith(":1")
    assert counts["tasks sampled"] == 3 and counts["answers passing"] == 3 and counts["tasks with a passing answer"] == 2


JS_REPEATED = ("const firstRepeatedChar = (s) => {\n  for (let i = 0; i < s.length; i++) if (s.slice(0, i).includes(s[i])) "
               "return s[i];\n  return \"None\";\n};")


def test_javascript_answers_to_translated_mbpp_give_rows_asked_both_ways(tmp_path):
    """MBPP in JavaScript: a passing answer is asked as it was sampled (a signature to complete, as
    HumanEval-X asks) and as MBPP asks (the description and its tests); Python-only steps are skipped."""
    js = {p.task_id: p for p in load_benchmark("mbpp_js")}
    assert Runner().check(js["mbpp_js/602"], JS_REPEATED, "full").passed
    samples = _write(tmp_path / "samples.jsonl", [
        {**_sample("mbpp_js/602", JS_REPEATED, True), "language": "javascript", "system": "expert:web"},
        {**_sample("mbpp_js/602", "const firstRepeatedChar = (s) => null;", False, 1), "language": "javascript"},
    ])
    counts = verified_answers.Counter()
    rows = verified_answers.verified_rows(samples, completion=True, counts=counts, runner=Runner())
    assert [(r["task_id"], r["kind"], r["source"]) for r in rows] == [
        ("mbpp_js/602", "task", "verified/mbpp_js"), ("mbpp_js/602", "completion", "verified/mbpp_js+completion")]
    assert {r["language"] for r in rows} == {"javascript"}
    assert rows[0]["instruction"] == task_prompt(js["mbpp_js/602"])
    assert 'firstRepeatedChar("abc") == "None"' in rows[0]["instruction"]
    assert rows[1]["instruction"] == instruction_prompt(js["mbpp_js/602"])
    assert "const firstRepeatedChar = (str1) => {" in rows[1]["instruction"]
    assert rows[0]["response"] == f"```javascript\n{JS_REPEATED}\n```"
    assert counts["tasks with a passing answer"] == 1 and not counts["trimmed of example usage"]


def test_per_task_caps_the_answers_a_task_gives(tmp_path):
    answers = [REPEATED.replace("c in s[:i]", f"c in s[:i] and {k} < 10") for k in range(5)]
    samples = _write(tmp_path / "samples.jsonl", [_sample("mbpp/602", a, True, j) for j, a in enumerate(answers)])
    assert len(verified_answers.verified_rows(samples, per_task=2)) == 2
    assert len(verified_answers.verified_rows(samples, per_task=9)) == 5


def test_several_samples_files_are_pooled_per_task(tmp_path):
    hot = _write(tmp_path / "hot.jsonl", [_sample("mbpp/602", REPEATED, True), _sample("mbpp/2", SIMILAR, False)])
    cold = _write(tmp_path / "cold.jsonl", [_sample("mbpp/602", REPEATED_RESPACED, True), _sample("mbpp/2", SIMILAR, True)])
    counts = verified_answers.Counter()
    rows = verified_answers.verified_rows([hot, cold], counts=counts)
    assert [r["task_id"] for r in rows] == ["mbpp/2", "mbpp/602"]  # 602's two answers are one
    assert counts["tasks sampled"] == 2 and counts["answers sampled"] == 4 and counts["answers passing"] == 3
    assert rows[0]["origin"] == f"{cold}:2"


def test_a_completion_row_asks_as_humaneval_does():
    head = verified_answers.completion_head(MBPP["mbpp/602"], "import re\n\n" + REPEATED)
    assert head == (
        "import re\n\ndef first_repeated_char(s):\n"
        '    """ Write a python function to find the first repeated character in a given string.\n'
        '    >>> first_repeated_char("abcabc") == "a"\n    """'
    )
    # Compiles as a stub, as HumanEval's prompts do.
    compile(head + "\n    pass\n", "<head>", "exec")
    # No head when the answer does not define the function the tests call, or defines it on one line.
    assert verified_answers.completion_head(MBPP["mbpp/602"], SIMILAR) is None
    assert verified_answers.completion_head(MBPP["mbpp/602"], "def first_repeated_char(s): return s\n") is None


def test_answers_that_return_the_tests_values_are_left_out(tmp_path):
    cheat = ('def first_repeated_char(s):\n    """Find it."""\n    if s == "abcabc":\n        return "a"\n'
             '    if s == "123123":\n        return "1"\n    return "None"\n')
    assert verified_answers.hard_codes_tests(cheat, MBPP["mbpp/602"].test)
    assert not verified_answers.hard_codes_tests(REPEATED, MBPP["mbpp/602"].test)
    # Branches on a computed condition are not a cheat, even when they return literals.
    assert not verified_answers.hard_codes_tests(
        "def is_even(n):\n    if n % 2 == 0:\n        return True\n    else:\n        return False\n",
        "assert is_even(2) == True\nassert is_even(3) == False")
    # A literal base case beside computed returns is not a cheat.
    assert not verified_answers.hard_codes_tests(
        "def f(n):\n    if n == 0:\n        return 1\n    return n * f(n - 1)\n", "assert f(3) == 6\nassert f(0) == 1")
    samples = _write(tmp_path / "samples.jsonl", [_sample("mbpp/602", cheat, True), _sample("mbpp/2", SIMILAR, True)])
    counts = verified_answers.Counter()
    assert [r["task_id"] for r in verified_answers.verified_rows(samples, counts=counts)] == ["mbpp/2"]
    assert counts["left out: hard-codes its tests"] == 1


def test_trimming_drops_example_usage_only():
    code = ("import re\nPATTERN = re.compile(r'\\d')\n\n@staticmethod\ndef f(x):\n    # doubled\n    return 2 * x\n\n"
            "result = f(3)\nprint(result)  # 6\nfor i in range(2):\n    print(f(i))\n"
            "if __name__ == '__main__':\n    f(1)\n")
    assert verified_answers.trimmed(code) == (
        "import re\n\nPATTERN = re.compile(r'\\d')\n\n@staticmethod\ndef f(x):\n    # doubled\n    return 2 * x\n")
    assert verified_answers.trimmed(SIMILAR) == SIMILAR  # nothing to drop
    assert verified_answers.trimmed("def f(:\n") == "def f(:\n"  # does not parse: left alone


def test_a_trimmed_answer_replaces_the_answer_only_if_it_still_passes(tmp_path):
    with_usage = REPEATED + 'print(first_repeated_char("abca"))\n'
    # Trimming this one drops a definition the function needs at call time: it fails, and stays whole.
    needs_its_setup = ("def first_repeated_char(s):\n    return helper(s)\n\n"
                       "exec('def helper(s):\\n    for i, c in enumerate(s):\\n        if c in s[:i]:\\n"
                       "            return c\\n    return \"None\"')\n")
    samples = _write(tmp_path / "samples.jsonl", [_sample("mbpp/602", with_usage, True, 0),
                                                  _sample("mbpp/602", needs_its_setup, True, 1)])
    counts = verified_answers.Counter()
    rows = verified_answers.verified_rows(samples, counts=counts, runner=Runner())
    answers = sorted(r["response"] for r in rows)
    assert answers == sorted([f"```python\n{REPEATED.rstrip()}\n```", f"```python\n{needs_its_setup.rstrip()}\n```"])
    assert counts["trimmed of example usage"] == 1 and counts["trimmed, but failed: kept whole"] == 1


def test_build_decontaminates_and_summarises(tmp_path):
    samples = _write(tmp_path / "samples.jsonl", [_sample("mbpp/602", REPEATED, True), _sample("mbpp/2", SIMILAR, True)])
    out = tmp_path / "out"
    assert verified_answers.main(["--samples", str(samples), "--out", str(out), "--completion-rows"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_before"] == {"task": 2, "completion": 2}
    assert summary["tasks with a passing answer"] == 2
    assert summary["benchmarks"] == ["mbpp"]
    # Task 602's question is in MBPP+ word for word: its rows go; task 2's stay.
    assert summary["rows_after"] == {"task": 1, "completion": 1}
    assert summary["contaminated_tasks"]["mbpp_plus"] == 1
    kept = [json.loads(line) for line in (out / "verified.jsonl").read_text().splitlines()]
    assert {r["task_id"] for r in kept} == {"mbpp/2"}
    # Task 2's MBPP+ question is reworded, so the match misses it; it is left out of clean scores by its number.
    excluded = json.loads((out / "excluded.json").read_text())
    assert excluded["same_task"] == ["Mbpp/2", "Mbpp/602"]
    assert "Mbpp/2" in excluded["benchmark_ids"]["mbpp_plus"]
    from moe_coder.evaluation.harness import read_exclusions
    assert {"Mbpp/2", "Mbpp/602"} <= read_exclusions(out / "excluded.json", "mbpp_plus")
    assert (out / "verified.report.json").exists() and (out / "raw" / "verified.jsonl").exists()
    assert summary["sample_runs"] == [{"file": f"{tmp_path.name}/samples.jsonl", "answers": 2, "passing": 2}]
    # train-expert's gate accepts the clean set with its report.
    check_decontaminated(out / "verified.jsonl", out / "verified.report.json",
                         ["humaneval", "humaneval_plus", "mbpp_plus", "humaneval_x", "mbpp_test"])


def test_the_summary_names_each_runs_sampler_and_pass_rate(tmp_path):
    """A later round samples from the previous round's expert: the summary tells the runs apart."""
    base = tmp_path / "samples-base"
    mix = tmp_path / "samples-mix"
    for folder, mixture, temperature in ((base, "builtin-base", 0.8), (mix, "/somewhere/runs/rft/mix", 0.4)):
        folder.mkdir()
        (folder / "run.json").write_text(json.dumps(
            {"benchmark": "mbpp", "mixture": mixture,
             "generation": {"temperature": temperature, "top_p": 0.95, "max_new_tokens": 384, "seed": 7}}))
    _write(base / "samples.jsonl", [_sample("mbpp/2", SIMILAR, False), _sample("mbpp/602", REPEATED, True)])
    _write(mix / "samples.jsonl", [_sample("mbpp/2", SIMILAR, True), _sample("mbpp/602", REPEATED, True)])
    runs = verified_answers.sample_runs([base / "samples.jsonl", mix / "samples.jsonl"])
    assert runs == [
        {"file": "samples-base/samples.jsonl", "answers": 2, "passing": 1, "sampler": "builtin-base",
         "temperature": 0.8, "top_p": 0.95, "seed": 7},
        {"file": "samples-mix/samples.jsonl", "answers": 2, "passing": 2, "sampler": "mix",
         "temperature": 0.4, "top_p": 0.95, "seed": 7},
    ]


@pytest.mark.parametrize("rows, message", [
    ([_sample("mbpp/20", SIMILAR, True)], "mbpp/20 is in MBPP's test split"),
    ([_sample("HumanEval/0", SIMILAR, True)], "only MBPP tasks (mbpp/N, mbpp_js/N) are supported"),
    ([_sample("mbpp_js/20", SIMILAR, True)], "mbpp_js/20 is in MBPP's test split"),
    ([{**_sample("mbpp/2", SIMILAR, True), "kind": "completion"}], "answers asked as instructions"),
    ([_sample("mbpp/2", SIMILAR, False)], "no sample passed its tests"),
])
def test_bad_samples_are_refused_before_anything_is_written(tmp_path, capsys, rows, message):
    samples = _write(tmp_path / "samples.jsonl", rows)
    out = tmp_path / "out"
    assert verified_answers.main(["--samples", str(samples), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_malformed_line_names_file_and_line(tmp_path, capsys):
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps(_sample("mbpp/2", SIMILAR, True)) + "\n{\"task_id\": \n")
    assert verified_answers.main(["--samples", str(samples), "--out", str(tmp_path / "out")]) == 2
    assert f"{samples}:2" in capsys.readouterr().err


def test_a_missing_samples_file_is_named(tmp_path, capsys):
    assert verified_answers.main(["--samples", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "out")]) == 2
    assert "samples file not found" in capsys.readouterr().err
