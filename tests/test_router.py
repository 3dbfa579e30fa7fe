"""The router estimator, its data loading, the decisions it feeds the mixture, and its CLI."""
import gzip
import json

import numpy as np
import pytest

from moe_coder import MoECoder
from moe_coder.cli import main
from moe_coder.routing.dataset import load_labelled, split_by_source
from moe_coder.routing.router import PromptRouter

from conftest import ROUTER_PROMPTS

TRANSLATIONS = [
    ("Convert this Python to PHP:\n\ndef add(a, b):\n    return a + b", "php", "translate", "python"),
    ("Rewrite in bash:\n\n<?php echo 'hi'; ?>", "bash", "translate", "php"),
    ("Port this shell script to Python:\n\n#!/bin/bash\necho hi", "python", "translate", "bash"),
    ("Translate to PHP please:\n\n#!/bin/sh\nls -la", "php", "translate", "bash"),
]


def _rows():
    rows = [{"prompt": p, "language": lang, "task": task, "source": f"s{i % 4}"} for i, (p, lang, task) in enumerate(ROUTER_PROMPTS)]
    rows += [{"prompt": p, "language": lang, "task": task, "source_language": src, "source": "t"} for p, lang, task, src in TRANSLATIONS]
    return rows


@pytest.fixture(scope="module")
def small_router():
    rows = _rows()
    y = [[r["language"], r["task"], r.get("source_language")] for r in rows]
    return PromptRouter().fit([r["prompt"] for r in rows], y)


def test_estimator_surface(small_router):
    prompts = ["Write a PHP function that sums an array.", "#!/bin/bash\nwhile true; do"]
    assert [h for h in small_router.heads_] == ["language", "task", "source_language"]
    probas = small_router.predict_proba(prompts)
    assert len(probas) == 3 and all(p.shape == (2, len(c)) for p, c in zip(probas, small_router.classes_))
    assert np.allclose(probas[0].sum(axis=1), 1.0)
    assert small_router.predict(prompts).shape == (2, 2)
    assert set(small_router.classes_[2]) == {"python", "php", "bash"}
    assert 0.0 <= small_router.score([r["prompt"] for r in _rows()], [[r["language"], r["task"]] for r in _rows()]) <= 1.0


def test_fit_rejects_labels_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"y must have shape \(2, 2\)"):
        PromptRouter().fit(["a", "b"], [["python"], ["php"]])


def test_save_and_load_round_trip(small_router, tmp_path):
    small_router.save_pretrained(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    assert meta["heads"] == ["language", "task", "source_language"] and "abstain_threshold" in meta
    again = PromptRouter.from_pretrained(tmp_path / "r")
    prompts = ["Fix this bash script: unbound variable", "<?php\n$x = [];"]
    for a, b in zip(again.predict_proba(prompts), small_router.predict_proba(prompts)):
        assert np.allclose(a, b)


def test_calibrate_sets_temperatures_and_threshold(small_router):
    rows = _rows()
    router = PromptRouter().fit([r["prompt"] for r in rows], [[r["language"], r["task"], r.get("source_language")] for r in rows])
    router.calibrate([r["prompt"] for r in rows], [[r["language"], r["task"], r.get("source_language")] for r in rows])
    assert all(t > 0 for t in router.temperatures_)
    assert 0.0 <= router.abstain_threshold_ <= 1.0


def test_conversation_is_routed_on_its_last_user_turn(small_router):
    chat = [
        {"role": "user", "content": "Write a bash script that counts lines in every .txt file."},
        {"role": "assistant", "content": "for f in *.txt; do wc -l \"$f\"; done"},
        {"role": "user", "content": "Now write a PHP function that reverses a string."},
    ]
    assert small_router.predict([chat])[0, 0] == "php"


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_labelled_data_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "language": "python", "task": "generate"}\n{"prompt": \n')
    with pytest.raises(ValueError, match=rf"{bad}:2: malformed JSON"):
        load_labelled(bad)
    _write_jsonl(bad, [{"prompt": "x", "language": "cobol", "task": "generate"}])
    with pytest.raises(ValueError, match=rf"{bad}:1: unknown language 'cobol'"):
        load_labelled(bad)
    _write_jsonl(bad, [{"prompt": "x", "task": "generate"}])
    with pytest.raises(ValueError, match=r":1: missing key\(s\) \['language'\]"):
        load_labelled(bad)


def test_gzip_data_and_by_source_split(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        for i in range(200):
            fh.write(json.dumps({"prompt": f"p{i}", "language": "go", "task": "fix", "source": f"pkg{i % 20}"}) + "\n")
    data = load_labelled(path)
    train, val = split_by_source(data)
    assert len(train) + len(val) == 200 and len(val) > 0
    assert not set(train.sources) & set(val.sources), "a source is never on both sides"


def test_train_router_cli_writes_artifacts_a_mixture_loads(tmp_path, tiny_mixture_config, capsys):
    data = _write_jsonl(tmp_path / "train.jsonl", [{**r, "source": f"src{i}"} for i, r in enumerate(_rows() * 3)])
    out = tmp_path / "mix" / "router"
    assert main(["train-router", "--data", str(data), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["train"] + summary["validation"] == 3 * len(_rows())
    coder = MoECoder(tiny_mixture_config, PromptRouter.from_pretrained(out))
    coder.save_pretrained(tmp_path / "mix")
    d = MoECoder.from_pretrained(tmp_path / "mix").route("Convert this Python to PHP:\n\ndef f(x):\n    return x")
    assert d.language in {"python", "php", "bash"}


def test_train_router_cli_reports_bad_data(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "language": "python", "task": "generate"}\nnot json\n')
    assert main(["train-router", "--data", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert f"{bad}:2: malformed JSON" in capsys.readouterr().err


def test_eval_router_writes_report_and_figures(tiny_mixture, tmp_path, capsys):
    data = _write_jsonl(tmp_path / "eval.jsonl", _rows())
    report_dir = tmp_path / "report"
    assert main(["eval-router", "--data", str(data), "--mixture", str(tiny_mixture), "--report", str(report_dir), "--json"]) == 0
    headline = json.loads(capsys.readouterr().out)
    assert 0.0 <= headline["language_accuracy"] <= 1.0 and headline["single_p50_ms"] > 0
    report = json.loads((report_dir / "report.json").read_text())
    for head in ("language", "task"):
        assert {"accuracy", "macro_f1", "ece", "per_class", "confusion"} <= set(report[head])
    assert {"abstain_rate", "language_accuracy_non_abstained"} <= set(report["routing"])
    assert {"single_p50_ms", "single_p99_ms", "batched_prompts_per_s"} <= set(report["latency"])
    for png in ("confusion_language.png", "confusion_task.png", "reliability.png"):
        assert (report_dir / png).read_bytes()[:4] == b"\x89PNG"


def test_route_cli_reports_source_language_for_translations(tmp_path, capsys):
    data = _write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Convert this Python to Go:\n\ndef f(x):\n    return [i * 2 for i in x]"}])
    assert main(["route", "--input", str(data), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["language"], d["task"], d["source_language"]) == ("go", "translate", "python")
    assert {"confidence", "expert", "abstained"} <= set(d)
