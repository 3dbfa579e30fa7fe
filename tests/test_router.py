"""The router estimator, its data loading, the decisions it feeds the mixture, and its CLI."""
import gzip
import json

import numpy as np
import pytest

from moe_coder import MoECoder
from moe_coder.routing.calibration import scaled_proba
from moe_coder.cli import main
from moe_coder.routing.dataset import load_labelled, split_by_source
from moe_coder.routing.heads import logits, spread
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


def test_every_head_is_fitted_to_convergence(small_router):
    # stopping early (the old tol=1e-3) cost about a point of accuracy on both heads
    heads = small_router._fitted_estimators()
    assert {"head0", "head1", "target", "fast_head0", "fast_head1", "fast_target"} <= set(heads)
    for name, head in heads.items():
        assert head.n_iter_.max() < small_router.max_iter, name


def test_fit_rejects_labels_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"y must have shape \(2, 2\)"):
        PromptRouter().fit(["a", "b"], [["python"], ["php"]])


def test_save_and_load_round_trip(small_router, tmp_path):
    small_router.save_pretrained(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    assert meta["heads"] == ["language", "task", "source_language"]
    assert "abstain_threshold" not in meta, "abstaining is the mixture's decision (mixture.json)"
    again = PromptRouter.from_pretrained(tmp_path / "r")
    prompts = ["Fix this bash script: unbound variable", "<?php\n$x = [];"]
    for a, b in zip(again.predict_proba(prompts), small_router.predict_proba(prompts)):
        assert np.allclose(a, b)


def test_calibrate_sets_temperatures(small_router):
    rows = _rows()
    router = PromptRouter().fit([r["prompt"] for r in rows], [[r["language"], r["task"], r.get("source_language")] for r in rows])
    router.calibrate([r["prompt"] for r in rows], [[r["language"], r["task"], r.get("source_language")] for r in rows])
    assert all(t > 0 for t in router.full_heads_.temperatures)
    assert not hasattr(router, "abstain_threshold_"), "abstaining is the mixture's decision"


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


def _labels(rows):
    return [[r["language"], r["task"], r.get("source_language")] for r in rows]


def test_fast_threshold_is_the_lowest_that_loses_no_held_out_accuracy():
    router = PromptRouter(cascade_tolerance=0.0)
    router.classes_ = [np.array(["go", "rust"]), np.array(["fix", "generate"])]
    # fast heads: confident and right on rows 0-2, confident and wrong on row 3 (language), unsure on row 4
    fast_lang = np.array([[0.99, 0.01], [0.97, 0.03], [0.02, 0.98], [0.95, 0.05], [0.55, 0.45]])
    fast_task = np.array([[0.9, 0.1], [0.99, 0.01], [0.1, 0.9], [0.99, 0.01], [0.5, 0.5]])
    full_lang = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.1, 0.9]])
    full_task = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.9, 0.1]])
    y = np.array([["go", "fix"], ["go", "fix"], ["rust", "generate"], ["rust", "fix"], ["rust", "fix"]], dtype=object)
    # fast confidences (min of the two heads): 0.9, 0.97, 0.9, 0.95, 0.5. Row 1 alone costs nothing;
    # any lower threshold also accepts row 3, which the fast heads get wrong and the full heads right
    threshold = router._choose_fast_threshold([fast_lang, fast_task], [full_lang, full_task], y)
    assert threshold == pytest.approx(0.97)
    # once row 3 is cheap to accept (fast and full both wrong there), rows 0 and 2 come along, not row 4
    full_lang_3_wrong = full_lang.copy()
    full_lang_3_wrong[3] = [0.9, 0.1]
    threshold = router._choose_fast_threshold([fast_lang, fast_task], [full_lang_3_wrong, full_task], y)
    assert threshold == pytest.approx(0.9)
    # full heads always better: the cascade is switched off
    assert router._choose_fast_threshold([full_lang[:, ::-1], full_task[:, ::-1]], [full_lang, full_task], y) == float("inf")
    # a tolerance of one prompt in five lets row 3's error through
    router.cascade_tolerance = 0.2
    threshold = router._choose_fast_threshold([fast_lang, fast_task], [full_lang, full_task], y)
    assert threshold == pytest.approx(0.9)


def test_cascade_routes_a_prompt_the_same_alone_and_in_any_batch():
    rows = _rows()
    router = PromptRouter().fit([r["prompt"] for r in rows], _labels(rows))
    router.calibrate([r["prompt"] for r in rows], _labels(rows))
    prompts = [r["prompt"] for r in rows] + ["Write a bash one-liner that lists big files.", "<?php\nclass A {}", ""]
    probas, cues, used_full = router.predict_proba_with_cues(prompts)
    fast_conf = router._fast_confidence(router.fast_heads_.proba(router._fast_transform(prompts)[0], router.classes_))
    router.fast_threshold_ = float(np.median(fast_conf))  # force both stages in one batch
    probas, cues, used_full = router.predict_proba_with_cues(prompts)
    assert used_full.any() and (~used_full).any()
    assert used_full.tolist() == (fast_conf < router.fast_threshold_).tolist()
    for i, prompt in enumerate(prompts):
        alone, alone_cues, alone_full = router.predict_proba_with_cues([prompt])
        assert alone_full[0] == used_full[i] and alone_cues[0] == cues[i]
        for head, p in zip(alone, probas):
            # the fast heads are exact; the float32 encoder differs by rounding only (about 1e-7)
            assert np.allclose(head[0], p[i], rtol=0, atol=0 if not used_full[i] else 1e-5)
            assert head[0].argmax() == p[i].argmax()


def test_cascade_off_answers_everything_with_the_full_heads():
    rows = _rows()
    router = PromptRouter(cascade=False).fit([r["prompt"] for r in rows], _labels(rows))
    router.calibrate([r["prompt"] for r in rows], _labels(rows))
    assert router.fast_heads_ is None and not router.uses_cascade
    _, _, used_full = router.predict_proba_with_cues(["Write a PHP function.", "#!/bin/bash\necho"])
    assert used_full.all()


def test_translation_language_mixes_target_and_code_heads(small_router):
    heads, languages = small_router.full_heads_, small_router.classes_[0]
    assert heads.target is not None
    prompts = ["Rewrite in bash:\n\n<?php echo 'hi'; ?>", "Write a PHP function that sums an array."]
    X = small_router.transform(prompts)

    p_code = spread(
        scaled_proba(logits(heads.estimators[0], X), heads.temperatures[0]),
        heads.estimators[0].classes_, languages,
    )
    p_target = spread(
        scaled_proba(logits(heads.target, X), heads.target_temperature),
        heads.target.classes_, languages,
    )
    probas = small_router.predict_proba_features(X)
    p_tr = probas[1][:, list(small_router.classes_[1]).index("translate")][:, None]
    assert np.allclose(probas[0], (1 - p_tr) * p_code + p_tr * p_target)
    assert np.allclose(probas[0].sum(axis=1), 1.0)


@pytest.mark.parametrize("native_bf16", ["0", "1"])
def test_routing_does_not_depend_on_the_batch(native_bf16, monkeypatch):
    """A prompt's probabilities are the same alone and in any batch (1e-5), on CPUs with and without
    native bfloat16: the environment variable forces the path a native-bf16 CPU takes on any machine."""
    from moe_coder import hardware
    from moe_coder.routing.encoder import load_encoder

    monkeypatch.setenv(hardware.ENV_OVERRIDE, native_bf16)
    load_encoder.cache_clear()
    assert hardware.native_bf16() is (native_bf16 == "1")
    rows = _rows()
    router = PromptRouter(cascade=False).fit([r["prompt"] for r in rows], _labels(rows))
    router.calibrate([r["prompt"] for r in rows], _labels(rows))
    prompts = [r["prompt"] for r in rows] + ["x = 1\n" * 200, "Explain this: SELECT 1;"]
    batched, _, used_full = router.predict_proba_with_cues(prompts)
    assert used_full.all()  # every prompt went through the encoder
    for size in (1, 3, 16):
        for start in range(0, len(prompts), size):
            part, _, _ = router.predict_proba_with_cues(prompts[start : start + size])
            for head, whole in zip(part, batched):
                assert np.array_equal(head, whole[start : start + size])  # bit for bit


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_an_embedding_is_the_same_bits_alone_and_in_any_batch(precision):
    """Each prompt runs at a shape of its own (batch of one, length bucket), so its embedding
    cannot depend on its neighbours, in either precision (forced here, whatever this CPU has)."""
    from moe_coder.routing.encoder import LENGTH_BUCKET, bucket_length, encode

    texts = ["Write a Go HTTP server.", "def f(x):\n    return x * 2", "x", "SELECT name FROM users;" * 30,
             "Explique ce code Rust : fn main() { println!(\"hi\"); }"]
    together = encode(texts, precision=precision, max_tokens=64)
    for i, text in enumerate(texts):
        assert np.array_equal(encode([text], precision=precision, max_tokens=64)[0], together[i])
    assert np.array_equal(encode(texts[::-1], precision=precision, max_tokens=64), together[::-1])
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=5e-3)  # unit norm, to bfloat16 rounding
    assert [bucket_length(n, 64) for n in (1, 8, 9, 63, 64)] == [8, 8, 16, 64, 64]
    assert LENGTH_BUCKET == 8


def test_route_batch_in_chunks_matches_one_by_one(monkeypatch):
    """A batch larger than a chunk is routed chunk by chunk, encoding in a second thread: the
    probabilities are those of each prompt routed alone, bit for bit."""
    from moe_coder.routing import router as router_module

    rows = _rows()
    router = PromptRouter().fit([r["prompt"] for r in rows], _labels(rows))
    router.calibrate([r["prompt"] for r in rows], _labels(rows))
    router.fast_threshold_ = 0.9  # some prompts take each path
    prompts = [r["prompt"] for r in rows][:40]
    monkeypatch.setattr(router_module, "ROUTE_CHUNK", 7)
    monkeypatch.setattr(router_module, "_usable_cores", lambda: 2)
    batched, _, used_full = router.predict_proba_with_cues(prompts)
    assert 0 < used_full.sum() < len(prompts)
    for i, prompt in enumerate(prompts):
        alone, _, full_alone = router.predict_proba_with_cues([prompt])
        assert full_alone[0] == used_full[i]
        for head, whole in zip(alone, batched):
            assert np.array_equal(head[0], whole[i])


def test_encoder_precision_choices(monkeypatch):
    from moe_coder import hardware
    from moe_coder.routing.encoder import encode, resolve_precision

    for native, expected in (("1", "bfloat16"), ("0", "float32")):
        monkeypatch.setenv(hardware.ENV_OVERRIDE, native)
        assert resolve_precision("auto") == expected
    assert resolve_precision("float32") == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int4")
    texts = ["Write a Go HTTP server.", "def f(x):\n    return x * 2"]
    a, b = encode(texts, precision="float32"), encode(texts, precision="bfloat16")
    assert a.shape == b.shape == (2, 384)
    assert (np.sum(a * b, axis=1) > 0.98).all()  # unit vectors: the cosine


def test_token_rows_keep_head_and_tail_within_the_budget_padded_to_a_bucket():
    """What the encoder (and benchmarks/encoder_backends.py) reads: special tokens around the head
    and tail of a long text, each row padded to its own length rounded up to LENGTH_BUCKET."""
    from moe_coder.routing.encoder import BUILTIN_ENCODER, LENGTH_BUCKET, load_encoder, token_rows

    tokenizer = load_encoder(BUILTIN_ENCODER, "float32").tokenizer
    long_text = "first " + "middle " * 500 + "last"
    (short_ids, short_mask), (long_ids, long_mask) = token_rows(["hello world", long_text], tokenizer, max_tokens=64)
    assert short_ids.shape == short_mask.shape == (1, LENGTH_BUCKET) and int(short_mask.sum()) == 4
    assert long_ids.shape == (1, 64) and int(long_mask.sum()) == 64
    words = tokenizer.convert_ids_to_tokens(long_ids[0].tolist())
    assert words[0] == tokenizer.cls_token and words[-1] == tokenizer.sep_token
    assert words[1] == "first" and words[-2] == "last"


def test_encoder_threads_are_scoped_to_the_encoding_thread(monkeypatch):
    """The encoder runs on its own thread count, restores the caller's, leaves other threads alone,
    and gives the same embeddings on one thread as on two (float32: 1e-5)."""
    import threading

    import torch

    from moe_coder.routing import encoder

    texts = ["Write a Go HTTP server.", "def f(x):\n    return x * 2", "SELECT name FROM users;"]
    before = torch.get_num_threads()
    seen: list[int] = []
    traced = encoder.traced_encoder(encoder.BUILTIN_ENCODER, "float32")  # the forward pass encode() runs

    def forward(input_ids, masks):  # records the thread count the forward pass runs with
        seen.append(torch.get_num_threads())
        return traced(input_ids, masks)

    monkeypatch.setattr(encoder, "traced_encoder", lambda name, precision: forward)
    other: list[int] = []
    stop = threading.Event()

    def watch() -> None:  # another thread's setting, sampled while encoding runs
        while not stop.is_set():
            other.append(torch.get_num_threads())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        one = encoder.encode(texts, precision="float32")
        monkeypatch.setenv(encoder.THREADS_ENV, "2")
        two = encoder.encode(texts, precision="float32")
    finally:
        stop.set()
        watcher.join()
    assert seen == [1, 2] and torch.get_num_threads() == before
    assert set(other) == {torch.get_num_threads()}
    assert np.allclose(one, two, rtol=0, atol=1e-5)
    monkeypatch.setenv(encoder.THREADS_ENV, "0")
    with pytest.raises(ValueError, match="MOE_CODER_ENCODER_THREADS must be a whole number"):
        encoder.encode(texts)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        encoder.encode(texts, threads=0)


def test_artifacts_are_json_and_plain_arrays(small_router, tmp_path):
    small_router.save_pretrained(tmp_path / "r")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["router.json", "router.npz"]
    with np.load(tmp_path / "r" / "router.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    assert meta["format"] == 2 and "head0" in meta["estimator_classes"] and meta["cue_names"]


def test_bad_artifacts_are_refused_with_the_file_named(small_router, tmp_path):
    small_router.save_pretrained(tmp_path / "r")
    (tmp_path / "r" / "router.npz").unlink()
    with pytest.raises(FileNotFoundError, match="router.npz"):
        PromptRouter.from_pretrained(tmp_path / "r")
    small_router.save_pretrained(tmp_path / "r")
    # an object array would need pickle to load: refused, not executed
    np.savez(tmp_path / "r" / "router.npz", **{"head0.coef": np.array([object()], dtype=object)})
    with pytest.raises(ValueError, match="router.npz"):
        PromptRouter.from_pretrained(tmp_path / "r")
    (tmp_path / "r" / "router.json").write_text("{not json")
    with pytest.raises(ValueError, match="router.json"):
        PromptRouter.from_pretrained(tmp_path / "r")


def test_encoding_from_many_threads_at_once_gives_the_same_bits():
    """Routing overlaps encoding with a worker thread, and a server routes from many threads: the
    shared tokenizer and traced forward pass must take concurrent callers."""
    from concurrent.futures import ThreadPoolExecutor

    from moe_coder.routing.encoder import encode

    texts = [f"Write a function number {i} in Go that sums {i} integers." + " x" * (i % 40) for i in range(48)]
    alone = encode(texts, precision="float32")
    chunks = [texts[i : i + 3] for i in range(0, len(texts), 3)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        parts = list(pool.map(lambda chunk: encode(chunk, precision="float32"), chunks * 3))
    together = np.concatenate(parts[: len(chunks)])
    assert np.array_equal(together, alone)
    assert all(np.array_equal(a, b) for a, b in zip(parts, parts[len(chunks):]))
