"""Tiny random models for tests, examples and smoke runs (no network, seconds on a CPU).

``build_tiny_llama(dir)`` writes a Llama-architecture causal LM (the same architecture as
CodeLlama) with a byte-level BPE tokenizer trained on a few lines of code and a ChatML chat
template, in Hugging Face format; ``build_tiny_gguf(path)`` writes such a model as one GGUF file.
"""
from __future__ import annotations

import json
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


def build_tiny_gguf(path: str | Path, seed: int = 0, hidden_size: int = 64, layers: int = 2) -> Path:
    """Write a tiny random Llama model with its tokenizer as one GGUF file (float32 tensors)."""
    import gguf
    import numpy as np

    path = Path(path)
    tokenizer = build_tiny_tokenizer()
    model = json.loads(tokenizer.backend_tokenizer.to_str())
    tokens = [""] * len(tokenizer)
    for token, index in model["model"]["vocab"].items():
        tokens[index] = token
    specials = {added["id"] for added in model["added_tokens"]}
    for added in model["added_tokens"]:
        tokens[added["id"]] = added["content"]
    heads, kv_heads, ffn = 4, 2, hidden_size * 2
    kv_size = kv_heads * hidden_size // heads

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(512)
    writer.add_embedding_length(hidden_size)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(hidden_size // heads)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if i in specials else gguf.TokenType.NORMAL for i in range(len(tokens))])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in model["model"]["merges"]])
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_unk_token_id(tokenizer.unk_token_id)
    writer.add_chat_template(CHATML_TEMPLATE)

    rng = np.random.default_rng(seed)

    def random(name: str, shape: tuple[int, ...]) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    random("token_embd.weight", (len(tokens), hidden_size))
    writer.add_tensor("output_norm.weight", np.ones(hidden_size, np.float32))
    for block in range(layers):
        writer.add_tensor(f"blk.{block}.attn_norm.weight", np.ones(hidden_size, np.float32))
        writer.add_tensor(f"blk.{block}.ffn_norm.weight", np.ones(hidden_size, np.float32))
        random(f"blk.{block}.attn_q.weight", (hidden_size, hidden_size))
        random(f"blk.{block}.attn_k.weight", (kv_size, hidden_size))
        random(f"blk.{block}.attn_v.weight", (kv_size, hidden_size))
        random(f"blk.{block}.attn_output.weight", (hidden_size, hidden_size))
        random(f"blk.{block}.ffn_gate.weight", (ffn, hidden_size))
        random(f"blk.{block}.ffn_up.weight", (ffn, hidden_size))
        random(f"blk.{block}.ffn_down.weight", (hidden_size, ffn))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
