"""Build one decontaminated training set per expert of the built-in mixture, from a data folder.

Sources (all under ``--data``, the layout of the project's ``shared/data``; see its SOURCES.md
for origin and licence of each file):

* ``code/<source>/<language>.jsonl``: instruction-to-code pairs in the twelve router languages
  (``{language, instruction, response, source, path, commit}``); the code is answered in a fenced
  block of its language, the way the experts are asked to answer;
* ``instruct/gpteacher-codegen-instruct.json``: GPTeacher's code instructions. They carry no
  language label, so the built-in router labels each (instruction, input and answer read
  together); rows it abstains on go to the generalist's set only. The labels the shipped experts
  were built with are pinned in ``experts/gpteacher_labels.json`` (keyed by a hash of each row),
  so a rebuild gives the same sets byte for byte whatever the router has become since; rows the
  file does not hold are labelled by the router of this checkout (``--gpteacher-labels none``
  labels every row that way, ``--write-gpteacher-labels FILE`` writes the labels used);
* ``mbpp/mbpp.jsonl``: MBPP's few-shot (task 1-10), validation (511-600) and train (601-974)
  splits, never its test split (11-510).

With ``--completion-rows`` each code row that has a function head is also asked as a completion
prompt asks (its description as comments, its code up to the first function's head; the whole
code answers), as a source of its own (``code/NAME+completion``).

Each expert gets the rows of its languages (as the built-in mixture's ``mixture.json`` lists
them); the generalist gets the union. Every set is then decontaminated with the library's own
OpenAI 50-character method against every benchmark ``moe-coder evaluate`` runs: HumanEval,
HumanEval+, MBPP+, all six HumanEval-X languages, and MBPP. For MBPP the evaluation set is its
test split (11-510): its other splits are training data by design (so evaluate MBPP on
``--exclude`` of the report, as for every benchmark). Outputs, in ``--out``::

    raw/<expert>.jsonl            the rows before decontamination
    <expert>.jsonl                the clean rows (train-expert's decontamination gate checks them)
    <expert>.report.json          the decontamination report (+ <expert>.report.contaminated.json)
    <expert>.excluded.json        what to leave out of clean scores (``moe-coder evaluate --exclude``): the
                                  matched tasks, and every MBPP+ task whose MBPP original the set trains
                                  on (MBPP+ rewords some questions, which the 50-character match misses)
    summary.json                  rows per expert, source and language, before and after

Every file is written atomically, and the build is deterministic for a given ``--seed``.

    python experts/build_expert_data.py --data ../shared/data --out runs/expert-data
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Iterator

from moe_coder.atomic import atomic_output, write_text_atomic
from moe_coder.config import MixtureConfig
from moe_coder.decontamination import decontaminate
from moe_coder.decontamination.evalsets import EvalItem, EvalSet, load_eval_set
from moe_coder.jsonl import iter_jsonl, read_json
from moe_coder.languages import display_name
from moe_coder.mixture import builtin_dir

logger = logging.getLogger("build_expert_data")

#: The benchmarks ``moe-coder evaluate`` runs, as decontamination evaluation sets (MBPP separately).
BENCHMARKS = ("humaneval", "humaneval_plus", "mbpp_plus", "humaneval_x")
#: MBPP's test split (the upstream README's task ids 11-510).
MBPP_TEST = range(11, 511)
MBPP_TEST_SET = "mbpp_test"
GENERALIST = "generalist"
#: The GPTeacher labels the shipped experts' sets were built with (see the module docstring).
GPTEACHER_LABELS = Path(__file__).resolve().parent / "gpteacher_labels.json"


def gpteacher_key(record: dict) -> str:
    """A row's key in a labels file: the first 16 hex digits of the SHA-256 of its instruction,
    input and answer."""
    text = json.dumps([record.get("instruction"), record.get("input") or "", record.get("response")],
                      ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_gpteacher_labels(path: Path) -> dict[str, str | None]:
    """The ``{key: language or null}`` map of a labels file (see :func:`gpteacher_key`)."""
    data = read_json(path, "GPTeacher labels file")
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, dict) or not all(v is None or isinstance(v, str) for v in labels.values()):
        raise ValueError(f"{path}: expected {{\"labels\": {{key: language or null}}}}")
    return labels


def fenced(code: str, language: str) -> str:
    """Code as the experts are asked to answer: one fenced block tagged with its language."""
    return f"```{language}\n{code.strip()}\n```"


def code_rows(root: Path) -> Iterator[dict]:
    """Rows of ``code/<source>/<language>.jsonl``, in a fixed order."""
    files = sorted(root.glob("*/*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no code/<source>/<language>.jsonl files under {root}")
    for path in files:
        for where, record in iter_jsonl(path, required=("language", "instruction", "response"), what="code data"):
            language = str(record["language"])
            yield {"instruction": str(record["instruction"]), "response": fenced(str(record["response"]), language),
                   "language": language, "source": f"code/{path.parent.name}", "origin": where}


def mbpp_rows(path: Path) -> Iterator[dict]:
    """MBPP's non-test splits, asked the way MBPP is usually asked (the task and its tests)."""
    for where, record in iter_jsonl(path, required=("task_id", "text", "code", "test_list"), what="MBPP file"):
        if int(record["task_id"]) in MBPP_TEST:
            continue
        tests = "\n".join(record["test_list"])
        yield {"instruction": f"{record['text']}\nYour code should pass these tests:\n\n{tests}",
               "response": fenced(record["code"], "python"), "language": "python", "source": "mbpp",
               "origin": where, "mbpp_task": int(record["task_id"])}


#: The line that opens a function's body, per language: the end of what a completion row shows.
_SIGNATURE = {
    "python": r"\s*(?:async\s+)?def \w+\s*\(.*\).*:\s*",
    "javascript": r"\s*(?:export\s+)?(?:(?:async\s+)?function\b.*\)|(?:const|let|var)\s+\w+\s*=\s*(?:async\s*)?"
                  r"(?:\([^=]*\)|\w+)\s*=>)\s*\{\s*",
    "typescript": r"\s*(?:export\s+)?(?:(?:async\s+)?function\b.*\)[^=;]*|(?:const|let|var)\s+\w+\s*(?::[^=]+)?=\s*"
                  r"(?:async\s*)?(?:\([^=]*\)[^=]*|\w+)\s*=>)\s*\{\s*",
    "php": r"\s*(?:(?:public|private|protected|static|final)\s+)*function\s+\w+\s*\(.*\)[^;]*\{\s*",
    "go": r"func\b.*\)[^=;]*\{\s*",
    "rust": r"\s*(?:pub(?:\([\w:]+\))?\s+)?(?:const\s+|async\s+|unsafe\s+)*fn\s+\w+.*\{\s*",
    "bash": r"\s*(?:function\s+)?[\w.:-]+\s*\(\)\s*\{\s*",
    **{lang: r"(?!\s*(?:if|for|while|switch|catch|else|do|return|using|namespace|class|struct|enum)\b)"
             r"[\w\s:<>,*&\[\].~]*\b\w+\s*\([^;{}]*\)\s*(?:const\s*)?(?:noexcept\s*)?(?:throws [\w., ]+)?\{\s*"
       for lang in ("c", "cpp", "java", "csharp")},
}
_SIGNATURE_RX = {lang: re.compile(rx) for lang, rx in _SIGNATURE.items()}
_COMMENT = {"python": "#", "bash": "#"}
#: How a completion row asks: the evaluation harness's wording, a shorter one, and the stub alone.
COMPLETION_ASKS = (
    "Complete the following {name} function. Answer with the complete function in a single ```{tag} code block."
    "\n\n```{tag}\n{head}\n```",
    "Finish this {name} code:\n\n```{tag}\n{head}\n```",
    "{head}",
)
#: At most this many lines of a function's head (what comes before and including its signature).
COMPLETION_MAX_HEAD_LINES = 40


def completion_row(row: dict, ask: int) -> dict | None:
    """A code row asked the way a completion prompt asks: its description as a comment, then its code
    up to the line that opens the first function's body; the answer is the whole code, as before.
    ``None`` when the code has no such line, or fewer than two lines other than closing braces follow it."""
    language = row["language"]
    rx = _SIGNATURE_RX.get(language)
    if rx is None:
        return None
    code = row["response"].split("\n", 1)[1].rsplit("\n```", 1)[0]  # the fenced block's contents
    lines = code.split("\n")
    at = None
    for i, line in enumerate(lines[:COMPLETION_MAX_HEAD_LINES]):
        if rx.fullmatch(line):
            at = i
            break
        if i + 1 < len(lines) and lines[i + 1].strip() == "{" and rx.fullmatch(f"{line.rstrip()} {{"):
            at = i + 1  # the brace on a line of its own (Allman style, as C# and PSR PHP write it)
            break
    if at is None or sum(1 for line in lines[at + 1:] if line.strip() not in ("", "}", "};")) < 2:
        return None
    mark = _COMMENT.get(language, "//")
    description = [f"{mark} {line}".rstrip() for line in row["instruction"].strip().splitlines()[:6]]
    head = "\n".join(description + lines[: at + 1])
    instruction = COMPLETION_ASKS[ask].format(name=display_name(language), tag=language, head=head)
    return {**row, "instruction": instruction, "source": f"{row['source']}+completion"}


def completion_rows(rows: Iterable[dict], seed: int = 0) -> Iterator[dict]:
    """A completion row (:func:`completion_row`) for each code row that has a function head, in one
    of :data:`COMPLETION_ASKS`' phrasings chosen at random (seeded)."""
    rng = random.Random(seed)
    for row in rows:
        made = completion_row(row, rng.randrange(len(COMPLETION_ASKS)))
        if made is not None:
            yield made


def label_gpteacher(records: list[dict], keys: list[str], pinned: dict[str, str | None] | None = None,
                    router_batch: int = 256) -> tuple[list[str | None], int]:
    """Each record's language (``None`` where the router abstains or says ``unknown``): the pinned
    label where ``pinned`` holds the record's key (``keys``, :func:`gpteacher_key`), the built-in
    router's otherwise. Returns the labels and how many the router gave."""
    labels: list[str | None] = [pinned.get(k) if pinned else None for k in keys]
    todo = [i for i, k in enumerate(keys) if not pinned or k not in pinned]
    if todo:
        from moe_coder import MoECoder

        coder = MoECoder.from_pretrained("builtin")
        texts = [f"{records[i]['instruction']}\n\n{records[i].get('input') or ''}\n\n{records[i]['response']}"[:4000]
                 for i in todo]
        decisions = [d for start in range(0, len(texts), router_batch)
                     for d in coder.route_batch(texts[start : start + router_batch])]
        for i, decision in zip(todo, decisions):
            labels[i] = None if decision.abstained or decision.language == "unknown" else decision.language
    return labels, len(todo)


def gpteacher_rows(path: Path, router_batch: int = 256, pinned: dict[str, str | None] | None = None,
                   used: dict | None = None) -> Iterator[dict]:
    """GPTeacher rows, labelled as :func:`label_gpteacher` says. ``used``, when given, receives the
    labels used (``{"labels": {key: language}}``) and how many the router gave (``"routed"``)."""
    records = read_json(path, "GPTeacher file")
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of {{instruction, input, response}} objects")
    for i, record in enumerate(records):
        if not isinstance(record, dict) or not {"instruction", "response"} <= record.keys():
            raise ValueError(f"{path}: item {i} lacks 'instruction' or 'response'")
    keys = [gpteacher_key(r) for r in records]
    labels, routed = label_gpteacher(records, keys, pinned, router_batch)
    if used is not None:
        used["labels"] = dict(zip(keys, labels))
        used["routed"] = routed
    for i, (record, language) in enumerate(zip(records, labels)):
        instruction = str(record["instruction"])
        if record.get("input"):
            instruction = f"{instruction}\n\n{record['input']}"
        response = str(record["response"])
        if language and "```" not in response:
            response = fenced(response, language)
        yield {"instruction": instruction, "response": response, "language": language,
               "source": "gpteacher", "origin": f"{path}[{i}]"}


def task_number(task_id: str) -> int:
    """The number of an MBPP or MBPP+ task id (``mbpp/602``, ``Mbpp/602`` -> 602)."""
    return int(task_id.rpartition("/")[2])


def eval_sets() -> list:
    mbpp = load_eval_set("mbpp")
    test_split = tuple(EvalItem(MBPP_TEST_SET, item.task_id, item.text) for item in mbpp.items
                       if task_number(item.task_id) in MBPP_TEST)
    return [*BENCHMARKS, EvalSet(MBPP_TEST_SET, "builtin", test_split)]


#: MBPP+ keeps MBPP's task numbers (``Mbpp/N``) but rewords some of its questions, so a training
#: row from MBPP's task N can teach an MBPP+ task that the 50-character match does not find.
MBPP_PLUS = "mbpp_plus"


def excluded_ids(contaminated: dict[str, list[str]], mbpp_tasks: Iterable[int]) -> dict:
    """The benchmark tasks to leave out of clean scores (``moe-coder evaluate --exclude``): those the
    decontamination matched, plus every MBPP+ task whose MBPP original (task number) the set trains
    on, matched or not."""
    from moe_coder.benchmarks import load_benchmark

    plus = {p.task_id for p in load_benchmark(MBPP_PLUS)}
    same_task = sorted({f"Mbpp/{n}" for n in mbpp_tasks} & plus, key=task_number)
    by_set = {name: list(ids) for name, ids in contaminated.items()}
    by_set[MBPP_PLUS] = sorted({*by_set.get(MBPP_PLUS, ()), *same_task}, key=task_number)
    return {"about": "benchmark tasks to leave out of clean scores: matched by the decontamination, or an MBPP+ "
                     "task whose MBPP original trains (same task number)",
            "ids": sorted({i for ids in by_set.values() for i in ids}), "benchmark_ids": by_set,
            "same_task": same_task}


def _mbpp_task(row: dict) -> int | None:
    """The MBPP task number an MBPP row comes from, else ``None``."""
    return row.get("mbpp_task") if row.get("source") == "mbpp" else None


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with atomic_output(path) as fh:
        for row in rows:
            fh.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
            count += 1
    return count


def build(data: Path, out: Path, seed: int = 0, workers: int = 1, max_per_source: int = 2000,
          max_response_chars: int | None = None, gpteacher_labels: Path | None = GPTEACHER_LABELS,
          write_gpteacher_labels: Path | None = None, completion: bool = False) -> dict:
    """Write every expert's raw and clean set into ``out``; returns the summary (also ``summary.json``).

    ``max_per_source`` caps the rows one source gives in one language (a random sample): without
    it tldr-pages' 28k one-line shell examples would be three quarters of the generalist's data.
    ``max_response_chars``, when set, leaves out rows whose answer is longer (before the per-source
    cap counts them): a row is a prompt-sized task, and without it the long files of the algorithm
    collections (TheAlgorithms' Python, with its doctest docstrings) are most of the tokens a
    budget of steps trains on, although they are a minority of the rows. ``gpteacher_labels`` pins
    GPTeacher rows' labels (``None``: the router labels every row); ``write_gpteacher_labels``
    writes the labels used there. ``completion`` adds a completion row (:func:`completion_rows`) for
    each code row with a function head, as a source of its own (``code/NAME+completion``)."""
    if max_per_source < 1:
        raise ValueError(f"--max-per-source must be at least 1, got {max_per_source}")
    if max_response_chars is not None and max_response_chars < 1:
        raise ValueError(f"--max-response-chars must be at least 1, got {max_response_chars}")
    for needed in (data / "code", data / "instruct" / "gpteacher-codegen-instruct.json", data / "mbpp" / "mbpp.jsonl"):
        if not needed.exists():
            raise FileNotFoundError(f"data source not found: {needed} (pass the folder laid out as shared/data with --data)")
    config = MixtureConfig.from_json_file(builtin_dir() / "mixture.json")
    groups = {e.name: set(e.languages) for e in config.experts if e.name != config.generalist}
    pinned = read_gpteacher_labels(gpteacher_labels) if gpteacher_labels is not None else None
    used: dict = {}
    code = list(code_rows(data / "code"))
    rows = [*code, *(completion_rows(code, seed) if completion else ()),
            *gpteacher_rows(data / "instruct" / "gpteacher-codegen-instruct.json", pinned=pinned, used=used),
            *mbpp_rows(data / "mbpp" / "mbpp.jsonl")]
    if write_gpteacher_labels is not None:
        write_text_atomic(write_gpteacher_labels, json.dumps(
            {"about": "GPTeacher Codegen rows' languages (null: generalist only), keyed by "
                      "build_expert_data.gpteacher_key", "labels": used["labels"]}, indent=0, sort_keys=True) + "\n")
    random.Random(seed).shuffle(rows)
    too_long: Counter = Counter()
    if max_response_chars is not None:
        too_long.update(r["source"] for r in rows if len(r["response"]) > max_response_chars)
        rows = [r for r in rows if len(r["response"]) <= max_response_chars]
    taken: Counter = Counter()
    sets: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        taken[row["source"], row["language"]] += 1
        if taken[row["source"], row["language"]] > max_per_source:
            continue
        sets[GENERALIST].append(row)
        for name, languages in groups.items():
            if row["language"] in languages:
                sets[name].append(row)
    against = eval_sets()
    summary: dict = {"seed": seed, "max_per_source": max_per_source, "max_response_chars": max_response_chars,
                     "completion_rows": completion,
                     "too_long": dict(sorted(too_long.items())), "data": str(data),
                     "gpteacher_labels": {"file": gpteacher_labels.name if gpteacher_labels else None,
                                          "pinned": len(used["labels"]) - used["routed"],
                                          "labelled_by_router": used["routed"]},
                     "experts": {}}
    for name in [*groups, GENERALIST]:
        raw = out / "raw" / f"{name}.jsonl"
        write_jsonl(raw, sets[name])
        report = decontaminate([raw], against, out / f"{name}.jsonl", out / f"{name}.report.json",
                               fields=["instruction", "response"], workers=workers)
        before = Counter(r["source"] for r in sets[name])
        after = Counter(r["source"] for _, r in iter_jsonl(out / f"{name}.jsonl", what="clean set"))
        write_text_atomic(out / f"{name}.excluded.json", json.dumps(excluded_ids(
            report.contaminated_ids, {t for r in sets[name] if (t := _mbpp_task(r)) is not None}), indent=1) + "\n")
        empty = sorted(s for s in before if not after[s])
        if empty:
            raise ValueError(f"expert {name!r}: source(s) {empty} left with zero rows after decontamination "
                             f"(see {out / f'{name}.report.json'})")
        summary["experts"][name] = {
            "languages": sorted(groups.get(name, ())) or "all",
            "rows_before": len(sets[name]), "rows_after": sum(after.values()),
            "removed": report.counts["removed"],
            "contaminated_tasks": {k: len(v) for k, v in report.contaminated_ids.items()},
            "by_source": {s: {"before": before[s], "after": after[s]} for s in sorted(before)},
            "by_language": dict(sorted(Counter(str(r["language"]) for r in sets[name]).items())),
        }
        logger.info("%s: %d rows, %d after decontamination", name, len(sets[name]), sum(after.values()))
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder laid out as shared/data (code/, instruct/, mbpp/)")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0, help="row order (default 0)")
    ap.add_argument("--workers", type=int, default=1, help="decontamination processes (default 1)")
    ap.add_argument("--max-per-source", type=int, default=2000, help="rows one source gives in one language (default 2000)")
    ap.add_argument("--max-response-chars", type=int, default=None,
                    help="leave out rows whose answer is longer than this (default: keep every row)")
    ap.add_argument("--gpteacher-labels", default=str(GPTEACHER_LABELS), metavar="FILE",
                    help="GPTeacher rows' pinned languages (default: the shipped experts' file, "
                         "experts/gpteacher_labels.json); 'none' labels every row with the built-in router")
    ap.add_argument("--write-gpteacher-labels", type=Path, default=None, metavar="FILE",
                    help="write the GPTeacher labels used to FILE")
    ap.add_argument("--completion-rows", action="store_true",
                    help="also ask each code row with a function head as a completion: its description as a "
                         "comment and its code up to the signature (default: off, as the shipped experts)")
    args = ap.parse_args(argv)
    labels = None if args.gpteacher_labels.lower() == "none" else Path(args.gpteacher_labels)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = build(args.data, args.out, args.seed, args.workers, args.max_per_source, args.max_response_chars,
                        labels, args.write_gpteacher_labels, args.completion_rows)
    except (FileNotFoundError, ValueError) as exc:
        print(f"build_expert_data: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({n: {k: s[k] for k in ("rows_before", "rows_after")} for n, s in summary["experts"].items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
