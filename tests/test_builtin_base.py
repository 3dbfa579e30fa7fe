"""``builtin-base``: the untuned baseline of the built-in mixture, by name, on every command."""
import json

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


def test_every_command_takes_builtin_base(capsys):
    assert main(["experts", "--mixture", "builtin-base", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["generalist"] == "generalist"
    assert {"python", "systems", "web"} <= {e["name"] for e in listing["experts"]}
    assert all(e["adapter"] is None for e in listing["experts"])
