"""The pool's decoder drops finished rows, and answers exactly as ``transformers``' ``generate`` does (float32)."""
from __future__ import annotations

import random

import pytest

STOPS = ["0 0", "in in in", "))))", "forfor", "xxxxx", "a a a a"]  # the rows of a random model end at different steps


def _prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = ["def", "add", "return", "a", "b", "for", "x", "in", "range", "(", ")", ":"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(n)]


def _with_generate(pool, spec, texts: list[str], **settings) -> list[str]:
    """The same batch run through ``model.generate``, the row watcher as its stopping criterion (the old path)."""
    import torch
    from transformers import StoppingCriteriaList

    from moe_coder.experts.completion import eos_token_ids
    from moe_coder.experts.streaming import BatchStream

    batch = BatchStream([None] * len(texts), 0, lambda b: None)
    batch._streaming = False
    max_new_tokens = settings.pop("max_new_tokens")
    stop = settings.pop("stop", None)
    with pool._activated(spec) as loaded, torch.inference_mode():
        enc = pool._encode(loaded, spec, texts, max_new_tokens)
        tok = loaded.tokenizer
        watcher = batch.watch(lambda ids: tok.decode(ids, skip_special_tokens=True), eos_token_ids(loaded.model, tok), stop,
                              max_new_tokens)
        loaded.model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,
                              stopping_criteria=StoppingCriteriaList([watcher]), **settings)
    batch._finish(None)
    return [row.text for row in batch.rows]


def _shapes(model):
    shapes: list[tuple[int, int]] = []
    hook = model.register_forward_pre_hook(lambda m, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)),
                                           with_kwargs=True)
    return shapes, hook


@pytest.fixture()
def pool_and_spec(tiny_llama_dir):
    from moe_coder.config import ExpertSpec
    from moe_coder.experts.pool import ExpertPool

    return ExpertPool(device="cpu"), ExpertSpec(name="e", model=str(tiny_llama_dir), prompt_format="completion",
                                                dtype="float32")


def test_greedy_answers_equal_generate_while_finished_rows_leave_the_batch(pool_and_spec):
    from moe_coder.experts.pool import BATCH_BUCKETS

    pool, spec = pool_and_spec
    prompts = _prompts(32)
    texts = sorted(prompts, key=len)
    shapes, hook = _shapes(pool._get(spec).model)
    try:
        answers = pool.generate(spec, texts, batch_size=32, max_new_tokens=24, stop=STOPS)
    finally:
        hook.remove()
    sizes = [s[0] for s in shapes]
    assert sizes[0] == 32 and min(sizes) < 32, "no row left the batch: the test does not exercise pruning"
    assert set(sizes) <= set(BATCH_BUCKETS) and sizes == sorted(sizes, reverse=True)
    assert answers == _with_generate(pool, spec, texts, max_new_tokens=24, stop=STOPS, do_sample=False)
    assert len({len(a) for a in answers}) > 3  # rows did end at different lengths


def test_repetition_penalty_matches_generate(pool_and_spec):
    pool, spec = pool_and_spec
    texts = sorted(_prompts(8, seed=1), key=len)
    answers = pool.generate(spec, texts, batch_size=8, max_new_tokens=20, stop=STOPS, repetition_penalty=1.5)
    reference = _with_generate(pool, spec, texts, max_new_tokens=20, stop=STOPS, do_sample=False, repetition_penalty=1.5)
    assert answers == reference
    assert answers != pool.generate(spec, texts, batch_size=8, max_new_tokens=20, stop=STOPS)  # the penalty did something


def test_sampling_is_seeded_and_top_k_one_is_greedy(pool_and_spec):
    pool, spec = pool_and_spec
    texts = _prompts(6, seed=2)
    greedy = pool.generate(spec, texts, batch_size=8, max_new_tokens=16)
    assert pool.generate(spec, texts, batch_size=8, max_new_tokens=16, temperature=0.8, top_k=1, seed=5) == greedy
    first = pool.generate(spec, texts, batch_size=8, max_new_tokens=16, temperature=1.0, seed=7)
    assert pool.generate(spec, texts, batch_size=8, max_new_tokens=16, temperature=1.0, seed=7) == first
    assert pool.generate(spec, texts, batch_size=8, max_new_tokens=16, temperature=1.0, seed=8) != first
    assert first != greedy


def test_without_sizes_the_batch_never_shrinks(pool_and_spec):
    import torch

    from moe_coder.experts.decoding import decode, shrink_to

    assert [shrink_to(n, 32, (1, 2, 4, 8, 12, 16, 24)) for n in (32, 25, 24, 13, 3, 1)] == [32, 32, 24, 16, 4, 1]
    assert shrink_to(3, 4, ()) == 4
    pool, spec = pool_and_spec
    loaded = pool._get(spec)
    enc = loaded.tokenizer(["a b", "def add"], return_tensors="pt", padding=True)
    ends = {0: 2, 1: 6}  # row 0 ends after 2 tokens, row 1 after 6
    seen: dict[int, int] = {0: 0, 1: 0}

    def on_step(rows, tokens):
        for r in rows:
            seen[r] += 1
        return [seen[r] >= ends[r] for r in rows]

    shapes, hook = _shapes(loaded.model)
    try:
        with torch.inference_mode():
            steps = decode(loaded.model, enc["input_ids"], enc["attention_mask"], max_new_tokens=10,
                           pad_token_id=loaded.tokenizer.pad_token_id, on_step=on_step)
    finally:
        hook.remove()
    assert steps == 6 and seen == ends and {s[0] for s in shapes} == {2}
    shapes, hook = _shapes(loaded.model)
    try:
        with torch.inference_mode():
            decode(loaded.model, enc["input_ids"], enc["attention_mask"], max_new_tokens=10,
                   pad_token_id=loaded.tokenizer.pad_token_id, on_step=lambda rows, tokens: [False] * len(rows), sizes=(1,))
    finally:
        hook.remove()
    assert len(shapes) == 10  # stops at max_new_tokens: one prefill and nine steps, no forward past the last token
