"""Expected outputs for HumanEval+ and MBPP+ (evalplus), computed once from the reference solutions.

evalplus ships test *inputs* (``base_input`` + ``plus_input``); the expected outputs are what the
reference solution returns on them. They are computed here by running the reference in the
sandbox, then cached on disk (``~/.cache/moe-coder/groundtruth``, keyed by a hash of the task), and
attached to each problem as ``extra["plus_case"]`` (pickled inputs + outputs) and
``extra["plus_seconds"]`` (the reference's running time, which scales the candidate's timeout).

Inputs are stored as JSON, which has no tuples, sets or complex numbers; they are converted back
to the types of the arguments in the task's own ``assert`` examples (:func:`coerce_inputs`).
Outputs are compared as evalplus does: floats to a relative 1e-7 plus the task's ``atol``,
``find_zero`` by the polynomial's value at the returned root, a few MBPP tasks as sets or as
"not ``None``". Expected outputs larger than a megabyte (one MBPP+ task returns hundreds of
megabytes) are stored as a digest of their ``repr`` and compared type-exactly.
"""
from __future__ import annotations

import ast
import hashlib
import json
import logging
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from moe_coder.atomic import atomic_output
from moe_coder.benchmarks import Problem
from moe_coder.evaluation.executors import PLUS_HELPERS, _cache_dir
from moe_coder.evaluation.sandbox import Limits, Sandbox, clean_env

logger = logging.getLogger(__name__)

_VERSION = "1"
#: MBPP+ functions whose output order is arbitrary (compared as sets), as in evalplus.
_SET_OUTPUT = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly"}
#: MBPP+ functions that return a match object or None (compared as "not None"), as in evalplus.
_NOT_NONE_OUTPUT = {"check_str", "text_match_three", "text_starta_endb"}
_REFERENCE_LIMITS = Limits(timeout_s=600.0, memory_bytes=4 << 30, max_file_bytes=1 << 30, max_output_bytes=4 << 20)

_REFERENCE_RUN = '''
import time as _moe_time

with open("plus_inputs.pkl", "rb") as _fh:
    _moe_inputs, _moe_compare = _moe_pickle.load(_fh)
_moe_outputs = []
_moe_start = _moe_time.perf_counter()
for _moe_args in _moe_inputs:
    _moe_outputs.append(_moe_compact(_moe_normalise({entry}(*_moe_copy.deepcopy(_moe_args)), _moe_compare)))
_moe_seconds = _moe_time.perf_counter() - _moe_start
with open("plus_expected.pkl", "wb") as _fh:
    _moe_pickle.dump({{"expected": _moe_outputs, "seconds": _moe_seconds}}, _fh)
'''


def is_plus(problem: Problem) -> bool:
    return "plus_input" in problem.extra


def compare_mode(problem: Problem) -> str:
    if problem.entry_point == "find_zero":
        return "root"
    if problem.task_id.startswith("Mbpp/") and problem.entry_point in _SET_OUTPUT:
        return "set"
    if problem.task_id.startswith("Mbpp/") and problem.entry_point in _NOT_NONE_OUTPUT:
        return "not_none"
    return "exact"


def _example_args(problem: Problem) -> list[Any] | None:
    """Literal arguments of the first call to the function in the task's own assertions."""
    names = {problem.entry_point, "candidate"}
    try:
        tree = ast.parse(problem.test)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
            try:
                return [ast.literal_eval(arg) for arg in node.args]
            except (ValueError, SyntaxError, TypeError):
                continue
    return None


def _like(value: Any, example: Any, top: bool = True) -> Any:
    """Convert a JSON-decoded *value* to the container types of *example*.

    Numbers serialised as strings (complex numbers, which JSON lacks) are converted back only
    for top-level arguments: inside containers a string is data.
    """
    if isinstance(value, list) and isinstance(example, (tuple, list, set)):
        converted = [_like(v, _pick(example, v, i), top=False) for i, v in enumerate(value)]
        try:
            return converted if isinstance(example, list) else type(example)(converted)
        except TypeError:  # unhashable elements for a set: leave as is
            return value
    if isinstance(value, dict) and isinstance(example, dict) and example:
        sample = next(iter(example.values()))
        return {k: _like(v, sample, top=False) for k, v in value.items()}
    if top and isinstance(value, str) and isinstance(example, (int, float, complex)) and not isinstance(example, bool):
        for number in (int, float, complex):
            try:
                return number(value)
            except ValueError:
                continue
    return value


def _pick(example: tuple | list | set, value: Any, index: int) -> Any:
    """The element of an *example* container that its *index*-th element *value* should look like.

    A nested list looks like the example's first nested container, or, when the example has none
    (deeper than the example goes), like the example itself.
    """
    items = list(example)
    if isinstance(value, list):
        return next((e for e in items if isinstance(e, (tuple, list, set))), example)
    if index < len(items):
        return items[index]
    return items[0] if items else None


def coerce_inputs(problem: Problem) -> list[list[Any]]:
    """The task's base + plus inputs, with JSON lists turned back into the tuples/sets it expects."""
    inputs = [list(args) for args in [*problem.extra.get("base_input", []), *(problem.extra.get("plus_input") or [])]]
    example = _example_args(problem)
    if not example:
        return inputs
    return [[_like(a, e) for a, e in zip(args, example)] + args[len(example):] for args in inputs]


def reference_code(problem: Problem) -> str:
    """The reference solution as a module (HumanEval+ solutions continue the prompt)."""
    if problem.task_id.startswith("HumanEval/"):
        return problem.prompt + problem.canonical_solution
    return problem.canonical_solution


def _key(problem: Problem, inputs: list) -> str:
    payload = json.dumps(
        [_VERSION, problem.task_id, reference_code(problem), repr(inputs), problem.extra.get("atol")],
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _compute(problem: Problem, inputs: list, sandbox: Sandbox) -> dict:
    program = reference_code(problem) + "\n" + PLUS_HELPERS + _REFERENCE_RUN.format(entry=problem.entry_point)
    files = {"reference.py": program, "plus_inputs.pkl": pickle.dumps((inputs, compare_mode(problem)))}
    with sandbox.workdir(files) as workdir:
        result = sandbox.run(
            None, workdir, limits=_REFERENCE_LIMITS, python_file=str(workdir / "reference.py"), env=clean_env(workdir)
        )
        out = workdir / "plus_expected.pkl"
        if result.returncode != 0 or not out.exists():
            tail = (result.error or result.stderr.strip().splitlines()[-1:] or ["no output"])
            raise RuntimeError(f"reference solution of {problem.task_id} failed: {tail}")
        return pickle.loads(out.read_bytes())


def attach_ground_truth(
    problems: Sequence[Problem], sandbox: Sandbox, workers: int = 1, cache_dir: Path | None = None
) -> list[Problem]:
    """Return *problems* with evalplus expected outputs attached (other problems unchanged)."""
    cache = cache_dir or _cache_dir("groundtruth")
    todo = [p for p in problems if is_plus(p)]
    if not todo:
        return list(problems)

    def one(problem: Problem) -> Problem:
        inputs = coerce_inputs(problem)
        path = Path(cache) / f"{_key(problem, inputs)}.pkl"
        if path.exists():
            truth = pickle.loads(path.read_bytes())
        else:
            truth = _compute(problem, inputs, sandbox)
            with atomic_output(path) as fh:
                fh.write(pickle.dumps(truth))
        case = {
            "inputs": inputs,
            "expected": truth["expected"],
            "atol": problem.extra.get("atol") or 0.0,
            "compare": compare_mode(problem),
        }
        extra = {**problem.extra, "plus_case": pickle.dumps(case), "plus_seconds": truth["seconds"]}
        return replace(problem, extra=extra)

    logger.info("evalplus expected outputs for %d tasks (cached in %s)", len(todo), cache)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        done = dict(
            zip(
                (p.task_id for p in todo),
                tqdm(pool.map(one, todo), total=len(todo), desc="evalplus ground truth", leave=False),
            )
        )
    return [done.get(p.task_id, p) if is_plus(p) else p for p in problems]
