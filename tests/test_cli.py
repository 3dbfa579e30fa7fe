import json
import subprocess
import sys

from moe_coder.cli import main


def test_route_prompt_json(tiny_mixture, capsys):
    assert main(["route", "Write a PHP function that reverses a string.", "--mixture", str(tiny_mixture), "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["language"] == "php" and decision["expert"] == "web"


def test_route_input_file_prints_one_decision_per_line(tiny_mixture, tmp_path, capsys):
    data = tmp_path / "prompts.jsonl"
    data.write_text(
        "\n".join(json.dumps({"prompt": p}) for p in ["Write a Python function that sorts.", "<?php\nfunction a($b) {\n", "#!/bin/bash\nfor f in *; do\n"])
        + "\n"
    )
    assert main(["route", "--input", str(data), "--mixture", str(tiny_mixture), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["expert"] for d in lines] == ["python", "web", "shell"]
    for d in lines:
        assert {"language", "task", "confidence", "expert", "abstained"} <= set(d)


def test_route_malformed_input_names_file_and_line(tiny_mixture, tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "ok"}\n{"prompt": \n')
    assert main(["route", "--input", str(data), "--mixture", str(tiny_mixture)]) == 2
    assert f"{data}:2: malformed JSON" in capsys.readouterr().err


def test_generate_json_and_streaming(tiny_mixture, capsys):
    assert main(["generate", "Write a PHP function.", "--mixture", str(tiny_mixture), "--json", "--max-new-tokens", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"]["expert"] == "web" and isinstance(out["text"], str)
    assert main(["generate", "Write a PHP function.", "--mixture", str(tiny_mixture), "--max-new-tokens", "4"]) == 0
    captured = capsys.readouterr()
    assert "-> web" in captured.err


def test_experts_lists_the_table(tiny_mixture, capsys):
    assert main(["experts", "--mixture", str(tiny_mixture), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["generalist"] == "generalist"
    assert [e["name"] for e in table["experts"]] == ["generalist", "python", "web", "shell"]


def test_missing_mixture_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "moe_coder.cli", "experts", "--mixture", str(tmp_path / "nope")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "mixture directory not found" in proc.stderr and "Traceback" not in proc.stderr


def test_generate_with_a_named_expert_does_not_route(tiny_mixture, monkeypatch, capsys):
    from moe_coder.routing.router import PromptRouter

    def no_routing(self, prompts):
        raise AssertionError("generate --expert routed the prompt")

    monkeypatch.setattr(PromptRouter, "predict_proba_with_cues", no_routing)
    for extra in ([], ["--json"], ["--no-stream"]):
        assert main(["generate", "Write a PHP function.", "--expert", "web", "--max-new-tokens", "2",
                     "--mixture", str(tiny_mixture), *extra]) == 0
    assert "-> web" in capsys.readouterr().err
