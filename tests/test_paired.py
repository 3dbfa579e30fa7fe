"""Paired comparison of two evaluated systems: the statistics, and the command on real evaluate runs."""
import json
from pathlib import Path

import pytest

from moe_coder.cli import main
from moe_coder.benchmarks import load_benchmark
from moe_coder.evaluation.paired import RunRef, compare_runs, paired_test

TASKS = 12


def _evaluate(tmp_path: Path, name: str, solved: set[int], exclude: Path | None = None) -> Path:
    """Score a samples file that solves exactly the tasks in *solved* (canonical solutions, else `pass`)."""
    problems = load_benchmark("humaneval")[:TASKS]
    samples = tmp_path / f"{name}.jsonl"
    samples.write_text("".join(
        json.dumps({"task_id": p.task_id, "completion": p.canonical_solution if i in solved else "    pass\n"}) + "\n"
        for i, p in enumerate(problems)))
    out = tmp_path / name
    argv = ["evaluate", "--benchmark", "humaneval", "--samples", str(samples), "--limit", str(TASKS), "--out", str(out)]
    if exclude is not None:
        argv += ["--exclude", str(exclude)]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paired")
    exclude = tmp / "contaminated.json"
    exclude.write_text(json.dumps(["HumanEval/0", "HumanEval/1"]))
    base = _evaluate(tmp, "base", {0, 1, 2})
    tuned = _evaluate(tmp, "tuned", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, exclude=exclude)
    return base, tuned


def test_mcnemar_and_interval_on_real_runs(runs):
    base, tuned = runs
    result = compare_runs([RunRef(base)], [RunRef(tuned)], resamples=2000)
    assert (result.n_tasks, result.b_only, result.a_only) == (TASKS, 8, 0)
    assert result.pass_at_1_a == pytest.approx(3 / TASKS) and result.pass_at_1_b == pytest.approx(11 / TASKS)
    assert result.p_value == pytest.approx(2 / 2**8)  # 8 discordant tasks, all one way
    assert 0 < result.ci_low < result.difference < result.ci_high <= 1


def test_clean_leaves_out_what_either_run_excluded(runs):
    base, tuned = runs
    result = compare_runs([RunRef(base)], [RunRef(tuned)], clean=True, resamples=500)
    assert result.n_tasks == TASKS - 2 and result.excluded_tasks == 2
    assert result.pass_at_1_a == pytest.approx(1 / 10)


def test_no_difference_is_not_significant(runs):
    base, _ = runs
    result = compare_runs([RunRef(base)], [RunRef(base)], resamples=200)
    assert (result.difference, result.p_value, result.ci_low, result.ci_high) == (0, 1.0, 0, 0)


def test_the_command_prints_json_and_names_bad_runs(runs, capsys, tmp_path):
    base, tuned = runs
    assert main(["compare", str(base), f"{tuned}#samples", "--json", "--resamples", "300"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["b_only"] == 8 and out["p_value"] == pytest.approx(0.0078, abs=1e-4)
    assert main(["compare", str(base), f"{tuned}#routed"]) == 2
    assert "has no system 'routed'" in capsys.readouterr().err
    assert main(["compare", str(base), str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["compare", f"{base},{base}", str(tuned)]) == 2
    assert "already in another run" in capsys.readouterr().err


def test_paired_test_on_right_or_wrong_decisions():
    """Nine items only B gets right and one only A does: McNemar's exact p is 2 * P(X <= 1) of Binomial(10, 1/2)."""
    a = [True] * 20 + [False] * 9 + [True] + [False] * 5
    b = [True] * 20 + [True] * 9 + [False] + [False] * 5
    r = paired_test(a, b, resamples=2000)
    assert (r.n, r.b_only, r.a_only) == (35, 9, 1)
    assert r.p_value == pytest.approx(2 * 11 / 1024)
    assert r.difference == pytest.approx(8 / 35)
    assert r.ci_low < r.difference < r.ci_high and r.ci_low > 0
    same = paired_test(a, a, resamples=100)
    assert (same.p_value, same.difference, same.b_only, same.a_only) == (1.0, 0.0, 0, 0)


def test_paired_test_refuses_unpaired_scores():
    with pytest.raises(ValueError, match="one length"):
        paired_test([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="no paired items"):
        paired_test([], [])
    with pytest.raises(ValueError, match="resamples"):
        paired_test([1], [0], resamples=0)


def test_a_task_the_harness_could_not_run_is_left_out_not_an_error(runs, tmp_path):
    """A sample the harness marks skipped (``passed`` null, reason ``skipped``: a Rust task that needs
    a crate) is scored by neither side; a sample with no verdict at all still means an unfinished run."""
    import shutil

    base, tuned = runs
    skipped = tmp_path / "skipped"
    shutil.copytree(base, skipped)
    rows = [json.loads(line) for line in (skipped / "samples.jsonl").read_text().splitlines()]
    rows[0].update(passed=None, reason="skipped", detail="needs the regex crate (no crate registry at run time)")
    (skipped / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = compare_runs([RunRef(skipped)], [RunRef(tuned)], resamples=200)
    assert result.n_tasks == TASKS - 1
    rows[0].update(reason=None)
    (skipped / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match="has no verdict; finish the run first"):
        compare_runs([RunRef(skipped)], [RunRef(tuned)], resamples=200)
