"""Fine-tuning data: formatting agrees with serving, answer-only loss, packing without cross-talk."""
import numpy as np
import pytest
import torch

from moe_coder.config import ExpertSpec
from moe_coder.experts.prompt_formats import chat_template, render_prompt
from moe_coder.finetune.attention import register as register_packed_sdpa
from moe_coder.finetune.data import (
    DataStats,
    Example,
    encode_conversations,
    read_conversations,
    record_messages,
    split_heldout,
)
from moe_coder.finetune.packing import (
    IGNORE_INDEX,
    collate,
    epoch_rows,
    make_plan,
    pack_rows,
    shard_step,
)
from moe_coder.testing import build_tiny_tokenizer

CONVERSATION = [
    {"role": "user", "content": "Write a Python function that adds two numbers."},
    {"role": "assistant", "content": "def add(a, b):\n    return a + b"},
]
FORMATS = ("phind", "codellama_instruct", "chat_template", "completion")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="module")
def tiny_model(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_llama_dir, attn_implementation="sdpa").eval()


def test_records_become_conversations():
    plain = record_messages({"instruction": "Reverse it.", "input": "abc", "response": "cba"})
    assert plain == [{"role": "user", "content": "Reverse it.\n\nabc"}, {"role": "assistant", "content": "cba"}]
    with_system = record_messages({"system": "Be brief.", "instruction": "Hi", "response": "Yo"})
    assert with_system[0] == {"role": "system", "content": "Be brief."}
    assert record_messages({"messages": CONVERSATION}) == CONVERSATION
    with pytest.raises(ValueError, match="expected 'messages' or 'instruction' and 'response'"):
        record_messages({"prompt": "x", "completion": "y"}, "f.jsonl:3")


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "a", "response": "b"}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: malformed JSON"):
        read_conversations([path])


@pytest.mark.parametrize("fmt", FORMATS)
def test_prompt_tokens_are_what_serving_feeds_the_model(fmt, tiny_llama_dir):
    """The training prompt is tokenized exactly as the expert pool encodes the same prompt at inference."""
    from moe_coder.experts.pool import ExpertPool

    spec = ExpertSpec(name="e", model=str(tiny_llama_dir), prompt_format=fmt, system_prompt="Be correct.")
    pool = ExpertPool(device="cpu")
    loaded = pool._get(spec)
    (example,) = encode_conversations([CONVERSATION], spec, loaded.tokenizer, seq_len=512)
    enc = pool._encode(loaded, spec, [pool.render(spec, CONVERSATION[:1])], max_new_tokens=8)
    # The pool pads prompts on the left to a multiple of 16 tokens; the model attends to the rest.
    served = enc["input_ids"][0][enc["attention_mask"][0].bool()]
    assert (enc["input_ids"][0][~enc["attention_mask"][0].bool()] == loaded.tokenizer.pad_token_id).all()
    assert example.ids[: example.prompt_len].tolist() == served.tolist()
    answer = loaded.tokenizer.decode(example.ids[example.prompt_len :].tolist())
    assert answer == CONVERSATION[1]["content"] + loaded.tokenizer.eos_token


def test_only_answer_tokens_are_labelled(tokenizer):
    spec = ExpertSpec(name="e", model="x/y", prompt_format="phind")
    (example,) = encode_conversations([CONVERSATION], spec, tokenizer, seq_len=512)
    batch = collate([example], [[0]], packed=True, pad_id=0)
    labels = batch.labels[0]
    assert (labels[: example.prompt_len] == IGNORE_INDEX).all()
    assert labels[example.prompt_len :].tolist() == example.ids[example.prompt_len :].tolist()
    assert batch.label_tokens == example.answer_len


def test_long_examples_are_cut_and_promptonly_ones_dropped(tokenizer):
    spec = ExpertSpec(name="e", model="x/y", prompt_format="completion")
    long_answer = [{"role": "user", "content": "def f():"}, {"role": "assistant", "content": "    return 1\n" * 50}]
    long_prompt = [{"role": "user", "content": "x = 1\n" * 80}, {"role": "assistant", "content": "y"}]
    stats = DataStats()
    examples = encode_conversations([long_answer, long_prompt], spec, tokenizer, seq_len=64, stats=stats)
    assert len(examples) == 1 and len(examples[0]) == 64
    assert (stats.truncated, stats.dropped_no_answer, stats.examples) == (2, 1, 1)


def test_heldout_split_is_reproducible_and_disjoint():
    items = list(range(100))
    train, held = split_heldout(items, 0.1, seed=3)
    assert len(held) == 10 and sorted(train + held) == items
    assert split_heldout(items, 0.1, seed=3) == (train, held)
    assert split_heldout(items, 0.0, seed=3) == (items, [])


def test_best_fit_packing_fills_rows():
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 400, size=500).tolist()
    rows = pack_rows(lengths, 1024)
    assert sorted(i for row in rows for i in row) == list(range(500))
    fill = [sum(lengths[i] for i in row) for row in rows]
    assert max(fill) <= 1024
    assert sum(lengths) / (1024 * len(rows)) > 0.95
    with pytest.raises(ValueError, match="more than a row"):
        pack_rows([2000], 1024)


def test_plan_is_deterministic_and_covers_every_example_each_epoch():
    lengths = list(range(10, 60))
    a = make_plan(lengths, 128, True, epochs=2, seed=5, rows_per_step=3)
    assert a == make_plan(lengths, 128, True, epochs=2, seed=5, rows_per_step=3)
    assert a.epochs[0] != a.epochs[1], "each epoch is shuffled differently"
    for rows in a.epochs:
        assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    steps = [a.step_rows(s) for s in range(a.total_steps)]
    assert [r for step in steps for r in step] == list(a.epochs[0]) + list(a.epochs[1])
    assert a.epoch_end(a.steps_in_epoch(0) - 1) and not a.epoch_end(0)
    assert make_plan(lengths, 128, True, 2, 5, 3, max_steps=4).total_steps == 4


def test_shard_step_splits_rows_between_processes_and_fills_the_gap():
    rows = [(0,), (1,), (2,)]
    per_rank = [shard_step(rows, micro_batch_size=1, accumulation=2, world=2, rank=r) for r in range(2)]
    assert per_rank == [[[(0,)], [(2,)]], [[(1,)], []]]


def _per_example_losses(model, batch, examples, rows):
    logits = model(**batch.model_inputs(), use_cache=False).logits
    per_token = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), batch.labels[:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX, reduction="none",
    ).view(batch.labels.shape[0], -1)
    out = {}
    for r, row in enumerate(rows):
        start = 0
        for i in row:
            out[i] = per_token[r, start : start + len(examples[i]) - 1].sum()
            start += len(examples[i])
    return out


@pytest.mark.parametrize("attention", ["packed_sdpa", "sdpa", "eager"])
def test_packed_examples_do_not_see_each_other(attention, tiny_llama_dir):
    """Per-example loss and gradient are the same packed several to a row (under each attention
    kernel) as one example per padded row."""
    from transformers import AutoModelForCausalLM

    register_packed_sdpa()
    rng = np.random.default_rng(1)
    examples = [Example(rng.integers(5, 300, size=n).astype(np.int32), p) for n, p in [(40, 9), (23, 4), (61, 30), (12, 5)]]
    packed_rows = pack_rows([len(e) for e in examples], 80)
    assert any(len(row) > 1 for row in packed_rows)
    packed = collate(examples, packed_rows, packed=True, pad_id=0, segments=attention == "packed_sdpa")
    padded = collate(examples, [[i] for i in range(4)], packed=False, pad_id=0)
    assert packed.positions < padded.positions

    def losses_and_gradient(attn, batch, rows):
        model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, attn_implementation=attn)
        losses = _per_example_losses(model, batch, examples, rows)
        sum(losses.values()).backward()
        return [losses[i].item() for i in range(4)], torch.cat([p.grad.flatten() for p in model.parameters()])

    packed_losses, packed_grad = losses_and_gradient(attention, packed, packed_rows)
    padded_losses, padded_grad = losses_and_gradient("sdpa", padded, [[i] for i in range(4)])
    assert packed_losses == pytest.approx(padded_losses, rel=1e-5)
    torch.testing.assert_close(packed_grad, padded_grad, rtol=1e-4, atol=1e-6)


def test_packing_detection_needs_the_cache_off(tiny_model):
    """With a KV cache transformers ignores the position restarts; the trainer always passes use_cache=False."""
    rng = np.random.default_rng(2)
    examples = [Example(rng.integers(5, 300, size=30).astype(np.int32), 3) for _ in range(2)]
    packed = collate(examples, [[0, 1]], packed=True, pad_id=0)
    alone = collate(examples, [[1]], packed=True, pad_id=0)
    second = tiny_model(**packed.model_inputs(), use_cache=False).logits[0, 30:]
    leaky = tiny_model(**packed.model_inputs(), use_cache=True).logits[0, 30:]
    reference = tiny_model(**alone.model_inputs(), use_cache=False).logits[0]
    torch.testing.assert_close(second, reference, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(leaky, reference, atol=1e-3)


def test_packed_sdpa_wants_the_example_lengths(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    register_packed_sdpa()
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, attn_implementation="packed_sdpa")
    example = Example(np.arange(5, 25, dtype=np.int32), 3)
    with pytest.raises(ValueError, match="packed_segments"):
        model(**collate([example], [[0]], packed=True, pad_id=0).model_inputs(), use_cache=False)


def test_attention_choice():
    from moe_coder.finetune.modeling import attention_implementation

    assert attention_implementation("auto", packing=True) == "packed_sdpa"
    assert attention_implementation("auto", packing=False) == "sdpa"
    with pytest.raises(ValueError, match="for packed rows"):
        attention_implementation("packed_sdpa", packing=False)
    with pytest.raises(ValueError, match="flash-attn"):
        attention_implementation("flash_attention_2", packing=True)


def test_padding_is_what_packing_removes():
    lengths = [100, 30, 70, 20, 90, 10]
    examples = [Example(np.ones(n, dtype=np.int32), 1) for n in lengths]
    packed_rows = epoch_rows(lengths, 128, True, seed=0, epoch=0)
    packed = collate(examples, packed_rows, packed=True, pad_id=0)
    padded = collate(examples, [[i] for i in range(6)], packed=False, pad_id=0)
    assert packed.tokens == padded.tokens == sum(lengths)
    assert packed.tokens / packed.positions > padded.tokens / padded.positions


@pytest.mark.parametrize("fmt", ["phind", "codellama_instruct"])
@pytest.mark.parametrize("system", [None, 'Say "hi".\nThen code.'])
def test_saved_chat_template_reproduces_the_prompt_format(fmt, system, tokenizer):
    template = chat_template(fmt, tokenizer, system)
    conversations = [
        [{"role": "user", "content": "Write code"}],
        [{"role": "system", "content": "Own system."}, {"role": "user", "content": " a "},
         {"role": "assistant", "content": " b "}, {"role": "user", "content": "c"}],
    ]
    for messages in conversations:
        text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=True)
        assert text == render_prompt(fmt, messages, tokenizer, system)


def test_templates_only_for_formats_without_one(tokenizer):
    assert chat_template("chat_template", tokenizer, "x") is None
    assert chat_template("completion", tokenizer, "x") is None
