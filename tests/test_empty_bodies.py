"""experts/smollm2/empty_bodies.py: answers that give back the prompt's head with an empty body."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("empty_bodies", ROOT / "experts" / "smollm2" / "empty_bodies.py")
empty_bodies = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(empty_bodies)


def _run(tmp_path: Path, benchmark: str, rows: list[dict]) -> Path:
    run = tmp_path / benchmark
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"benchmark": benchmark}))
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def test_counts_each_toolchains_sign_of_an_empty_body(tmp_path, capsys):
    cpp = _run(tmp_path, "humaneval_x_cpp", [
        {"system": "a", "passed": False, "reason": "killed", "detail": "SIGSEGV"},
        {"system": "a", "passed": False, "reason": "killed", "detail": "timeout"},
        {"system": "a", "passed": True, "reason": None, "detail": ""},
        {"system": "b", "passed": None, "reason": "skipped", "detail": "SIGSEGV"},  # not scored
    ])
    go = _run(tmp_path, "humaneval_x_go", [
        {"system": "a", "passed": False, "reason": "compile_error", "detail": "main_test.go:8:6: expected '(', found TestAdd"},
        {"system": "a", "passed": False, "reason": "compile_error", "detail": "undefined: sum"},
    ])
    assert empty_bodies.count(cpp) == {"a": (1, 3)}
    assert empty_bodies.count(go) == {"a": (1, 2)}
    assert empty_bodies.main([str(cpp), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["systems"] == {"a": {"empty": 1, "scored": 3}}
    with pytest.raises(ValueError, match="no empty-body sign known for 'humaneval'"):
        empty_bodies.count(_run(tmp_path, "humaneval", []))
