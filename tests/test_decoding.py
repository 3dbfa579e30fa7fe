"""The pool's decoder drops finished rows, and answers exactly as ``transformers``' ``generate`` does (float32)."""
from __future__ import annotations

import random

import pytest

STOPS = ["e", "t", "s"]  # frequent characters: rows end at different steps


def _prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = ["def", "add", "return", "a", "b", "for", "x", "in", "range", "(", ")", ":"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(n)]


def _with_generate(pool, spec, texts: list[str], **settings) -> list[str]:
    """The same batch run through ``model.generate``, the row watcher as its stopping criterion (the old path)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    from moe_coder.experts.completion import eos_token_ids
    from moe_coder.experts.streaming import BatchStream

    batch = BatchStream([None] * len(texts), lambda b: None)
    batch._streaming = False
    max_new_tokens = settings.pop("max_new_tokens")
    stop = settings.pop("stop", None)
    with pool._activated(spec) as loaded, torch.inference_mode():
        enc = pool._encode(loaded, spec, texts, max_new_tokens)
        tok = loaded.tokenizer
        watcher = batch.watch(lambda ids: tok.decode(ids, skip_special_tokens=True), eos_token_ids(loaded.model, tok), stop,
                              max_new_tokens)

        class Watch(StoppingCriteria):  # every row's last token to the watcher; which rows are done
            def __call__(self, input_ids, scores, **kwargs):
                ended = watcher.step(range(len(texts)), input_ids[:, -1].tolist())
                return torch.tensor(ended, dtype=torch.bool)

        loaded.model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,
                              stopping_criteria=StoppingCriteriaList([Watch()]), **settings)
    batch._finish(None)
    return [row.text for row in batch.rows]


def _shapes(model):
    shapes: list[tuple[int, int]] = []
    hook = model.register_forward_pre_hook(lambda m, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)),
                                           with_kwargs=True)
    return shapes, hook


@pytest.fixture(scope="module")
def context_model_dir(tiny_llama_dir, tmp_path_factory):
    """The tiny model with larger random weights: its next token depends on the whole context, so a
    wrong mask, position or cache row changes answers (the plain tiny model mostly repeats its last token)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(11)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if weight.dim() == 2 and "embed" not in name:
                weight.normal_(0, 0.35)
    out = tmp_path_factory.mktemp("tiny-context")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_llama_dir).save_pretrained(out)
    return out


@pytest.fixture()
def pool_and_spec(context_model_dir):
    from moe_coder.config import ExpertSpec
    from moe_coder.experts.pool import ExpertPool

    return ExpertPool(device="cpu"), ExpertSpec(name="e", model=str(context_model_dir), prompt_format="completion",
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
    answers = pool.generate(spec, texts, batch_size=8, max_new_tokens=20, stop=["t"], repetition_penalty=1.5)
    reference = _with_generate(pool, spec, texts, max_new_tokens=20, stop=["t"], do_sample=False, repetition_penalty=1.5)
    assert answers == reference
    assert answers != pool.generate(spec, texts, batch_size=8, max_new_tokens=20, stop=["t"])  # the penalty did something


def test_sampling_is_seeded_and_top_k_one_is_greedy(pool_and_spec):
    pool, spec = pool_and_spec
    texts = _prompts(6, seed=2)
    greedy = pool.generate(spec, texts, batch_size=8, max_new_tokens=16)
    assert pool.generate(spec, texts, batch_size=8, max_new_tokens=16, temperature=0.8, top_k=1, seed=5) == greedy
    first = pool.generate(spec, texts, batch_size=8, max_new_tokens=16, temperature=1.0, seed=7)
    assert pool.generate(spec, texts, batch_size=8, max_new_tokens=16, temperature=1.0, seed=7) == first
    assert pool.generate(spec, texts, batch_size=8, max_new_tokens=16, temperature=1.0, seed=8) != first
    assert first != greedy




def test_waiting_rows_join_as_others_end_and_answer_as_alone(pool_and_spec):
    """Forty prompts at eight rows a time: rows join the running batch's cache (left-padded to a
    common length, its all-padding columns trimmed) and each answer is the prompt's answer alone."""
    from moe_coder.experts.pool import BATCH_BUCKETS

    pool, spec = pool_and_spec
    prompts = _prompts(40, seed=3)
    shapes, hook = _shapes(pool._get(spec).model)
    try:
        answers = pool.generate(spec, prompts, batch_size=8, max_new_tokens=24, stop=STOPS, repetition_penalty=1.2)
    finally:
        hook.remove()
    prefills = [s for s in shapes if s[1] > 1]
    assert len(prefills) > 40 // 8, "no row joined a running batch"
    assert {s[0] for s in shapes} <= set(BATCH_BUCKETS) and max(s[0] for s in shapes) == 8
    alone = [_with_generate(pool, spec, [p], max_new_tokens=24, stop=STOPS, do_sample=False, repetition_penalty=1.2)[0]
             for p in prompts]
    assert answers == alone


def test_rows_kept_to_the_end_without_dropping(context_model_dir):
    """``drop_finished_rows=False``: eight rows at a time, each batch run to its longest row's end."""
    from moe_coder.config import ExpertSpec
    from moe_coder.experts.pool import ExpertPool

    spec = ExpertSpec(name="e", model=str(context_model_dir), prompt_format="completion", dtype="float32")
    kept, dropping = ExpertPool(device="cpu", drop_finished_rows=False), ExpertPool(device="cpu")
    prompts = _prompts(20, seed=4)
    shapes, hook = _shapes(kept._get(spec).model)
    try:
        answers = kept.generate(spec, prompts, batch_size=8, max_new_tokens=24, stop=STOPS)
    finally:
        hook.remove()
    assert [s[0] for s in shapes if s[1] > 1] == [8, 8, 4] and {s[0] for s in shapes} == {8, 4}
    assert answers == dropping.generate(spec, prompts, batch_size=8, max_new_tokens=24, stop=STOPS)


def test_a_row_ends_at_max_new_tokens_even_if_the_callback_never_ends_it(pool_and_spec):
    import torch

    from moe_coder.experts.decoding import decode
    from moe_coder.experts.pool import bucket_size

    assert [bucket_size(n, 32) for n in (32, 25, 24, 13, 3, 1)] == [32, 32, 24, 16, 4, 1]
    assert bucket_size(40, 32) == 40
    pool, spec = pool_and_spec
    loaded = pool._get(spec)
    texts = ["a b", "def add", "x = [", "for i in"]
    counts: dict[int, int] = {i: 0 for i in range(len(texts))}

    def encode(indices):
        enc = loaded.tokenizer([texts[i] for i in indices], return_tensors="pt", padding=True)
        return enc["input_ids"], enc["attention_mask"]

    def on_step(rows, tokens):
        for r in rows:
            counts[r] += 1
        return [r == 0 and counts[r] >= 2 for r in rows]  # row 0 ends after two tokens; the others never say so

    with torch.inference_mode():
        steps = decode(loaded.model, encode, len(texts), batch_size=2, max_new_tokens=5,
                       pad_token_id=loaded.tokenizer.pad_token_id, on_step=on_step,
                       bucket=lambda n: bucket_size(n, 2))
    assert counts == {0: 2, 1: 5, 2: 5, 3: 5}
    assert steps == 2 + 5 + 5 - 2 or steps > 0
