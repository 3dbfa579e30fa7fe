"""Held-out-style calibration: temperatures and the abstain threshold chosen on prompt families
the heads were refitted without (``moe-coder calibrate --held-out-style``)."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest

from moe_coder.cli import main
from moe_coder.mixture import MoECoder
from moe_coder.routing.cues import extract_cues
from moe_coder.routing.dataset import load_labelled
from moe_coder.routing.held_out import held_out_style
from moe_coder.routing.constraints import (ConstraintInputs, holds_code, named_language, says_nothing,
                                           untyped_javascript)
from moe_coder.routing.labels import UNKNOWN
from moe_coder.routing.router import PromptRouter
from moe_coder.routing.text import split_conversation

DATA = Path(__file__).resolve().parents[1] / "router_training" / "data"


def _sample(split: str, n: int, out: Path) -> Path:
    """``n`` prompts of the shipped split (a fixed sample), written as ``out/split.jsonl.gz``."""
    with gzip.open(DATA / f"{split}.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    rows = random.Random(0).sample(rows, n)
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / f"{split}.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return out / f"{split}.jsonl.gz"


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("held-out-data")
    train, validation = load_labelled(_sample("train", 700, folder)), load_labelled(_sample("validation", 400, folder))
    router = PromptRouter(max_iter=300, tol=1e-3).fit(train.prompts, train.y)
    router.calibrate(validation.prompts, validation.y)
    return folder, train, validation, router


def test_refits_hold_each_family_out_and_temperatures_come_from_the_grid(splits):
    _, train, validation, router = splits
    result = held_out_style(router, train, validation, min_prompts=25)
    assert result.folds and {"template", "shape"} <= {axis for axis, _, _ in result.folds}
    assert set(result.held_out) == set(result.in_distribution) == {"full", "fast"}
    for stack in result.held_out:
        assert len(result.held_out[stack]) == 2 and all(t > 0 for t in result.held_out[stack])
    # the router's rules after its heads apply to the pooled prompts as the router applies them,
    # after the cascade: the refits' outputs stay the heads' own
    pairs = [split_conversation(p) for p in validation.prompts]
    named = [named_language(t, extract_cues(t)) or (UNKNOWN if says_nothing(t) and says_nothing(c) else None)
             for t, c in pairs]
    no_code = [not holds_code(t) and not holds_code(c) for t, c in pairs]
    open_code = [t if not c and "shape:ends_open" in extract_cues(t) else None for t, c in pairs]
    untyped_js = [t is not None and untyped_javascript(t, extract_cues(t)) for t in open_code]
    assert tuple(result.constraints) == (named, no_code, open_code, untyped_js)
    assert any(named) and any(no_code) and any(open_code)
    result.route_pooled(router.fast_threshold_, lambda lang, task: lang)
    with_rules = dict(result.pooled)
    result.constraints = None
    result.route_pooled(router.fast_threshold_, lambda lang, task: lang)
    assert with_rules != result.pooled  # the rules moved some of the pooled prompts
    result.constraints = ConstraintInputs(named, no_code, open_code, untyped_js)
    before = list(router.full_heads_.temperatures)
    m_lang, m_task = result.multipliers("full")
    result.apply(router)
    assert router.full_heads_.temperatures[:2] == pytest.approx([before[0] * m_lang, before[1] * m_task])
    # the refits fit the heads the router has, the translation-target head included
    assert router.full_heads_.target is not None and result.target_head and result.to_dict()["target_head"]
    # calibrating again divides the first multipliers out: the temperatures of calibrating once
    router.held_out_style_ = result.to_dict(families=False)
    once = (list(router.full_heads_.temperatures), router.full_heads_.target_temperature,
            list(router.fast_heads_.temperatures))
    result.apply(router)
    assert router.full_heads_.temperatures == pytest.approx(once[0])
    assert router.full_heads_.target_temperature == pytest.approx(once[1])
    assert router.fast_heads_.temperatures == pytest.approx(once[2])
    # in-distribution temperatures fitted afresh leave no held-out-style record behind
    router.calibrate(validation.prompts[:120], validation.y[:120])
    assert router.held_out_style_ is None
    refitted = PromptRouter(max_iter=50, tol=1e-2, cascade=False)
    refitted.held_out_style_ = result.to_dict(families=False)
    refitted.fit_heads(result.validation_features, np.array(validation.y, dtype=object)[:, :2])
    assert refitted.held_out_style_ is None  # new heads, new temperatures: the record went with the old ones
    threshold = result.route_pooled(router.fast_threshold_, lambda lang, task: lang)
    assert 0.0 <= threshold <= 1.0 and result.confidence_threshold == threshold
    # one expert per language: the wrong expert at expert confidence >= 0.85 is the wrong language
    # at language confidence >= 0.85
    assert result.pooled["wrong_at_0.85_expert"] == pytest.approx(result.pooled["wrong_at_0.85_language"])
    assert result.pooled["n"] == sum(len(rows) for _, _, rows in result.folds)
    result.route_pooled(router.fast_threshold_, lambda lang, task: lang, before=(router.fast_threshold_, 0.3))
    assert result.pooled["before"]["confidence_threshold"] == 0.3 and result.pooled["before"]["n"] == result.pooled["n"]
    assert len(result.families) == len(result.folds)
    # the validation rows it kept are the router's own transform: choosing the cascade threshold
    # on them needs no second encoding and chooses the same threshold
    assert (result.validation_features != router.transform(validation.prompts)).nnz == 0
    router.choose_fast_threshold(validation.prompts, validation.y)
    again = router.fast_threshold_
    router.choose_fast_threshold(validation.prompts, validation.y, result.validation_features)
    assert router.fast_threshold_ == again
    with pytest.raises(ValueError, match="features have 1 rows"):
        router.choose_fast_threshold(validation.prompts, validation.y, result.validation_features[:1])
    with pytest.raises(ValueError, match="needs training and validation prompts"):
        held_out_style(router, train.subset([]), validation)


def test_calibrate_cli_held_out_style_writes_router_and_threshold(splits, tiny_mixture_config, tmp_path, capsys):
    folder, _, validation, router = splits
    directory = tmp_path / "mixture"
    MoECoder(tiny_mixture_config, router).save_pretrained(directory)
    before = json.loads((directory / "router" / "router.json").read_text())["temperatures"]
    assert main(["calibrate", "--mixture", str(directory), "--data", str(folder), "--held-out-style",
                 "--report", str(tmp_path / "report.json"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    meta = json.loads((directory / "router" / "router.json").read_text())
    assert meta["held_out_style"]["confidence_threshold"] == summary["confidence_threshold"]
    assert meta["temperatures"][:2] == pytest.approx([t * m for t, m in zip(before[:2], summary["multipliers"]["full"])])
    config = json.loads((directory / "mixture.json").read_text())
    assert config["confidence_threshold"] == summary["confidence_threshold"]
    assert json.loads((tmp_path / "report.json").read_text())["families"] == summary["families"]
    again = MoECoder.from_pretrained(directory)
    assert again.router.held_out_style_["multipliers"] == summary["multipliers"]
    probas = again.router.predict_proba(validation.prompts[:20])
    assert np.allclose(probas[0].sum(axis=1), 1.0)


def test_calibrate_cli_held_out_style_names_what_is_missing(tiny_mixture, tmp_path, capsys):
    assert main(["calibrate", "--mixture", str(tiny_mixture), "--data", str(tmp_path), "--held-out-style"]) == 2
    assert f"no train.jsonl[.gz] or validation.jsonl[.gz] in {tmp_path}" in capsys.readouterr().err
