import pytest

from moe_coder.experts.prompt_formats import render_example, render_prompt
from moe_coder.messages import normalise_messages
from moe_coder.testing import build_tiny_tokenizer

MESSAGES = [{"role": "user", "content": "Reverse a string in Python."}]


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


def test_phind_v2_layout():
    text = render_prompt("phind", MESSAGES, system_prompt="You are an expert.")
    assert text == (
        "### System Prompt\nYou are an expert.\n\n### User Message\nReverse a string in Python.\n\n### Assistant\n"
    )


def test_codellama_instruct_layout_with_system_and_history():
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Sort a list"},
    ]
    assert render_prompt("codellama_instruct", msgs) == (
        "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s>[INST] Sort a list [/INST]"
    )


def test_completion_is_the_raw_prefix():
    assert render_prompt("completion", "def add(a, b):\n") == "def add(a, b):\n"


def test_chat_template_comes_from_the_tokenizer(tokenizer):
    text = render_prompt("chat_template", MESSAGES, tokenizer, system_prompt="sys")
    assert text == "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nReverse a string in Python.<|im_end|>\n<|im_start|>assistant\n"


def test_conversation_system_message_overrides_expert_system_prompt():
    msgs = [{"role": "system", "content": "Mine."}, {"role": "user", "content": "x"}]
    assert render_prompt("phind", msgs, system_prompt="Expert's.").startswith("### System Prompt\nMine.\n")


@pytest.mark.parametrize("fmt", ["phind", "codellama_instruct", "chat_template", "completion"])
def test_training_prompt_equals_inference_prompt(fmt, tiny_llama_dir):
    """The tokens a trained expert learns to continue are, token for token, those the mixture feeds
    it: the fine-tuning data path (render, tokenize) against the expert pool's (render, encode)."""
    from moe_coder.config import ExpertSpec
    from moe_coder.experts.pool import ExpertPool
    from moe_coder.finetune.data import encode_conversations

    spec = ExpertSpec(name="e", model=str(tiny_llama_dir), prompt_format=fmt, system_prompt="sys")
    pool = ExpertPool(max_loaded=1, device="cpu")
    tokenizer = pool.tokenizer(spec)
    convo = MESSAGES + [{"role": "assistant", "content": "s[::-1]"}]
    (example,) = encode_conversations([convo], spec, tokenizer, seq_len=512)
    fed = pool._encode(pool._get(spec), spec, [pool.render(spec, MESSAGES)], max_new_tokens=8)
    # The pool pads prompts on the left to a multiple of 16 tokens; the model attends to the rest.
    attended = fed["attention_mask"][0].bool()
    assert (fed["input_ids"][0][~attended] == tokenizer.pad_token_id).all()
    assert example.ids[: example.prompt_len].tolist() == fed["input_ids"][0][attended].tolist()
    assert tokenizer.decode(example.ids[example.prompt_len :]) == "s[::-1]" + tokenizer.eos_token


def test_bad_messages_are_rejected_with_their_index():
    with pytest.raises(ValueError, match=r"messages\[1\]"):
        normalise_messages([{"role": "user", "content": "a"}, {"content": "no role"}])
    with pytest.raises(ValueError, match="unknown role"):
        normalise_messages([{"role": "robot", "content": "a"}])
    with pytest.raises(ValueError, match="user message"):
        normalise_messages([{"role": "system", "content": "a"}])
