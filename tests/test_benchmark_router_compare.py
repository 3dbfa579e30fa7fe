"""The router benchmark's paired comparison: decisions written by one run, compared by another."""
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from moe_coder.routing.dataset import LabelledPrompts

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("router_benchmark", ROOT / "benchmarks" / "router.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data() -> LabelledPrompts:
    prompts = [f"write a function number {i} in python" for i in range(12)]
    return LabelledPrompts(prompts=prompts, y=[("python", "generate", "unknown")] * 12, sources=["t"] * 12)


def _decisions(right: set[int]) -> list:
    return [SimpleNamespace(language="python" if i in right else "go", task="generate", confidence=0.9, abstained=False)
            for i in range(12)]


def test_a_later_run_is_compared_prompt_by_prompt(bench, tmp_path):
    data = _data()
    path = tmp_path / "before.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in bench.decision_rows("human", data, _decisions({0, 1, 2}))))
    now = bench.decision_rows("human", data, _decisions({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}))
    report = bench.compare_decisions(bench.read_decisions(path), now, path)
    language = report["human"]["language"]
    assert (language["b_only"], language["a_only"], language["mean_a"], language["mean_b"]) == (7, 0, 0.25, 0.8333)
    assert language["p_value"] == pytest.approx(2 / 2 ** 7, abs=1e-4)
    assert report["human"]["task"]["p_value"] == 1.0


def test_decisions_over_other_prompts_or_a_broken_line_are_refused(bench, tmp_path):
    data = _data()
    rows = bench.decision_rows("human", data, _decisions({0}))
    other = LabelledPrompts(prompts=[p + "!" for p in data.prompts], y=data.y, sources=data.sources)
    path = tmp_path / "before.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in bench.decision_rows("human", other, _decisions({0}))))
    with pytest.raises(ValueError, match="different data"):
        bench.compare_decisions(bench.read_decisions(path), rows, path)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:5]))
    with pytest.raises(ValueError, match="same prompts"):
        bench.compare_decisions(bench.read_decisions(path), rows, path)
    path.write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"before\.jsonl:2"):
        bench.read_decisions(path)
