import json
import logging
import shutil

import pytest

from moe_coder import MoECoder
from moe_coder.config import CONFIG_NAME, ExpertSpec, MixtureConfig
from moe_coder.decisions import GenerationResult
from moe_coder.routing.router import PromptRouter

PY = "Write a Python function that reverses a list."
PHP = "Write a PHP function that reverses a string."
BASH = "Write a bash script that counts lines in every .txt file."


@pytest.fixture(scope="module")
def coder(tiny_mixture):
    return MoECoder.from_pretrained(tiny_mixture)


def test_save_pretrained_round_trips_exactly(coder, tiny_mixture, tmp_path):
    coder.save_pretrained(tmp_path / "copy")
    again = MoECoder.from_pretrained(tmp_path / "copy")
    assert again.config == coder.config
    saved = sorted(p.relative_to(tiny_mixture) for p in tiny_mixture.rglob("*") if p.is_file())
    assert sorted(p.relative_to(tmp_path / "copy") for p in (tmp_path / "copy").rglob("*") if p.is_file()) == saved
    for name in saved:
        assert (tmp_path / "copy" / name).read_bytes() == (tiny_mixture / name).read_bytes(), name
    assert [d.to_dict() for d in again.route_batch([PY, PHP])] == [d.to_dict() for d in coder.route_batch([PY, PHP])]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging folder left behind"


def test_routes_python_php_and_bash_to_different_experts(coder):
    decisions = coder.route_batch([PY, PHP, BASH])
    assert [(d.language, d.expert) for d in decisions] == [("python", "python"), ("php", "web"), ("bash", "shell")]
    for d in decisions:
        assert 0.0 < d.confidence <= 1.0
        assert set(d.scores) == {"language", "task"}
        assert abs(sum(d.scores["language"].values()) - 1.0) < 1e-3
        assert len(d.alternatives) == 3


def test_low_confidence_goes_to_the_generalist(tiny_mixture):
    strict = MoECoder.from_pretrained(tiny_mixture, confidence_threshold=1.0)
    d = strict.route(PHP)
    assert d.abstained and d.expert == "generalist" and d.language == "php"


def test_generate_single_list_and_messages(coder):
    text = coder.generate(PY, max_new_tokens=5)
    assert isinstance(text, str)
    texts = coder.generate([PY, PHP, BASH], max_new_tokens=5)
    assert isinstance(texts, list) and len(texts) == 3
    chat = coder.generate(messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": PY}], max_new_tokens=5)
    assert isinstance(chat, str)


def test_batched_generation_matches_one_by_one(coder):
    prompts = [PY, PHP, BASH, "Implement a Python class for a queue.", "Create a PHP script that prints a table."]
    batched = coder.generate(prompts, max_new_tokens=6, batch_size=4)
    single = [coder.generate(p, max_new_tokens=6) for p in prompts]
    assert batched == single


def test_return_details_carries_the_decision(coder):
    result = coder.generate(PHP, return_details=True, max_new_tokens=4)
    assert isinstance(result, GenerationResult)
    assert result.decision.expert == "web" and result.decision.language == "php"
    assert json.loads(json.dumps(result.to_dict()))["decision"]["expert"] == "web"


def test_forced_expert_and_unknown_expert(coder):
    result = coder.generate(PHP, expert="python", return_details=True, max_new_tokens=3)
    assert result.decision.expert == "python"
    with pytest.raises(KeyError, match="no expert named 'nope'"):
        coder.generate(PHP, expert="nope")


def test_stream_yields_the_same_text_as_generate(coder):
    pieces = list(coder.stream(PHP, max_new_tokens=12))
    assert "".join(pieces) == coder.generate(PHP, max_new_tokens=12)


def test_stop_strings_cut_the_answer(coder):
    full = coder.generate(PY, max_new_tokens=24)
    assert len(full) > 4
    stop = full[2:4]
    cut = coder.generate(PY, max_new_tokens=24, stop=[stop])
    assert cut == full[: full.find(stop)]
    assert "".join(coder.stream(PY, max_new_tokens=24, stop=[stop])) == cut


def test_sampling_is_reproducible_with_a_seed(coder):
    a = coder.generate(PY, max_new_tokens=10, temperature=1.0, seed=7)
    b = coder.generate(PY, max_new_tokens=10, temperature=1.0, seed=7)
    c = [coder.generate(PY, max_new_tokens=10, temperature=1.0, seed=s) for s in range(4)]
    assert a == b
    assert len(set(c)) > 1


def test_unknown_generation_argument_is_an_error(coder):
    with pytest.raises(ValueError, match="max_tokens"):
        coder.generate(PY, max_tokens=5)


def test_empty_prompt_is_a_clear_error(coder):
    with pytest.raises(ValueError, match="prompt is empty"):
        coder.generate("   ")


def test_lora_experts_share_one_base_and_the_adapter_changes_output(tiny_mixture):
    coder = MoECoder.from_pretrained(tiny_mixture)
    with_adapter = coder.generate(PY, expert="python", max_new_tokens=8)
    base_only = coder.generate(PY, expert="generalist", max_new_tokens=8)
    assert len(coder.pool.loaded_bases) == 1, "generalist and python share base weights"
    python_spec = coder.config.expert("python")
    plain_phind = ExpertSpec(name="plain", model=python_spec.model, prompt_format="phind", system_prompt=python_spec.system_prompt)
    assert coder.pool.generate(plain_phind, [PY], max_new_tokens=8) != [with_adapter]
    assert coder.generate(PY, expert="python", max_new_tokens=8) == with_adapter
    assert coder.generate(PY, expert="generalist", max_new_tokens=8) == base_only


def test_least_recently_used_base_is_evicted(tiny_mixture):
    coder = MoECoder.from_pretrained(tiny_mixture, max_loaded_experts=1)
    coder.generate(PY, expert="generalist", max_new_tokens=2)
    first = coder.pool.loaded_bases
    coder.generate(PHP, expert="web", max_new_tokens=2)
    assert len(coder.pool.loaded_bases) == 1 and coder.pool.loaded_bases != first


def test_overlong_prompt_is_truncated_from_the_left_with_a_warning(coder, caplog):
    long_prompt = "def f():\n    return 1\n" * 400
    with caplog.at_level(logging.WARNING, logger="moe_coder"):
        out = coder.generate(long_prompt, expert="shell", max_new_tokens=4)
    assert isinstance(out, str)
    assert any("keeping the last" in r.message for r in caplog.records)


def test_missing_expert_weights_name_the_expert_and_path(tiny_mixture, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_mixture, broken)
    cfg = MixtureConfig.from_json_file(broken / CONFIG_NAME)
    cfg.experts[0].model = str(tmp_path / "no-such-weights")
    cfg.to_json_file(broken / CONFIG_NAME)
    coder = MoECoder.from_pretrained(broken)
    with pytest.raises(FileNotFoundError, match=r"expert 'generalist'.*no-such-weights"):
        coder.generate(PY, expert="generalist")


def test_missing_or_malformed_mixture_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="mixture directory not found"):
        MoECoder.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="mixture config not found"):
        MoECoder.from_pretrained(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="malformed JSON"):
        MoECoder.from_pretrained(tmp_path / "bad")


def test_missing_router_artifacts_are_named(tiny_mixture, tmp_path):
    broken = tmp_path / "norouter"
    shutil.copytree(tiny_mixture, broken)
    shutil.rmtree(broken / "router")
    with pytest.raises(FileNotFoundError, match="router artifacts not found"):
        MoECoder.from_pretrained(broken)


# Held-out prompts the tiny router has not seen: some it routes to the wrong expert, unsure.
HELD_OUT = [
    ("Sort a list of dicts by a key", "python", "generate"), ("echo the date every minute", "bash", "generate"),
    ("Render an HTML table from an array", "php", "generate"), ("Reverse the words of a sentence", "python", "generate"),
    ("List files older than a week", "bash", "generate"), ("Connect to MySQL and print rows", "php", "generate"),
    ("Write a function that adds two numbers", "python", "generate"), ("Count the vowels in a string", "bash", "generate"),
]


def test_calibrate_chooses_the_threshold_route_applies_and_save_keeps_it(tiny_mixture, tmp_path):
    from moe_coder.decisions import score_experts
    from moe_coder.routing.calibration import choose_threshold

    coder = MoECoder.from_pretrained(tiny_mixture)
    prompts, labels = [p for p, _, _ in HELD_OUT], [[lang, task] for _, lang, task in HELD_OUT]
    threshold = coder.calibrate(prompts, labels).config.confidence_threshold
    scores = score_experts(coder.router, prompts, coder.select_expert)
    right = [e == coder.select_expert(lang, task) for e, (lang, task) in zip(scores.experts, labels)]
    # chosen on the chosen expert's confidence, judged against the expert each prompt should reach
    assert threshold == choose_threshold(scores.confidence, right)
    decisions = coder.route_batch(prompts)
    assert [d.confidence for d in decisions] == [round(float(c), 6) for c in scores.confidence]
    assert [d.abstained for d in decisions] == [bool(c < threshold) for c in scores.confidence]
    assert any(d.abstained for d in decisions) and not all(d.abstained for d in decisions)
    coder.save_pretrained(tmp_path / "calibrated")
    assert json.loads((tmp_path / "calibrated" / CONFIG_NAME).read_text())["confidence_threshold"] == threshold
    again = MoECoder.from_pretrained(tmp_path / "calibrated")
    assert [d.to_dict() for d in again.route_batch(prompts)] == [d.to_dict() for d in decisions]


class CountingRouter(PromptRouter):
    """The fitted tiny router, counting how often it scores prompts."""

    calls = 0

    def predict_proba_with_cues(self, prompts):
        CountingRouter.calls += 1
        return super().predict_proba_with_cues(prompts)


def test_a_named_expert_is_not_routed(tiny_mixture_config, tiny_router):
    router = CountingRouter()
    router.__dict__.update(tiny_router.__dict__)
    coder = MoECoder(tiny_mixture_config, router)
    coder.route(PHP)
    assert CountingRouter.calls == 1, "the counter counts routing"
    result = coder.generate([PHP, PY], expert="python", return_details=True, max_new_tokens=2)
    assert "".join(coder.stream(PHP, expert="web", max_new_tokens=2))
    assert CountingRouter.calls == 1, "expert= must skip routing"
    assert [r.decision.expert for r in result] == ["python", "python"]
    assert {r.decision.stage for r in result} == {"forced"}
