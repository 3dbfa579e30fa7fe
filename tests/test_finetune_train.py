"""Training an expert end to end on a tiny random Llama: outputs, the decontamination gate,
resume after a kill, several processes, gradient accumulation, LoRA."""
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from moe_coder.cli import main
from moe_coder.config import ExpertSpec, MixtureConfig
from moe_coder.finetune import load_recipe, train_expert

ROOT = Path(__file__).resolve().parents[1]
TINY_RECIPE = ROOT / "examples" / "tiny_expert.yaml"
# Small and quick: 24 examples, 256-token rows, two epochs of about six steps each.
FAST = ["data.max_examples=24", "data.decontaminate=false", "training.seq_len=256", "training.checkpoint_every=3"]
# Eight steps cross the first epoch's end (seven steps of two rows) in the middle of the run.
SHORT = ["training.max_steps=8"]


@pytest.fixture(scope="module")
def clean_data(tmp_path_factory):
    """The tiny data set decontaminated once: (clean file, report)."""
    from moe_coder.decontamination import decontaminate

    out = tmp_path_factory.mktemp("clean")
    decontaminate([ROOT / "examples" / "tiny_expert_data.jsonl"], ["humaneval", "mbpp"], out / "train.jsonl",
                  out / "report.json")
    return out / "train.jsonl", out / "report.json"


@pytest.fixture(scope="module")
def fast(clean_data):
    clean, report = clean_data
    return FAST + [f"data.train=[{clean}]", f"data.decontamination_reports=[{report}]"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, fast):
    """An uninterrupted one-process run of 8 steps (2 rows per step) that other runs must reproduce."""
    out = tmp_path_factory.mktemp("reference") / "run"
    return train_expert(load_recipe(TINY_RECIPE, fast + SHORT + ["training.micro_batch_size=2"]), out)


def _history(directory):
    return [h["loss"] for h in json.loads((Path(directory) / "metrics.json").read_text())["history"]]


def _weights(directory):
    from safetensors.torch import load_file

    name = "adapter_model.safetensors" if (Path(directory) / "adapter_model.safetensors").exists() else "model.safetensors"
    return load_file(str(Path(directory) / name))


def test_train_expert_command_writes_a_loadable_expert(tmp_path, fast, tiny_router, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from moe_coder.experts.prompt_formats import render_prompt
    from moe_coder.mixture import MoECoder

    out = tmp_path / "expert"
    argv = ["train-expert", str(TINY_RECIPE), "--output", str(out), "--json"]
    assert main(argv + [item for o in fast for item in ("--set", o)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja",
                 "generation_config.json", "expert.json", "training.json", "metrics.json"):
        assert (out / name).is_file(), name
    assert list((out / "logs").rglob("events.out.tfevents.*")), "TensorBoard logs"
    metrics = json.loads((out / "metrics.json").read_text())
    assert printed["metrics"]["steps"] == metrics["steps"] > 0
    assert len(metrics["train_loss"]) == len(metrics["eval_loss"]) == 2
    assert metrics["eval_loss"][-1] < metrics["eval_loss_initial"], "training lowers held-out loss"
    assert metrics["non_padding_fraction"] > 0.9 and metrics["tokens_per_s"] > 0 and metrics["wall_time_s"] > 0

    entry = (out / "expert.json").read_text()
    assert json.loads(entry)["model"] == "." and str(tmp_path) not in entry, "expert.json holds no absolute path"
    spec = ExpertSpec.from_json_file(out / "expert.json")
    assert spec.model == str(out.resolve()) and spec.adapter is None and spec.prompt_format == "phind"
    assert printed["expert"] == spec.to_dict()
    training = json.loads((out / "training.json").read_text())
    assert training["data"]["reports"] and Path(training["data"]["reports"][0]).is_file()
    assert training["data"]["contaminated_allowed"] is False

    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.use_cache
    tokenizer = AutoTokenizer.from_pretrained(out)
    messages = [{"role": "user", "content": "Add two numbers in Python."}]
    assert tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == \
        render_prompt("phind", messages, tokenizer, spec.system_prompt)
    card = (out / "README.md").read_text()
    for part in (f"# {spec.name}", "full fine-tune", "learning_rate", "tokens/s", "held-out loss",
                 f"{metrics['eval_loss_initial']:.4f} → {metrics['eval_loss'][-1]:.4f}", "decontaminated against"):
        assert part in card, part
    assert str(tmp_path) not in card

    answer = MoECoder(MixtureConfig(experts=[spec], generalist=spec.name, router="builtin"), tiny_router,
                      device="cpu").generate("Write a Python function.", expert=spec.name, max_new_tokens=4)
    moved = shutil.move(out, tmp_path / "elsewhere" / "expert")
    relocated = ExpertSpec.from_json_file(Path(moved) / "expert.json")
    assert relocated.model == str(Path(moved).resolve())
    coder = MoECoder(MixtureConfig(experts=[relocated], generalist=spec.name, router="builtin"), tiny_router, device="cpu")
    assert coder.generate("Write a Python function.", expert=spec.name, max_new_tokens=4) == answer


def test_refuses_data_nobody_decontaminated(tmp_path, fast, clean_data):
    data = tmp_path / "changed.jsonl"
    data.write_text(clean_data[0].read_text() + '{"instruction": "One more.", "response": "ok"}\n')
    bare = load_recipe(TINY_RECIPE, FAST + ["training.max_steps=1"])
    with pytest.raises(ValueError, match=r"--decontaminate.*--allow-contaminated"):
        train_expert(bare, tmp_path / "a")
    other = load_recipe(TINY_RECIPE, FAST + [f"data.train=[{data}]", f"data.decontamination_reports=[{clean_data[1]}]"])
    with pytest.raises(ValueError, match="not vouched for"):
        train_expert(other, tmp_path / "b")
    narrow = load_recipe(TINY_RECIPE, fast + ["data.benchmarks=[humaneval, mbpp, humaneval_plus]"])
    with pytest.raises(ValueError, match="humaneval_plus"):
        train_expert(narrow, tmp_path / "c")

    allowed = train_expert(bare, tmp_path / "d", allow_contaminated=True)
    recorded = json.loads((tmp_path / "d" / "training.json").read_text())["data"]
    assert recorded["contaminated_allowed"] is True and recorded["reports"] == [None]
    assert allowed.metrics["steps"] == 1


def test_decontaminates_when_asked(tmp_path):
    recipe = load_recipe(TINY_RECIPE, FAST + ["training.max_steps=1"])
    train_expert(recipe, tmp_path / "e", decontaminate=True)
    recorded = json.loads((tmp_path / "e" / "training.json").read_text())["data"]
    assert recorded["reports"] == [str((tmp_path / "e" / "decontamination" / "report.json").resolve())]
    assert recorded["train_files"] == [str(tmp_path / "e" / "decontamination" / "train.clean.jsonl")]


def test_output_directory_is_never_silently_reused(tmp_path, fast):
    recipe = load_recipe(TINY_RECIPE, fast + ["training.max_steps=3", "training.epochs=1"])
    train_expert(recipe, tmp_path / "x")
    with pytest.raises(ValueError, match="already holds a trained expert"):
        train_expert(recipe, tmp_path / "x")
    (tmp_path / "x" / "expert.json").unlink()
    with pytest.raises(ValueError, match="pass --resume"):
        train_expert(recipe, tmp_path / "x")
    changed = load_recipe(TINY_RECIPE, fast + ["training.max_steps=3", "training.epochs=1", "training.learning_rate=1e-4"])
    with pytest.raises(ValueError, match=r"recipe changed \(training.learning_rate\)"):
        train_expert(changed, tmp_path / "x", resume=True)


KILLER = """
import os, signal, sys
from moe_coder.finetune import load_recipe, train_expert
recipe, out, kill_at, *overrides = sys.argv[1:]
def kill(log):
    if log.step == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)
train_expert(load_recipe(recipe, overrides), out, callbacks=[kill])
"""


@pytest.mark.parametrize("variant", [
    [],
    ["lora.r=4", "lora.dropout=0.2", "training.learning_rate=1e-2"],
], ids=["full", "lora-with-dropout"])
def test_killed_run_resumes_to_the_same_result(tmp_path, fast, reference, variant):
    """Killed (SIGKILL) mid-epoch, two steps after a checkpoint, then resumed across the epoch's end:
    the same losses and weights as an uninterrupted run (data order, optimizer, scheduler, RNG restored)."""
    overrides = fast + SHORT + ["training.micro_batch_size=2"] + variant
    straight = train_expert(load_recipe(TINY_RECIPE, overrides), tmp_path / "straight") if variant else reference
    assert straight.metrics["epochs"] == 2, "the run crosses an epoch boundary"

    killed = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", KILLER, str(TINY_RECIPE), str(killed), "5", *overrides],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not (killed / "metrics.json").exists()
    assert sorted(p.name for p in (killed / "checkpoints").iterdir()) == ["step-00000003"]

    resumed = train_expert(load_recipe(TINY_RECIPE, overrides), killed, resume=True)
    assert _history(killed) == pytest.approx(_history(straight.output_dir), rel=1e-5)
    assert resumed.metrics["train_loss"] == pytest.approx(straight.metrics["train_loss"], rel=1e-5)
    assert resumed.metrics["eval_loss"] == pytest.approx(straight.metrics["eval_loss"], rel=1e-5)
    a, b = _weights(straight.output_dir), _weights(killed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_gradient_accumulation_matches_a_bigger_micro_batch(tmp_path, fast, reference):
    accumulated = train_expert(load_recipe(TINY_RECIPE, fast + SHORT + [
        "training.micro_batch_size=1", "training.gradient_accumulation_steps=2"]), tmp_path / "acc")
    assert accumulated.metrics["steps"] == reference.metrics["steps"] == 8
    assert _history(tmp_path / "acc") == pytest.approx(_history(reference.output_dir), rel=1e-4)


def test_two_processes_follow_the_one_process_trajectory(tmp_path, fast, reference):
    """Same global batch (2 rows per step): one process with micro-batch 2 vs two (gloo) with 1 each."""
    sets = [item for o in fast + SHORT + ["training.micro_batch_size=1"] for item in ("--set", o)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
         "-m", "moe_coder.cli", "train-expert", str(TINY_RECIPE), "--output", str(tmp_path / "two"), *sets],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["processes"] == 2 and two["steps"] == reference.metrics["steps"]
    assert _history(tmp_path / "two") == pytest.approx(_history(reference.output_dir), rel=1e-4)
    assert two["eval_loss"] == pytest.approx(reference.metrics["eval_loss"], rel=1e-4)


def test_lora_adapter_over_shared_base_and_merged(tmp_path, fast, tiny_router):
    from transformers import AutoModelForCausalLM

    from moe_coder.mixture import MoECoder

    lora = fast + ["lora.r=4", "lora.dropout=0.0", "training.learning_rate=1e-2", "training.max_steps=4"]
    adapter = train_expert(load_recipe(TINY_RECIPE, lora), tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert not (tmp_path / "adapter" / "model.safetensors").exists()
    assert adapter.expert.adapter == str((tmp_path / "adapter").resolve())
    assert adapter.expert.model == str((ROOT / "examples" / "tiny-llama").resolve())
    checkpoint = next((tmp_path / "adapter" / "checkpoints").iterdir())
    assert (checkpoint / "adapter_state.safetensors").is_file() and not (checkpoint / "model.safetensors").exists()

    merged = train_expert(load_recipe(TINY_RECIPE, lora + ["lora.merge=true"]), tmp_path / "merged")
    assert merged.expert.model == str((tmp_path / "merged").resolve()) and merged.expert.adapter is None

    ids = torch.tensor([[5, 17, 42, 99, 7]])
    via_merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")(ids).logits
    # float32 as the merged copy loads (an unset dtype is bf16 on CPUs that compute it natively)
    expert = dataclasses.replace(adapter.expert, dtype="float32")
    coder = MoECoder(MixtureConfig(experts=[expert], generalist=expert.name, router="builtin"), tiny_router, device="cpu")
    with coder.pool._activated(expert) as loaded:
        via_adapter = loaded.model(ids).logits
    torch.testing.assert_close(via_merged, via_adapter, rtol=1e-4, atol=1e-4)
    base = AutoModelForCausalLM.from_pretrained(ROOT / "examples" / "tiny-llama")(ids).logits
    assert not torch.allclose(base, via_merged, atol=1e-3), "the adapter changed the model"


def test_command_line_errors_are_one_line(tmp_path, capsys):
    assert main(["train-expert", str(TINY_RECIPE), "--output", str(tmp_path), "--set", "training.epochs"]) == 2
    assert "must look like section.field=value" in capsys.readouterr().err
    assert main(["train-expert", str(TINY_RECIPE), "--output", str(tmp_path), "--set", "training.epoch=3"]) == 2
    assert "unknown field(s) ['epoch']" in capsys.readouterr().err
    assert main(["train-expert", str(tmp_path / "none.yaml"), "--output", str(tmp_path)]) == 2
    assert "recipe not found" in capsys.readouterr().err
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_pass_at_1_after_each_epoch_through_the_harness(tmp_path, fast):
    recipe = load_recipe(TINY_RECIPE, fast + ["training.max_steps=2", "evaluation.pass_at_1=[humaneval]",
                                              "evaluation.limit=2", "evaluation.max_new_tokens=8"])
    result = train_expert(recipe, tmp_path / "run")
    (scores,) = result.metrics["pass_at_1"]
    assert scores["epoch"] == 1 and 0.0 <= scores["humaneval"] <= 1.0
    epoch_dir = tmp_path / "run" / "evaluation" / "epoch-1" / "humaneval"
    samples = [json.loads(line) for line in (epoch_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2 and all(s["passed"] is not None for s in samples)
    assert json.loads((epoch_dir / "results.json").read_text())["n_problems"] == 2
    assert not list((tmp_path / "run").glob(".epoch-*")), "the epoch's snapshot weights are removed"


@pytest.mark.parametrize("forced, mode", [("1", "bf16"), ("0", "no")])
def test_auto_precision_is_bf16_only_on_cpus_that_compute_it(forced, mode, monkeypatch):
    from moe_coder import hardware
    from moe_coder.finetune.modeling import mixed_precision

    monkeypatch.setenv(hardware.ENV_OVERRIDE, forced)
    assert mixed_precision("auto", on_cpu=True) == mode
    assert mixed_precision("fp32", on_cpu=True) == "no"


def test_bf16_training_follows_the_fp32_loss(tmp_path, fast):
    """The path a native-bf16 CPU takes (bf16 autocast over float32 master weights), forced on any CPU:
    every step's loss stays within 2% of float32's, and the run is marked bf16 in metrics.json.
    Each run is its own process, as accelerate allows one precision per process."""
    from moe_coder import hardware

    metrics = {}
    for precision in ("auto", "fp32"):
        sets = [item for o in fast + SHORT + [f"training.precision={precision}"] for item in ("--set", o)]
        proc = subprocess.run(
            [sys.executable, "-m", "moe_coder.cli", "train-expert", str(TINY_RECIPE), "--output", str(tmp_path / precision), *sets],
            capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ, hardware.ENV_OVERRIDE: "1"},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics[precision] = json.loads((tmp_path / precision / "metrics.json").read_text())
    assert metrics["auto"]["precision"] == "bf16" and metrics["fp32"]["precision"] == "no"
    assert _history(tmp_path / "auto") == pytest.approx(_history(tmp_path / "fp32"), rel=2e-2)
    assert _history(tmp_path / "auto") != _history(tmp_path / "fp32")  # bf16 really ran
