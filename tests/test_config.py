import json

import pytest

from moe_coder.config import ExpertSpec, MixtureConfig


def _config(**kw):
    base = dict(experts=[ExpertSpec(name="g", model="org/model")], generalist="g")
    base.update(kw)
    return MixtureConfig(**base)


def test_round_trips_through_json(tmp_path):
    cfg = _config(confidence_threshold=0.4)
    cfg.to_json_file(tmp_path / "mixture.json")
    assert MixtureConfig.from_json_file(tmp_path / "mixture.json") == cfg


def test_generalist_must_be_an_expert():
    with pytest.raises(ValueError, match="generalist 'x'"):
        _config(generalist="x")


def test_duplicate_expert_names_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        _config(experts=[ExpertSpec(name="g", model="a/b"), ExpertSpec(name="g", model="c/d")])


def test_unknown_prompt_format_names_the_expert():
    with pytest.raises(ValueError, match="expert 'e'.*prompt_format"):
        ExpertSpec(name="e", model="a/b", prompt_format="alpaca")


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "mixture.json"
    path.write_text('{\n  "experts": [\n  oops\n}')
    with pytest.raises(ValueError, match=r"mixture\.json: malformed JSON at line 3"):
        MixtureConfig.from_json_file(path)


def test_unknown_field_is_an_error_not_ignored(tmp_path):
    path = tmp_path / "mixture.json"
    data = _config().to_dict()
    data["experts"][0]["temprature"] = 0.2
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="temprature"):
        MixtureConfig.from_json_file(path)


def test_missing_config_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        MixtureConfig.from_json_file(tmp_path / "mixture.json")
