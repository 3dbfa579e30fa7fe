"""The library lexicon: counted from source files, read from a prompt's prose, saved with the router."""
import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from moe_coder.cli import main
from moe_coder.routing.lexicon import Lexicon, PackageNames
from moe_coder.routing.router import PromptRouter

from conftest import ROUTER_PROMPTS

COUNTS = {
    "PDO": {"php": 25},
    "vitest": {"typescript": 40},
    "borrow": {"rust": 50, "go": 3, "cpp": 1},
    "value": {"php": 300, "typescript": 200, "rust": 150, "go": 400},  # every language's word
    "rare": {"go": 2},  # too few files
}
FILES = {"php": 100, "typescript": 100, "rust": 100, "go": 400}


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.from_counts(COUNTS, FILES, min_files=5, min_share=0.85)


def test_keeps_identifiers_one_language_owns(lexicon):
    assert set(lexicon.tokens) == {"PDO", "vitest", "borrow"}
    assert lexicon.share("PDO") == {"php": 1.0}
    borrow = lexicon.share("borrow")
    assert max(borrow, key=borrow.get) == "rust" and abs(sum(borrow.values()) - 1) < 1e-6
    assert lexicon.share("value") == {}


def test_features_read_prose_only(lexicon):
    F, names = lexicon.lookup([
        "How do I bind params with PDO?",
        "```php\n$db = new PDO($dsn);\n```",  # fenced code: the n-grams' business
        "    $db = new PDO($dsn);\n",  # unfenced code line
        "Write vitest tests; the borrow checker is not involved",
        "",
    ])
    php, ts, rust = (lexicon.languages.index(x) for x in ("php", "typescript", "rust"))
    assert F.shape == (5, len(lexicon.languages))
    assert F[0, php] == 1.0 and F[0].sum() == 1.0 and names[0] == ["library:PDO>php"]
    assert not F[1].any() and not F[2].any() and names[1] == names[2] == []
    assert F[3, ts] == 1.0 and F[3, rust] > 0.85 and names[3] == ["library:vitest>typescript", "library:borrow>rust"]
    assert not F[4].any()


def test_save_and_load_round_trip(lexicon, tmp_path):
    lexicon.save(tmp_path / "lexicon.tsv.gz")
    again = Lexicon.load(tmp_path / "lexicon.tsv.gz")
    assert again.languages == lexicon.languages and again.tokens == lexicon.tokens
    assert np.allclose(again.shares, lexicon.shares, atol=1e-3)


def test_malformed_lexicon_names_file_and_line(tmp_path):
    path = tmp_path / "lexicon.tsv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("token\tphp\trust\nPDO\t1\t0\nserde\t0\tmany\n")
    with pytest.raises(ValueError, match=rf"{path}:3: shares must be numbers"):
        Lexicon.load(path)
    with gzip.open(path, "wt") as fh:
        fh.write("token\tphp\trust\nPDO\t1\n")
    with pytest.raises(ValueError, match=rf"{path}:2: expected an identifier and 2 shares"):
        Lexicon.load(path)
    path.write_bytes(gzip.compress(b"token\tphp\nPDO\t1\n")[:-12])  # cut short
    with pytest.raises(ValueError, match=rf"{path}: unreadable lexicon"):
        Lexicon.load(path)


def test_router_learns_the_lexicon_and_saves_it(lexicon, tmp_path):
    prompts = [p for p, _, _ in ROUTER_PROMPTS]
    y = [[lang, task] for _, lang, task in ROUTER_PROMPTS]
    router = PromptRouter(cascade=False).fit(prompts, y, lexicon=lexicon)
    plain = PromptRouter(cascade=False).fit(prompts, y)
    assert router.lexicon_ is lexicon and plain.lexicon_ is None
    # the lexicon adds one column per language to the fast part of the features
    assert router.transform(prompts[:2]).shape[1] == plain.transform(prompts[:2]).shape[1] + len(lexicon.languages)
    router.save_pretrained(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    assert meta["lexicon_languages"] == lexicon.languages
    again = PromptRouter.from_pretrained(tmp_path / "r")
    assert again.lexicon_.tokens == lexicon.tokens
    probe = ["How do I bind params with PDO?", "my vitest mocks leak between tests", *prompts[:3]]
    for a, b in zip(again.predict_proba(probe), router.predict_proba(probe)):
        assert np.allclose(a, b, atol=1e-5)
    assert "library:PDO>php" in again.cues("How do I bind params with PDO?")


def test_train_router_cli_reads_the_lexicon_beside_the_data(lexicon, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "train.jsonl", "w") as fh:
        for i, (p, lang, task) in enumerate(ROUTER_PROMPTS * 3):
            fh.write(json.dumps({"prompt": p, "language": lang, "task": task, "source": f"s{i}"}) + "\n")
    lexicon.save(data / "lexicon.tsv.gz")
    assert main(["train-router", "--data", str(data), "--out", str(tmp_path / "r"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["lexicon"] == str(data / "lexicon.tsv.gz")
    assert PromptRouter.from_pretrained(tmp_path / "r").lexicon_.tokens == lexicon.tokens
    assert main(["train-router", "--data", str(data), "--out", str(tmp_path / "r2"), "--no-lexicon", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["lexicon"] is None
    assert PromptRouter.from_pretrained(tmp_path / "r2").lexicon_ is None
    assert main(["train-router", "--data", str(data), "--out", str(tmp_path / "r3"), "--lexicon", str(tmp_path / "nope.tsv.gz")]) == 2
    assert "lexicon not found" in capsys.readouterr().err
    # package-registry names beside the data are looked up with the lexicon
    PackageNames.from_counts({"kaminari": {"php": 2}}).save(data / "packages.tsv.gz")
    assert main(["train-router", "--data", str(data), "--out", str(tmp_path / "r4"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["packages"] == str(data / "packages.tsv.gz")
    assert PromptRouter.from_pretrained(tmp_path / "r4").lexicon_.packages.tokens == ["kaminari"]
    assert main(["train-router", "--data", str(data), "--out", str(tmp_path / "r5"), "--no-packages", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["packages"] is None
    assert main(["train-router", "--data", str(data), "--out", str(tmp_path / "r6"), "--packages", str(tmp_path / "no.tsv.gz")]) == 2
    assert "package names not found" in capsys.readouterr().err


def test_build_script_counts_training_split_sources_only(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "router_training"))
    import build_data

    names = [f"pkg{i}" for i in range(200)]
    train = next(n for n in names if build_data.split_of(n) == "train")
    test = next(n for n in names if build_data.split_of(n) == "test")
    files = {}
    for source, text in ((train, "$db = new PDO($dsn);"), (test, "$q = new Heldout();")):
        path = tmp_path / f"{source}.php"
        path.write_text(text)
        files[("php", source)] = [path]
    ruby = tmp_path / "x.rb"
    ruby.write_text("Heldout = 1")
    files[("unknown", train)] = [ruby]
    monkeypatch.setattr(build_data, "source_files", lambda cache: files)
    counts, totals = build_data.lexicon_counts(tmp_path)
    assert counts["PDO"] == {"php": 1} and "Heldout" not in counts
    assert dict(totals) == {"php": 1}


def test_build_script_swaps_training_tools_for_lexicon_identifiers_of_the_same_language():
    """The extra training prompts keep their labels, name a lexicon identifier the lexicon gives
    to the prompt's language alone in place of a training tool, and never use a test tool."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "router_training"))
    import build_data
    import phrasing

    lexicon = Lexicon(["php", "rust"], ["PDOish", "sqlx", "both"], np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
    php_tools = [t for i, t in enumerate(phrasing.ECOSYSTEM["php"]) if build_data._phrase_split(i) == "train"]
    test_tool = next(t for i, t in enumerate(phrasing.ECOSYSTEM["php"]) if build_data._phrase_split(i) == "test")
    rows = [{"prompt": f"How do I paginate with {t}?", "language": "php", "task": "generate", "source": "prose-train"}
            for t in php_tools] * 10
    rows += [{"prompt": f"How do I bind params with {test_tool}?", "language": "php", "task": "generate", "source": "prose-train"},
             {"prompt": f"<?php // {php_tools[0]}", "language": "php", "task": "complete", "source": "php-pkg"}]
    extra = build_data.name_substitutes(rows, lexicon, seed=0, fraction=0.5)
    assert 0 < len(extra) < len(php_tools) * 10
    for row in extra:
        assert row["prompt"].startswith("How do I paginate with PDOish")
        assert (row["language"], row["task"], row["source"]) == ("php", "generate", "prose-train")
    assert build_data.name_substitutes(rows, lexicon, seed=0, fraction=0.5) == extra  # deterministic


def test_build_script_swaps_training_tools_for_package_names_never_a_phrase_bank_tool():
    """Copies of prompts naming a training tool name a package one language holds instead; a
    package named after any split's tool ("jest-cli") is never used."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "router_training"))
    import build_data
    import phrasing

    test_tool = next(t for i, t in enumerate(phrasing.ECOSYSTEM["javascript"]) if build_data._phrase_split(i) == "test")
    packages = PackageNames(["javascript", "php"], ["left-pad", f"{test_tool.lower()}-cli", "kaminari", "both"],
                            np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
    js_tools = [t for i, t in enumerate(phrasing.ECOSYSTEM["javascript"]) if build_data._phrase_split(i) == "train"]
    rows = [{"prompt": f"How do I debounce input with {t}?", "language": "javascript", "task": "generate",
             "source": "prose-train"} for t in js_tools] * 10
    rows.append({"prompt": f"// {js_tools[0]}\nconst a = 1;", "language": "javascript", "task": "complete", "source": "npm-x"})
    extra = build_data.package_substitutes(rows, packages, seed=0, fraction=0.5)
    assert 0 < len(extra) < len(js_tools) * 10
    for row in extra:
        assert row["prompt"] == "How do I debounce input with left-pad?", row
        assert (row["language"], row["task"], row["source"]) == ("javascript", "generate", "prose-train")
    assert build_data.package_substitutes(rows, packages, seed=0, fraction=0.5) == extra  # deterministic


# ---------------------------------------------------------------- package-registry names
PACKAGE_COUNTS = {
    "scikit-image": {"python": 3},
    "kaminari": {"ruby_is_not_here": 0, "php": 2},
    "yaml": {"python": 2, "javascript": 2, "go": 1, "c": 1},  # every ecosystem's: dropped
    "gtest": {"cpp": 1},
}


@pytest.fixture(scope="module")
def packages():
    return PackageNames.from_counts({n: {k: v for k, v in c.items() if v} for n, c in PACKAGE_COUNTS.items()})


def test_package_names_one_language_owns_matched_in_any_case(packages):
    assert packages.tokens == ["gtest", "kaminari", "scikit-image"]
    F, names = packages.lookup([
        "How do I label regions with Scikit-Image?",
        "paginate with KAMINARI please, then run the GTest suite",
        "```python\nimport kaminari\n```",  # code: the n-grams' business
        "load yaml in a test",
    ])
    py, php, cpp = (packages.languages.index(x) for x in ("python", "php", "cpp"))
    assert F[0, py] == 1.0 and F[0].sum() == 1.0 and names[0] == ["package:scikit-image>python"]
    assert F[1, php] == 1.0 and F[1, cpp] == 1.0 and names[1] == ["package:kaminari>php", "package:gtest>cpp"]
    assert not F[2].any() and not F[3].any()


def test_a_lexicon_looks_its_package_names_up_in_the_same_columns(lexicon, packages, tmp_path):
    both = lexicon.with_packages(packages)
    # the package table is re-indexed to the lexicon's languages; names of languages it lacks are dropped
    assert both.packages.languages == lexicon.languages and both.packages.tokens == ["kaminari"]
    F, names = both.lookup(["bind params with PDO and paginate with kaminari", "my Kaminari pages"])
    php = lexicon.languages.index("php")
    assert F[0, php] == 1.0 and names[0] == ["library:PDO>php", "package:kaminari>php"]
    assert F[1, php] == 1.0 and names[1] == ["package:kaminari>php"]
    assert not lexicon.lookup(["my Kaminari pages"])[0].any()
    assert both.with_packages(None).packages is None and not both.with_packages(None).lookup(["kaminari"])[0].any()
    packages.save(tmp_path / "packages.tsv.gz")
    loaded = PackageNames.load(tmp_path / "packages.tsv.gz")
    assert loaded.tokens == packages.tokens and np.allclose(loaded.shares, packages.shares, atol=1e-3)
    with pytest.raises(ValueError, match="expected a header 'token"):
        Lexicon.load(tmp_path / "packages.tsv.gz")


def test_malformed_package_names_file_names_file_and_line(tmp_path):
    path = tmp_path / "packages.tsv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("package\tphp\trust\nkaminari\t1\t0\nnot a name!\t0\t1\n")
    with pytest.raises(ValueError, match=rf"{path}:3: expected a package name and 2 shares"):
        PackageNames.load(path)


def test_a_saved_router_keeps_its_package_names_in_a_file_of_their_own(lexicon, packages, tmp_path):
    prompts = [p for p, _, _ in ROUTER_PROMPTS]
    y = [[lang, task] for _, lang, task in ROUTER_PROMPTS]
    router = PromptRouter(cascade=False).fit(prompts, y, lexicon=lexicon.with_packages(packages))
    router.save_pretrained(tmp_path / "r")
    assert json.loads((tmp_path / "r" / "router.json").read_text())["lexicon_packages"] == "packages.tsv.gz"
    again = PromptRouter.from_pretrained(tmp_path / "r")
    assert again.lexicon_.packages.tokens == ["kaminari"]
    assert "package:kaminari>php" in again.cues("paginate with kaminari")
    probe = ["paginate with kaminari", *prompts[:3]]
    for a, b in zip(again.predict_proba(probe), router.predict_proba(probe)):
        assert np.allclose(a, b, atol=1e-5)
    (tmp_path / "r" / "packages.tsv.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"router.json names package names the artifacts lack: .*packages.tsv.gz"):
        PromptRouter.from_pretrained(tmp_path / "r")
