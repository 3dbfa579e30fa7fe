"""experts/build_expert_data.py: per-expert training sets, decontaminated, with clear errors on bad sources."""
import importlib.util
import json
from pathlib import Path

import pytest

from moe_coder.decontamination import check_decontaminated
from moe_coder.benchmarks import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_expert_data", ROOT / "experts" / "build_expert_data.py")
build_expert_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_expert_data)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _data(tmp_path: Path) -> Path:
    """A small folder laid out as shared/data: one row of each source copies a HumanEval prompt."""
    data = tmp_path / "data"
    leaked = load_benchmark("humaneval")[0].prompt
    _write_jsonl(data / "code" / "algos" / "python.jsonl", [
        {"language": "python", "instruction": "Reverse a list in place.", "response": "def rev(xs):\n    xs.reverse()"},
        {"language": "python", "instruction": f"Complete this:\n{leaked}", "response": "    return False"},
    ])
    _write_jsonl(data / "code" / "algos" / "go.jsonl", [
        {"language": "go", "instruction": "Add two ints.", "response": "func add(a, b int) int { return a + b }"},
    ])
    _write_jsonl(data / "code" / "shells" / "bash.jsonl", [
        {"language": "bash", "instruction": f"List files, example {i}.", "response": f"ls -la /tmp/{i}"} for i in range(5)
    ])
    (data / "instruct").mkdir()
    (data / "instruct" / "gpteacher-codegen-instruct.json").write_text(json.dumps([
        {"instruction": "Write a PHP function that doubles a number.", "input": "",
         "response": "<?php\nfunction double($x) { return 2 * $x; }"},
    ]))
    mbpp = [json.loads(line) for line in (ROOT / "moe_coder" / "data" / "mbpp" / "mbpp.jsonl").read_text().splitlines()]
    _write_jsonl(data / "mbpp" / "mbpp.jsonl", [r for r in mbpp if r["task_id"] in (2, 11, 600, 974)])
    return data


@pytest.mark.slow  # labels GPTeacher rows with the built-in router (the real MiniLM encoder)
def test_every_expert_gets_its_languages_decontaminated(tmp_path):
    data, out = _data(tmp_path), tmp_path / "out"
    summary = build_expert_data.build(data, out, max_per_source=3)
    experts = summary["experts"]
    assert experts["python"]["by_language"] == {"python": 5}  # 2 code rows, MBPP 2, 600 and 974 (11 is its test split)
    # the HumanEval copy, and MBPP 2, which MBPP+ evaluates (MBPP+ rewrote task 600's text: its
    # substrings do not occur in MBPP's, a limit of the 50-character method, see docs/experts.md)
    assert experts["python"]["removed"] == 2
    assert experts["python"]["contaminated_tasks"] == {"humaneval": 1, "humaneval_plus": 1, "mbpp_plus": 1,
                                                       "humaneval_x": 3, "mbpp_test": 0}  # forms that keep its docstring text
    assert experts["systems"]["rows_after"] == 1 and experts["web"]["by_language"] == {"php": 1}
    assert experts["shell_sql"]["rows_before"] == 3  # capped per source and language
    assert experts["generalist"]["rows_before"] == 5 + 1 + 1 + 3
    clean = [json.loads(line) for line in (out / "python.jsonl").read_text().splitlines()]
    assert all(r["response"].startswith("```python\n") for r in clean)
    assert not any("has_close_elements" in r["instruction"] for r in clean)
    mbpp_ids = {int(r["origin"].rpartition(":")[2]) for r in clean if r["source"] == "mbpp"}
    assert len(mbpp_ids) == 2  # tasks 600 and 974
    report = check_decontaminated(out / "python.jsonl", out / "python.report.json",
                                  ["humaneval", "humaneval_plus", "mbpp_plus", "humaneval_x", "mbpp_test"])
    assert report.counts["removed"] == 2
    # What clean scores leave out: the matched tasks (task 2 among them), and MBPP+'s task 600 by its
    # number, its question reworded; task 974 is not in MBPP+.
    excluded = json.loads((out / "python.excluded.json").read_text())
    assert excluded["same_task"] == ["Mbpp/2", "Mbpp/600"]
    assert set(excluded["benchmark_ids"]["mbpp_plus"]) == {"Mbpp/2", "Mbpp/600"}
    assert excluded["benchmark_ids"]["humaneval"] == ["HumanEval/0"]
    again = tmp_path / "again"
    build_expert_data.build(data, again, max_per_source=3)
    assert (again / "python.jsonl").read_bytes() == (out / "python.jsonl").read_bytes()


def test_a_missing_source_is_named(tmp_path, capsys):
    data = _data(tmp_path)
    (data / "mbpp" / "mbpp.jsonl").unlink()
    assert build_expert_data.main(["--data", str(data), "--out", str(tmp_path / "out")]) == 2
    assert f"data source not found: {data / 'mbpp' / 'mbpp.jsonl'}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_malformed_row_names_file_and_line(tmp_path, capsys):
    data = _data(tmp_path)
    with (data / "code" / "algos" / "go.jsonl").open("a") as fh:
        fh.write('{"language": "go", "instruction": \n')
    assert build_expert_data.main(["--data", str(data), "--out", str(tmp_path / "out")]) == 2
    assert f"{data / 'code' / 'algos' / 'go.jsonl'}:2: malformed JSON" in capsys.readouterr().err


@pytest.mark.slow
def test_a_source_emptied_by_decontamination_is_an_error(tmp_path, capsys):
    data = _data(tmp_path)
    leaked = load_benchmark("humaneval")[1].prompt
    _write_jsonl(data / "code" / "algos" / "go.jsonl", [
        {"language": "go", "instruction": f"Port to Go:\n{leaked}", "response": "func f() {}"}])
    _write_jsonl(data / "code" / "algos" / "python.jsonl", [])
    assert build_expert_data.main(["--data", str(data), "--out", str(tmp_path / "out")]) == 2
    assert "expert 'systems': source(s) ['code/algos'] left with zero rows after decontamination" in capsys.readouterr().err


def test_a_response_cap_below_one_is_refused(tmp_path, capsys):
    data = _data(tmp_path)
    assert build_expert_data.main(["--data", str(data), "--out", str(tmp_path / "out"), "--max-response-chars", "0"]) == 2
    assert "--max-response-chars must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # labels GPTeacher rows with the built-in router
def test_long_answers_are_left_out_before_the_per_source_cap(tmp_path):
    data, out = _data(tmp_path), tmp_path / "out"
    _write_jsonl(data / "code" / "algos" / "python.jsonl", [
        {"language": "python", "instruction": f"Long file {i}.", "response": "x = 1\n" * 200} for i in range(3)
    ] + [{"language": "python", "instruction": f"Short one {i}.", "response": f"y = {i}"} for i in range(3)])
    summary = build_expert_data.build(data, out, max_per_source=3, max_response_chars=100)
    assert summary["max_response_chars"] == 100
    assert summary["too_long"]["code/algos"] == 3
    clean = [json.loads(line) for line in (out / "python.jsonl").read_text().splitlines()]
    assert all(len(r["response"]) <= 100 for r in clean)
    # the cap on rows per source counts only the rows left: all three short ones are kept
    assert sorted(r["instruction"] for r in clean if r["source"] == "code/algos") == [f"Short one {i}." for i in range(3)]


def test_pinned_gpteacher_labels_decide_without_the_router(tmp_path):
    """A labels file fixes each GPTeacher row's expert, so a rebuild does not depend on the router's
    version; the labels used can be written out, and the summary says where each came from."""
    data, out = _data(tmp_path), tmp_path / "out"
    record = json.loads((data / "instruct" / "gpteacher-codegen-instruct.json").read_text())[0]
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"labels": {build_expert_data.gpteacher_key(record): "go"}}))
    written = tmp_path / "used.json"
    summary = build_expert_data.build(data, out, max_per_source=3, gpteacher_labels=labels,
                                      write_gpteacher_labels=written)
    assert summary["gpteacher_labels"] == {"file": "labels.json", "pinned": 1, "labelled_by_router": 0}
    # pinned to Go: the PHP answer goes to systems, not web, and is fenced as the label says
    assert summary["experts"]["systems"]["by_language"] == {"go": 2}
    assert "web" not in summary["experts"] or summary["experts"]["web"]["rows_before"] == 0
    rows = [json.loads(line) for line in (out / "systems.jsonl").read_text().splitlines()]
    assert any(r["source"] == "gpteacher" and r["response"].startswith("```go\n") for r in rows)
    assert json.loads(written.read_text())["labels"] == {build_expert_data.gpteacher_key(record): "go"}
    # the same labels, read back, give the same bytes
    again = tmp_path / "again"
    build_expert_data.build(data, again, max_per_source=3, gpteacher_labels=written)
    assert (again / "systems.jsonl").read_bytes() == (out / "systems.jsonl").read_bytes()


def test_a_malformed_labels_file_is_named(tmp_path, capsys):
    data = _data(tmp_path)
    bad = tmp_path / "labels.json"
    bad.write_text(json.dumps({"labels": {"abc": 3}}))
    assert build_expert_data.main(["--data", str(data), "--out", str(tmp_path / "out"),
                                   "--gpteacher-labels", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_shipped_labels_file_covers_every_gpteacher_row():
    """The shipped experts' sets rebuild byte for byte only if every row of the source is pinned."""
    source = ROOT.parent / "shared" / "data" / "instruct" / "gpteacher-codegen-instruct.json"
    if not source.exists():
        pytest.skip(f"{source} not here")
    records = json.loads(source.read_text())
    pinned = build_expert_data.read_gpteacher_labels(build_expert_data.GPTEACHER_LABELS)
    assert {build_expert_data.gpteacher_key(r) for r in records} <= pinned.keys()
    assert set(pinned.values()) - {None} <= {"python", "javascript", "typescript", "cpp", "c", "java", "csharp",
                                             "php", "bash", "sql", "go", "rust"}


def _code_row(language: str, code: str, instruction: str = "Add two numbers.") -> dict:
    return {"instruction": instruction, "response": build_expert_data.fenced(code, language), "language": language,
            "source": "code/algos", "origin": "x"}


def test_a_completion_row_shows_the_head_and_answers_the_whole_code():
    cpp = "#include <vector>\nint add(int a, int b) {\n    int s = a + b;\n    return s;\n}"
    row = build_expert_data.completion_row(_code_row("cpp", cpp), 0)
    assert row["source"] == "code/algos+completion" and row["response"] == build_expert_data.fenced(cpp, "cpp")
    assert row["instruction"].startswith("Complete the following C++ function.")
    assert "```cpp\n// Add two numbers.\n#include <vector>\nint add(int a, int b) {\n```" in row["instruction"]
    assert "return s" not in row["instruction"]
    # the stub alone, with a Python comment; a brace on its own line belongs to the head
    py = build_expert_data.completion_row(_code_row("python", "def add(a, b):\n    s = a + b\n    return s"), 2)
    assert py["instruction"] == "# Add two numbers.\ndef add(a, b):"
    cs = "public static int Add(int a, int b)\n{\n    var s = a + b;\n    return s;\n}"
    assert build_expert_data.completion_row(_code_row("csharp", cs), 2)["instruction"].endswith("int b)\n{")
    # no function head, a one-line body, or a language without one: no completion row
    assert build_expert_data.completion_row(_code_row("cpp", "int x = 1;\nint y = 2;\nint z = 3;"), 0) is None
    assert build_expert_data.completion_row(_code_row("go", "func f() int {\n    return 1\n}"), 0) is None
    assert build_expert_data.completion_row(_code_row("sql", "SELECT 1;"), 0) is None
    # control statements are not function heads
    assert build_expert_data.completion_row(_code_row("c", "if (x) {\n  a();\n  b();\n}"), 0) is None


def test_completion_rows_are_a_source_of_their_own(tmp_path):
    data, out = _data(tmp_path), tmp_path / "out"
    (data / "code" / "algos" / "go.jsonl").write_text(json.dumps(
        {"language": "go", "instruction": "Add two ints.",
         "response": "func add(a, b int) int {\n    s := a + b\n    return s\n}"}) + "\n")
    labels = tmp_path / "labels.json"
    record = json.loads((data / "instruct" / "gpteacher-codegen-instruct.json").read_text())[0]
    labels.write_text(json.dumps({"labels": {build_expert_data.gpteacher_key(record): "php"}}))
    plain = build_expert_data.build(data, tmp_path / "plain", max_per_source=3, gpteacher_labels=labels)
    summary = build_expert_data.build(data, out, max_per_source=3, gpteacher_labels=labels, completion=True)
    assert summary["completion_rows"] is True and plain["completion_rows"] is False
    systems = summary["experts"]["systems"]["by_source"]
    assert systems == {"code/algos": {"before": 1, "after": 1}, "code/algos+completion": {"before": 1, "after": 1}}
    assert "code/algos+completion" not in plain["experts"]["systems"]["by_source"]
