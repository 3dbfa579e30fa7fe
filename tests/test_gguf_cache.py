"""The GGUF load cache: de-quantised once into the user cache, read back as safetensors."""
from pathlib import Path

import pytest
import torch

from moe_coder.config import ExpertSpec
from moe_coder.experts.gguf_cache import LAYOUT, MANIFEST, cache_root, converted_gguf, file_sha256
from moe_coder.experts.loading import load_base
from moe_coder.testing import build_tiny_gguf

GGUF = "tiny.gguf"
TEXT = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def gguf_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gguf")
    build_tiny_gguf(folder / GGUF, seed=0)
    return folder


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MOE_CODER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _spec(folder: Path, name: str = GGUF) -> ExpertSpec:
    """float32, as the reference is: the dtype "auto" picks is bf16 on CPUs that compute it natively."""
    return ExpertSpec(name="tiny", model=str(folder), gguf_file=name, dtype="float32")


def _logits(loaded) -> torch.Tensor:
    ids = loaded.tokenizer(TEXT, return_tensors="pt").input_ids
    with torch.no_grad():
        return loaded.model(ids).logits


@pytest.fixture(scope="module")
def reference(gguf_dir):
    """The model and tokenizer as transformers reads them from the GGUF file itself."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF, dtype=torch.float32).eval()
    ids = tokenizer(TEXT, return_tensors="pt").input_ids
    with torch.no_grad():
        return tokenizer, model(ids).logits


def test_cache_directory_follows_the_override_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MOE_CODER_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.delenv("MOE_CODER_CACHE")
    assert cache_root() == tmp_path / "xdg" / "moe-coder"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "moe-coder"


def test_cached_load_equals_the_gguf_load(gguf_dir, cache, reference):
    tokenizer, logits = reference
    loaded = load_base(_spec(gguf_dir), device="cpu")
    entry = cache / LAYOUT / file_sha256(gguf_dir / GGUF)
    assert (entry / "model.safetensors").is_file() and (entry / MANIFEST).is_file()
    assert torch.equal(_logits(loaded), logits)
    messages = [{"role": "user", "content": "Add two numbers."}]
    assert loaded.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == \
        tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert loaded.tokenizer(TEXT).input_ids == tokenizer(TEXT).input_ids
    assert loaded.tokenizer.eos_token == tokenizer.eos_token


def test_second_load_reads_the_cached_safetensors(gguf_dir, cache, reference):
    """Zeroing a tensor in the cached file shows in the next load: it read the cache, not the GGUF."""
    from safetensors.torch import load_file, save_file

    load_base(_spec(gguf_dir), device="cpu")
    weights = converted_gguf(gguf_dir / GGUF) / "model.safetensors"
    tensors = load_file(weights)
    tensors["model.norm.weight"] = torch.zeros_like(tensors["model.norm.weight"])
    save_file(tensors, weights, metadata={"format": "pt"})
    again = load_base(_spec(gguf_dir), device="cpu")
    assert torch.count_nonzero(again.model.model.norm.weight) == 0
    assert not torch.equal(_logits(again), reference[1])


def test_each_gguf_file_has_its_own_entry(gguf_dir, cache, tmp_path):
    other = build_tiny_gguf(tmp_path / "other.gguf", seed=1)
    first, second = converted_gguf(gguf_dir / GGUF), converted_gguf(other)
    assert first != second and first.name == file_sha256(gguf_dir / GGUF) and second.name == file_sha256(other)


@pytest.mark.parametrize("damage", ["truncate weights", "delete manifest", "garble config"])
def test_a_damaged_entry_is_rebuilt(gguf_dir, cache, reference, damage):
    entry = converted_gguf(gguf_dir / GGUF)
    if damage == "truncate weights":
        weights = entry / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "delete manifest":
        (entry / MANIFEST).unlink()
    else:
        config = entry / "config.json"
        config.write_text(config.read_text()[:-40].ljust(len(config.read_text())))
    loaded = load_base(_spec(gguf_dir), device="cpu")
    assert torch.equal(_logits(loaded), reference[1])


def test_a_failed_build_leaves_no_entry(cache, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    source = build_tiny_gguf(tmp_path / "whole.gguf")
    (broken / GGUF).write_bytes(source.read_bytes()[:4000])
    with pytest.raises(ValueError, match=rf"expert 'tiny': {broken / GGUF}: not a readable GGUF model"):
        load_base(_spec(broken), device="cpu")
    assert [p.name for p in (cache / LAYOUT).iterdir()] == []
