"""Training rows from a model's own answers that passed their tests (rejection sampling).

A model samples several answers to each task of a benchmark's *training* split, the harness runs
each answer against the task's tests, and the answers that pass become training rows: the
recipe of STaR, RFT and ReST-EM (sample, filter by a verifier, fine-tune on what passed). The rows
are in the model's own style and are correct by execution, unlike a corpus of human-written files.

The samples come from ``moe-coder evaluate`` run on the training split's task ids (``--tasks``),
usually with the untuned base and a sampling temperature, for example MBPP's few-shot,
validation and train splits (never its test split 11-510)::

    python -c "import json; json.dump([f'mbpp/{i}' for i in [*range(1, 11), *range(511, 975)]], open('runs/rft/mbpp_train_ids.json', 'w'))"
    moe-coder evaluate --benchmark mbpp --mixture builtin-base --expert python --tasks runs/rft/mbpp_train_ids.json \\
        --n-samples 4 --temperature 0.8 --max-new-tokens 384 --k 1,4 --out runs/rft/samples-base
    python experts/verified_answers.py --samples runs/rft/samples-base/samples.jsonl [more runs ...] --out runs/rft/data

Each passing answer is asked the way the harness asked it (the task and its tests); with
``--completion-rows`` it is also asked the way HumanEval asks (complete a function whose
signature and docstring are given), built from the answer's own signature and the task's text.
Each answer loses its top-level example usage (prints, example calls, ``__main__`` blocks) where the
trimmed code still passes its tests, run again in the sandbox (``--keep-examples`` keeps it).
At most ``--per-task`` distinct answers are kept per task (whitespace-insensitive), chosen at
random (seeded), so that easy tasks do not fill the set. The rows are then decontaminated like
every expert's set (``build_expert_data.py``): against HumanEval, HumanEval+, MBPP+, HumanEval-X and
MBPP's test split. Outputs, in ``--out``::

    raw/verified.jsonl            the rows before decontamination
    verified.jsonl                the clean rows (train-expert's decontamination gate checks them)
    verified.report.json          the decontamination report (+ verified.report.contaminated.json)
    excluded.json                 what to leave out of clean scores (``moe-coder evaluate --exclude``): the
                                  matched tasks and every MBPP+ task whose MBPP original trains
    summary.json                  tasks sampled, tasks with a passing answer, rows by kind, before and after

A task whose tests sit in its prompt can be passed by an answer that returns the tests' values:
:func:`hard_codes_tests` leaves out an answer that writes one of its task's expected values
next to a ``return`` or ``==`` of an ``if`` without computing anything else.
"""
from __future__ import annotations

import argparse
import ast
import json
import logging
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_expert_data import (  # noqa: E402
    COMPLETION_ASKS, MBPP_TEST, eval_sets, excluded_ids, fenced, task_number, write_jsonl,
)

from moe_coder.atomic import write_text_atomic  # noqa: E402
from moe_coder.evaluation.execution import Runner  # noqa: E402
from moe_coder.benchmarks import Problem, load_benchmark  # noqa: E402
from moe_coder.decontamination import decontaminate  # noqa: E402
from moe_coder.evaluation.prompts import instruction_prompt, task_prompt  # noqa: E402
from moe_coder.jsonl import iter_jsonl  # noqa: E402
from moe_coder.languages import display_name  # noqa: E402



def _normalized(code: str) -> str:
    return re.sub(r"\s+", "", code)


#: The benchmarks whose training split has tests to verify answers with: MBPP, and MBPP with its
#: tests translated to JavaScript (``moe_coder.translated_mbpp``); a task id's prefix names its benchmark.
VERIFIABLE = ("mbpp", "mbpp_js")


def _benchmark_of(task_id: str) -> str:
    prefix = task_id.rpartition("/")[0].lower()
    if prefix not in VERIFIABLE:
        raise ValueError(f"task {task_id!r}: only MBPP tasks (mbpp/N, mbpp_js/N) are supported (their training "
                         "split has tests)")
    return prefix


def _called_function(test: str) -> str | None:
    """The function the first ``assert name(...)`` of a test calls."""
    match = re.search(r"^\s*assert\s+(?:not\s+)?\(?\s*(?:set\(|math\.isclose\()?\s*([A-Za-z_]\w*)\s*\(", test, re.M)
    return match.group(1) if match else None


def _literal(source: str | ast.expr) -> object:
    """The value of a literal, from its text or its node; :data:`_NOT_A_LITERAL` for anything else."""
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_A_LITERAL


_NOT_A_LITERAL = object()


def _looks_up_an_input(test: ast.expr) -> bool:
    """Whether an ``if`` test only compares names with literals (``year == 1997``, ``s == "abc" or
    s == "x"``): a table of inputs, not a computation."""
    if isinstance(test, ast.BoolOp):
        return all(_looks_up_an_input(v) for v in test.values)
    return (isinstance(test, ast.Compare) and all(isinstance(op, (ast.Eq, ast.In)) for op in test.ops)
            and isinstance(test.left, ast.Name)
            and all(_literal(c) is not _NOT_A_LITERAL for c in test.comparators))


def hard_codes_tests(code: str, test: str) -> bool:
    """Whether *code* returns its tests' expected values instead of computing them: a function whose
    body (its docstring aside) is only ``if`` branches that compare an input with literals
    (``if year == 1997:``) and ``return`` statements, every one of which returns a literal, one of
    them an expected value of the tests (``assert f(...) == VALUE``)."""
    expected = [_literal(m.group(1)) for m in re.finditer(r"==\s*(.+?)\s*$", test, re.M)]
    expected = [e for e in expected if e is not _NOT_A_LITERAL]
    if not expected:
        return False
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        body = [n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        returns = [r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value is not None]
        if not body or not returns or not all(isinstance(n, (ast.If, ast.Return)) for n in body):
            continue
        if not all(_looks_up_an_input(n.test) for n in ast.walk(node) if isinstance(n, ast.If)):
            continue  # "if n % 2 == 0: return True" computes its answer
        values = [_literal(value) for value in returns]
        if all(v is not _NOT_A_LITERAL for v in values) and any(v == e for v in values for e in expected):
            return True
    return False


#: Top-level statements an answer keeps when trimmed: what a test can need (imports, definitions,
#: module constants). Example calls, prints, loops and ``if __name__ == "__main__":`` blocks go.
_KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)


def trimmed(code: str) -> str:
    """*code* without its top-level example usage: statements :data:`_KEPT` does not list, and
    assignments that call a function the code defines (``result = f(3)``). Comments inside what is
    kept stay. *code* itself when nothing goes or it does not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}

    def keep(node: ast.stmt) -> bool:
        if not isinstance(node, _KEPT):
            return False
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            return not any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in defined
                           for c in ast.walk(node))
        return True

    if all(keep(node) for node in tree.body):
        return code
    lines = code.split("\n")
    kept = []
    for node in tree.body:
        if keep(node):
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
            kept.append("\n".join(lines[first - 1 : node.end_lineno]))
    return "\n\n".join(kept) + "\n" if kept else code


def completion_head(problem: Problem, code: str) -> str | None:
    """HumanEval's layout for an MBPP task, from a passing answer: the answer's imports, the called
    function's signature, and a docstring holding the task's text and its first test. ``None`` when
    the answer does not define the function its tests call at the top level."""
    name = _called_function(problem.test)
    if name is None:
        return None
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    lines = code.split("\n")
    imports = [ast.get_source_segment(code, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            body_start = node.body[0].lineno - 1
            signature = "\n".join(lines[node.lineno - 1 : body_start]).rstrip()
            if not signature.endswith(":"):
                return None  # a body on the signature's own line (def f(x): return x)
            question = problem.question.strip().split("\n")
            text, tests = question[0], [t.strip() for t in question[1:] if t.strip()]
            doc = [f'    """ {text}']
            if tests:
                example = re.sub(r"^assert\s+", "", tests[0])
                doc.append(f"    >>> {example}")
            doc.append('    """')
            return "\n".join([*imports, *([""] if imports else []), signature, *doc])
    return None


def verified_rows(samples: Path | Sequence[Path], per_task: int = 4, completion: bool = False, seed: int = 0,
                  counts: Counter | None = None, runner: Runner | None = None) -> list[dict]:
    """Training rows from the passing samples of one or more ``moe-coder evaluate`` samples files
    (runs at several temperatures, say: their answers are pooled per task).

    With a *runner*, each answer is :func:`trimmed` of its example usage and the trimmed code is
    run against the task's tests again; it replaces the answer only if it still passes."""
    by_task: dict[str, list[tuple[str, str]]] = defaultdict(list)
    sampled: set[str] = set()
    counts = counts if counts is not None else Counter()
    files = [samples] if isinstance(samples, (str, Path)) else list(samples)
    records = (item for path in files
               for item in iter_jsonl(path, required=("task_id", "completion", "passed"), what="samples file"))
    for where, row in records:
        task_id = row["task_id"]
        if not isinstance(task_id, str) or not isinstance(row["completion"], str):
            raise ValueError(f"{where}: task_id and completion must be strings")
        _benchmark_of(task_id)
        if task_number(task_id) in MBPP_TEST:
            raise ValueError(f"{where}: {task_id} is in MBPP's test split (11-510), which never trains")
        if row.get("kind", "full") != "full":
            raise ValueError(f"{where}: a {row.get('kind')!r} sample; answers asked as instructions (kind 'full') are needed")
        sampled.add(task_id)
        counts["answers sampled"] += 1
        if row["passed"] is True:
            counts["answers passing"] += 1
            by_task[task_id].append((row["completion"], where))
    if not sampled:
        raise ValueError(f"{', '.join(map(str, files))}: no samples")
    problems = {p.task_id: p for name in sorted({_benchmark_of(t) for t in sampled}) for p in load_benchmark(name)}
    rng = random.Random(seed)
    rows: list[dict] = []
    for task_id in sorted(by_task, key=task_number):
        problem = problems[task_id]
        python = problem.language == "python"
        distinct: dict[str, tuple[str, str]] = {}
        for code, where in by_task[task_id]:
            if python and hard_codes_tests(code, problem.test):
                counts["left out: hard-codes its tests"] += 1
                continue
            if runner is not None and python:
                short = trimmed(code)
                if short != code:
                    if runner.check(problem, short, "full").passed:
                        code = short
                        counts["trimmed of example usage"] += 1
                    else:
                        counts["trimmed, but failed: kept whole"] += 1
            distinct.setdefault(_normalized(code), (code, where))
        chosen = list(distinct.values())
        rng.shuffle(chosen)
        if chosen:
            counts["tasks with a passing answer"] += 1
        for code, where in chosen[:per_task]:
            answer = fenced(code.strip("\n"), problem.language)
            source = f"verified/{_benchmark_of(task_id)}"
            base = {"response": answer, "language": problem.language, "source": source, "origin": where,
                    "task_id": task_id}
            rows.append({**base, "instruction": task_prompt(problem), "kind": "task"})
            if not python:  # asked as it was sampled: a signature to complete, as HumanEval-X asks
                rows.append({**base, "instruction": instruction_prompt(problem), "source": f"{source}+completion",
                             "kind": "completion"})
                continue
            head = completion_head(problem, code) if completion else None
            if head is not None:
                ask = COMPLETION_ASKS[0].format(name=display_name("python"), tag="python", head=head)
                rows.append({**base, "instruction": ask, "source": "verified/mbpp+completion", "kind": "completion"})
    counts["tasks sampled"] = len(sampled)
    return rows


def sample_runs(files: Sequence[Path]) -> list[dict]:
    """What each samples file is: the ``moe-coder evaluate`` run beside it (``run.json``: the
    sampling mixture, temperature and seed; a mixture folder by its name, not its local path) and
    how many of its answers passed, so that a later round's sampler is told apart from the base."""
    runs = []
    for path in files:
        answers = passing = 0
        for _, row in iter_jsonl(path, required=("passed",), what="samples file"):
            answers += 1
            passing += row["passed"] is True
        entry: dict = {"file": f"{path.parent.name}/{path.name}", "answers": answers, "passing": passing}
        manifest = path.parent / "run.json"
        if manifest.is_file():
            run = json.loads(manifest.read_text())
            mixture = str(run.get("mixture", ""))
            entry["sampler"] = Path(mixture).name if "/" in mixture else mixture
            entry.update({k: run.get("generation", {}).get(k) for k in ("temperature", "top_p", "seed")})
        runs.append(entry)
    return runs


def build(samples: Path | Sequence[Path], out: Path, per_task: int = 4, completion: bool = False, seed: int = 0,
          workers: int = 1, trim: bool = True) -> dict:
    """Write the raw and clean sets, the decontamination report and ``summary.json`` into *out*.
    ``trim`` drops each answer's example usage where the trimmed answer still passes (sandboxed)."""
    if per_task < 1:
        raise ValueError(f"--per-task must be at least 1, got {per_task}")
    files = [Path(samples)] if isinstance(samples, (str, Path)) else [Path(f) for f in samples]
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"samples file not found: {path} (the samples.jsonl of a moe-coder evaluate run)")
    counts: Counter = Counter()
    rows = verified_rows(files, per_task, completion, seed, counts, Runner() if trim else None)
    if not rows:
        raise ValueError(f"{', '.join(map(str, files))}: no sample passed its tests, so there is nothing to train on")
    raw = out / "raw" / "verified.jsonl"
    write_jsonl(raw, rows)
    report = decontaminate([raw], eval_sets(), out / "verified.jsonl", out / "verified.report.json",
                           fields=["instruction", "response"], workers=workers)
    kept = Counter(r["kind"] for _, r in iter_jsonl(out / "verified.jsonl", what="clean set"))
    if not sum(kept.values()):
        raise ValueError(f"every verified row matched a benchmark (see {out / 'verified.report.json'})")
    excluded = excluded_ids(report.contaminated_ids, {task_number(r["task_id"]) for r in rows})
    write_text_atomic(out / "excluded.json", json.dumps(excluded, indent=1) + "\n")
    summary = {
        "samples": [str(f) for f in files], "sample_runs": sample_runs(files),
        "benchmarks": sorted({_benchmark_of(r["task_id"]) for r in rows}), "per_task": per_task, "completion_rows": completion, "seed": seed,
        **{k: counts[k] for k in ("tasks sampled", "answers sampled", "answers passing", "tasks with a passing answer",
                                  "left out: hard-codes its tests", "trimmed of example usage",
                                  "trimmed, but failed: kept whole")},
        "rows_before": dict(Counter(r["kind"] for r in rows)), "rows_after": dict(kept),
        "removed": report.counts["removed"],
        "contaminated_tasks": {k: len(v) for k, v in report.contaminated_ids.items()},
        "excluded_tasks": {k: len(v) for k, v in excluded["benchmark_ids"].items()},
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, required=True, nargs="+", metavar="SAMPLES.jsonl",
                    help="samples.jsonl of moe-coder evaluate runs on training tasks (several are pooled)")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--per-task", type=int, default=4, help="distinct passing answers kept per task (default 4)")
    ap.add_argument("--completion-rows", action="store_true",
                    help="also ask each answer the way HumanEval asks (signature and docstring to complete)")
    ap.add_argument("--keep-examples", action="store_true",
                    help="keep each answer's top-level example usage (default: drop it where the answer still passes)")
    ap.add_argument("--seed", type=int, default=0, help="which answers a task keeps (default 0)")
    ap.add_argument("--workers", type=int, default=1, help="decontamination processes (default 1)")
    args = ap.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = build(args.samples, args.out, args.per_task, args.completion_rows, args.seed, args.workers,
                        trim=not args.keep_examples)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
