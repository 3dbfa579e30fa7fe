"""experts/smollm2/ship.py: trained adapters go into the package's mixture, or into a candidate copy of it."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ship_module():
    spec = importlib.util.spec_from_file_location("ship", ROOT / "experts" / "smollm2" / "ship.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_candidate_mixture_is_a_copy_of_the_builtin_one(tmp_path):
    ship = _ship_module()
    into = ship.candidate_mixture(tmp_path / "candidate")
    builtin = json.loads((ROOT / "moe_coder" / "builtin" / "mixture.json").read_text())
    assert json.loads((into / "mixture.json").read_text()) == builtin
    for expert in builtin["experts"]:
        if expert.get("adapter"):
            assert (into / expert["adapter"] / "adapter_model.safetensors").is_file()
    assert (into / "router" / "router.json").is_file()
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left beside it
    # a second call reuses it (the adapters shipped into it stay)
    (into / "marker").write_text("kept")
    assert ship.candidate_mixture(into) == into and (into / "marker").read_text() == "kept"


def test_a_candidate_mixture_refuses_a_folder_that_holds_something_else(tmp_path):
    ship = _ship_module()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="neither empty nor a mixture"):
        ship.candidate_mixture(tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    assert (ship.candidate_mixture(tmp_path / "empty") / "mixture.json").is_file()


def test_shipped_decontamination_reports_name_files_not_paths_and_say_which_set(tmp_path):
    ship = _ship_module()
    data = tmp_path / "expert-data"
    data.mkdir()
    report = {
        "method": "openai50", "seed": 0, "counts": {"records": 3, "kept": 2, "removed": 1},
        "output": {"path": str(data / "python.jsonl"), "sha256": "abc", "records": 2},
        "contaminated_ids_file": str(data / "python.report.contaminated.json"),
        "train_files": [{"path": str(data / "raw" / "python.jsonl"), "records": 3}],
        "contaminated": [{"benchmark": "mbpp_plus", "id": "Mbpp/6",
                          "matches": [{"file": str(data / "raw" / "python.jsonl"), "line": 2, "substrings": ["x" * 50]}]}],
        "removed": [{"file": str(data / "raw" / "python.jsonl"), "line": 2,
                     "matches": [{"benchmark": "mbpp_plus", "id": "Mbpp/6", "substrings": ["x" * 50]}]}],
        "substrings": {"mbpp_plus": {"Mbpp/6": ["x" * 50] * 3}},
    }
    ids = {"ids": ["Mbpp/6"], "benchmark_ids": {"mbpp_plus": ["Mbpp/6"]}, "method": "openai50"}
    (data / "python.report.json").write_text(json.dumps(report))
    (data / "python.report.contaminated.json").write_text(json.dumps(ids))
    target = tmp_path / "experts" / "python"
    target.mkdir(parents=True)
    (target / "training.json").write_text(json.dumps({"data": {"sha256": ["abc"]}}))

    ship.ship_reports(data, "python", target)
    shipped = json.loads((target / ship.DECONTAMINATION_REPORT).read_text())
    assert "substrings" not in shipped and str(tmp_path) not in json.dumps(shipped)
    assert shipped["output"]["path"] == "python.jsonl"
    assert shipped["contaminated"][0]["matches"][0]["file"] == "python.jsonl"
    assert shipped["removed"][0]["matches"][0] == report["removed"][0]["matches"][0]
    assert shipped["same_set_as_training"] is True and "note" not in shipped
    assert json.loads((target / ship.DECONTAMINATION_IDS).read_text()) == ids

    # the ids file is what evaluate --exclude reads
    from moe_coder.evaluation.harness import read_exclusions
    assert set(read_exclusions(target / ship.DECONTAMINATION_IDS, "mbpp_plus")) == {"Mbpp/6"}

    # a report of another build than the adapter's says so
    (target / "training.json").write_text(json.dumps({"data": {"sha256": ["other"]}}))
    ship.ship_reports(data, "python", target)
    shipped = json.loads((target / ship.DECONTAMINATION_REPORT).read_text())
    assert shipped["same_set_as_training"] is False and "differs" in shipped["note"]

    # a missing report is named, and nothing is written
    with pytest.raises(FileNotFoundError, match="'web'.*web.report.json"):
        ship.ship_reports(data, "web", tmp_path / "experts" / "web")


def test_every_shipped_expert_carries_its_decontamination_report():
    from moe_coder.evaluation.harness import read_exclusions

    mixture = json.loads((ROOT / "moe_coder" / "builtin" / "mixture.json").read_text())
    ship = _ship_module()
    for expert in mixture["experts"]:
        if not expert.get("adapter"):
            continue
        folder = ROOT / "moe_coder" / "builtin" / expert["adapter"]
        report = json.loads((folder / ship.DECONTAMINATION_REPORT).read_text())
        assert report["method"] == "openai50" and "substrings" not in report
        # the report is of the very set the adapter was trained on (the GPTeacher labels are pinned)
        assert report["same_set_as_training"] is True, expert["name"]
        matched = {b["name"]: b["contaminated"] for b in report["eval_sets"]}
        card = (folder / "README.md").read_text()
        # the card's summary and the shipped report agree on every benchmark's matched tasks
        for bench, n in matched.items():
            assert f"{bench} {n}" in card, (expert["name"], bench)
        assert len(read_exclusions(folder / ship.DECONTAMINATION_IDS, "mbpp_plus")) == matched["mbpp_plus"]


def test_a_self_trained_experts_reports_and_card_come_from_verified_answers(tmp_path):
    """verified_answers.py's folder: verified.* reports, excluded.json, and a data section that
    says what sampled the answers and how many passed."""
    ship = _ship_module()
    data = tmp_path / "data"
    data.mkdir()
    report = {"method": "openai50", "counts": {"records": 4, "kept": 3, "removed": 1},
              "output": {"path": str(data / "verified.jsonl"), "sha256": "v1", "records": 3},
              "contaminated_ids_file": str(data / "verified.report.contaminated.json"),
              "train_files": [{"path": str(data / "raw" / "verified.jsonl"), "records": 4}],
              "contaminated": [], "removed": []}
    ids = {"ids": ["Mbpp/602"], "benchmark_ids": {"mbpp_plus": ["Mbpp/602"]}}
    excluded = {"ids": ["Mbpp/2", "Mbpp/602"], "benchmark_ids": {"mbpp_plus": ["Mbpp/2", "Mbpp/602"]}}
    (data / "verified.report.json").write_text(json.dumps(report))
    (data / "verified.report.contaminated.json").write_text(json.dumps(ids))
    (data / "excluded.json").write_text(json.dumps(excluded))
    summary = {"samples": ["/x/samples.jsonl"], "per_task": 4, "completion_rows": True, "seed": 0,
               "sample_runs": [{"file": "samples-base/samples.jsonl", "answers": 8, "passing": 2,
                                "sampler": "builtin-base", "temperature": 0.8},
                               {"file": "samples-mix/samples.jsonl", "answers": 8, "passing": 3,
                                "sampler": "mix", "temperature": 0.4}],
               "tasks sampled": 2, "answers sampled": 16, "answers passing": 5, "tasks with a passing answer": 2,
               "left out: hard-codes its tests": 0, "trimmed of example usage": 1,
               "rows_before": {"task": 2, "completion": 2}, "rows_after": {"task": 1, "completion": 2},
               "removed": 1, "contaminated_tasks": {"humaneval": 0, "mbpp_plus": 1}}
    assert ship.self_trained(summary) and ship.data_stem(summary, "python") == "verified"
    target = tmp_path / "experts" / "python"
    target.mkdir(parents=True)
    (target / "training.json").write_text(json.dumps({"data": {"sha256": ["v1"]}}))
    ship.ship_reports(data, "python", target, ship.data_stem(summary, "python"))
    assert json.loads((target / ship.EXCLUDED).read_text()) == excluded
    assert json.loads((target / ship.DECONTAMINATION_REPORT).read_text())["same_set_as_training"] is True
    card = "\n".join(ship._data_section("python", summary, excluded=True))
    assert "3 rows after decontamination (1 removed of 4)" in card
    assert "16 sampled, 5 passed their tests, on 2 tasks" in card
    assert "| `samples-mix/samples.jsonl` | mix | 0.4 | 8 | 3 |" in card
    assert "humaneval 0, mbpp_plus 1" in card and "--exclude excluded.json" in card
    assert "CC-BY-4.0" in card and "never the test split" in card

    # the build that wrote no excluded.json leaves none from an earlier ship behind
    (data / "excluded.json").unlink()
    ship.ship_reports(data, "python", target, "verified")
    assert not (target / ship.EXCLUDED).exists()
    with pytest.raises(FileNotFoundError, match="verified_answers.py"):
        ship.ship_reports(tmp_path / "nowhere", "python", target, "verified")
