"""The one question about the CPU (native bf16), and the paths that take it: both paths forced on any machine."""
import pytest
import torch

from moe_coder import hardware
from moe_coder.config import ExpertSpec
from moe_coder.experts.loading import load_base


@pytest.mark.parametrize("forced, dtype", [("1", torch.bfloat16), ("0", torch.float32)])
def test_experts_generate_in_bf16_only_where_the_cpu_has_it(forced, dtype, monkeypatch, tiny_llama_dir):
    monkeypatch.setenv(hardware.ENV_OVERRIDE, forced)
    loaded = load_base(ExpertSpec(name="tiny", model=str(tiny_llama_dir)), device="cpu")
    assert loaded.model.dtype == dtype
    enc = loaded.tokenizer(["def f(x):", "x ="], return_tensors="pt", padding=True)
    out = loaded.model.generate(**enc, max_new_tokens=4, do_sample=False, pad_token_id=loaded.tokenizer.pad_token_id)
    assert out.shape == (2, enc["input_ids"].shape[1] + 4)


def test_an_explicit_dtype_wins_over_the_cpu(monkeypatch, tiny_llama_dir):
    monkeypatch.setenv(hardware.ENV_OVERRIDE, "1")
    loaded = load_base(ExpertSpec(name="tiny", model=str(tiny_llama_dir), dtype="float32"), device="cpu")
    assert loaded.model.dtype == torch.float32


def test_the_override_must_be_0_or_1(monkeypatch):
    monkeypatch.setenv(hardware.ENV_OVERRIDE, "yes")
    with pytest.raises(ValueError, match="MOE_CODER_NATIVE_BF16 must be 0 or 1"):
        hardware.native_bf16()
    monkeypatch.delenv(hardware.ENV_OVERRIDE)
    assert hardware.native_bf16() in (True, False)
