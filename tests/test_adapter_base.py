"""An adapter meant for one base is refused on another, naming the expert and both bases."""
import json
import shutil

import pytest

from moe_coder.config import ExpertSpec
from moe_coder.experts.loading import attach_adapter, load_base


def _trained_adapter(tmp_path, tiny_adapter_dir, base_dir):
    """The adapter laid out as train-expert leaves it: adapter files plus the expert.json naming its base."""
    out = tmp_path / "trained"
    shutil.copytree(tiny_adapter_dir, out)
    spec = ExpertSpec(name="python", model=str(base_dir), adapter=str(out))
    (out / "expert.json").write_text(json.dumps(spec.to_dict()))
    return out


def test_a_trained_adapter_on_another_base_names_both(tmp_path, tiny_adapter_dir, tiny_llama_dir, tiny_llama_b_dir):
    adapter = _trained_adapter(tmp_path, tiny_adapter_dir, tiny_llama_dir)
    wrong = ExpertSpec(name="python", model=str(tiny_llama_b_dir), adapter=str(adapter))
    loaded = load_base(wrong, device="cpu")
    with pytest.raises(ValueError) as err:
        attach_adapter(loaded, wrong)
    message = str(err.value)
    assert "expert 'python'" in message and str(tiny_llama_dir) in message and str(tiny_llama_b_dir) in message
    assert loaded.adapters == {}


def test_the_same_base_by_another_spelling_is_accepted(tmp_path, tiny_adapter_dir, tiny_llama_dir):
    adapter = _trained_adapter(tmp_path, tiny_adapter_dir, tiny_llama_dir)
    spec = ExpertSpec(name="python", model=str(tiny_llama_dir / ".." / tiny_llama_dir.name), adapter=str(adapter))
    loaded = load_base(spec, device="cpu")
    assert attach_adapter(loaded, spec) == "adapter_0"


def test_an_adapter_of_another_shape_is_a_clear_error(tmp_path, tiny_adapter_dir):
    from moe_coder.testing import build_tiny_llama

    wider = build_tiny_llama(tmp_path / "wider", seed=2, hidden_size=128)
    spec = ExpertSpec(name="python", model=str(wider), adapter=str(tiny_adapter_dir))
    loaded = load_base(spec, device="cpu")
    with pytest.raises(ValueError, match=r"expert 'python': the LoRA adapter at .* does not fit the base"):
        attach_adapter(loaded, spec)


def test_the_base_in_a_relocatable_expert_json_is_read_relative_to_its_folder(
        tmp_path, tiny_adapter_dir, tiny_llama_dir, tiny_llama_b_dir, monkeypatch):
    """train-expert writes the base relative to the adapter's folder; the check resolves it from there."""
    import os

    out = tmp_path / "runs" / "trained"
    shutil.copytree(tiny_adapter_dir, out)
    entry = ExpertSpec(name="python", model=os.path.relpath(tiny_llama_dir, out), adapter=".").to_dict()
    (out / "expert.json").write_text(json.dumps(entry))
    monkeypatch.chdir(tmp_path)
    right = ExpertSpec(name="python", model=str(tiny_llama_dir), adapter=str(out))
    assert attach_adapter(load_base(right, device="cpu"), right) == "adapter_0"
    wrong = ExpertSpec(name="python", model=str(tiny_llama_b_dir), adapter=str(out))
    with pytest.raises(ValueError, match=f"trained on base '{tiny_llama_dir.resolve()}'"):
        attach_adapter(load_base(wrong, device="cpu"), wrong)
