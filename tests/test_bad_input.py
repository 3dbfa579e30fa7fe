"""Bad input is refused with one clear line (naming the file and line, or the field), exit code 2,
before any work starts, and leaves nothing half-written behind."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from moe_coder.cli import main
from moe_coder.config import MixtureConfig
from moe_coder.finetune import load_recipe
from moe_coder.mixture import MoECoder, builtin_dir
from moe_coder.routing.router import PromptRouter

HUMANEVAL_0 = "    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n" \
              "            if idx != idx2:\n                distance = abs(elem - elem2)\n" \
              "                if distance < threshold:\n                    return True\n\n    return False\n"


def refused(argv: list[str], capsys, *names: str) -> str:
    """Run the CLI, expect exit code 2 and a last error line naming each of *names*; return that line."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert "error" in line and all(name in line for name in names), line
    return line


# -- numbers at the command line ------------------------------------------------------------------

@pytest.mark.parametrize("flag,value", [
    ("--memory-mb", "-1"), ("--memory-mb", "0"), ("--timeout", "0"), ("--timeout", "-5"), ("--timeout", "inf"),
    ("--timeout", "nan"), ("--workers", "0"), ("--limit", "0"),
])
def test_evaluate_refuses_limits_that_would_be_off_or_overflow(flag, value, tmp_path, capsys):
    out = tmp_path / "run"
    refused(["evaluate", "--benchmark", "humaneval", "--out", str(out), flag, value], capsys, flag, repr(value))
    assert not out.exists()


@pytest.mark.parametrize("argv,flag", [
    (["generate", "hello", "--temperature", "-1"], "--temperature"),
    (["generate", "hello", "--top-p", "1.5"], "--top-p"),
    (["generate", "hello", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["route", "hello", "--batch-size", "0"], "--batch-size"),
    (["train-router", "--data", "x", "--out", "y", "--cascade-tolerance", "5"], "--cascade-tolerance"),
    (["train-router", "--data", "x", "--out", "y", "--C", "-1"], "--C"),
    (["decontaminate", "--train", "x", "--out", "y", "--report", "z", "--workers", "0"], "--workers"),
])
def test_numbers_out_of_range_are_refused_before_anything_loads(argv, flag, capsys):
    refused(argv, capsys, flag)


# -- outputs checked before the work -------------------------------------------------------------

def test_evaluate_out_that_is_a_file(tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("mine")
    refused(["evaluate", "--benchmark", "humaneval", "--samples", "x.jsonl", "--out", str(out)], capsys,
            str(out), "not a directory")
    assert out.read_text() == "mine"


def test_train_router_out_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"prompt": "Write a Python function.", "language": "python", "task": "generate"}) + "\n")
    out = tmp_path / "taken"
    out.write_text("mine")
    refused(["train-router", "--data", str(data), "--out", str(out)], capsys, str(out), "not a directory")
    assert capsys.readouterr().out == ""  # not even "training on ..." was printed


def test_eval_router_report_that_is_a_file(tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("mine")
    refused(["eval-router", "--data", str(tmp_path / "x.jsonl"), "--report", str(out)], capsys, str(out))


def test_decontaminate_report_that_is_a_directory_writes_nothing(tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"text": "hello"}) + "\n")
    clean, report = tmp_path / "clean.jsonl", tmp_path / "report"
    report.mkdir()
    refused(["decontaminate", "--train", str(train), "--out", str(clean), "--report", str(report)], capsys,
            str(report), "is a directory")
    assert not clean.exists() and list(report.iterdir()) == []


# -- the samples file of evaluate --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["missing", "directory", "binary", "no code", "task_id list", "empty"])
def test_a_bad_samples_file_leaves_no_run_behind(kind, tmp_path, capsys):
    samples = tmp_path / "samples.jsonl"
    expected = {"missing": "not found", "directory": "is a directory", "binary": "not UTF-8",
                "no code": "'completion' or 'solution'", "task_id list": "task_id must be a string",
                "empty": "no samples"}[kind]
    if kind == "directory":
        samples.mkdir()
    elif kind == "binary":
        samples.write_bytes(b'{"task_id": "HumanEval/0", "completion": "\xc6\xff"}\n')
    elif kind == "no code":
        samples.write_text(json.dumps({"task_id": "HumanEval/0"}) + "\n")
    elif kind == "task_id list":
        samples.write_text(json.dumps({"task_id": ["HumanEval/0"], "completion": "pass"}) + "\n")
    elif kind == "empty":
        samples.write_text("\n")
    out = tmp_path / "run"
    argv = ["evaluate", "--benchmark", "humaneval", "--limit", "1", "--samples", str(samples), "--out", str(out)]
    refused(argv, capsys, str(samples), expected)
    assert not out.exists()
    # ... so the correct re-run into the same --out is not refused as "a run with other settings".
    if samples.is_dir():
        samples.rmdir()
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": HUMANEVAL_0}) + "\n")
    assert main(argv + ["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["systems"]["samples"]["pass@k"]["pass@1"] == 1.0


# -- recipes -------------------------------------------------------------------------------------------

RECIPE = """\
expert: {name: x, model: org/model, languages: [python]}
data: {train: train.jsonl}
training: {epochs: 2}
"""


@pytest.mark.parametrize("change,field", [
    ("training: {epochs: 1.0e+12}", "training.epochs"),
    ("training: {epochs: 1e12}", "training.epochs"),
    ("training: {max_grad_norm: -1}", "training.max_grad_norm"),
    ("training: {max_grad_norm: .inf}", "training.max_grad_norm"),
    ("training: {weight_decay: -0.1}", "training.weight_decay"),
    ("training: {weight_decay: .inf}", "training.weight_decay"),
    ("training: {learning_rate: .inf}", "training.learning_rate"),
    ("expert: {name: x, model: org/model, languages: python}", "'languages'"),
])
def test_recipe_values_out_of_range_name_the_field(change, field, tmp_path, capsys):
    section = change.split(":", 1)[0]
    text = "\n".join(change if line.startswith(section + ":") else line for line in RECIPE.splitlines()) + "\n"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        load_recipe(recipe)
    refused(["train-expert", str(recipe), "--output", str(tmp_path / "out")], capsys, str(recipe), field)
    assert not (tmp_path / "out").exists()


def test_a_recipe_that_is_not_utf8_names_the_file(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(RECIPE.encode().replace(b"org/model", b"org/mod\xc6l"))
    with pytest.raises(ValueError, match=f"{recipe}: not UTF-8"):
        load_recipe(recipe)


# -- mixture and router files ----------------------------------------------------------------------------

@pytest.fixture()
def router_copy(tmp_path) -> Path:
    target = tmp_path / "router"
    shutil.copytree(builtin_dir() / "router", target)
    return target


def _edit_meta(router: Path, edit) -> Path:
    meta_path = router / "router.json"
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))
    return meta_path


@pytest.mark.parametrize("edit,expected", [
    (lambda m: m["params"].update(surprise=1), "unknown router parameter"),
    (lambda m: m["params"].update(C="strong"), "'C' must be a float"),
    (lambda m: m["params"].update(cascade="yes"), "'cascade' must be a bool"),
    (lambda m: m.update(params=[1, 2]), "'params' must be an object"),
])
def test_malformed_router_params_are_one_error_naming_the_file(router_copy, edit, expected):
    meta_path = _edit_meta(router_copy, edit)
    with pytest.raises(ValueError, match=expected) as caught:
        PromptRouter.from_pretrained(router_copy)
    assert str(meta_path) in str(caught.value)


def test_router_coefficients_of_the_wrong_shape_are_refused(router_copy):
    weights = router_copy / "router.npz"
    with np.load(weights) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["head0.coef"] = arrays["head0.coef"][:-1]
    np.savez(weights, **arrays)
    with pytest.raises(ValueError, match="shape") as caught:
        PromptRouter.from_pretrained(router_copy)
    assert str(weights) in str(caught.value)


def _mixture_dir(tmp_path: Path, change) -> Path:
    directory = tmp_path / "mixture"
    directory.mkdir()
    config = json.loads((builtin_dir() / "mixture.json").read_text())
    change(config)
    (directory / "mixture.json").write_text(json.dumps(config))
    return directory


def test_a_mixture_json_nested_too_deeply(tmp_path, capsys):
    directory = tmp_path / "mixture"
    directory.mkdir()
    (directory / "mixture.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        MixtureConfig.from_json_file(directory / "mixture.json")
    refused(["experts", "--mixture", str(directory)], capsys, "mixture.json", "nested too deeply")


def test_a_mixture_json_that_is_not_utf8(tmp_path, capsys):
    directory = tmp_path / "mixture"
    directory.mkdir()
    (directory / "mixture.json").write_bytes(b'{"name": "\xc6"}')
    refused(["experts", "--mixture", str(directory)], capsys, "mixture.json", "not UTF-8")


@pytest.mark.parametrize("change,field", [
    (lambda c: c.update(router="../x"), "router"),
    (lambda c: c.update(router="/etc"), "router"),
    (lambda c: c["experts"][0].update(gguf_file="../../../../etc/shadow"), "gguf_file"),
    (lambda c: c["experts"][0].update(gguf_file="/etc/shadow"), "gguf_file"),
])
def test_paths_leaving_the_mixture_directory_need_an_explicit_flag(tmp_path, change, field, capsys):
    directory = _mixture_dir(tmp_path, change)
    with pytest.raises(ValueError, match=f"{field} .* leads outside"):
        MoECoder.from_pretrained(directory)
    refused(["route", "hello", "--mixture", str(directory)], capsys, "mixture.json", field, "--allow-outside-paths")


def test_a_router_outside_the_mixture_loads_with_the_flag(tmp_path, router_copy):
    directory = _mixture_dir(tmp_path, lambda c: c.update(router="../router"))
    coder = MoECoder.from_pretrained(directory, allow_outside_paths=True)
    assert coder.route("Write a Python function that sorts a list.").language == "python"
