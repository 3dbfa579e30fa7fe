"""Tiny random models for tests, examples and smoke runs (no network, seconds on a CPU).

``build_tiny_llama(dir)`` writes a Llama-architecture causal LM (the same architecture as
CodeLlama) with a byte-level BPE tokenizer trained on a few lines of code and a ChatML chat
template, in Hugging Face format.
"""
from __future__ import annotations

from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "function add(a, b) { return a + b; }\n",
    "<?php function add($a, $b) { return $a + $b; } ?>\n",
    "#include <vector>\nint main() { std::vector<int> v; return 0; }\n",
    "#!/bin/bash\nfor f in *.txt; do wc -l \"$f\"; done\n",
    "public class Main { public static void main(String[] args) { System.out.println(1); } }\n",
    "SELECT name, COUNT(*) FROM users GROUP BY name;\n",
    "Write a function that reverses a string. Fix the bug. Explain this code. Write unit tests.\n",
    "### System Prompt\n### User Message\n### Assistant\n[INST] <<SYS>> <</SYS>> [/INST]\n",
]


def build_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer with ``<s>``, ``</s>``, ChatML markers and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="<|im_end|>", unk_token="<unk>", pad_token="</s>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_llama(directory: str | Path, seed: int = 0, hidden_size: int = 64, layers: int = 2, max_positions: int = 512) -> Path:
    """Write a tiny random Llama model and its tokenizer to ``directory`` and return the path."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
