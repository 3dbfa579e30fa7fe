"""Shared fixtures: tiny random Llama experts and a saved tiny mixture (built once per session)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# A few labelled prompts: enough for the tiny router to separate python / php / bash.
ROUTER_PROMPTS = [
    ("Write a Python function that reverses a list.", "python", "generate"),
    ("def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n", "python", "complete"),
    ("Implement a Python class for a stack with push and pop.", "python", "generate"),
    ("Fix this Python error: IndexError: list index out of range", "python", "fix"),
    ("Write a PHP function that reverses a string.", "php", "generate"),
    ("<?php\nfunction add($a, $b) {\n", "php", "complete"),
    ("Create a PHP script that reads a form field and echoes it.", "php", "generate"),
    ("Fix my PHP code: Parse error: syntax error, unexpected '}' in index.php", "php", "fix"),
    ("Write a bash script that counts lines in every .txt file.", "bash", "generate"),
    ("#!/bin/bash\nfor f in *.log; do\n", "bash", "complete"),
    ("Create a shell script to back up /etc into a tar.gz archive.", "bash", "generate"),
    ("Fix this bash script: line 3: [: missing `]'", "bash", "fix"),
]


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory) -> None:
    """De-quantised GGUF files go to a folder of this test session, never into the user's cache."""
    os.environ["MOE_CODER_CACHE"] = str(tmp_path_factory.mktemp("moe-coder-cache"))


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    from moe_coder.testing import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-a"), seed=0)


@pytest.fixture(scope="session")
def tiny_llama_b_dir(tmp_path_factory) -> Path:
    from moe_coder.testing import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-b"), seed=1)


@pytest.fixture(scope="session")
def tiny_adapter_dir(tmp_path_factory, tiny_llama_dir) -> Path:
    """A LoRA adapter over tiny model A, with non-zero weights so it changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False)
    )
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.5)
    out = tmp_path_factory.mktemp("tiny-adapter")
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_router():
    from moe_coder.routing.router import PromptRouter

    prompts = [p for p, _, _ in ROUTER_PROMPTS]
    labels = [[lang, task] for _, lang, task in ROUTER_PROMPTS]
    return PromptRouter().fit(prompts, labels)


@pytest.fixture(scope="session")
def tiny_mixture_config(tiny_llama_dir, tiny_llama_b_dir, tiny_adapter_dir):
    from moe_coder.config import ExpertSpec, MixtureConfig

    gen = {"max_new_tokens": 8, "temperature": 0.0}
    return MixtureConfig(
        name="tiny",
        experts=[
            ExpertSpec(name="generalist", model=str(tiny_llama_dir), prompt_format="chat_template", generation=gen),
            ExpertSpec(
                name="python", model=str(tiny_llama_dir), adapter=str(tiny_adapter_dir), prompt_format="phind",
                system_prompt="You are a Python expert.", languages=["python"], generation=gen,
            ),
            ExpertSpec(
                name="web", model=str(tiny_llama_b_dir), prompt_format="codellama_instruct",
                system_prompt="You are a PHP expert.", languages=["php", "javascript"], generation=gen,
            ),
            ExpertSpec(
                name="shell", model=str(tiny_llama_b_dir), prompt_format="completion", languages=["bash"], generation=gen,
            ),
        ],
        generalist="generalist",
        confidence_threshold=0.0,
        max_loaded_experts=2,
    )


@pytest.fixture(scope="session")
def tiny_mixture(tmp_path_factory, tiny_mixture_config, tiny_router) -> Path:
    """A saved mixture directory: tiny random experts (shared base, LoRA, second base) and a real router."""
    from moe_coder.mixture import MoECoder

    directory = tmp_path_factory.mktemp("tiny-mixture")
    MoECoder(tiny_mixture_config, tiny_router).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def sandbox():
    """A real sandbox, one per test module (its fork server and caches are shared by the module's tests)."""
    from moe_coder.evaluation.sandbox import Sandbox

    with Sandbox() as box:
        yield box


def require(sandbox, what: str) -> None:
    """Skip unless the sandbox has the isolation feature *what* (an ``Isolation`` field) on this platform."""
    isolation = sandbox.isolation()
    if not getattr(isolation, what):
        pytest.skip(f"{what} not available on this platform: {isolation.notes}")
