"""Decontamination: the fast path finds exactly what the naive reference finds, and the I/O contract."""
from __future__ import annotations

import gzip
import json
import random
import re
import sys
from pathlib import Path

import pytest

from moe_coder.cli import main
from moe_coder.decontamination import (
    DecontaminationReport,
    Decontaminator,
    EvalItem,
    EvalSet,
    check_decontaminated,
    decontaminate,
    load_eval_set,
    load_eval_sets,
    pipeline,
)
from moe_coder.decontamination.text import alnum_chunk, alnum_reference, words_chunk, words_reference

QUESTIONS = {
    "code": (
        'from typing import List\n\n\ndef below_zero(operations: List[int]) -> bool:\n'
        '    """ You\'re given a list of deposit and withdrawal operations on a bank account that\n'
        "    starts with zero balance. Your task is to detect if at any point the balance of\n"
        '    account falls below zero, and at that point function should return True.\n    """\n'
    ),
    "unicode": (
        "Écrivez une fonction « naïve » qui calcule la moyenne des nombres. "
        "Ο Οδυσσέας και ο Σίσυφος ΑΡΓΟΣ ΚΑΙ ΘΗΒΑΣ. 写一个函数，返回列表中所有偶数的和。 "
        "İstanbul’da ﬁle ① ② ③ — straße ＡＢＣ１２３ done."
    ),
    "short": "Add two numbers.",
    "symbols": "!!! --- ???",
    "sigma": "ΟΔΥΣΣΕΥΣ ΚΑΙ ΣΙΣΥΦΟΣ ΠΑΝΤΑ ΑΝΕΒΑΙΝΟΥΝ ΣΤΟ ΒΟΥΝΟ ΜΕ ΤΗΝ ΠΕΤΡΑ ΤΟΥΣ ΧΩΡΙΣ ΤΕΛΟΣ ΚΑΙ ΧΩΡΙΣ ΕΛΠΙΔΑ",
}
VOCAB = ["def", "return", "list", "the", "numbers", "balance", "zero", "naïve", "Σίσυφος", "数据", "ÅNGSTRÖM",
         "x1", "42", "_private", "İstanbul", "ﬁle", "①", "😀", "straße", "ΣΑΣ", "a-b", "c_d", "e.f", "\u0301"]
SEPARATORS = [" ", "\n", "\n\n    ", "\t", " - ", "\r\n", ", ", "", "\u2028", "("]


def tiny_set(name: str = "tiny") -> EvalSet:
    return EvalSet(name, "builtin", tuple(EvalItem(name, key, text) for key, text in QUESTIONS.items()))


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(VOCAB) + rng.choice(SEPARATORS) for _ in range(n))


def mangle(rng: random.Random, text: str) -> str:
    """Re-space a fragment: new line breaks, indentation and symbols between its words."""
    return re.sub(r"\s+", lambda _: rng.choice([" ", "\n", "\n\n  ", "\t", " -- ", "\r\n# "]), text)


def fragment(rng: random.Random) -> str:
    text = rng.choice(list(QUESTIONS.values()))
    if rng.random() < 0.3:
        return mangle(rng, text)
    start = rng.randrange(len(text))
    return mangle(rng, text[start : start + rng.randint(10, 160)])


def make_records(rng: random.Random, n: int) -> list[dict]:
    records = []
    for i in range(n):
        instruction, output = random_text(rng, rng.randint(0, 12)), random_text(rng, rng.randint(0, 30))
        kind = rng.random()
        if kind < 0.2:
            instruction += fragment(rng)
        elif kind < 0.3:  # one question split across two fields
            piece = fragment(rng)
            cut = rng.randrange(len(piece) + 1)
            instruction, output = instruction + piece[:cut], piece[cut:] + output
        elif kind < 0.4:
            output = output + fragment(rng) + output
        elif kind < 0.45:
            output += "\x00" + fragment(rng) + "\ud800"
        if i % 7 == 0:
            records.append({"messages": [{"role": "user", "content": instruction},
                                         {"role": "assistant", "content": output}], "id": i})
        else:
            records.append({"instruction": instruction, "output": output, "id": i})
    return records


def write_jsonl(path: Path, records: list, ensure_ascii: bool = False) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="") as fh:
        for record in records:
            # A lone surrogate can only travel as an escape; keep it one when writing raw UTF-8.
            fh.write(json.dumps(record, ensure_ascii=ensure_ascii).replace("\ud800", "\\ud800") + "\n")
    return path


def random_unicode(rng: random.Random, n: int) -> str:
    ranges = [(0, 0x7F), (0x80, 0x2FF), (0x300, 0x36F), (0x370, 0x3FF), (0x2000, 0x206F), (0x2460, 0x24FF),
              (0x4E00, 0x4E80), (0xD800, 0xDFFF), (0xFF00, 0xFF65), (0x1F600, 0x1F64F), (0x10000, 0x10FFFF)]
    specials = ["\x00", "\x01", "_", "Σ", "İ", "ς", " ", "\n", "ẞ", "ǅ"]
    out = []
    for _ in range(n):
        if rng.random() < 0.2:
            out.append(rng.choice(specials))
        else:
            lo, hi = rng.choice(ranges)
            out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize("lowercase", [False, True])
def test_chunk_normalisation_equals_the_reference_on_random_unicode(lowercase):
    rng = random.Random(1)
    for _ in range(30):
        texts = [random_unicode(rng, rng.randint(0, 80)) for _ in range(rng.randint(1, 12))]
        assert alnum_chunk(texts, lowercase) == "\x00".join(alnum_reference(t, lowercase) for t in texts)
        assert words_chunk(texts) == "\x00".join(words_reference(t) for t in texts)


def test_chunk_normalisation_equals_the_reference_on_every_code_point():
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    texts = [every[i : i + 4096] for i in range(0, len(every), 4096)]
    assert alnum_chunk(texts) == "\x00".join(alnum_reference(t) for t in texts)
    assert words_chunk(texts) == "\x00".join(words_reference(t) for t in texts)


def test_normalisation_keeps_only_letters_and_digits():
    assert alnum_reference("def f(x_1):\n    return x_1 + 2  # ok") == "deffx1returnx12ok"
    assert alnum_reference("Naïve Σ 数据 ①!", lowercase=True) == "naïveσ数据①"
    assert words_reference("Hello, World!\nfoo_bar 42") == " hello world foo bar 42 "


# --- sampling --------------------------------------------------------------------------------


def test_substrings_are_seeded_fifty_character_samples_of_the_question():
    first = Decontaminator([tiny_set()], seed=3)
    again = Decontaminator([tiny_set()], seed=3)
    other = Decontaminator([tiny_set()], seed=4)
    assert first.patterns == again.patterns
    assert first.patterns != other.patterns
    for item, patterns in zip(first.items, first.patterns, strict=True):
        normalised = alnum_reference(item.text)
        if len(normalised) > 50:
            assert len(patterns) == 3 and all(len(p) == 50 and p in normalised for p in patterns)
        elif normalised:
            assert patterns == [normalised]
        else:
            assert patterns == []


def test_an_items_substrings_do_not_depend_on_the_other_sets_loaded():
    alone = Decontaminator([tiny_set()], seed=7)
    together = Decontaminator([tiny_set("other"), tiny_set()], seed=7)
    assert together.patterns[len(QUESTIONS):] == alone.patterns


# --- the fast path against the naive reference -----------------------------------------------


@pytest.mark.parametrize(("method", "lowercase"), [("openai50", False), ("openai50", True), ("ngram13", False)])
def test_fast_path_finds_exactly_what_the_naive_reference_finds(tmp_path, method, lowercase):
    train = write_jsonl(tmp_path / "train.jsonl", make_records(random.Random(5), 400))
    reports = {}
    for engine, workers in [("naive", 1), ("automaton", 1), ("automaton", 2)]:
        out = tmp_path / f"{engine}{workers}.jsonl"
        reports[engine, workers] = decontaminate(
            train, [tiny_set()], out, tmp_path / f"{engine}{workers}.report.json", method=method,
            lowercase=lowercase, engine=engine, workers=workers, chunk_bytes=4096,
        )
    naive = reports["naive", 1]
    assert 20 < naive.counts["removed"] < 380
    assert {entry["id"] for entry in naive.contaminated} >= {"code", "unicode", "short"}
    for report in reports.values():
        assert report.removed == naive.removed
        assert report.contaminated == naive.contaminated
        assert report.output["sha256"] == naive.output["sha256"]


def test_fast_path_finds_a_pattern_at_every_offset_and_across_chunk_texts():
    fast = Decontaminator([tiny_set()], seed=0)
    naive = Decontaminator([tiny_set()], seed=0, engine="naive")
    code = fast.patterns[0][0]
    texts = []
    for offset in range(60):
        padding = "pad" * offset
        texts += [padding[:offset] + code + padding, padding[:offset] + code[:-1], code[1:] + padding[:offset]]
    texts += ["…" + QUESTIONS["short"] + "…", "Add two", "numbers."]
    assert fast.match_texts(texts) == naive.match_texts(texts)
    assert sorted(fast.match_texts(texts)) == [*range(0, 180, 3), 180]


def test_patterns_of_every_length_are_found_at_every_block_offset():
    # Lengths around the block filter's limit (2q - 1): the shorter ones must be found some other way.
    lengths = range(11, 40)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    items = tuple(EvalItem("len", str(n), "".join(random.Random(n).choices(alphabet, k=n))) for n in lengths)
    fast = Decontaminator([EvalSet("len", "builtin", items)])
    naive = Decontaminator([EvalSet("len", "builtin", items)], engine="naive")
    texts = ["#" * offset + item.text + "!" for offset in range(30) for item in items]
    assert fast.match_texts(texts) == naive.match_texts(texts)
    assert len(fast.match_texts(texts)) == len(texts)


def test_find_reports_items_and_substrings():
    decontaminator = Decontaminator([tiny_set()])
    text = "Here:\n" + QUESTIONS["code"].replace(" ", "\n ") + "\nThanks"
    [match] = decontaminator.find(text)
    assert (match.item.task_id, len(match.patterns)) == ("code", 3)
    assert decontaminator.find("nothing to see") == []


def test_ngram13_needs_thirteen_shared_words():
    decontaminator = Decontaminator([tiny_set()], method="ngram13")
    words = re.findall(r"[^\W_]+", QUESTIONS["code"])
    assert decontaminator.find("intro " + " ".join(words[5:18]) + " outro")
    assert not decontaminator.find("intro " + " ".join(words[5:17]) + " outro")
    assert [m.item.task_id for m in decontaminator.find("please ADD two numbers!")] == ["short"]
    assert not decontaminator.find("add two numbersx")


# --- the files -------------------------------------------------------------------------------


def test_clean_output_holds_unmatched_lines_in_order_byte_identical(tmp_path):
    lines = [
        b'{"instruction": "hello",   "output": "spaced out"}\r\n',
        b'{"instruction": "' + QUESTIONS["code"].encode("unicode_escape").replace(b'"', b'\\"') + b'"}\n',
        b"\n",
        b'  {"text": "caf\\u00e9 \xc3\xa9t\xc3\xa9"}  \n',
        b'{"text": "Add two numbers. Then more."}\n',
        b'{"text": "last line, no newline"}',
    ]
    train = tmp_path / "train.jsonl"
    train.write_bytes(b"".join(lines))
    report = decontaminate(train, [tiny_set()], tmp_path / "clean.jsonl", tmp_path / "report.json")
    assert (tmp_path / "clean.jsonl").read_bytes() == lines[0] + lines[3] + lines[5] + b"\n"
    assert [(r["line"], [m["id"] for m in r["matches"]]) for r in report.removed] == [(2, ["code"]), (5, ["short"])]
    assert report.counts == {"records": 5, "kept": 3, "removed": 2, "skipped_bad": 0, "blank_lines": 1,
                             "bytes": train.stat().st_size, "eval_items": 5, "contaminated_items": 2}


def test_gzip_input_and_output_and_several_files_keep_order(tmp_path):
    records = make_records(random.Random(8), 120)
    first = write_jsonl(tmp_path / "a.jsonl.gz", records[:60])
    second = write_jsonl(tmp_path / "b.jsonl", records[60:], ensure_ascii=True)
    plain = write_jsonl(tmp_path / "all.jsonl", records[:60])
    (tmp_path / "all.jsonl").write_bytes(plain.read_bytes() + second.read_bytes())
    gz = decontaminate([first, second], [tiny_set()], tmp_path / "c.jsonl.gz", tmp_path / "r1.json")
    flat = decontaminate([tmp_path / "all.jsonl"], [tiny_set()], tmp_path / "c.jsonl", tmp_path / "r2.json")
    assert gzip.decompress((tmp_path / "c.jsonl.gz").read_bytes()) == (tmp_path / "c.jsonl").read_bytes()
    assert [e["id"] for e in gz.contaminated] == [e["id"] for e in flat.contaminated]
    assert [(r["file"], r["line"]) for r in gz.removed] == [
        (str(first) if r["line"] <= 60 else str(second), r["line"] if r["line"] <= 60 else r["line"] - 60)
        for r in flat.removed
    ]


def test_report_files_and_verification(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", make_records(random.Random(2), 80))
    out, report_path = tmp_path / "clean.jsonl", tmp_path / "report.json"
    report = decontaminate(train, [tiny_set()], out, report_path, seed=11)
    saved = json.loads(report_path.read_text(encoding="utf-8"))
    assert saved["method"] == "openai50" and saved["seed"] == 11
    assert saved["substrings"]["tiny"]["code"] == report.substrings["tiny"]["code"]
    for entry in saved["contaminated"]:
        for match in entry["matches"]:
            assert match["file"] == str(train) and match["line"] >= 1 and match["substrings"]
    ids = json.loads((tmp_path / "report.contaminated.json").read_text(encoding="utf-8"))
    assert ids["ids"] == [e["id"] for e in saved["contaminated"]] == ids["benchmark_ids"]["tiny"]
    assert DecontaminationReport.load(report_path).to_dict() == saved
    assert check_decontaminated(out, report_path, benchmarks=["tiny"]).counts == report.counts
    with pytest.raises(ValueError, match="did not decontaminate against humaneval"):
        check_decontaminated(out, report_path, benchmarks=["tiny", "humaneval"])
    out.write_bytes(out.read_bytes() + b'{"sneaked": "in"}\n')
    with pytest.raises(ValueError, match="not the clean output"):
        check_decontaminated(out, report_path, benchmarks=["tiny"])


def test_fields_choose_the_text(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", [{"instruction": "hi", "output": QUESTIONS["code"]}])
    only = decontaminate(train, [tiny_set()], tmp_path / "a.jsonl", tmp_path / "a.json", fields=["instruction"])
    every = decontaminate(train, [tiny_set()], tmp_path / "b.jsonl", tmp_path / "b.json")
    assert (only.counts["removed"], every.counts["removed"]) == (0, 1)


# --- bad input -------------------------------------------------------------------------------


def test_malformed_line_names_file_and_line_and_leaves_no_output(tmp_path):
    train = tmp_path / "train.jsonl"
    good = b'{"text": "fine"}\n' * 3000
    train.write_bytes(good + b'{"text": "broken"\n' + good)
    out = tmp_path / "clean.jsonl"
    out.write_bytes(b"previous run\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(train))}:3001: malformed JSON"):
        decontaminate(train, [tiny_set()], out, tmp_path / "r.json", chunk_bytes=1024)
    assert out.read_bytes() == b"previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.jsonl", "train.jsonl"]


def test_skip_bad_drops_and_counts_bad_lines(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_bytes(b'{"text": "ok"}\n{nope\n[1, 2]\n"just text"\n\xff\xfe{"text": 1}\n'
                      b'{"other": "x"}\n{"text": "ok2"}\n')
    report = decontaminate(train, [tiny_set()], tmp_path / "c.jsonl", tmp_path / "r.json", skip_bad=True,
                           fields=["text"])
    assert (tmp_path / "c.jsonl").read_bytes() == b'{"text": "ok"}\n{"text": "ok2"}\n'
    assert [(b["line"], b["error"].split(":")[0]) for b in report.bad_lines] == [
        (2, "malformed JSON"), (3, "expected a JSON object, got list"), (4, "expected a JSON object, got str"),
        (5, "not valid UTF-8"), (6, "missing field 'text'"),
    ]
    assert report.counts["skipped_bad"] == 5


def test_missing_field_is_an_error(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "x"}, {"question": "y"}])
    with pytest.raises(ValueError, match=r"t.jsonl:2: missing field 'prompt'"):
        decontaminate(train, [tiny_set()], tmp_path / "c.jsonl", tmp_path / "r.json", fields=["prompt"])


def test_empty_training_file_gives_an_empty_clean_file(tmp_path):
    train = tmp_path / "empty.jsonl"
    train.write_bytes(b"")
    report = decontaminate(train, [tiny_set()], tmp_path / "c.jsonl", tmp_path / "r.json")
    assert (tmp_path / "c.jsonl").read_bytes() == b""
    assert report.counts["records"] == 0


def test_inputs_are_never_overwritten_and_missing_inputs_are_errors(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", [{"text": "x"}])
    evals = write_jsonl(tmp_path / "e.jsonl", [{"task_id": "e/1", "prompt": "question"}])
    with pytest.raises(ValueError, match="would overwrite input"):
        decontaminate(train, [tiny_set()], train, tmp_path / "r.json")
    with pytest.raises(ValueError, match="would overwrite input"):
        decontaminate(train, [evals], tmp_path / "c.jsonl", evals)
    with pytest.raises(ValueError, match="same file"):
        decontaminate(train, [tiny_set()], tmp_path / "r.json", tmp_path / "r.json")
    with pytest.raises(FileNotFoundError):
        decontaminate(tmp_path / "absent.jsonl", [tiny_set()], tmp_path / "c.jsonl", tmp_path / "r.json")
    assert train.read_text(encoding="utf-8") == '{"text": "x"}\n'


def test_an_interrupted_run_leaves_no_half_file(tmp_path, monkeypatch):
    train = write_jsonl(tmp_path / "t.jsonl", make_records(random.Random(3), 300))
    calls = []
    real = pipeline._process

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(pipeline, "_process", interrupted)
    with pytest.raises(KeyboardInterrupt):
        decontaminate(train, [tiny_set()], tmp_path / "c.jsonl", tmp_path / "r.json", chunk_bytes=2048)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl"]


# --- evaluation sets -------------------------------------------------------------------------


def test_builtin_sets_use_the_question_side():
    humaneval, mbpp = load_eval_sets(["humaneval", "MBPP"])
    assert (len(humaneval.items), len(mbpp.items)) == (164, 974)
    assert humaneval.items[0].task_id == "HumanEval/0" and mbpp.items[0].task_id == "mbpp/1"
    decontaminator = Decontaminator([humaneval, mbpp])
    from moe_coder.benchmarks import load_benchmark

    problem = load_benchmark("humaneval")[12]
    assert [m.item.task_id for m in decontaminator.find("Solve:\n" + problem.prompt)] == ["HumanEval/12"]
    assert decontaminator.find(problem.canonical_solution) == []


def test_eval_sets_from_files(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [{"id": "a", "text": "one"}, {"id": 2, "question": "q", "text": "t"}])
    loaded = load_eval_set(path)
    assert loaded.name == "mine" and [(i.task_id, i.text) for i in loaded.items] == [("a", "one"), ("2", "q")]
    assert [i.text for i in load_eval_set(path, text_field="text").items] == ["one", "t"]
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="has no items"):
        load_eval_set(tmp_path / "empty.jsonl")
    with pytest.raises(ValueError, match=r"dup.jsonl:2: duplicate id 'a'"):
        load_eval_set(write_jsonl(tmp_path / "dup.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]))
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_eval_set("humaneval-but-not-really")


# --- command line ----------------------------------------------------------------------------


def test_cli_writes_clean_file_report_and_ids(tmp_path, capsys):
    from moe_coder.benchmarks import load_benchmark

    problem = load_benchmark("mbpp")[20]
    train = write_jsonl(tmp_path / "t.jsonl", [{"text": "unrelated"}, {"text": problem.question}])
    evals = write_jsonl(tmp_path / "extra.jsonl", [{"task_id": "x/1", "prompt": "unrelated"}])
    code = main(["decontaminate", "--train", str(train), "--eval", "mbpp", "--eval", str(evals),
                 "--out", str(tmp_path / "c.jsonl"), "--report", str(tmp_path / "r.json"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["contaminated_ids"] == {"mbpp": [problem.task_id], "extra": ["x/1"]}
    assert summary["counts"]["kept"] == 0
    assert json.loads((tmp_path / "r.contaminated.json").read_text())["ids"] == [problem.task_id, "x/1"]


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    train = tmp_path / "t.jsonl"
    train.write_text('{"text": "ok"}\nnot json\n')
    code = main(["decontaminate", "--train", str(train), "--eval", "humaneval",
                 "--out", str(tmp_path / "c.jsonl"), "--report", str(tmp_path / "r.json")])
    assert code == 2
    assert f"{train}:2: malformed JSON" in capsys.readouterr().err
