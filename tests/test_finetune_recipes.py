"""Recipes: loading, overrides, validation; the shipped recipes, mixture and accelerate configs."""
import json
from pathlib import Path

import pytest
import yaml

from moe_coder.config import MixtureConfig
from moe_coder.finetune import Recipe, load_recipe
from moe_coder.finetune.recipe import TrainingConfig

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "experts").glob("*.yaml"))
MIXTURE = ROOT / "experts" / "codellama-mixture"


def _write(tmp_path, data, name="r.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


MINIMAL = {"expert": {"name": "e", "model": "org/base"}, "data": {"train": "d.jsonl"}}


def test_defaults_follow_phind():
    t = TrainingConfig()
    assert (t.epochs, t.seq_len, t.packing, t.lr_scheduler, t.precision) == (2, 4096, True, "cosine", "auto")
    assert t.warmup_ratio > 0
    assert Recipe.from_dict(MINIMAL).lora is None, "full fine-tune unless a lora: section is given"


def test_paths_resolve_against_the_recipe_and_overrides_against_the_working_dir(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base").mkdir()
    recipe_path = _write(tmp_path / "sub", {**MINIMAL, "expert": {"name": "e", "model": "base"}})
    recipe = load_recipe(recipe_path)
    assert recipe.data.train == [str(tmp_path / "sub" / "d.jsonl")]
    assert recipe.expert.model == str(tmp_path / "sub" / "base")
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(recipe_path, ["data.train=[x.jsonl, y.jsonl]"])
    assert recipe.data.train == [str(tmp_path / "x.jsonl"), str(tmp_path / "y.jsonl")]
    assert load_recipe(recipe_path, ["expert.model=org/other"]).expert.model == "org/other"


def test_overrides_reach_every_section(tmp_path):
    path = _write(tmp_path, MINIMAL)
    recipe = load_recipe(path, [
        "training.learning_rate=1e-4", "training.epochs=3", "expert.languages=[python, go]",
        "lora.r=8", "evaluation.pass_at_1=[humaneval]",
    ])
    assert recipe.training.learning_rate == 1e-4 and recipe.training.epochs == 3
    assert recipe.expert.languages == ["python", "go"]
    assert recipe.lora is not None and recipe.lora.r == 8 and recipe.lora.alpha == 32
    assert recipe.evaluation.pass_at_1 == ["humaneval"]
    with_lora = _write(tmp_path, {**MINIMAL, "lora": {"r": 4}}, "l.yaml")
    assert load_recipe(with_lora, ["lora=null"]).lora is None


@pytest.mark.parametrize("override, message", [
    ("training.lr=1", "unknown field(s) ['lr']"),
    ("trainer.epochs=1", "unknown section 'trainer'"),
    ("training.epochs=0", "training.epochs must be >= 1"),
    ("training.epochs=1.5", "training.epochs must be a whole number"),
    ("training.learning_rate=fast", "training.learning_rate must be a number"),
    ("training.precision=fp8", "training.precision: expected one of"),
    ("training.attention=flash", "training.attention: expected one of"),
    ("data.train=[]", "at least one training file"),
    ("expert.prompt_format=alpaca", "unknown prompt_format 'alpaca'"),
    ("lora.dropout=1.5", "lora.dropout must be in [0, 1)"),
    ("epochs", "must look like section.field=value"),
])
def test_bad_recipes_name_the_field(tmp_path, override, message):
    with pytest.raises(ValueError) as excinfo:
        load_recipe(_write(tmp_path, MINIMAL), [override])
    assert message in str(excinfo.value)


def test_recipe_round_trips_through_its_dict(tmp_path):
    recipe = load_recipe(_write(tmp_path, {**MINIMAL, "lora": {"r": 4, "merge": True}}))
    assert Recipe.from_dict(recipe.to_dict()) == recipe


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_load(path):
    recipe = load_recipe(path)
    assert recipe.expert.name == path.stem
    assert recipe.lora is None and recipe.training.seq_len == 4096 and recipe.training.epochs == 2
    assert recipe.expert.prompt_format in ("phind", "codellama_instruct")
    assert set(recipe.data.benchmarks) >= {"humaneval", "mbpp"}


def test_mixture_entries_are_the_recipes_expert_sections():
    config = MixtureConfig.from_json_file(MIXTURE / "mixture.json")
    assert config.router == "builtin" and config.generalist == "generalist"
    by_name = {e.name: e for e in config.experts}
    assert sorted(by_name) == sorted(p.stem for p in RECIPES)
    for path in RECIPES:
        assert by_name[path.stem] == load_recipe(path).expert, path.stem
    models = {e.name: e.model for e in config.experts}
    assert models["generalist"] == "Phind/Phind-CodeLlama-34B-v2"
    assert models["python"] == "Phind/Phind-CodeLlama-34B-Python-v1"
    assert all(models[n].startswith("codellama/CodeLlama-") for n in ("systems", "java_csharp", "web", "shell_sql"))


def test_mixture_loads_and_routes_without_loading_weights():
    from moe_coder import MoECoder

    coder = MoECoder.from_pretrained(MIXTURE, device="cpu")
    decisions = coder.route_batch([
        "Write a Python function that reverses a list.",
        "Write a PHP function that reverses a string.",
        "Write a bash script that counts lines in every .txt file.",
        "Implement a thread-safe queue in Rust.",
    ])
    assert [d.expert for d in decisions] == ["python", "web", "shell_sql", "systems"]
    assert coder.pool.loaded_bases == [], "routing loads no expert weights"


def test_accelerate_configs_parse():
    from accelerate.commands.config.config_args import load_config_from_file

    configs = ROOT / "configs" / "accelerate"
    kinds = {p.stem: load_config_from_file(str(p)).distributed_type for p in configs.glob("*.yaml")}
    assert {k: str(v).split(".")[-1] for k, v in kinds.items()} == {
        "single_device": "NO", "fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED"}
    fsdp = load_config_from_file(str(configs / "fsdp.yaml")).fsdp_config
    assert fsdp["fsdp_sharding_strategy"] == "FULL_SHARD"
    ds = load_config_from_file(str(configs / "deepspeed_zero3.yaml")).deepspeed_config
    ds_json = json.loads((ROOT / ds["deepspeed_config_file"]).read_text())
    assert ds_json["zero_optimization"]["stage"] == 3
    assert ds_json["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
