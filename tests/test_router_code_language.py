"""The code-language identifier: learned from a code corpus, reads a prompt's code only, saved with the router."""
import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfTransformer

from moe_coder.cli import main
from moe_coder.routing.grammar import GRAMMAR_LANGUAGES, feature_names
from moe_coder.routing.code_language import CodeCorpus, CodeLanguageIdentifier, _fold, out_of_fold_proba
from moe_coder.routing.cues import code_outside_prose
from moe_coder.routing.router import PromptRouter

from conftest import ROUTER_PROMPTS

TEMPLATES = {
    "go": ["func {n}(x int) error {{\n\tif x > {k} {{\n\t\treturn nil\n\t}}\n\t{n}Count := x\n}}",
           "for _, v := range {n}s {{\n\tfmt.Println(v, {k})\n}}"],
    "php": ["function {n}($x) {{\n    $this->{n} = $x + {k};\n    return $this;\n}}",
            "foreach (${n}s as $v) {{\n    echo $v . {k};\n}}"],
    "python": ["def {n}(x):\n    if x > {k}:\n        return None\n    return [v for v in x]",
               "for v in {n}s:\n    print(v, {k})"],
    "rust": ["fn {n}(x: i32) -> Result<(), Error> {{\n    let {n} = x + {k};\n    Ok(())\n}}",
             "for v in {n}s.iter() {{\n    println!(\"{{}}\", v + {k});\n}}"],
}
NAMES = ["count", "total", "items", "users", "rows", "nodes", "files", "keys"]


def _corpus() -> CodeCorpus:
    codes, languages, sources = [], [], []
    for language, templates in TEMPLATES.items():
        for i, name in enumerate(NAMES):
            for k, template in enumerate(templates):
                codes.append(template.format(n=name, k=i * 3 + k))
                languages.append(language)
                sources.append(f"{language}-pkg{i % 4}")
    return CodeCorpus(codes, languages, sources)


@pytest.fixture(scope="module")
def identifier():
    corpus = _corpus()
    return CodeLanguageIdentifier(char_features=2**12, word_features=2**10).fit(corpus.codes, corpus.languages)


def test_code_outside_prose_keeps_code_and_drops_sentences():
    text = "Why does this fail?\n```go\nx := f()\n```\nand this one:\n    return $x;\n}\nThanks a lot for any help"
    code = code_outside_prose(text)
    assert "x := f()" in code and "return $x;" in code and "}" in code
    assert "Why does" not in code and "Thanks a lot" not in code
    assert code_outside_prose("How do I bind params with PDO in a Laravel app?") == ""


def test_identifier_reads_the_code_of_a_prompt(identifier):
    P = identifier.predict_proba([
        "Please fix this:\n```\nfor _, u := range users {\n\tfmt.Println(u)\n}\n```",
        "what is wrong here\n    $this->total = $x + 1;\n    return $this;",
        "Write me a function that sorts a list of users by age, thanks a lot",  # no code at all
    ])
    classes = list(identifier.classes_)
    assert classes == sorted(TEMPLATES)
    assert classes[P[0].argmax()] == "go" and classes[P[1].argmax()] == "php"
    assert np.allclose(P[:2].sum(axis=1), 1.0, atol=1e-5) and not P[2].any()


def test_probabilities_are_sgd_one_vs_rest_on_tfidf(identifier):
    # the stored weights give what the fitted model gives: OvR logistic outputs, normalised
    from sklearn.linear_model import SGDClassifier

    corpus = _corpus()
    counts = identifier._counts(corpus.codes)
    tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
    model = SGDClassifier(loss="log_loss", alpha=identifier.alpha, max_iter=identifier.max_iter, tol=1e-4,
                          class_weight="balanced", random_state=0).fit(tfidf.transform(counts), corpus.languages)
    probe = ["let total = x + 1;\n    Ok(())", "print(v, 3)"]
    expected = model.predict_proba(tfidf.transform(identifier._counts(probe)))
    assert np.allclose(identifier.predict_code_proba(probe), expected, atol=2e-3)


def test_round_trip_through_arrays(identifier):
    again = CodeLanguageIdentifier.from_arrays(identifier.classes_, identifier.to_arrays(), 2**12, 2**10)
    probe = ["for v in rows:\n    print(v, 1)", "nothing to see"]
    assert np.allclose(again.predict_proba(probe), identifier.predict_proba(probe), atol=1e-3)
    with pytest.raises(ValueError, match="expected"):
        CodeLanguageIdentifier.from_arrays(identifier.classes_, identifier.to_arrays(), 2**11, 2**10)


def test_out_of_fold_outputs_come_from_an_identifier_without_the_prompts_source():
    corpus = _corpus()
    # rust comes from one source only: a prompt cut from that source gets its output from an
    # identifier that never saw rust, the others from identifiers that did
    rust = [i for i, lang in enumerate(corpus.languages) if lang == "rust"]
    for i in rust:
        corpus.sources[i] = "rust-only"
    texts = ["fn nodes(x: i32) -> Result<(), Error> {\n    let nodes = x + 2;\n    Ok(())\n}"] * 2
    other = next(g for g in (f"prose-{i}" for i in range(100)) if _fold(g, 4) != _fold("rust-only", 4))
    full, oof = out_of_fold_proba(CodeLanguageIdentifier(char_features=2**12, word_features=2**10), corpus, texts,
                                  groups=["rust-only", other])
    r = list(full.classes_).index("rust")
    assert full.predict_proba(texts)[0].argmax() == r
    assert oof[0, r] == 0.0 and oof[0].sum() == pytest.approx(1.0, abs=1e-5)
    assert oof[1].argmax() == r  # a prompt of another fold is read by an identifier that knows rust
    with pytest.raises(ValueError, match="groups must name the source"):
        PromptRouter(cascade=False).fit([p for p, _, _ in ROUTER_PROMPTS], [[lang, task] for _, lang, task in ROUTER_PROMPTS],
                                        code_corpus=corpus, groups=["one"])


def test_router_learns_the_identifier_and_saves_it(tmp_path):
    prompts = [p for p, _, _ in ROUTER_PROMPTS]
    y = [[lang, task] for _, lang, task in ROUTER_PROMPTS]
    corpus = _corpus()
    router = PromptRouter(cascade=False, char_features=2**12, word_features=2**10, grammar_weight=1.0).fit(
        prompts, y, code_corpus=corpus, groups=[f"s{i}" for i in range(len(prompts))])
    plain = PromptRouter(cascade=False, char_features=2**12, word_features=2**10).fit(prompts, y)
    assert plain.code_model_ is None and list(router.code_model_.classes_) == sorted(TEMPLATES)
    # the identifier's columns, then the grammar evidence of its languages that have a grammar
    grammar = [lang for lang in GRAMMAR_LANGUAGES if lang in TEMPLATES]
    assert router.grammar_.languages == grammar
    assert router.transform(prompts[:2]).shape[1] == (plain.transform(prompts[:2]).shape[1] + len(TEMPLATES)
                                                       + len(feature_names(grammar)))
    router.save_pretrained(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    assert meta["code_languages"] == sorted(TEMPLATES) and meta["grammar_languages"] == grammar
    again = PromptRouter.from_pretrained(tmp_path / "r")
    assert again.grammar_.languages == grammar
    probe = ["fix: for _, v := range keys {\n\tfmt.Println(v)\n}", *prompts[:3]]
    for a, b in zip(again.predict_proba(probe), router.predict_proba(probe)):
        assert np.allclose(a, b, atol=1e-3)


def test_malformed_corpus_names_file_and_line(tmp_path):
    path = tmp_path / "code.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"code": "x := 1", "language": "go", "source": "a"}) + "\n{oops\n")
    with pytest.raises(ValueError, match=rf"{path}:2: malformed JSON"):
        CodeCorpus.load(path)
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"code": "x := 1", "language": "golang"}) + "\n")
    with pytest.raises(ValueError, match=rf"{path}:1: unknown language 'golang'"):
        CodeCorpus.load(path)
    with pytest.raises(FileNotFoundError, match="code corpus not found"):
        CodeCorpus.load(tmp_path / "missing.jsonl.gz")


def test_train_router_cli_reads_the_corpus_beside_the_data(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "train.jsonl", "w") as fh:
        for i, (p, lang, task) in enumerate(ROUTER_PROMPTS * 3):
            fh.write(json.dumps({"prompt": p, "language": lang, "task": task, "source": f"s{i}"}) + "\n")
    corpus = _corpus()
    with gzip.open(data / "code.jsonl.gz", "wt") as fh:
        for c, lang, s in zip(corpus.codes, corpus.languages, corpus.sources):
            fh.write(json.dumps({"code": c, "language": lang, "source": s}) + "\n")
    assert main(["train-router", "--data", str(data), "--out", str(tmp_path / "r"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["code_corpus"] == str(data / "code.jsonl.gz")
    assert list(PromptRouter.from_pretrained(tmp_path / "r").code_model_.classes_) == sorted(TEMPLATES)
    assert main(["train-router", "--data", str(data), "--out", str(tmp_path / "r2"), "--no-code-corpus", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["code_corpus"] is None
    assert PromptRouter.from_pretrained(tmp_path / "r2").code_model_ is None
    missing = tmp_path / "nope.jsonl.gz"
    assert main(["train-router", "--data", str(data), "--out", str(tmp_path / "r3"), "--code-corpus", str(missing)]) == 2
    assert f"code corpus not found: {missing}" in capsys.readouterr().err
    assert not (tmp_path / "r3").exists()


def test_build_script_cuts_the_corpus_from_training_split_sources_only(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "router_training"))
    import build_data

    names = [f"pkg{i}" for i in range(200)]
    train = next(n for n in names if build_data.split_of(n) == "train")
    test = next(n for n in names if build_data.split_of(n) == "test")
    body = "\n".join(f"func f{i}(x int) int {{\n\treturn x + {i}\n}}\n" for i in range(30))
    files = {}
    for source in (train, test):
        path = tmp_path / f"{source}.go"
        path.write_text(body.replace("func", "func" if source == train else "func /*heldout*/"))
        files[("go", source)] = [path]
    monkeypatch.setattr(build_data, "source_files", lambda cache: files)
    rows = build_data.code_corpus(tmp_path, per_language=5, seed=0)
    assert 0 < len(rows) <= 5
    assert all(r["source"] == train and r["language"] == "go" and "heldout" not in r["code"] for r in rows)
    build_data.write_code_corpus(tmp_path, tmp_path / "out", per_language=5, seed=0)
    assert CodeCorpus.load(tmp_path / "out" / "code.jsonl.gz").codes == [r["code"] for r in rows]


def test_build_script_adds_the_shared_answers_windows_to_the_corpus(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "router_training"))
    import build_data

    monkeypatch.setattr(build_data, "source_files", lambda cache: {})
    folder = tmp_path / "shared" / "code" / "algos"
    folder.mkdir(parents=True)
    long = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(20))
    rows = [{"language": "python", "response": "def add(a, b):\n    return a + b\n", "source": "org/algos", "path": "maths/add.py"},
            {"language": "python", "response": long, "source": "org/algos", "path": "maths/many.py"},
            {"language": "sql", "response": "SELECT name FROM users WHERE id = 1;", "source": "org/sql", "path": "q.json#1"}]
    (folder / "mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    windows = build_data.shared_code_windows(tmp_path / "shared", per_language=10, seed=0)
    assert {w["language"] for w in windows} == {"python", "sql"}
    assert {"code": "def add(a, b):\n    return a + b", "language": "python", "source": "org/algos/maths"} in windows
    assert sum(w["language"] == "python" for w in windows) == 3  # the long answer gives two windows
    assert all(len(w["code"]) >= 25 for w in windows)
    assert len(build_data.shared_code_windows(tmp_path / "shared", per_language=1, seed=0)) == 2
    only_sql = build_data.shared_code_windows(tmp_path / "shared", per_language=10, seed=0, languages=["sql"])
    assert [w["language"] for w in only_sql] == ["sql"]
    build_data.write_code_corpus(tmp_path, tmp_path / "out", per_language=5, seed=0, shared=tmp_path / "shared",
                                shared_per_language=10)
    assert sorted(CodeCorpus.load(tmp_path / "out" / "code.jsonl.gz").codes) == sorted(w["code"] for w in windows)
    # off unless asked for: the packages' windows only, and there are none here
    build_data.write_code_corpus(tmp_path, tmp_path / "off", per_language=5, seed=0, shared=tmp_path / "shared")
    with pytest.raises(ValueError, match="no code in the corpus"):
        CodeCorpus.load(tmp_path / "off" / "code.jsonl.gz")

    (folder / "bad.jsonl").write_text('{"language": "python", "response": "x"}\n{"language": "cobol", "response": "y"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: unknown language 'cobol'"):
        build_data.shared_code_windows(tmp_path / "shared", per_language=10, seed=0)
    with pytest.raises(FileNotFoundError, match="no instruction-to-code files"):
        build_data.shared_code_windows(tmp_path / "nowhere", per_language=10, seed=0)


def test_grammar_evidence_is_off_by_default():
    prompts = [p for p, _, _ in ROUTER_PROMPTS]
    y = [[lang, task] for _, lang, task in ROUTER_PROMPTS]
    router = PromptRouter(cascade=False, char_features=2**12, word_features=2**10).fit(
        prompts, y, code_corpus=_corpus(), groups=[f"s{i}" for i in range(len(prompts))])
    assert router.grammar_ is None
