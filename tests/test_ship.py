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
