"""``builtin-base``: the untuned baseline of the built-in mixture, by name, on every command."""
import json
from pathlib import Path

from moe_coder import MoECoder
from moe_coder.cli import main
from moe_coder.mixture import builtin_dir, resolve_mixture_dir


def test_builtin_base_is_the_builtin_mixture_without_adapters():
    base, tuned = MoECoder.from_pretrained("builtin-base"), MoECoder.from_pretrained("builtin")
    assert resolve_mixture_dir("builtin-base") == builtin_dir("builtin-base") != builtin_dir()
    assert [e.name for e in base.experts] == [e.name for e in tuned.experts]
    assert all(e.adapter is None for e in base.experts)
    for b, t in zip(base.experts, tuned.experts):  # same base weights, prompts and labels: only adapters may differ
        assert (b.model, b.gguf_file, b.system_prompt, b.languages) == (t.model, t.gguf_file, t.system_prompt, t.languages)
    prompt = "Write a PHP function that reverses a string."
    assert base.route(prompt) == tuned.route(prompt)  # one router
    # and one abstain threshold: a retrained router's calibration reaches both mixtures
    assert base.config.confidence_threshold == tuned.config.confidence_threshold


def test_every_command_takes_builtin_base(capsys):
    assert main(["experts", "--mixture", "builtin-base", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["generalist"] == "generalist"
    assert {"python", "systems", "web"} <= {e["name"] for e in listing["experts"]}
    assert all(e["adapter"] is None for e in listing["experts"])


def test_every_builtin_expert_ships_its_trained_adapter_within_the_size_budget():
    """The built-in experts are LoRA adapters trained by experts/smollm2/ over the base builtin-base uses,
    each shipped with its expert entry, training record and model card; all of them together ≤ 40 MB."""
    from moe_coder.config import ExpertSpec

    tuned = MoECoder.from_pretrained("builtin")
    total = 0
    for expert in tuned.experts:
        folder = builtin_dir() / "experts" / expert.name
        assert expert.adapter is not None and Path(expert.adapter).resolve() == folder.resolve()
        for name in ("adapter_model.safetensors", "adapter_config.json", "expert.json", "training.json",
                     "metrics.json", "README.md"):
            assert (folder / name).is_file(), folder / name
        trained = ExpertSpec.from_json_file(folder / "expert.json")
        assert (trained.model, trained.gguf_file) == (expert.model, expert.gguf_file)
        assert trained.system_prompt == expert.system_prompt
        training = json.loads((folder / "training.json").read_text())
        assert not training["data"]["contaminated_allowed"]
        assert not any("/" in f for f in training["data"]["train_files"]), "no local paths in shipped files"
        card = (folder / "README.md").read_text()
        assert "## Data and attributions" in card and "tokens/s" in card
        total += (folder / "adapter_model.safetensors").stat().st_size
    assert total <= 40 * 1024 * 1024, f"{total / 1e6:.1f} MB of adapters"
