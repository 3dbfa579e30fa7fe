"""Execution-based evaluation: scoring, code extraction, per-language execution, the CLI and resumption."""
from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import Path

import pytest

from moe_coder.cli import main
from moe_coder.benchmarks import BENCHMARKS, Problem, load_benchmark
from moe_coder.evaluation.execution import Runner, classify
from moe_coder.evaluation.executors import EXECUTORS, Toolchain, get_executor
from moe_coder.evaluation.extract import extract_code, truncate_completion
from moe_coder.evaluation.groundtruth import attach_ground_truth, coerce_inputs
from moe_coder.evaluation.harness import read_exclusions
from moe_coder.evaluation.passk import mean_pass_at_k, pass_at_k
from moe_coder.evaluation.prompts import build_request, instruction_prompt
from moe_coder.evaluation.sandbox import Limits, RunResult, Sandbox

# HumanEval-X ships reference solutions that fail their own tests (CodeGeeX's harness fails them
# too): JavaScript/112 returns `(z, false)` (the comma operator) instead of a pair, JavaScript/155
# counts no digit in 0, and Go/95's answer depends on Go's randomised map order (fails ~1 run in 15).
KNOWN_BAD_CANONICAL = {"JavaScript/112", "JavaScript/155", "Go/95"}


@pytest.fixture(scope="module")
def runner():
    with Sandbox() as sandbox:
        yield Runner(sandbox, Limits(timeout_s=20.0))


def needs(language: str) -> None:
    toolchain = get_executor(language).toolchain
    if not toolchain.available:
        pytest.skip(f"{language}: {toolchain.detail}")


# -- pass@k ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,c,k", [(5, 0, 1), (5, 5, 3), (10, 3, 1), (10, 3, 5), (7, 2, 7), (20, 1, 10)])
def test_pass_at_k_is_the_probability_that_k_draws_contain_a_pass(n, c, k):
    outcomes = [True] * c + [False] * (n - c)
    draws = list(combinations(range(n), k))
    exact = sum(any(outcomes[i] for i in d) for d in draws) / len(draws)
    assert pass_at_k(n, c, k) == pytest.approx(exact)


def test_pass_at_1_is_the_pass_rate_and_large_n_is_stable():
    assert pass_at_k(200, 37, 1) == pytest.approx(37 / 200)
    assert pass_at_k(1000, 1, 100) == pytest.approx(0.1)
    assert 0.0 <= pass_at_k(1000, 3, 999) <= 1.0 and not math.isnan(pass_at_k(1000, 3, 999))


def test_mean_pass_at_k_drops_k_larger_than_the_samples():
    scores = mean_pass_at_k({"a": (10, 10), "b": (10, 0)}, ks=(1, 10, 100))
    assert scores == {"pass@1": 0.5, "pass@10": 0.5}


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


# -- extraction -----------------------------------------------------------------------------------

def test_extract_prefers_a_block_in_the_target_language():
    answer = "Setup:\n```bash\npip install x\n```\nThen:\n```python\ndef f():\n    return 1\n```\nDone."
    assert extract_code(answer, "python") == "def f():\n    return 1"


def test_extract_falls_back_to_the_first_block_then_to_raw_text():
    assert extract_code("```\nint x;\n```", "cpp") == "int x;"
    assert extract_code("def f():\n    return 2\n", "python") == "def f():\n    return 2"


def test_extract_accepts_an_unterminated_block():
    assert extract_code("Here:\n```java\nclass Solution {}\n", "java") == "class Solution {}"


def test_python_completion_stops_at_human_eval_stop_sequences():
    text = "    return x + 1\n\ndef other():\n    pass\n"
    assert truncate_completion("def f(x):\n", text, "python") == "    return x + 1\n"
    assert truncate_completion("", "    return 1\nif __name__ == '__main__':\n    f()", "python") == "    return 1"


def test_brace_completion_ends_where_the_prompt_braces_close_ignoring_strings_and_comments():
    prompt = "/* doc { */\nint f(int x){\n"
    completion = '    string s = "}"; // }\n    char c = \'}\';\n    return x;\n}\nint main(){}\n'
    assert truncate_completion(prompt, completion, "cpp").endswith("return x;\n}")


def test_brace_completion_closes_what_a_stop_sequence_cut():
    prompt = "class Solution {\n    public int f(int x) {\n"
    assert truncate_completion(prompt, "        return x;\n    }", "java") == "        return x;\n    }\n}"


# -- prompts ----------------------------------------------------------------------------------------

def test_instruction_prompt_fences_the_function_and_completion_prompt_is_raw():
    problem = load_benchmark("humaneval")[0]
    message = instruction_prompt(problem)
    assert "Complete the following Python function" in message and f"```python\n{problem.prompt.strip()}" in message
    request = build_request(problem, "completion")
    assert request.prompt == problem.prompt and "\ndef " in request.stop
    assert build_request(problem, "chat_template").prompt == message


def test_rust_completion_prompt_carries_the_signature():
    problem = load_benchmark("humaneval_x_rust")[0]
    prompt = get_executor("rust").completion_prompt(problem)
    assert prompt.rstrip().endswith("fn has_close_elements(numbers:Vec<f32>, threshold: f32) -> bool{")
    assert "use regex" not in prompt


# -- execution per language -------------------------------------------------------------------------

SAMPLE_TASKS = {
    "humaneval": ["HumanEval/0", "HumanEval/32", "HumanEval/162"],
    "humaneval_x_python": ["Python/0", "Python/162"],
    "humaneval_x_cpp": ["CPP/0", "CPP/162"],
    "humaneval_x_java": ["Java/0", "Java/162"],
    "humaneval_x_js": ["JavaScript/0", "JavaScript/162"],
    "humaneval_x_go": ["Go/0", "Go/158", "Go/162"],
    "humaneval_x_rust": ["Rust/0", "Rust/38", "Rust/162"],
    "mbpp": ["mbpp/2", "mbpp/11"],
    "mbpp_sanitized": ["mbpp/2", "mbpp/11"],
}


def _sample(benchmark: str) -> list[Problem]:
    by_id = {p.task_id: p for p in load_benchmark(benchmark)}
    return [by_id[t] for t in SAMPLE_TASKS[benchmark]]


@pytest.mark.parametrize("benchmark", sorted(SAMPLE_TASKS))
def test_canonical_solutions_pass_and_empty_completions_fail(runner, benchmark):
    problems = _sample(benchmark)
    needs(problems[0].language)
    kind = "full" if benchmark.startswith("mbpp") else "completion"
    for problem in problems:
        verdict = runner.check(problem, problem.canonical_solution, kind)
        assert verdict.passed, (problem.task_id, verdict)
        empty = runner.check(problem, "", "completion")
        assert empty.passed is False and empty.reason in {"assertion", "compile_error", "runtime_error"}, empty


@pytest.mark.parametrize("language,code", [
    ("cpp", "#include <cstdlib>\nbool has_close_elements(vector<float> n, float t){ std::exit(0); }\n"),
    ("java", "class Solution { public boolean hasCloseElements(List<Double> n, double t) { System.exit(0); return true; } }"),
    ("javascript", "const hasCloseElements = (n, t) => { process.exit(0) }\n"),
    ("rust", "fn has_close_elements(numbers:Vec<f32>, threshold: f32) -> bool{ std::process::exit(0) }\n"),
])
def test_exiting_early_with_status_zero_fails_in_every_language(runner, language, code):
    needs(language)
    short = {"javascript": "js"}.get(language, language)
    problem = load_benchmark(f"humaneval_x_{short}")[0]
    verdict = runner.check(problem, code, "full")
    assert verdict.passed is False and verdict.reason == "early_exit", verdict


def test_full_answers_are_merged_with_the_prompt_context(runner):
    problem = load_benchmark("humaneval")[0]  # its prompt imports List
    answer = (
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
    )
    assert runner.check(problem, answer, "full").passed
    needs("java")
    java = load_benchmark("humaneval_x_java")[0]
    method = ("public boolean hasCloseElements(List<Double> numbers, double threshold) {\n"
              "    for (int i = 0; i < numbers.size(); i++) for (int j = i + 1; j < numbers.size(); j++)\n"
              "        if (Math.abs(numbers.get(i) - numbers.get(j)) < threshold) return true;\n    return false;\n}\n")
    assert runner.check(java, method, "full").passed


def test_a_c_assertion_failure_is_an_assertion(runner):
    needs("cpp")
    problem = load_benchmark("humaneval_x_cpp")[0]
    verdict = runner.check(problem, "    return true;\n}\n", "completion")
    assert verdict.reason == "assertion" and "Assertion" in verdict.detail


def test_missing_toolchain_skips_with_its_reason(runner, monkeypatch):
    executor = EXECUTORS["go"]
    monkeypatch.setitem(executor.__dict__, "toolchain", Toolchain("go", False, "go not found on PATH"))
    verdict = runner.check(load_benchmark("humaneval_x_go")[0], "", "completion")
    assert verdict.passed is None and verdict.reason == "skipped" and "go not found" in verdict.detail


def test_a_go_test_failure_is_an_assertion(runner):
    needs("go")
    problem = load_benchmark("humaneval_x_go")[0]
    verdict = runner.check(problem, "    return true\n}\n", "completion")
    assert verdict.reason == "assertion" and "not equal" in verdict.detail


def test_classify_reads_signals_and_markers():
    marker = "MARK"
    ok = RunResult(0, None, "x\nMARK\n", "")
    assert classify("python", ok, marker).reason == "passed"
    assert classify("python", RunResult(0, None, "", ""), marker).reason == "early_exit"
    assert classify("cpp", RunResult(None, 24, "", ""), marker).reason == "timeout"
    assert classify("cpp", RunResult(None, 11, "", ""), marker).detail == "SIGSEGV"
    assert classify("python", RunResult(1, None, "", "  File x\nSyntaxError: bad\n"), marker).reason == "compile_error"
    assert classify("java", RunResult(1, None, "", "Exception in thread \"main\" java.lang.OutOfMemoryError"), marker).reason == "memory"


# -- evalplus ---------------------------------------------------------------------------------------

def test_mbpp_plus_inputs_get_back_their_tuples_and_complex_numbers():
    by_id = {p.task_id: p for p in load_benchmark("mbpp_plus")}
    assert isinstance(coerce_inputs(by_id["Mbpp/2"])[0][0], tuple)
    assert isinstance(coerce_inputs(by_id["Mbpp/252"])[-1][0], complex)
    nested = coerce_inputs(by_id["Mbpp/580"])[-1][0]
    assert isinstance(nested, tuple) and all(not isinstance(x, list) for x in nested)


def test_plus_tests_catch_what_the_base_tests_miss(runner, tmp_path):
    by_id = {p.task_id: p for p in load_benchmark("humaneval_plus")}
    problems = attach_ground_truth([by_id["HumanEval/34"], by_id["HumanEval/32"]], runner.sandbox, cache_dir=tmp_path)
    unique, find_zero = problems
    assert runner.check(unique, unique.canonical_solution).passed
    memorised = "    return [0, 2, 3, 5, 9, 123]\n"  # passes HumanEval's only test for /34
    assert runner.check(load_benchmark("humaneval")[34], memorised).passed
    verdict = runner.check(unique, memorised)
    assert verdict.passed is False and verdict.reason == "assertion"
    newton_from_two = (  # finds other roots than the reference (which starts at 0) on ~200 inputs
        "    x = 2.0\n"
        "    for _ in range(10000):\n"
        "        value = poly(xs, x)\n"
        "        if abs(value) <= 1e-9:\n"
        "            break\n"
        "        slope = sum(i * c * x ** (i - 1) for i, c in enumerate(xs) if i)\n"
        "        x = x + 0.1 if slope == 0 else x - value / slope\n"
        "    return x\n"
    )
    assert runner.check(find_zero, newton_from_two).passed  # any root is right, not just the reference's
    assert list(tmp_path.glob("*.pkl")), "ground truth is cached"


# -- full benchmarks (slow: every task of every benchmark) -----------------------------------------------

@pytest.mark.slow
# humaneval_x is its six languages; mbpp_js has no reference solution (tests/test_translated_mbpp.py checks it)
@pytest.mark.parametrize("benchmark", [b for b in BENCHMARKS if b not in ("humaneval_x", "mbpp_js")])
def test_every_canonical_solution_passes(benchmark, tmp_path):
    problems = load_benchmark(benchmark)
    needs(problems[0].language)
    kind = "full" if benchmark.startswith("mbpp") else "completion"
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(
        json.dumps({"task_id": p.task_id, ("solution" if kind == "full" else "completion"): p.canonical_solution}) + "\n"
        for p in problems))
    assert main(["evaluate", "--benchmark", benchmark, "--samples", str(samples), "--out", str(tmp_path / "out"),
                 "--workers", "2", "--timeout", "30"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    failed = {r["task_id"]: r["detail"] for r in rows if r["passed"] is False}
    assert set(failed) <= KNOWN_BAD_CANONICAL, failed
    skipped = {r["task_id"]: r["detail"] for r in rows if r["passed"] is None}
    assert set(skipped) <= {"Rust/91"}, skipped


# -- the command line ---------------------------------------------------------------------------------

def _write_samples(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_evaluate_samples_writes_results_samples_and_chart(tmp_path, capsys, monkeypatch):
    problems = load_benchmark("humaneval")[:4]
    samples = _write_samples(tmp_path / "in.jsonl", [
        {"task_id": p.task_id, "completion": p.canonical_solution if i % 2 == 0 else ""} for i, p in enumerate(problems)
    ])
    out = tmp_path / "out"
    assert main(["evaluate", "--benchmark", "humaneval", "--samples", str(samples), "--limit", "4",
                 "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "samples" in table and "50.0" in table
    results = json.loads((out / "results.json").read_text())
    assert results["systems"]["samples"]["pass@k"] == {"pass@1": 0.5}
    assert results["systems"]["samples"]["failure_reasons"] == {"assertion": 2}
    assert results["sandbox"]["limits"]["timeout_s"] == 10.0 and "network_isolated" in results["sandbox"]
    assert results["toolchains"]["python"]["available"] is True
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert {"task_id", "expert", "route", "completion", "passed", "reason", "time_s"} <= set(rows[0])
    assert (out / "pass_at_k.png").read_bytes()[:4] == b"\x89PNG"

    # Resuming with the same --out runs nothing again.
    monkeypatch.setattr(Runner, "check", lambda *a, **k: pytest.fail("a finished sample was executed again"))
    assert main(["evaluate", "--benchmark", "humaneval", "--samples", str(samples), "--limit", "4",
                 "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["systems"]["samples"]["pass@k"] == {"pass@1": 0.5}


def test_resuming_with_other_settings_is_refused(tmp_path, capsys):
    samples = _write_samples(tmp_path / "a.jsonl", [{"task_id": "HumanEval/0", "completion": ""}])
    other = _write_samples(tmp_path / "b.jsonl", [{"task_id": "HumanEval/0", "completion": ""}])
    args = ["evaluate", "--benchmark", "humaneval", "--limit", "1", "--out", str(tmp_path / "out")]
    assert main([*args, "--samples", str(samples)]) == 0
    assert main([*args, "--samples", str(other)]) == 2
    assert "other settings (samples_file" in capsys.readouterr().err


def test_evaluate_resumes_samples_generated_but_not_executed(tmp_path):
    problem = load_benchmark("humaneval")[0]
    out = tmp_path / "out"
    out.mkdir()
    (out / "samples.jsonl").write_text(json.dumps({
        "system": "samples", "task_id": problem.task_id, "sample": 0, "language": "python",
        "completion": problem.canonical_solution, "kind": "completion"}) + "\n" + '{"system": "samp')
    samples = _write_samples(tmp_path / "in.jsonl", [{"task_id": problem.task_id, "completion": ""}])
    assert main(["evaluate", "--benchmark", "humaneval", "--samples", str(samples), "--limit", "1",
                 "--out", str(out)]) == 0
    row = json.loads((out / "samples.jsonl").read_text())
    assert row["passed"] is True  # the stored completion was executed, not the new empty one


def test_evalplus_solutions_and_the_clean_subset(tmp_path, capsys):
    problems = load_benchmark("humaneval_plus")[:3]
    samples = _write_samples(tmp_path / "in.jsonl", [
        {"task_id": p.task_id, "solution": p.prompt + p.canonical_solution} for p in problems
    ])
    exclude = tmp_path / "contaminated.json"
    exclude.write_text(json.dumps({"ids": ["HumanEval/1"], "benchmark_ids": {"humaneval_plus": ["HumanEval/1"]}}))
    out = tmp_path / "out"
    assert main(["evaluate", "--benchmark", "humaneval+", "--samples", str(samples), "--limit", "3",
                 "--exclude", str(exclude), "--out", str(out), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    entry = results["systems"]["samples"]
    assert entry["pass@k"] == {"pass@1": 1.0} and entry["n_tasks"] == 3
    assert entry["clean"]["n_tasks"] == 2 and entry["clean"]["pass@k"] == {"pass@1": 1.0}
    assert results["exclude"]["excluded_tasks"] == ["HumanEval/1"]


def test_tasks_choose_which_tasks_run(tmp_path, capsys):
    """--tasks (a file or comma-separated ids): only those tasks are scored, before --limit; an id the
    benchmark lacks is refused before --out is written."""
    problems = {p.task_id: p for p in load_benchmark("mbpp")}
    chosen = ["mbpp/2", "mbpp/602", "mbpp/974"]
    samples = _write_samples(tmp_path / "in.jsonl", [
        {"task_id": t, "solution": problems[t].canonical_solution} for t in ["mbpp/1", *chosen]])
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(chosen))
    out = tmp_path / "out"
    assert main(["evaluate", "--benchmark", "mbpp", "--samples", str(samples), "--tasks", str(ids),
                 "--out", str(out), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["n_problems"] == 3 and results["tasks"] == str(ids)
    assert results["systems"]["samples"]["n_tasks"] == 3
    assert main(["evaluate", "--benchmark", "mbpp", "--samples", str(samples), "--tasks", "mbpp/602,mbpp/974",
                 "--limit", "1", "--out", str(tmp_path / "two"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_problems"] == 1
    for bad, message in (("mbpp/602,mbpp/9999", "1 task id(s) not in mbpp: mbpp/9999"),
                         ("ids.txt", "'ids.txt' is neither a file nor a task id")):
        assert main(["evaluate", "--benchmark", "mbpp", "--samples", str(samples), "--tasks", bad,
                     "--out", str(tmp_path / "bad")]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "bad").exists()


def test_read_exclusions_accepts_the_common_shapes(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('["HumanEval/3"]')
    assert read_exclusions(path, "humaneval") == {"HumanEval/3"}
    path.write_text('{"HumanEval/4": {"matches": 2}}')
    assert read_exclusions(path, "humaneval") == {"HumanEval/4"}
    path.write_text('{"ids": [1, 2]}')
    with pytest.raises(ValueError):
        read_exclusions(path, "humaneval")


def test_skipped_language_is_reported_not_scored(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(EXECUTORS["go"].__dict__, "toolchain", Toolchain("go", False, "go not found on PATH"))
    samples = _write_samples(tmp_path / "in.jsonl", [
        {"task_id": "Python/0", "completion": load_benchmark("humaneval_x_python")[0].canonical_solution},
        {"task_id": "Go/0", "completion": ""},
    ])
    assert main(["evaluate", "--benchmark", "humaneval_x", "--samples", str(samples), "--limit", "1",
                 "--out", str(tmp_path / "out"), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    entry = results["systems"]["samples"]
    assert entry["skipped"] == {"Go/0": "go: go not found on PATH"}
    assert "go" not in entry["per_language"] and entry["per_language"]["python"]["pass@1"] == 1.0
    assert results["toolchains"]["go"] == {"available": False, "reason": "go not found on PATH"}


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["evaluate", "--benchmark", "nope", "--samples", str(tmp_path / "x"), "--out", str(tmp_path)]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
    assert main(["evaluate", "--benchmark", "humaneval", "--samples", str(tmp_path / "missing.jsonl"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err


# -- the mixture --------------------------------------------------------------------------------------

def test_evaluate_a_mixture_each_expert_routed_and_oracle(tiny_mixture, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["evaluate", "--benchmark", "humaneval", "--mixture", str(tiny_mixture), "--limit", "2",
                 "--max-new-tokens", "8", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    for name in ("generalist", "python", "web", "shell", "routed", "oracle"):
        assert name in table
    results = json.loads((out / "results.json").read_text())
    assert set(results["systems"]) == {"expert:generalist", "expert:python", "expert:web", "expert:shell",
                                       "routed", "oracle"}
    assert results["generation"]["temperature"] == 0.0 and results["generation"]["seed"] == 0
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 5 * 2 and all(r["reason"] for r in rows)
    routed = [r for r in rows if r["system"] == "routed"]
    assert all(r["route"]["expert"] == r["expert"] for r in routed)
    assert all(r.get("reused_from") == f"expert:{r['expert']}" for r in routed)  # greedy: same answer
    shell = [r for r in rows if r["system"] == "expert:shell"]
    assert all(r["prompt_format"] == "completion" and r["kind"] == "completion" for r in shell)


def test_evaluate_one_expert_with_sampling(tiny_mixture, tmp_path, capsys):
    assert main(["evaluate", "--benchmark", "mbpp", "--mixture", str(tiny_mixture), "--expert", "generalist",
                 "--limit", "1", "--n-samples", "2", "--temperature", "0.8", "--k", "1,2",
                 "--max-new-tokens", "8", "--out", str(tmp_path / "out"), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results["systems"]) == {"expert:generalist", "oracle"}
    assert set(results["systems"]["expert:generalist"]["pass@k"]) == {"pass@1", "pass@2"}
    assert results["generation"]["n_samples"] == 2


def test_unknown_expert_is_a_user_error(tiny_mixture, tmp_path, capsys):
    assert main(["evaluate", "--benchmark", "humaneval", "--mixture", str(tiny_mixture), "--expert", "nobody",
                 "--out", str(tmp_path)]) == 2
    assert "unknown expert" in capsys.readouterr().err


def test_a_single_expert_is_evaluated_as_the_same_expert_in_its_mixture(tiny_mixture, tmp_path):
    from moe_coder import MoECoder
    from moe_coder.evaluation.harness import ROUTED, Evaluation, GenerationSettings, expert_system
    from moe_coder.experts.single import SingleExpert

    coder = MoECoder.from_pretrained(tiny_mixture)
    alone = SingleExpert(coder.config.expert("python"))
    settings, system = GenerationSettings(max_new_tokens=8), expert_system("python")
    outputs = {}
    for name, generator in (("alone", alone), ("mixture", coder)):
        Evaluation("humaneval", tmp_path / name, limit=2, workers=1).evaluate_mixture(generator, [system], settings)
        rows = [json.loads(line) for line in (tmp_path / name / "samples.jsonl").read_text().splitlines()]
        outputs[name] = [(r["task_id"], r["output"], r["passed"]) for r in rows]
    assert outputs["alone"] == outputs["mixture"] and len(outputs["alone"]) == 2
    with pytest.raises(ValueError, match="routes"):
        Evaluation("humaneval", tmp_path / "routed", limit=1).evaluate_mixture(alone, [ROUTED], settings)


def test_sample_store_resumes_past_a_half_written_last_row(tmp_path, caplog):
    from moe_coder.evaluation.harness import SampleStore

    path = tmp_path / "samples.jsonl"
    row = {"system": "routed", "task_id": "HumanEval/0", "sample": 0, "completion": "pass"}
    path.write_text(json.dumps(row) + "\n" + '{"system": "routed", "task_id": "Huma')
    with caplog.at_level("WARNING"), SampleStore(path) as store:
        assert list(store.rows.values()) == [row]
    assert any(f"{path}:2: skipping a malformed line" in r.getMessage() for r in caplog.records)


def test_a_run_is_not_resumed_with_a_mixture_whose_weights_changed(tmp_path):
    """The manifest records the mixture's fingerprint: an adapter replaced since the run started
    (a shipped expert retrained under the same mixture name) refuses the resume; a model card or
    plot edit does not; a run written before the fingerprint was recorded still resumes."""
    import shutil

    from moe_coder.config import ExpertSpec
    from moe_coder.evaluation.harness import Evaluation, GenerationSettings
    from moe_coder.mixture import builtin_dir, mixture_fingerprint

    mixture = tmp_path / "mix"
    shutil.copytree(builtin_dir(), mixture, ignore=shutil.ignore_patterns("__pycache__"))
    before = mixture_fingerprint(mixture)
    assert before == mixture_fingerprint(mixture)
    (mixture / "experts" / "python" / "README.md").write_text("a new card")
    (mixture / "router" / "extra.png").write_bytes(b"\x89PNG")
    assert mixture_fingerprint(mixture) == before
    adapter = mixture / "experts" / "python" / "adapter_model.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:-1] + b"\x00")
    after = mixture_fingerprint(mixture)
    assert after != before

    problem = load_benchmark("humaneval")[0]

    class Echo:
        experts = [ExpertSpec(name="python", model="m", languages=["python"])]

        def generate(self, prompts, *, expert, batch_size=8, **settings):
            return [problem.prompt + problem.canonical_solution] * len(prompts)

    evaluation = lambda: Evaluation("humaneval", tmp_path / "out", limit=1, workers=1)  # noqa: E731
    settings = GenerationSettings(max_new_tokens=8)
    evaluation().evaluate_mixture(Echo(), ["expert:python"], settings, mixture_name="mix", mixture_sha256=before)
    with pytest.raises(ValueError, match="mixture_sha256"):
        evaluation().evaluate_mixture(Echo(), ["expert:python"], settings, mixture_name="mix", mixture_sha256=after)
    evaluation().evaluate_mixture(Echo(), ["expert:python"], settings, mixture_name="mix", mixture_sha256=before)
    # a manifest from before the fingerprint was recorded
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    del manifest["mixture_sha256"]
    (tmp_path / "out" / "run.json").write_text(json.dumps(manifest))
    evaluation().evaluate_mixture(Echo(), ["expert:python"], settings, mixture_name="mix", mixture_sha256=after)
